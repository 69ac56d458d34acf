//! The tabs' API router: one HTTP function (`TabApi`, route `tab/{*path}`)
//! takes every call, and this table sends each (method, path after `tab/`)
//! to its screen's handler. A path no row matches is 404; a path some row
//! matches with another method is 405.
//!
//! Each row names the roles it admits: the caller's roles are read once
//! the path is known ([`Caller::resolve`]) and a caller without one of them
//! gets 403 before the screen runs, so the table is the authorization
//! matrix (and the tests walk it). A screen handler is a plain async
//! function of the app, the caller and the request; the path's parameters
//! (`{id}`) are in `req.head.params`. To add one, add a row to
//! [`ENDPOINTS`].

use futures::future::BoxFuture;

use super::access::{self, Caller};
use super::{Role, TabUser, me, request};
use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::routes::{ROUTE_PREFIX, match_route};

pub type Screen =
    fn(App, Caller, HttpRequest) -> BoxFuture<'static, Result<HttpResponse, AppError>>;

/// One row of the table.
pub struct Endpoint {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// A route template relative to `tab/` (`me`, `teams/{id}/renew`).
    pub path: &'static str,
    /// The roles admitted (any one of them).
    pub roles: &'static [Role],
    /// What the call does, for the 403 and the log ("see the dashboard").
    pub what: &'static str,
    pub screen: Screen,
}

macro_rules! endpoint {
    ($method:literal, $path:literal, $roles:expr, $what:literal, $screen:path) => {
        Endpoint {
            method: $method,
            path: $path,
            roles: $roles,
            what: $what,
            screen: |app, caller, req| Box::pin($screen(app, caller, req)),
        }
    };
}

pub static ENDPOINTS: &[Endpoint] = &[
    endpoint!("GET", "me", access::EVERYONE, "sign in", me::get),
    endpoint!(
        "GET",
        "catalog",
        access::EVERYONE,
        "see the catalog",
        request::catalog
    ),
    endpoint!(
        "GET",
        "catalog/{id}/icon",
        access::EVERYONE,
        "see the catalog",
        request::icon
    ),
    endpoint!(
        "POST",
        "requests/preview",
        access::EVERYONE,
        "request a team",
        request::preview
    ),
    endpoint!(
        "POST",
        "requests",
        access::EVERYONE,
        "request a team",
        request::submit
    ),
];

/// The path after `/api/tab/`, still percent-encoded, so that each
/// template segment is matched (and decoded) on its own.
fn relative_path(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix('/')?
        .strip_prefix(ROUTE_PREFIX)?
        .strip_prefix("/tab")?;
    if rest.is_empty() {
        return Some(rest);
    }
    rest.strip_prefix('/')
}

/// Sends the call to its screen.
pub async fn dispatch(
    app: App,
    user: TabUser,
    mut req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let path = relative_path(&req.head.path).ok_or(AppError::NotFound)?;
    let mut path_matched = false;
    for endpoint in ENDPOINTS {
        let Some(params) = match_route(endpoint.path, path) else {
            continue;
        };
        path_matched = true;
        if !req
            .head
            .method
            .as_str()
            .eq_ignore_ascii_case(endpoint.method)
        {
            continue;
        }
        req.head.params.extend(params);
        let caller = Caller::resolve(
            &app,
            user.tenant.clone(),
            &user.user_id,
            &user.name,
            &user.email,
        )
        .await?;
        caller.require(endpoint.roles, endpoint.what)?;
        return (endpoint.screen)(app, caller, req).await;
    }
    Err(if path_matched {
        AppError::MethodNotAllowed
    } else {
        AppError::NotFound
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_after_tab_is_what_the_table_matches() {
        assert_eq!(relative_path("/api/tab/me"), Some("me"));
        assert_eq!(
            relative_path("/api/tab/teams/a%2Fb/renew"),
            Some("teams/a%2Fb/renew")
        );
        assert_eq!(relative_path("/api/tab/"), Some(""));
        assert_eq!(relative_path("/api/tabs/me"), None);
    }

    #[test]
    fn every_row_is_a_known_method_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in ENDPOINTS {
            assert!(
                ["GET", "POST", "PUT", "DELETE"].contains(&e.method),
                "{}",
                e.method
            );
            assert!(
                seen.insert((e.method, e.path)),
                "{} {} twice",
                e.method,
                e.path
            );
        }
    }
}
