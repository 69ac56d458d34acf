//! `GET /api/tab/me`: who the signed-in user is, in which tenant, and what
//! they may do. The tabs show or hide themselves from `can`; the server
//! decides again on every call.

use serde::Serialize;

use super::{Caller, Can, Role};
use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};

#[derive(Serialize)]
struct Named<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct User<'a> {
    id: &'a str,
    name: &'a str,
    email: &'a str,
}

#[derive(Serialize)]
struct Me<'a> {
    tenant: Named<'a>,
    user: User<'a>,
    roles: Vec<Role>,
    can: Can,
}

pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let caller = caller.with_waiting_approvals(&app).await?;
    let tenant = app.tenants.get(&caller.tenant).await?.ok_or_else(|| {
        AppError::Forbidden("this organisation has not signed up for SalesTim".into())
    })?;
    Ok(super::input::ok(&Me {
        tenant: Named {
            id: caller.tenant.as_str(),
            name: &tenant.display_name,
        },
        user: User {
            id: &caller.user.aad_object_id,
            name: &caller.user.name,
            email: &caller.email,
        },
        roles: caller.roles.iter().copied().collect(),
        can: caller.can(),
    }))
}
