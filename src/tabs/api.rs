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
use super::{Role, TabUser, admin, approvals, dashboard, me, my, request};
use crate::app::App;
use crate::error::AppError;
use crate::http::route::{ROUTE_PREFIX, match_route};
use crate::http::{HttpRequest, HttpResponse};

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
    // Request a team.
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
    // My teams and requests.
    endpoint!("GET", "my", access::EVERYONE, "see your teams", my::get),
    endpoint!(
        "POST",
        "teams/{id}/renew",
        access::EVERYONE,
        "renew a team",
        my::renew
    ),
    endpoint!(
        "POST",
        "teams/{id}/let-expire",
        access::EVERYONE,
        "let a team expire",
        my::let_expire
    ),
    // Approvals (who may decide is the request's own rule).
    endpoint!(
        "GET",
        "approvals",
        access::EVERYONE,
        "see approvals",
        approvals::list
    ),
    endpoint!(
        "POST",
        "approvals/{id}",
        access::EVERYONE,
        "decide on a request",
        approvals::decide
    ),
    // Governance dashboard.
    endpoint!(
        "GET",
        "dashboard",
        access::DASHBOARD,
        "see the governance dashboard",
        dashboard::get
    ),
    endpoint!(
        "GET",
        "audit",
        access::DASHBOARD,
        "read the audit trail",
        dashboard::audit_json
    ),
    endpoint!(
        "GET",
        "audit.csv",
        access::DASHBOARD,
        "export the audit trail",
        dashboard::audit_csv
    ),
    // Administration.
    endpoint!(
        "GET",
        "admin/settings",
        access::ADMIN_READ,
        "see the tenant settings",
        admin::settings::get
    ),
    endpoint!(
        "PUT",
        "admin/settings",
        access::ADMIN,
        "change the tenant settings",
        admin::settings::put
    ),
    endpoint!(
        "GET",
        "admin/templates",
        access::TEMPLATES_READ,
        "see the templates",
        admin::templates::list
    ),
    endpoint!(
        "GET",
        "admin/templates/{id}",
        access::TEMPLATES_READ,
        "see a template",
        admin::templates::get
    ),
    endpoint!(
        "PUT",
        "admin/templates/{id}",
        access::TEMPLATES_WRITE,
        "change a template",
        admin::templates::put
    ),
    endpoint!(
        "POST",
        "admin/templates/{id}/icon",
        access::TEMPLATES_WRITE,
        "change a template",
        admin::templates::icon
    ),
    endpoint!(
        "GET",
        "admin/policies",
        access::POLICIES_READ,
        "see the lifecycle policies",
        admin::policies::get
    ),
    endpoint!(
        "POST",
        "admin/policies/diff",
        access::POLICIES_WRITE,
        "change the lifecycle policies",
        admin::policies::diff
    ),
    endpoint!(
        "PUT",
        "admin/policies",
        access::POLICIES_WRITE,
        "change the lifecycle policies",
        admin::policies::put
    ),
    endpoint!(
        "GET",
        "admin/roles",
        access::ADMIN_READ,
        "see the role assignments",
        admin::roles::get
    ),
    endpoint!(
        "PUT",
        "admin/roles",
        access::ADMIN,
        "assign roles",
        admin::roles::put
    ),
    endpoint!(
        "GET",
        "admin/crm",
        access::ADMIN_READ,
        "see the CRM connections",
        admin::crm::get
    ),
    endpoint!(
        "PUT",
        "admin/crm/dynamics",
        access::ADMIN,
        "connect a CRM",
        admin::crm::put_dynamics
    ),
    endpoint!(
        "POST",
        "admin/crm/salesforce/connect",
        access::ADMIN,
        "connect a CRM",
        admin::crm::connect_salesforce
    ),
    endpoint!(
        "PUT",
        "admin/crm/{crm}/write-back",
        access::ADMIN,
        "change a CRM connection",
        admin::crm::put_write_back
    ),
    endpoint!(
        "POST",
        "admin/crm/{crm}/check",
        access::ADMIN,
        "check a CRM connection",
        admin::crm::check
    ),
    endpoint!(
        "DELETE",
        "admin/crm/{crm}",
        access::ADMIN,
        "remove a CRM connection",
        admin::crm::remove
    ),
    endpoint!(
        "GET",
        "admin/billing",
        access::ADMIN,
        "see billing",
        admin::billing::get
    ),
    endpoint!(
        "POST",
        "admin/billing/checkout",
        access::ADMIN,
        "subscribe",
        admin::billing::checkout
    ),
    endpoint!(
        "POST",
        "admin/billing/portal",
        access::ADMIN,
        "manage billing",
        admin::billing::portal
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
