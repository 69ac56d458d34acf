//! `TabApi` — `/api/tab/{*path}`, the HTTP API behind the Teams tabs. The
//! caller's token is checked before the body is read ([`check_head`]); the
//! call then goes to its screen through the table in `tabs::api`.

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse, RequestHead};
use crate::tabs::{self, TabUser};

/// The largest body a screen takes (a template's icon, 256 KiB, with room).
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The signed-in user, left in the head's extensions for [`run`].
pub async fn check_head(app: &App, head: &mut RequestHead) -> Result<(), AppError> {
    let user = tabs::auth::authenticate(app, head).await?;
    head.extensions.insert(user);
    Ok(())
}

pub async fn run(app: App, mut req: HttpRequest) -> Result<HttpResponse, AppError> {
    let user = req
        .head
        .extensions
        .remove::<TabUser>()
        .ok_or_else(|| anyhow::anyhow!("TabApi ran without its head check"))?;
    tabs::api::dispatch(app, user, req).await
}
