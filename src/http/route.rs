//! Azure Functions route templates (`tenants/{id}/teams`, `tabs/{*path}`)
//! matched against a request path: what the handler's route table, the
//! local host's front door and the tabs' API router all use, so that a path
//! means the same to each.

use std::collections::HashMap;

/// The HTTP functions' route prefix (host.json `extensions.http.routePrefix`).
pub const ROUTE_PREFIX: &str = "api";

/// Matches a route template (`tenants/{id}/teams`) against a path relative
/// to the prefix; returns the parameters. A last segment `{*name}` (the
/// Functions host's catch-all) takes the rest of the path, zero or more
/// segments, each decoded.
pub fn match_route(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let catch_all = t
        .last()
        .and_then(|last| last.strip_prefix("{*"))
        .and_then(|s| s.strip_suffix('}'));
    let fixed = if catch_all.is_some() {
        &t[..t.len() - 1]
    } else {
        &t[..]
    };
    let lengths_fit = match catch_all {
        Some(_) => p.len() >= fixed.len(),
        None => p.len() == fixed.len(),
    };
    if !lengths_fit {
        return None;
    }
    let mut params = HashMap::new();
    for (ts, ps) in fixed.iter().zip(&p) {
        match ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !ps.is_empty() => {
                let value = percent_decode(ps)?;
                params.insert(name.split(':').next().unwrap_or(name).to_owned(), value);
            }
            Some(_) => return None,
            None if ts.eq_ignore_ascii_case(ps) => {}
            None => return None,
        }
    }
    if let Some(name) = catch_all {
        let rest = p[fixed.len()..]
            .iter()
            .map(|segment| percent_decode(segment))
            .collect::<Option<Vec<_>>>()?;
        params.insert(name.to_owned(), rest.join("/"));
    }
    Some(params)
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_match_whole_segments_and_capture_parameters() {
        assert!(match_route("health", "health").is_some());
        assert!(match_route("health", "health/").is_some());
        assert!(match_route("health", "healthz").is_none());
        assert!(match_route("billing/stripe", "billing").is_none());
        let p = match_route("tenants/{id}/teams", "tenants/a%20b/teams").unwrap();
        assert_eq!(p["id"], "a b");
        assert!(match_route("tenants/{id}", "tenants/").is_none());
    }
}
