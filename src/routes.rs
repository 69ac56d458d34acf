//! The route table: every function the app serves, and how it is triggered.
//! `functions/<Name>/function.json` declares the same functions for the
//! host; a test checks the two agree both ways. The warp filter tree is built
//! from this table.

use std::collections::HashMap;
use std::convert::Infallible;

use futures::future::BoxFuture;
use tracing::Instrument;
use warp::filters::BoxedFilter;
use warp::filters::path::FullPath;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::app::App;
use crate::error::AppError;
use crate::functions;
use crate::host::INVOCATION_ID_HEADER;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::http::body::{self, read_limited};
use crate::http::{HttpRequest, HttpResponse, RequestHead};

pub type HttpHandler = fn(App, HttpRequest) -> BoxFuture<'static, Result<HttpResponse, AppError>>;
/// A route's check on the request head (method, path, headers), run before
/// a byte of the body is read: whatever refuses a caller without the body
/// (a missing or forged token, a stale signature header, a feature not
/// configured). A refusal answers at once; what the check establishes it
/// leaves in [`RequestHead::extensions`] for the handler.
pub type HeadCheck =
    for<'a> fn(&'a App, &'a mut RequestHead) -> BoxFuture<'a, Result<(), AppError>>;
pub type InvokeHandler =
    fn(App, InvokeRequest) -> BoxFuture<'static, Result<InvokeResponse, AppError>>;

pub use crate::http::route::{ROUTE_PREFIX, match_route};
/// Invocation payloads: a queue message is at most 64 KiB, even encoded twice.
const MAX_INVOKE_BODY: u64 = 1024 * 1024;

pub enum Trigger {
    Http {
        methods: &'static [&'static str],
        route: &'static str,
        max_body: usize,
        /// Runs before the body is read; `None` when the body is needed
        /// to decide anything.
        head: Option<HeadCheck>,
        handler: HttpHandler,
    },
    Timer {
        schedule: &'static str,
        handler: InvokeHandler,
    },
    Queue {
        queue: &'static str,
        handler: InvokeHandler,
    },
}

pub struct Route {
    pub function: &'static str,
    pub trigger: Trigger,
}

