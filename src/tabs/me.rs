//! `GET /api/tab/me`: who the signed-in user is, in which tenant, and what
//! they may do. The tabs show or hide themselves from `can`; the server
//! decides again on every call.

use serde::Serialize;
use warp::http::StatusCode;

use super::{Can, Role, TabUser, roles_of};
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
    roles: &'a [Role],
    can: Can,
}

pub async fn get(app: App, user: TabUser, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let tenant = app.tenants.get(&user.tenant).await?.ok_or_else(|| {
        AppError::Forbidden("this organisation has not signed up for SalesTim".into())
    })?;
    let roles = roles_of(&app, &user).await?;
    Ok(HttpResponse::json(
        StatusCode::OK,
        &Me {
            tenant: Named {
                id: user.tenant.as_str(),
                name: &tenant.display_name,
            },
            user: User {
                id: &user.user_id,
                name: &user.name,
                email: &user.email,
            },
            roles: &roles,
            can: Can::of(&roles),
        },
    ))
}
