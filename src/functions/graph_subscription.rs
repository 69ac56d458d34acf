//! `GraphSubscription` — queue trigger on `graph-subscription`: looks after
//! one tenant's `/groups` subscription as its message asks (a check from
//! the timer, a renewal from a lifecycle notification); see
//! `governance::lifecycle::subscriptions`. A tenant not registered or
//! without consent, or a deployment without Graph credentials or a public
//! host name, is skipped (said in its line); a failure fails the
//! invocation, so the host retries it.

use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::subscriptions::{
    Outcome, SubscriptionError, Subscriptions, Urls,
};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::graph_subscription::GraphSubscription;
use crate::platform::PlatformError;

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let job: GraphSubscription = super::queue_job(&req)?;
    let tenant = &job.tenant_id;
    tracing::Span::current().record("tenant_id", tenant.as_str());
    let skipped = |why: &str| {
        Ok(InvokeResponse::ok().log(format!("subscription of {tenant}: {why}; skipped")))
    };
    let Some(urls) = Urls::from_public_hostname(app.settings.public_hostname.as_deref()) else {
        return skipped("SALESTIM_PUBLIC_HOSTNAME is not set, so Graph has no URL to notify");
    };
    let graph = match super::tenant_graph(&app, tenant).await? {
        Ok((_, graph)) => graph,
        Err(why) => return skipped(why),
    };
    let subscriptions = Subscriptions {
        docs: app.docs.as_ref(),
        clock: app.clock.as_ref(),
        envelope: &app.envelope,
    };
    let line = match subscriptions.upkeep(tenant, graph, &urls, job.upkeep).await {
        Ok(Outcome::Created { id, why }) => {
            format!("subscription of {tenant}: {id} made ({why})")
        }
        Ok(Outcome::Renewed { id }) => format!("subscription of {tenant}: {id} renewed"),
        Ok(Outcome::Fine { id }) => format!("subscription of {tenant}: {id} checked, still fine"),
        Ok(Outcome::Busy) => format!("subscription of {tenant}: another upkeep runs; skipped"),
        Err(SubscriptionError::Platform(e)) => return Err(e.into()),
        Err(SubscriptionError::Graph(e)) => {
            tracing::error!(error = %e, transient = e.is_transient(), "the subscription upkeep failed");
            return Err(AppError::Platform(PlatformError::unavailable(
                "graph",
                format!("the subscription of {tenant}: {e}"),
            )));
        }
    };
    Ok(InvokeResponse::done(line))
}
