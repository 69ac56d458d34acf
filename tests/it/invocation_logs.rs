//! What an invocation did reaches the operator once, in the handler's own
//! log line, inside the invocation's span: function, invocation id and
//! tenant. Under Azure the host forwards the handler's stdout; the `Logs`
//! of a response would come a second time, through the host's invocation
//! log (and the local host's echo), without the tenant.

use serde_json::json;

use crate::billing::{deliver, event, paying_tenant, subscription};
use crate::support::app::spawn_app;
use crate::support::logs;

#[tokio::test]
async fn each_function_says_what_it_did_once_with_its_tenant() {
    let log = logs::capture();
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Contoso", "cus_1").await;
    deliver(
        &app,
        &[event(
            "evt_said",
            "customer.subscription.created",
            app.now(),
            subscription(&tenant, "active", 5),
        )],
    )
    .await;
    let work = |task: &str| json!({"tenantId": tenant.as_str(), "task": task}).to_string();
    app.run_function("TenantWork", &work("dunning")).await;
    app.run_function("TenantWork", &work("followUpRequests"))
        .await;
    let job = json!({"tenantId": tenant.as_str(), "requestId": "req-gone"}).to_string();
    app.run_function("ProvisionTeam", &job).await;

    let said = |function: &str, text: String| (function.to_owned(), text);
    for (function, text) in [
        said(
            "BillingEvents",
            format!("evt_said (customer.subscription.created) for tenant {tenant}"),
        ),
        said("TenantWork", format!("dunning for {tenant}: nothing to do")),
        said("TenantWork", format!("reminders for {tenant}: 0 reminded")),
        said("ProvisionTeam", "no request req-gone".to_owned()),
    ] {
        let lines = log.saying(&text);
        assert_eq!(lines.len(), 1, "{text:?} said once: {lines:#?}");
        let span = &lines[0]["span"];
        assert_eq!(span["function"], function.as_str(), "{lines:#?}");
        assert_eq!(span["tenant_id"], tenant.as_str(), "{lines:#?}");
        assert!(span["invocation_id"].is_string(), "{lines:#?}");
    }
}
