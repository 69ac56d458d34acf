//! `CrmCallback` — `GET /api/crm/salesforce/callback`: where Salesforce
//! sends the admin back after they allowed SalesTim (`crm::connect`). The
//! `state` names the pending connection an admin started from the admin
//! tab (the only source of the tenant); the `code` becomes a refresh token
//! sealed in the tenant's connection. The answer is a small page the admin
//! closes (the admin tab then shows the connection).

use warp::http::StatusCode;

use crate::app::App;
use crate::crm::CrmError;
use crate::crm::connect::{self, ConnectError};
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};

fn page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;margin:2rem\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    HttpResponse::text(status, html)
        .with_header(
            "content-type",
            warp::http::HeaderValue::from_static("text/html; charset=utf-8"),
        )
        .with_header(
            "content-security-policy",
            warp::http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        )
}

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let param = |name: &str| {
        req.head
            .query
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    };
    if let Some(error) = req.head.query.get("error") {
        // The admin said no, or Salesforce refused the app.
        let error: String = error.chars().take(100).collect();
        tracing::info!(error, "Salesforce sign-in ended without a code");
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Salesforce was not connected",
            &format!("Salesforce said: {error}. Start again from the Admin tab."),
        ));
    }
    match connect::finish(&app.crm, param("state"), param("code")).await {
        Ok((tenant, _)) => {
            tracing::info!(tenant = %tenant, "Salesforce connected");
            Ok(page(
                StatusCode::OK,
                "Salesforce is connected",
                "You can close this window: the Admin tab shows the connection.",
            ))
        }
        Err(ConnectError::Refused(why)) => {
            tracing::info!(why, "Salesforce callback refused");
            Ok(page(
                StatusCode::BAD_REQUEST,
                "Salesforce was not connected",
                why,
            ))
        }
        Err(ConnectError::Crm(CrmError::Platform(e))) => Err(e.into()),
        Err(ConnectError::Crm(e)) => {
            tracing::warn!(error = %e, "Salesforce refused the code");
            Ok(page(
                StatusCode::BAD_GATEWAY,
                "Salesforce was not connected",
                &format!("{e}. Start again from the Admin tab."),
            ))
        }
    }
}
