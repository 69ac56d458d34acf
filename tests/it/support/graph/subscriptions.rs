//! Change-notification subscriptions on the stand-in, as Graph keeps them:
//! `POST /subscriptions` calls both the notification and the lifecycle URL
//! back with a `validationToken` (each must answer 200 `text/plain` with
//! the decoded token within 10 s, else the create fails with 400), `PATCH`
//! renews, `GET` reads, `DELETE` removes, an unknown (or expired, or
//! another tenant's) id is 404. Group subscriptions take `updated,deleted`
//! only and live at most 41,760 minutes; 100 per app and tenant.
//!
//! And the other direction: [`GraphStandIn::notify_group_changes`] and
//! [`GraphStandIn::send_lifecycle`] post to the app what Graph would send,
//! with the subscription's `clientState`. Callbacks go to the URL's path
//! on the origin set by [`GraphStandIn::deliver_callbacks_to`] (the app's
//! public host name stands for the local host under test).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{GraphStandIn, Reply, State};

const MAX_LIFETIME: time::Duration = time::Duration::minutes(41_760);
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
const QUOTA_PER_TENANT: usize = 100;

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub tenant: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_url: String,
    pub client_state: String,
    pub expires_at: OffsetDateTime,
}

impl Subscription {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "resource": self.resource,
            "changeType": self.change_type,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "clientState": self.client_state,
            "expirationDateTime": self.expires_at.format(&Rfc3339).expect("a time formats"),
            "applicationId": super::CLIENT_ID,
        })
    }
}

#[derive(Default)]
pub struct Subscriptions {
    list: Vec<Subscription>,
    /// Where callbacks go instead of the URL's own origin.
    callback_origin: Option<String>,
    /// Graph's clock for expiry (the test's), else the real one.
    now: Option<OffsetDateTime>,
    /// How long a validation call may take (Graph: 10 s).
    validation_timeout: Option<Duration>,
}

impl Subscriptions {
    pub(super) fn now(&self) -> OffsetDateTime {
        self.now.unwrap_or_else(OffsetDateTime::now_utc)
    }

    fn live(&self, tenant: &str, id: &str) -> Option<usize> {
        let now = self.now();
        self.list
            .iter()
            .position(|s| s.id == id && s.tenant == tenant && s.expires_at > now)
    }

    fn target(&self, url: &str) -> String {
        match (&self.callback_origin, url::Url::parse(url)) {
            (Some(origin), Ok(u)) => format!("{origin}{}", u.path()),
            _ => url.to_owned(),
        }
    }
}

fn expiry(body: &Value, now: OffsetDateTime) -> Result<OffsetDateTime, Reply> {
    let at = body["expirationDateTime"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .ok_or_else(|| Reply::bad_request("expirationDateTime is required."))?;
    if at <= now || at - now > MAX_LIFETIME {
        return Err(Reply::bad_request(&format!(
            "Subscription expiration can only be {} minutes in the future.",
            MAX_LIFETIME.whole_minutes()
        )));
    }
    Ok(at)
}

/// What a create asks for, checked as Graph checks it.
fn requested(st: &State, tenant: &str, body: &[u8]) -> Result<Subscription, Reply> {
    let subs = &st.subscriptions;
    let body: Value =
        serde_json::from_slice(body).map_err(|_| Reply::bad_request("Invalid JSON."))?;
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let resource = field("resource");
    if resource.trim_start_matches('/') != "groups" {
        return Err(Reply::bad_request(&format!(
            "Resource '{resource}' is not supported here."
        )));
    }
    let change_type = field("changeType");
    if change_type.is_empty()
        || !change_type
            .split(',')
            .all(|c| matches!(c, "updated" | "deleted"))
    {
        return Err(Reply::bad_request(
            "Groups support the changeType updated,deleted only.",
        ));
    }
    let notification_url = field("notificationUrl");
    let lifecycle_url = field("lifecycleNotificationUrl");
    if !notification_url.starts_with("https://") || !lifecycle_url.starts_with("https://") {
        return Err(Reply::bad_request("The notification URLs must be https."));
    }
    let client_state = field("clientState");
    if client_state.len() > 128 {
        return Err(Reply::bad_request(
            "clientState must be at most 128 characters.",
        ));
    }
    if subs.list.iter().filter(|s| s.tenant == tenant).count() >= QUOTA_PER_TENANT {
        return Err(Reply::error(
            403,
            "ExtensionError",
            "Subscription limit of 100 per app and tenant reached.",
        ));
    }
    Ok(Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.to_owned(),
        resource,
        change_type,
        notification_url,
        lifecycle_url,
        client_state,
        expires_at: expiry(&body, subs.now())?,
    })
}