pub static ROUTES: &[Route] = &[
    Route {
        function: "Health",
        trigger: Trigger::Http {
            methods: &["get"],
            route: "health",
            max_body: 0,
            head: None,
            handler: |app, req| Box::pin(functions::health::run(app, req)),
        },
    },
    Route {
        function: "StripeWebhook",
        trigger: Trigger::Http {
            methods: &["post"],
            route: "billing/stripe",
            max_body: functions::stripe_webhook::MAX_BODY_BYTES,
            head: Some(|app, head| Box::pin(functions::stripe_webhook::check_head(app, head))),
            handler: |app, req| Box::pin(functions::stripe_webhook::run(app, req)),
        },
    },
    Route {
        function: "BillingEvents",
        trigger: Trigger::Queue {
            queue: crate::jobs::billing_events::QUEUE,
            handler: |app, req| Box::pin(functions::billing_events::run(app, req)),
        },
    },
    Route {
        function: "BotMessages",
        trigger: Trigger::Http {
            methods: &["post"],
            route: "messages",
            max_body: functions::bot_messages::MAX_BODY_BYTES,
            head: Some(|app, head| Box::pin(functions::bot_messages::check_head(app, head))),
            handler: |app, req| Box::pin(functions::bot_messages::run(app, req)),
        },
    },
    Route {
        function: "BotOutbox",
        trigger: Trigger::Queue {
            queue: crate::jobs::bot_outbox::QUEUE,
            handler: |app, req| Box::pin(functions::bot_outbox::run(app, req)),
        },
    },
    Route {
        function: "BillingDunning",
        trigger: Trigger::Timer {
            schedule: functions::billing_dunning::SCHEDULE,
            handler: |app, req| Box::pin(functions::billing_dunning::run(app, req)),
        },
    },
    Route {
        function: "GovernanceAction",
        trigger: Trigger::Queue {
            queue: crate::jobs::governance_action::QUEUE,
            handler: |app, req| Box::pin(functions::governance_action::run(app, req)),
        },
    },
    Route {
        function: "GovernanceActionPoison",
        trigger: Trigger::Queue {
            queue: crate::jobs::governance_action::POISON_QUEUE,
            handler: |app, req| Box::pin(functions::governance_action::run_poison(app, req)),
        },
    },
    Route {
        function: "ProvisionTeam",
        trigger: Trigger::Queue {
            queue: crate::jobs::provision_team::QUEUE,
            handler: |app, req| Box::pin(functions::provision_team::run(app, req)),
        },
    },
    Route {
        function: "ProvisionTeamPoison",
        trigger: Trigger::Queue {
            queue: crate::jobs::provision_team::POISON_QUEUE,
            handler: |app, req| Box::pin(functions::provision_team::run_poison(app, req)),
        },
    },
    Route {
        function: "TenantWork",
        trigger: Trigger::Queue {
            queue: crate::jobs::tenant_work::QUEUE,
            handler: |app, req| Box::pin(functions::tenant_work::run(app, req)),
        },
    },
    Route {
        function: "GovernanceSweep",
        trigger: Trigger::Timer {
            schedule: functions::governance_sweep::SCHEDULE,
            handler: |app, req| Box::pin(functions::governance_sweep::run(app, req)),
        },
    },
    Route {
        function: "SweepTenant",
        trigger: Trigger::Queue {
            queue: crate::jobs::sweep_tenant::QUEUE,
            handler: |app, req| Box::pin(functions::sweep_tenant::run(app, req)),
        },
    },
    Route {
        function: "GraphNotifications",
        trigger: Trigger::Http {
            methods: &["post"],
            route: "graph/notifications",
            max_body: functions::graph_notifications::MAX_BODY_BYTES,
            head: None,
            handler: |app, req| Box::pin(functions::graph_notifications::run(app, req)),
        },
    },
    Route {
        function: "GraphLifecycle",
        trigger: Trigger::Http {
            methods: &["post"],
            route: "graph/lifecycle",
            max_body: functions::graph_lifecycle::MAX_BODY_BYTES,
            head: None,
            handler: |app, req| Box::pin(functions::graph_lifecycle::run(app, req)),
        },
    },
    Route {
        function: "GraphSubscriptions",
        trigger: Trigger::Timer {
            schedule: functions::graph_subscriptions::SCHEDULE,
            handler: |app, req| Box::pin(functions::graph_subscriptions::run(app, req)),
        },
    },
    Route {
        function: "GraphSubscription",
        trigger: Trigger::Queue {
            queue: crate::jobs::graph_subscription::QUEUE,
            handler: |app, req| Box::pin(functions::graph_subscription::run(app, req)),
        },
    },
    Route {
        function: "TabApi",
        trigger: Trigger::Http {
            methods: &["get", "post", "put", "delete"],
            route: "tab/{*path}",
            max_body: functions::tab_api::MAX_BODY_BYTES,
            head: Some(|app, head| Box::pin(functions::tab_api::check_head(app, head))),
            handler: |app, req| Box::pin(functions::tab_api::run(app, req)),
        },
    },
    Route {
        function: "Tabs",
        trigger: Trigger::Http {
            methods: &["get"],
            route: "tabs/{*path}",
            max_body: 0,
            head: None,
            handler: |app, req| Box::pin(functions::tabs::run(app, req)),
        },
    },
    Route {
        function: "CrmCallback",
        trigger: Trigger::Http {
            methods: &["get"],
            route: "crm/salesforce/callback",
            max_body: 0,
            head: None,
            handler: |app, req| Box::pin(functions::crm_callback::run(app, req)),
        },
    },
    Route {
        function: "DevSignIn",
        trigger: Trigger::Http {
            methods: &["get", "post"],
            route: "dev/signin",
            max_body: functions::dev_sign_in::MAX_BODY_BYTES,
            head: Some(|app, head| Box::pin(functions::dev_sign_in::check_head(app, head))),
            handler: |app, req| Box::pin(functions::dev_sign_in::run(app, req)),
        },
    },
    Route {
        function: "SupportIdentity",
        trigger: Trigger::Http {
            methods: &["get"],
            route: "support/identity",
            max_body: 0,
            head: Some(|app, head| Box::pin(functions::support_identity::check_head(app, head))),
            handler: |app, req| Box::pin(functions::support_identity::run(app, req)),
        },
    },
    Route {
        function: "RequestReminders",
        trigger: Trigger::Timer {
            schedule: functions::request_reminders::SCHEDULE,
            handler: |app, req| Box::pin(functions::request_reminders::run(app, req)),
        },
    },
];

