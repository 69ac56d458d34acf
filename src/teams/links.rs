//! The product's own links: where a request or a team opens in the app (a
//! Teams deep link into the app's tabs, with the web page as `webUrl`), the
//! admin page the gating card points to, and the reverse, which link
//! unfurling needs: which of our pages a pasted URL is.

use url::Url;

use super::deep_links;

/// The parts of the deployment a link is made of; each may be unset
/// (e.g. on a laptop), and then no link is offered.
#[derive(Clone, Debug, Default)]
pub struct AppLinks {
    /// The Teams app's manifest id.
    pub teams_app_id: Option<String>,
    /// `https://<public host name>/`.
    pub public_base: Option<Url>,
}

/// The static tabs (manifest `entityId`s) our links open: "My teams and
/// requests" and "Administration".
pub const REQUESTS_TAB: &str = "my";
pub const ADMIN_TAB: &str = "admin";

/// One of our pages, as found in a pasted link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnLink {
    Request(String),
    Team(String),
}

/// Ids in our links are plain tokens (request ids, GUIDs).
fn plain_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl AppLinks {
    pub fn new(teams_app_id: Option<String>, public_hostname: Option<&str>) -> Self {
        AppLinks {
            teams_app_id,
            public_base: public_hostname.and_then(|h| Url::parse(&format!("https://{h}/")).ok()),
        }
    }

    fn page(&self, path: &str) -> Option<Url> {
        self.public_base.as_ref().and_then(|b| b.join(path).ok())
    }

    /// Opens `entity_id` (a static tab) of our app in Teams, at `sub_entity`,
    /// falling back to the web page when the app id is not known.
    fn in_app(
        &self,
        entity_id: &str,
        label: &str,
        sub_entity: Option<&str>,
        web: Option<Url>,
    ) -> Option<Url> {
        match &self.teams_app_id {
            Some(app_id) => Some(deep_links::entity(
                app_id,
                entity_id,
                web.as_ref().map(Url::as_str),
                Some(label),
                sub_entity,
                None,
            )),
            None => web,
        }
    }

    /// Where a team request opens.
    pub fn request(&self, id: &str) -> Option<Url> {
        let web = self.page(&format!(
            "requests/{}",
            crate::http::encode_uri_component(id)
        ));
        self.in_app(REQUESTS_TAB, "My requests", Some(id), web)
    }

    /// The product's own page of a team (unfurled, and linked from cards).
    pub fn team_page(&self, group_id: &str) -> Option<Url> {
        self.page(&format!(
            "teams/{}",
            crate::http::encode_uri_component(group_id)
        ))
    }

    /// The SalesTim administration page, for the notice a paused tenant sees.
    pub fn admin(&self) -> Option<Url> {
        let web = self.page("admin");
        self.in_app(ADMIN_TAB, "Administration", None, web)
    }

    /// Which of our pages `url` is, if any (same host, known path).
    pub fn parse_own(&self, url: &str) -> Option<OwnLink> {
        let base = self.public_base.as_ref()?;
        let url = Url::parse(url.trim()).ok()?;
        if url.scheme() != "https" || url.host_str()?.to_ascii_lowercase() != base.host_str()? {
            return None;
        }
        let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["requests", id] if plain_id(id) => Some(OwnLink::Request((*id).to_owned())),
            ["teams", id] if plain_id(id) => Some(OwnLink::Team((*id).to_owned())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> AppLinks {
        AppLinks::new(Some("app-guid".into()), Some("salestim.example.com"))
    }

    #[test]
    fn request_links_open_the_my_teams_tab_at_the_request() {
        let url = links().request("req-1").unwrap();
        assert!(
            url.as_str()
                .starts_with("https://teams.microsoft.com/l/entity/app-guid/my?")
        );
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs["webUrl"],
            "https://salestim.example.com/requests/req-1"
        );
        assert_eq!(pairs["context"], r#"{"subEntityId":"req-1"}"#);
        let web_only = AppLinks::new(None, Some("salestim.example.com"));
        assert_eq!(
            web_only.request("req-1").unwrap().as_str(),
            "https://salestim.example.com/requests/req-1"
        );
        assert_eq!(AppLinks::default().request("req-1"), None);
        assert_eq!(AppLinks::default().admin(), None);
    }

    #[test]
    fn only_our_own_pages_are_recognised() {
        let l = links();
        assert_eq!(
            l.parse_own("https://salestim.example.com/requests/req-abc"),
            Some(OwnLink::Request("req-abc".into()))
        );
        assert_eq!(
            l.parse_own("https://SALESTIM.example.com/teams/0b6c-11/"),
            Some(OwnLink::Team("0b6c-11".into()))
        );
        for other in [
            "http://salestim.example.com/requests/req-abc",
            "https://evil.example.com/requests/req-abc",
            "https://salestim.example.com.evil.com/requests/req-abc",
            "https://salestim.example.com/requests/req%2F..",
            "https://salestim.example.com/requests",
            "https://salestim.example.com/admin",
            "not a url",
        ] {
            assert_eq!(l.parse_own(other), None, "{other}");
        }
        assert_eq!(
            AppLinks::default().parse_own("https://salestim.example.com/requests/x"),
            None
        );
    }
}