/// `POST /v1.0/subscriptions`: checked, both URLs validated (outside the
/// lock: the app calls the stand-in meanwhile), then kept.
pub async fn create(state: &Arc<Mutex<State>>, authorization: &str, body: &[u8]) -> Reply {
    let lock = || state.lock().expect("the state is never poisoned");
    let checked = {
        let mut st = lock();
        st.counts.http += 1;
        let tenant = authorization
            .strip_prefix("Bearer ")
            .and_then(|t| st.tokens.get(t))
            .cloned();
        match tenant {
            None => Err(Reply::error(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            )),
            Some(tenant) => requested(&st, &tenant, body)
                .map(|sub| (sub, st.subscriptions.callback_origin.clone())),
        }
    };
    let reply = match checked {
        Err(reply) => reply,
        Ok((sub, _)) => {
            let (targets, timeout) = {
                let st = lock();
                let subs = &st.subscriptions;
                let timeout = subs.validation_timeout.unwrap_or(VALIDATION_TIMEOUT);
                let targets = [
                    subs.target(&sub.notification_url),
                    subs.target(&sub.lifecycle_url),
                ];
                (targets, timeout)
            };
            let mut failed = None;
            for target in targets {
                if let Err(why) = validate(&target, timeout).await {
                    failed = Some(why);
                    break;
                }
            }
            match failed {
                Some(why) => Reply::bad_request(&format!(
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
                )),
                None => {
                    let reply = Reply::json(201, sub.json());
                    lock().subscriptions.list.push(sub);
                    reply
                }
            }
        }
    };
    let mut st = lock();
    let req = super::parse_req("POST", "/subscriptions", "application/json", body);
    let tenant = authorization
        .strip_prefix("Bearer ")
        .and_then(|t| st.tokens.get(t))
        .cloned()
        .unwrap_or_default();
    // Its priority header is not read here.
    st.priority = None;
    super::record(&mut st, &tenant, &req, false, reply.status);
    reply
}

/// One validation call: 200, `text/plain`, the token echoed, within
/// `timeout` (10 s at Graph).
async fn validate(target: &str, timeout: Duration) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut url = url::Url::parse(target).map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair("validationToken", &token);
    let res = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let plain = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let text = res.text().await.map_err(|e| e.to_string())?;
    if status != 200 || !plain || text != token {
        return Err(format!("answered {status}, text/plain {plain}"));
    }
    Ok(())
}

/// `GET|PATCH|DELETE /subscriptions/{id}`.
pub fn route(st: &mut State, tenant: &str, req: &super::Req, id: &str) -> Reply {
    let Some(i) = st.subscriptions.live(tenant, id) else {
        return Reply::error(
            404,
            "ResourceNotFound",
            &format!("The object was not found: '{id}'."),
        );
    };
    match req.method.as_str() {
        "GET" => Reply::json(200, st.subscriptions.list[i].json()),
        "PATCH" => {
            let body = req.json().unwrap_or(Value::Null);
            match expiry(&body, st.subscriptions.now()) {
                Err(reply) => reply,
                Ok(at) => {
                    st.subscriptions.list[i].expires_at = at;
                    Reply::json(200, st.subscriptions.list[i].json())
                }
            }
        }
        "DELETE" => {
            st.subscriptions.list.remove(i);
            Reply::empty(204)
        }
        _ => Reply::error(405, "MethodNotAllowed", "Method not allowed."),
    }
}

