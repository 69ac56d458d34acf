//! `DevSignIn` — `/api/dev/signin`, the development sign-in of `handler
//! local` (`tabs::dev`). `GET` lists the demo tenant's users; `POST
//! {"userId"}` (JSON only) answers a token for one of them, which the tabs
//! then use exactly as a Teams SSO token. Anywhere else (the Functions
//! host, or `SALESTIM_DEV_SIGNIN=false`) it answers 404.

use serde::{Deserialize, Serialize};
use warp::http::{Method, StatusCode};

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::tabs::dev::{self, DEMO_TENANT_ID, DEMO_TENANT_NAME, DEMO_USERS, DemoUser, DevIssuer};

pub const MAX_BODY_BYTES: usize = 1024;

#[derive(Serialize)]
struct Tenant {
    id: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
struct Directory {
    tenant: Tenant,
    users: &'static [DemoUser],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    user_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    token: String,
    expires_in: i64,
}

fn issuer(app: &App) -> Result<&DevIssuer, AppError> {
    app.tab_auth.dev().ok_or(AppError::NotFound)
}

/// Nothing is read where there is no development sign-in.
pub async fn check_head(app: &App, _head: &mut crate::http::RequestHead) -> Result<(), AppError> {
    issuer(app).map(|_| ())
}

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let issuer = issuer(&app)?;
    if req.head.method == Method::GET {
        return Ok(HttpResponse::json(
            StatusCode::OK,
            &Directory {
                tenant: Tenant {
                    id: DEMO_TENANT_ID,
                    name: DEMO_TENANT_NAME,
                },
                users: &DEMO_USERS,
            },
        ));
    }
    if !crate::http::is_json(&req.head.headers) {
        return Err(AppError::UnsupportedMediaType(
            "a sign-in is application/json".into(),
        ));
    }
    let asked: SignIn = serde_json::from_slice(&req.body)
        .map_err(|e| AppError::BadRequest(format!("userId: {e}")))?;
    let user = dev::demo_user(&asked.user_id)
        .ok_or_else(|| AppError::BadRequest("userId: not a user of the demo tenant".into()))?;
    let token = issuer.issue(user, app.clock.now())?;
    tracing::info!(user = user.id, "development sign-in");
    Ok(HttpResponse::json(
        StatusCode::OK,
        &Issued {
            token,
            expires_in: dev::TOKEN_LIFETIME_SECS,
        },
    )
    .with_header(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    ))
}
