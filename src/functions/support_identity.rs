//! `SupportIdentity` — `GET /api/support/identity`: the Intercom Messenger's
//! identity for the signed-in user (`support::intercom`). 503 when Intercom
//! is not configured here, 401 without a valid tab token.

use warp::http::StatusCode;

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse, RequestHead};
use crate::support::intercom;
use crate::tabs::{self, TabUser};

fn configured(app: &App) -> Result<(&str, &secrecy::SecretString), AppError> {
    match (
        app.settings.support.app_id.as_deref(),
        app.settings.intercom_identity_secret.as_ref(),
    ) {
        (Some(app_id), Some(secret)) => Ok((app_id, secret)),
        _ => Err(AppError::NotConfigured(
            "Intercom (INTERCOM_APP_ID, INTERCOM_IDENTITY_SECRET)",
        )),
    }
}

pub async fn check_head(app: &App, head: &mut RequestHead) -> Result<(), AppError> {
    configured(app)?;
    let user = tabs::auth::authenticate(app, head).await?;
    head.extensions.insert(user);
    Ok(())
}

pub async fn run(app: App, mut req: HttpRequest) -> Result<HttpResponse, AppError> {
    let (app_id, secret) = configured(&app)?;
    let user = req
        .head
        .extensions
        .remove::<TabUser>()
        .ok_or_else(|| anyhow::anyhow!("SupportIdentity ran without its head check"))?;
    let identity = intercom::identity(
        &app.settings.support,
        app_id,
        secret,
        &user,
        app.clock.now(),
    )?;
    Ok(HttpResponse::json(StatusCode::OK, &identity).with_header(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    ))
}