/// The queues the app's queue functions read (and so the app writes to).
pub fn trigger_queues() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().filter_map(|r| match r.trigger {
        Trigger::Queue { queue, .. } => Some(queue),
        _ => None,
    })
}

#[derive(Debug)]
struct MethodNotAllowed;
impl warp::reject::Reject for MethodNotAllowed {}

/// The whole filter tree: `GET /` for the host's readiness poll, one filter
/// per HTTP function under `/api/`, one `POST /<Name>` per other function.
pub fn filter(app: App) -> BoxedFilter<(Response,)> {
    let ready = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::with_status("ok", StatusCode::OK).into_response())
        .boxed();
    ROUTES
        .iter()
        .map(|route| match &route.trigger {
            Trigger::Http {
                methods,
                route: template,
                max_body,
                head,
                handler,
            } => http_filter(
                app.clone(),
                HttpRoute {
                    function: route.function,
                    methods,
                    template,
                    max_body: *max_body as u64,
                    head: *head,
                    handler: *handler,
                },
            ),
            Trigger::Timer { handler, .. } => {
                invoke_filter(app.clone(), route.function, None, *handler)
            }
            Trigger::Queue { queue, handler } => {
                invoke_filter(app.clone(), route.function, Some(queue), *handler)
            }
        })
        .fold(ready, |acc, f| acc.or(f).unify().boxed())
        .recover(handle_rejection)
        .unify()
        .boxed()
}

fn invocation_id(headers: &HeaderMap) -> String {
    headers
        .get(INVOCATION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// One HTTP function's row of the table, as its filter needs it.
#[derive(Clone, Copy)]
struct HttpRoute {
    function: &'static str,
    methods: &'static [&'static str],
    template: &'static str,
    max_body: u64,
    head: Option<HeadCheck>,
    handler: HttpHandler,
}

fn http_filter(app: App, route: HttpRoute) -> BoxedFilter<(Response,)> {
    let HttpRoute {
        function,
        methods,
        template,
        ..
    } = route;
    let prefix = format!("/{ROUTE_PREFIX}/");
    warp::path::full()
        .and(warp::method())
        .and_then(move |path: FullPath, method: Method| {
            let prefix = prefix.clone();
            async move {
                let params = path.as_str().strip_prefix(&prefix).and_then(|rest| match_route(template, rest)).ok_or_else(warp::reject::not_found)?;
                let lower = method.as_str().to_ascii_lowercase();
                if !methods.is_empty() && !methods.contains(&lower.as_str()) {
                    return Err(warp::reject::custom(MethodNotAllowed));
                }
                Ok::<_, Rejection>((path, method, params))
            }
        })
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |(path, method, params): (FullPath, Method, HashMap<String, String>), query: String, headers: HeaderMap, body| {
            let app = app.clone();
            let invocation_id = invocation_id(&headers);
            let span = tracing::info_span!("invocation", function, invocation_id = %invocation_id, tenant_id = tracing::field::Empty);
            crate::telemetry::adopt_host_trace(&span, &headers);
            async move {
                let result = async {
                    let query = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                    let mut head = RequestHead { method, path: path.as_str().to_owned(), query, params, headers, invocation_id, extensions: Default::default() };
                    if let Err(e) = check_head(&app, &route, &mut head).await {
                        body::discard(body, &head.headers, route.max_body, 0);
                        return Err(e);
                    }
                    let body = read_limited(body, &head.headers, route.max_body).await?;
                    (route.handler)(app, HttpRequest { head, body }).await
                }
                .await;
                render_http(result)
            }
            .instrument(span)
        })
        .boxed()
}

/// What the head alone decides, before any of the body is read: its
/// declared size, then the route's own check.
async fn check_head(app: &App, route: &HttpRoute, head: &mut RequestHead) -> Result<(), AppError> {
    body::check_declared(&head.headers, route.max_body)?;
    match route.head {
        Some(check) => check(app, head).await,
        None => Ok(()),
    }
}