impl GraphStandIn {
    /// Callbacks (validation, notifications) go to this origin
    /// (`http://127.0.0.1:P`) with the URL's path and query.
    pub fn deliver_callbacks_to(&self, origin: &url::Url) {
        self.state().subscriptions.callback_origin =
            Some(origin.as_str().trim_end_matches('/').to_owned());
    }

    /// Validation calls slower than this fail the create (Graph: 10 s; a
    /// test shortens it rather than wait).
    pub fn set_validation_timeout(&self, timeout: Duration) {
        self.state().subscriptions.validation_timeout = Some(timeout);
    }

    /// Graph's clock for subscription expiry and Entra's dates (renewals);
    /// move it with the app's.
    pub fn set_now(&self, now: OffsetDateTime) {
        self.state().subscriptions.now = Some(now);
    }

    /// The tenant's live subscriptions.
    pub fn subscriptions(&self, tenant: &str) -> Vec<Subscription> {
        let st = self.state();
        let now = st.subscriptions.now();
        st.subscriptions
            .list
            .iter()
            .filter(|s| s.tenant == tenant && s.expires_at > now)
            .cloned()
            .collect()
    }

    /// Graph forgets the tenant's subscriptions (no lifecycle event, as
    /// for groups): a GET or PATCH then answers 404.
    pub fn forget_subscriptions(&self, tenant: &str) {
        self.state()
            .subscriptions
            .list
            .retain(|s| s.tenant != tenant);
    }

    /// What Graph posts when the tenant's `groups` changed (one item
    /// each, in one batch), with the subscription's client state. The
    /// app's status.
    pub async fn notify_group_changes(&self, tenant: &str, groups: &[&str]) -> u16 {
        let changes = groups
            .iter()
            .map(|group| {
                json!({
                    "changeType": "updated",
                    "resource": format!("Groups/{group}"),
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Group",
                        "@odata.id": format!("Groups/{group}"),
                        "id": group,
                        "organizationId": tenant,
                    },
                })
            })
            .collect();
        self.deliver(tenant, changes, false).await
    }

    /// A lifecycle event for the tenant's subscription, as Graph sends it.
    pub async fn send_lifecycle(&self, tenant: &str, event: &str) -> u16 {
        self.deliver(tenant, vec![json!({"lifecycleEvent": event})], true)
            .await
    }

    /// One item per `extra` about the tenant's (first) subscription, its
    /// own fields and the extra ones, posted in one batch to its
    /// notification or lifecycle URL.
    async fn deliver(&self, tenant: &str, extras: Vec<Value>, lifecycle: bool) -> u16 {
        let subs = self.subscriptions(tenant);
        let sub = subs.first().expect("the tenant has a subscription");
        let items: Vec<Value> = extras
            .into_iter()
            .map(|extra| {
                let mut item = json!({
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": sub.expires_at.format(&Rfc3339).expect("formats"),
                    "tenantId": tenant,
                    "clientState": sub.client_state,
                });
                if let (Some(item), Value::Object(extra)) = (item.as_object_mut(), extra) {
                    item.extend(extra);
                }
                item
            })
            .collect();
        let url = if lifecycle {
            &sub.lifecycle_url
        } else {
            &sub.notification_url
        };
        self.post_to_app(url, &json!({"value": items})).await
    }

    /// Posts `body` to where `url` is delivered; the app's status.
    pub async fn post_to_app(&self, url: &str, body: &Value) -> u16 {
        let target = self.state().subscriptions.target(url);
        reqwest::Client::new()
            .post(target)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("the app answers")
            .status()
            .as_u16()
    }
}
