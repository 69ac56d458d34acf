//! Billing: the tenant's subscription as Stripe's events left it, a
//! Checkout Session bound to this tenant (the one way, besides an
//! operator's binding, that a Stripe customer is bound to a tenant) and a
//! Customer Portal session for invoices and seats.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::billing::checkout::StripeApi;
use crate::billing::{BillingError, CheckoutRequest, MAX_SEATS};
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};

/// `GET admin/billing`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let sub = app
        .billing
        .subscription(&caller.tenant)
        .await?
        .unwrap_or_default();
    let entitlement = app.billing.entitlement(&caller.tenant).await?;
    Ok(ok(&json!({
        "status": sub.status.clone().unwrap_or_else(|| "none".into()),
        "plan": sub.plan, "seats": sub.seats, "currentPeriodEnd": sub.current_period_end,
        "cancelAtPeriodEnd": sub.cancel_at_period_end,
        "customerBound": sub.stripe_customer_id.is_some(),
        "active": entitlement.active, "reason": entitlement.reason,
        "configured": app.settings.stripe_api_key.is_some() && app.settings.stripe_price_id.is_some(),
    })))
}

fn stripe(app: &App) -> Result<StripeApi, AppError> {
    let key: SecretString = app
        .settings
        .stripe_api_key
        .clone()
        .ok_or(AppError::NotConfigured("billing (STRIPE_API_KEY)"))?;
    Ok(StripeApi::new(
        app.http.clone(),
        app.settings.stripe_api_base.clone(),
        key,
    ))
}

fn refused(e: BillingError) -> AppError {
    match e {
        BillingError::Refused(reason) => invalid("billing", reason),
        e => {
            tracing::warn!(error = %e, "stripe refused or was unreachable");
            AppError::Platform(crate::platform::PlatformError::unavailable(
                "stripe",
                e.to_string(),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkout {
    seats: u32,
}

/// `POST admin/billing/checkout`.
pub async fn checkout(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let body: Checkout = json(&req)?;
    if body.seats == 0 || body.seats > MAX_SEATS {
        return Err(invalid("seats", format!("from 1 to {MAX_SEATS}")));
    }
    let s = &app.settings;
    let price = s
        .stripe_price_id
        .clone()
        .ok_or(AppError::NotConfigured("billing (STRIPE_PRICE_ID)"))?;
    let (Some(success), Some(cancel)) = (
        &s.stripe_checkout_success_url,
        &s.stripe_checkout_cancel_url,
    ) else {
        return Err(AppError::NotConfigured(
            "billing (the pages Stripe Checkout returns to)",
        ));
    };
    let stripe = stripe(&app)?;
    let actor = caller.actor();
    let session = app
        .billing
        .start_checkout(
            &stripe,
            &CheckoutRequest {
                tenant: &caller.tenant,
                price: &price,
                seats: body.seats,
                success_url: success.as_str(),
                cancel_url: cancel.as_str(),
                actor: &actor,
            },
        )
        .await
        .map_err(refused)?;
    Ok(ok(&json!({"url": session.url})))
}

/// `POST admin/billing/portal`.
pub async fn portal(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    // Back to the admin tab, where the portal was opened from.
    let back = match &app.settings.public_hostname {
        Some(host) => format!("https://{host}/api/tabs/admin"),
        None => app
            .settings
            .stripe_checkout_cancel_url
            .as_ref()
            .map(|u| u.to_string())
            .ok_or(AppError::NotConfigured(
                "billing (the page Stripe's portal returns to)",
            ))?,
    };
    let stripe = stripe(&app)?;
    let session = app
        .billing
        .open_portal(&stripe, &caller.tenant, &back, &caller.actor())
        .await
        .map_err(refused)?;
    Ok(ok(&json!({"url": session.url})))
}