/// `queue`: the queue a queue function reads (its messages' lag is
/// measured).
fn invoke_filter(
    app: App,
    function: &'static str,
    queue: Option<&'static str>,
    handler: InvokeHandler,
) -> BoxedFilter<(Response,)> {
    warp::post()
        .and(warp::path(function))
        .and(warp::path::end())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |headers: HeaderMap, body| {
            let app = app.clone();
            let invocation_id = invocation_id(&headers);
            let span = tracing::info_span!("invocation", function, invocation_id = %invocation_id, tenant_id = tracing::field::Empty);
            crate::telemetry::adopt_host_trace(&span, &headers);
            async move {
                // The host never sends these; a web page under `handler local` would.
                if let Some(reason) = crate::http::browser_request_reason(&headers) {
                    body::discard(body, &headers, MAX_INVOKE_BODY, 0);
                    let e = AppError::Forbidden(reason.into());
                    log_error(&e);
                    return problem_response(&e);
                }
                let result = async {
                    let body = read_limited(body, &headers, MAX_INVOKE_BODY).await?;
                    let req: InvokeRequest = serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(format!("invocation payload: {e}")))?;
                    if let (Some(queue), Some(inserted)) = (queue, req.insertion_time()) {
                        crate::telemetry::metrics::queue_lag(queue, inserted, app.clock.now());
                    }
                    handler(app, req).await
                }
                .await;
                match result {
                    Ok(res) => warp::reply::json(&res).into_response(),
                    Err(e) => {
                        // A non-2xx status fails the invocation: the host retries
                        // queue messages and finally moves them to the poison queue.
                        log_error(&e);
                        let res = InvokeResponse::ok().log(format!("failed: {}", e.public_detail()));
                        warp::reply::with_status(warp::reply::json(&res), StatusCode::INTERNAL_SERVER_ERROR).into_response()
                    }
                }
            }
            .instrument(span)
        })
        .boxed()
}

fn log_error(e: &AppError) {
    // A feature left unconfigured is the operator's choice, and a busy
    // answer is load shed on purpose: neither is a failure.
    if e.status().is_server_error() && !matches!(e, AppError::NotConfigured(_) | AppError::Busy(_))
    {
        tracing::error!(error = %e, status = e.status().as_u16(), "request failed");
    } else {
        tracing::warn!(error = %e, status = e.status().as_u16(), "request rejected");
    }
}

fn render_http(result: Result<HttpResponse, AppError>) -> Response {
    match result {
        Ok(res) => {
            let mut response = Response::new(res.body.into());
            *response.status_mut() = res.status;
            *response.headers_mut() = res.headers;
            response
        }
        Err(e) => {
            log_error(&e);
            problem_response(&e)
        }
    }
}

fn problem_response(e: &AppError) -> Response {
    let mut response =
        warp::reply::with_status(warp::reply::json(&e.problem()), e.status()).into_response();
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/problem+json"),
    );
    if let Some(challenge) = e
        .www_authenticate()
        .and_then(|c| warp::http::HeaderValue::from_str(c).ok())
    {
        response.headers_mut().insert("www-authenticate", challenge);
    }
    if let Some(secs) = e.retry_after_secs() {
        response
            .headers_mut()
            .insert("retry-after", warp::http::HeaderValue::from(secs));
    }
    response
}

async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        AppError::NotFound
    } else if rejection.find::<MethodNotAllowed>().is_some()
        || rejection.find::<warp::reject::MethodNotAllowed>().is_some()
    {
        AppError::MethodNotAllowed
    } else {
        AppError::BadRequest(format!("{rejection:?}"))
    };
    tracing::debug!(status = error.status().as_u16(), "no route");
    Ok(problem_response(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_all_takes_the_rest_of_the_path_as_the_functions_host_does() {
        let p = match_route("tab/{*path}", "tab/admin/templates/t%201").unwrap();
        assert_eq!(p["path"], "admin/templates/t 1");
        assert_eq!(match_route("tab/{*path}", "tab/me").unwrap()["path"], "me");
        // Zero segments too: the index of a folder.
        assert_eq!(match_route("tabs/{*path}", "tabs/").unwrap()["path"], "");
        assert_eq!(match_route("tabs/{*path}", "tabs").unwrap()["path"], "");
        assert!(match_route("tab/{*path}", "tabs/me").is_none());
        assert!(match_route("tab/{*path}", "").is_none());
        let p = match_route("t/{id}/{*rest}", "t/a/b/c").unwrap();
        assert_eq!((p["id"].as_str(), p["rest"].as_str()), ("a", "b/c"));
        assert!(match_route("t/{id}/{*rest}", "t").is_none());
        // Only as the last segment; elsewhere it is a plain parameter name.
        assert!(match_route("health", "health/x").is_none());
    }

    #[test]
    fn every_function_name_is_unique() {
        let mut names: Vec<_> = ROUTES.iter().map(|r| r.function).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ROUTES.len());
    }
}
