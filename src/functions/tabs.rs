//! `Tabs` — `GET /api/tabs/{*path}`: the tabs' web app (`tabs::files`),
//! the pages the Teams manifest's static tabs open and their assets. No
//! sign-in here: the files are the same for everyone, and the app signs in
//! to the tabs' API itself. 503 with a short reason while the build folder
//! holds no build.

use warp::http::StatusCode;

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::tabs::files::LoadError;

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let path = req.head.params.get("path").map_or("", String::as_str);
    // Reading the folder (on the first request) is file I/O: off the
    // runtime's threads.
    let answer = {
        let app = app.clone();
        let path = path.to_owned();
        let headers = req.head.headers.clone();
        tokio::task::spawn_blocking(move || app.tab_files.answer(&path, &headers))
            .await
            .map_err(|e| anyhow::anyhow!("serving the tabs: {e}"))?
    };
    match answer {
        Ok(res) => Ok(res),
        Err(e @ LoadError::NotBuilt(_)) => {
            tracing::warn!(error = %e, "tab page asked for before the web app was built");
            Ok(HttpResponse::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the tabs are not built on this deployment (npm ci && npm run build in web/)",
            ))
        }
        Err(e) => Err(anyhow::anyhow!("reading the tabs' build folder: {e}").into()),
    }
}
