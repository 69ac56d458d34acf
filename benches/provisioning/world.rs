//! One run's world: the Graph stand-in with the tenant's directory and
//! catalog, the Connector sink, the handler set up with the "project"
//! template, and the requester's activities (`help`, the form's `task/submit`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::graph::GraphStandIn;
use crate::handler::{self, Handler, log_tail};
use crate::sink::{self, Sink};
use crate::{
    CRM_APP, DESCRIPTION, MEMBER, OWNER, REQUESTER, TYPED_MEMBER, TYPED_MEMBER_UPN, final_name,
};

pub fn template() -> Value {
    json!({
        "name": "Project", "description": "A team for a customer project", "code": "PRJ",
        "visibility": "Private",
        "channels": [{"name": "Planning", "description": "Plans and milestones"},
            {"name": "Leadership", "private": true}],
        "tabs": [{"channel": "General", "name": "Wiki", "url": "https://wiki.contoso.test/projects"},
            {"channel": "Planning", "name": "Board", "url": "https://board.contoso.test/"}],
        "apps": [CRM_APP],
        "owners": [{"aadObjectId": OWNER, "name": "Dave"}],
        "members": [{"aadObjectId": MEMBER, "name": "Carol"}],
        "allowGuests": false,
        "naming": {"prefix": [{"attribute": "TemplateCode"}, {"text": "-"}]},
        "approval": {"kind": "none"},
        "lifecycle": {"expiryDays": 180}
    })
}

/// One run's stand-ins and handler.
pub struct World {
    pub graph: GraphStandIn,
    pub sink: Sink,
    pub tenant: String,
    pub handler: Handler,
    http: reqwest::Client,
    _files: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        let tenant = uuid::Uuid::new_v4().to_string();
        let graph = GraphStandIn::start().await;
        graph.add_tenant(&tenant, true);
        for (id, name) in [
            (REQUESTER, "Bob"),
            (OWNER, "Dave"),
            (MEMBER, "Carol"),
            (TYPED_MEMBER, "Erin"),
        ] {
            graph.add_user(&tenant, id, name, Some("Sales"), Some("FR"), None);
        }
        graph.set_upn(&tenant, TYPED_MEMBER, TYPED_MEMBER_UPN);
        graph.add_catalog_app(&tenant, CRM_APP, "Contoso CRM");
        let sink = Sink::start().await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("a client");
        let files = tempfile::tempdir().expect("a temp dir");
        let handler = handler::start(&http, &graph, &tenant, &template(), files.path()).await;
        World {
            graph,
            sink,
            tenant,
            handler,
            http,
            _files: files,
        }
    }

    /// An activity from the requester in their 1:1 chat with the bot.
    fn activity(&self, kind: &str, id: &str) -> Value {
        let tenant = &self.tenant;
        json!({
            "type": kind, "id": id, "channelId": "msteams", "serviceUrl": self.sink.service_url,
            "from": {"id": format!("29:{REQUESTER}"), "name": "Bob", "aadObjectId": REQUESTER},
            "recipient": {"id": "28:salestim-bench"},
            "conversation": {"id": format!("a:1chat-with-{REQUESTER}"), "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}}, "locale": "en-US"
        })
    }

    async fn post(&self, activity: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/api/messages", self.handler.base))
            .json(activity)
            .send()
            .await
            .expect("the bot answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `help` until the reply is the help card: the subscription event is
    /// applied and the bot knows the requester's chat.
    pub async fn say_hello(&self) {
        let card = salestim::teams::cards::help(None);
        let started = Instant::now();
        loop {
            let id = format!("hello-{}", uuid::Uuid::new_v4().simple());
            let mut hello = self.activity("message", &id);
            hello["text"] = json!("help");
            let (status, _) = self.post(&hello).await;
            assert_eq!(status, 200, "help: {}", log_tail(&self.handler.log, 20));
            let probe = Instant::now();
            while probe.elapsed() < Duration::from_secs(2) {
                if self.sink.since(0).iter().any(|p| {
                    p.path.ends_with(&format!("/activities/{id}")) && *sink::card(&p.body) == card
                }) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no help card within 30 s; the handler's log ends:\n{}",
                log_tail(&self.handler.log, 20)
            );
        }
    }

    /// Checks the final name of `name` (a draft), then submits that draft,
    /// as a requester does: when it was sent, how long the bot took to
    /// answer both, and whether it said approved (else what it said).
    pub async fn submit(&self, n: usize, name: &str) -> Submitted {
        let form = |action: &str, draft: Option<&str>| {
            let mut data = json!({"action": action, "templateId": "project",
                "displayName": name, "description": DESCRIPTION, "justification": "Benchmark",
                "owners": "", "members": TYPED_MEMBER_UPN});
            if let Some(d) = draft {
                data["draftId"] = json!(d);
            }
            json!({"data": data})
        };
        let at = Instant::now();
        let mut preview = self.activity("invoke", &format!("preview-{n}"));
        preview["name"] = json!("task/submit");
        preview["value"] = form("request.preview", None);
        let (status, body) = self.post(&preview).await;
        let card = &body["task"]["value"]["card"]["content"];
        let draft = card["actions"][1]["data"]["draftId"]
            .as_str()
            .map(str::to_owned);
        let Some(draft) = draft.filter(|_| status == 200) else {
            return Submitted {
                name: final_name(name),
                at,
                answered: at.elapsed(),
                ok: Err(format!("preview: {status} {body}")),
            };
        };
        let mut invoke = self.activity("invoke", &format!("submit-{n}"));
        invoke["name"] = json!("task/submit");
        invoke["value"] = form("request.submit", Some(&draft));
        let (status, body) = self.post(&invoke).await;
        let said = body["task"]["value"].as_str().unwrap_or_default();
        let ok = status == 200 && said.contains("is approved");
        Submitted {
            name: final_name(name),
            at,
            answered: at.elapsed(),
            ok: if ok {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            },
        }
    }
}

pub struct Submitted {
    /// The team's final name ("PRJ-…").
    pub name: String,
    pub at: Instant,
    pub answered: Duration,
    pub ok: Result<(), String>,
}
