//! Stripe's Checkout Sessions API (`POST /v1/checkout/sessions`), the one
//! call that lets a tenant pay, and its Customer Portal sessions
//! (`POST /v1/billing_portal/sessions`), where a paying tenant manages
//! invoices and seats. The checkout session SalesTim creates is the proof,
//! when it completes, that its customer belongs to that tenant.
//!
//! Stripe's REST API takes form-encoded bodies (nested fields as
//! `line_items[0][price]`) and a secret key as a bearer token. One attempt
//! with a timeout and an `Idempotency-Key`, so a retry by whoever calls this
//! (an operator re-running the command, the shared outbound stack later)
//! never makes a second session for the same request.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::binding::CustomerId;
use crate::ids::TenantId;

/// How long one call may take before the operator is told.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Most bytes read from Stripe's answer (a session is a few KiB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct StripeApi {
    http: reqwest::Client,
    base: Url,
    key: SecretString,
}

/// What to sell in a new session.
pub struct NewCheckout<'a> {
    pub tenant: &'a TenantId,
    /// A Stripe Price id (`price_...`).
    pub price: &'a str,
    pub seats: u32,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub idempotency_key: &'a str,
}

/// The session Stripe made.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeApiError {
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Stripe's answer is not a Checkout Session: {0}")]
    BadAnswer(String),
}

impl StripeApi {
    pub fn new(http: reqwest::Client, base: Url, key: SecretString) -> Self {
        StripeApi { http, base, key }
    }

    pub async fn create_checkout_session(
        &self,
        c: &NewCheckout<'_>,
    ) -> Result<CreatedSession, StripeApiError> {
        let seats = c.seats.to_string();
        // The tenant goes into Stripe's own records for people reading its
        // dashboard; SalesTim never reads it back as proof of anything.
        let form = [
            ("mode", "subscription"),
            ("line_items[0][price]", c.price),
            ("line_items[0][quantity]", seats.as_str()),
            ("success_url", c.success_url),
            ("cancel_url", c.cancel_url),
            ("client_reference_id", c.tenant.as_str()),
            ("metadata[tenantId]", c.tenant.as_str()),
            ("subscription_data[metadata][tenantId]", c.tenant.as_str()),
        ];
        let session: CreatedSession = self
            .post_form("v1/checkout/sessions", &form, c.idempotency_key)
            .await?;
        super::binding::checkout_session_id(&session.id)
            .map_err(|e| StripeApiError::BadAnswer(e.to_string()))?;
        Ok(session)
    }

    /// A Customer Portal session (`POST /v1/billing_portal/sessions`) for
    /// a bound customer: where the tenant's admin manages invoices, seats
    /// and the payment method, then comes back to `return_url`.
    pub async fn create_portal_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<CreatedSession, StripeApiError> {
        let form = [("customer", customer.as_str()), ("return_url", return_url)];
        let session: CreatedSession = self
            .post_form("v1/billing_portal/sessions", &form, idempotency_key)
            .await?;
        if !session.id.starts_with("bps_") {
            return Err(StripeApiError::BadAnswer(format!(
                "{:?} is not a portal session id",
                session.id.chars().take(64).collect::<String>()
            )));
        }
        Ok(session)
    }

    /// One form-encoded POST to Stripe's API, once, with an idempotency key;
    /// Stripe's error message (cut short) when it refuses.
    async fn post_form<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<T, StripeApiError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| StripeApiError::Unreachable(e.to_string()))?;
        let request = self
            .http
            .post(url)
            .bearer_auth(self.key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .timeout(TIMEOUT)
            .form(form)
            .build()
            .map_err(|e| StripeApiError::Unreachable(e.without_url().to_string()))?;
        let res = crate::telemetry::dependency::http(&self.http, request, path)
            .await
            .map_err(|e| StripeApiError::Unreachable(e.without_url().to_string()))?;
        let status = res.status();
        let body = read_bounded(res).await?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct ErrorBody {
                error: ErrorDetail,
            }
            #[derive(Deserialize)]
            struct ErrorDetail {
                message: Option<String>,
            }
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|e| e.error.message)
                .unwrap_or_else(|| "no error message".into());
            return Err(StripeApiError::Refused {
                status: status.as_u16(),
                message: message.chars().take(500).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| StripeApiError::BadAnswer(e.to_string()))
    }
}

async fn read_bounded(mut res: reqwest::Response) -> Result<Vec<u8>, StripeApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| StripeApiError::Unreachable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(StripeApiError::BadAnswer("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
