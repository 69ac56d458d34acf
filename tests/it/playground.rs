//! The README's local-testing promise, kept by the real client: the
//! Microsoft 365 Agents Playground (npm `@microsoft/m365agentsplayground`,
//! installed in `tests/tools` by `scripts/test`) started with the repo's
//! `.m365agentsplayground.yml` against the real `handler local` with bot
//! authentication disabled, the tenant registered by the README's command.
//!
//! The Playground has no CLI for conversations; its web UI talks to its own
//! server, and so does this test: `POST /_debug/conversation/<id>/installation`
//! (the "install" the UI does on start), `POST /_conversation/v1/conversations/
//! <id>/messages` (the user types), `POST /_conversation/v1/invoke` (a click on
//! an `Action.Execute` button, answered synchronously with the bot's invoke
//! response), and the WebSocket `/_ws_conversation/v1/conversations/stream`,
//! where the UI learns of every message the bot sent to its connector. What
//! the test asserts is what the Playground received and would render.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use salestim::governance::people::Person;
use salestim::governance::requests::{self, RequestForm, RequesterInfo};
use salestim::governance::tenants::TenantSettings;
use salestim::ids::TenantId;
use salestim::platform::clock::SystemClock;
use salestim::platform::documents::sqlite::SqliteDocuments;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::support::app::repo_root;

/// What `.m365agentsplayground.yml` says (the test reads the file too, so a
/// change there that breaks the bot fails here).
struct PlaygroundConfig {
    tenant: String,
    chat: String,
    me: String,
    my_aad: String,
    /// Another user of the tenant (the approver of the seeded request).
    other_aad: String,
    other_name: String,
}

fn yaml_value<'a>(text: &'a str, path: &[&str]) -> &'a str {
    // The file is ours and flat enough to read without a YAML parser: the
    // first `key: value` line for each key in turn, indentation aside.
    let mut lines = text.lines();
    let mut value = "";
    for key in path {
        let prefix = format!("{key}:");
        value = lines
            .by_ref()
            .map(|l| l.trim_start().trim_start_matches("- "))
            .find(|l| l.starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().trim_matches('"'))
            .unwrap_or_else(|| panic!(".m365agentsplayground.yml has no {path:?}"));
    }
    value
}

fn playground_config() -> PlaygroundConfig {
    let text = std::fs::read_to_string(repo_root().join(".m365agentsplayground.yml"))
        .expect("the repo ships .m365agentsplayground.yml");
    PlaygroundConfig {
        tenant: yaml_value(&text, &["tenantId"]).to_owned(),
        chat: yaml_value(&text, &["personalChat", "id"]).to_owned(),
        me: yaml_value(&text, &["currentUser", "id"]).to_owned(),
        my_aad: yaml_value(&text, &["currentUser", "aadObjectId"]).to_owned(),
        other_name: yaml_value(&text, &["users", "name"]).to_owned(),
        other_aad: yaml_value(&text, &["users", "aadObjectId"]).to_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn playground_cli() -> PathBuf {
    let cli = repo_root().join("tests/tools/node_modules/@microsoft/m365agentsplayground/cli.js");
    assert!(
        cli.exists(),
        "the Microsoft 365 Agents Playground is not installed at {}: run `npm ci --prefix tests/tools` (scripts/test does)",
        cli.display()
    );
    cli
}

/// `handler <args>` on the test's data directory, as an operator runs it.
async fn handler(data: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .args(args)
        .arg("--settings")
        .arg(data.join("absent.settings.json"))
        .env_clear()
        .env("SALESTIM_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("handler runs");
    assert!(
        out.status.success(),
        "handler {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Running {
    _handler: tokio::process::Child,
    _playground: tokio::process::Child,
    /// The Playground's own server.
    base: String,
    http: reqwest::Client,
    /// What its WebSocket stream told the UI, in order.
    stream: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
}

impl Running {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("the Playground answers")
    }

    /// Waits (bounded) for a message from the bot whose card mentions every
    /// one of `texts`; every message seen on the way is kept.
    async fn bot_card_with(&mut self, texts: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let matches = |m: &Value| {
            let card = card_text(m);
            texts.iter().all(|t| card.contains(t))
        };
        loop {
            if let Some(found) = self.seen.iter().find(|m| matches(m)) {
                return found.clone();
            }
            let next = tokio::time::timeout_at(deadline, self.stream.recv()).await;
            match next {
                Ok(Some(m)) => self.seen.push(m),
                Ok(None) => panic!("the Playground's stream closed; seen: {:#?}", self.seen),
                Err(_) => panic!(
                    "no card with {texts:?} reached the Playground; seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Takes in whatever else arrived in the next moment.
    async fn settle(&mut self) {
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(1500), self.stream.recv()).await
        {
            self.seen.push(m);
        }
    }

    fn count_cards_with(&self, text: &str) -> usize {
        self.seen
            .iter()
            .filter(|m| card_text(m).contains(text))
            .count()
    }

    async fn say(&mut self, cfg: &PlaygroundConfig, text: &str) {
        let path = format!(
            "/_conversation/v1/conversations/{}/messages",
            urlencode(&cfg.chat)
        );
        let res = self
            .post(
                &path,
                &json!({"from": {"id": cfg.me}, "text": text, "textFormat": "plain"}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The text of the card(s) in one streamed `createMessage`.
fn card_text(message: &Value) -> String {
    if message["action"] != "createMessage" {
        return String::new();
    }
    message["message"]["attachments"].to_string()
}

async fn start(data: &Path) -> Running {
    let cli = playground_cli();
    let port = free_port();
    let handler = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .arg("local")
        .arg("--settings")
        .arg(data.join("absent.settings.json"))
        .current_dir(repo_root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("SALESTIM_DATA_DIR", data)
        .env("SALESTIM_BOT_AUTH_DISABLED", "true")
        .stdout(std::fs::File::create(data.join("handler.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("handler local starts");
    let http = reqwest::Client::new();
    crate::support::app::wait_until(Duration::from_secs(30), || {
        let url = format!("http://127.0.0.1:{port}/api/health");
        let http = http.clone();
        async move { http.get(&url).send().await.is_ok() }
    })
    .await;

    // As the README runs it: headless (no browser to open), telemetry off,
    // the repo's config file.
    let mut playground = tokio::process::Command::new("node")
        .arg(&cli)
        .args(["start", "-e"])
        .arg(format!("http://127.0.0.1:{port}/api/messages"))
        .args(["-c", "msteams", "-p", "0", "--disable-telemetry"])
        .current_dir(data)
        .env("TEAMSAPPTESTER_BROWSER", "none")
        .env(
            "M365_AGENTS_PLAYGROUND_CONFIG_PATH",
            repo_root().join(".m365agentsplayground.yml"),
        )
        .env(
            "M365_AGENTS_PLAYGROUND_LOGFILE",
            data.join("playground.log"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node {} does not start: {e}", cli.display()));
    let mut lines = BufReader::new(playground.stdout.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = line.strip_prefix("Listening on ") {
                return port.trim().parse::<u16>().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(pg_port) = listening else {
        let _ = playground.start_kill();
        let out = playground.wait_with_output().await.unwrap();
        panic!(
            "the Agents Playground did not start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(data.join("playground.log")).unwrap_or_default()
        );
    };
    let base = format!("http://127.0.0.1:{pg_port}");
    let (ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{pg_port}/_ws_conversation/v1/conversations/stream"
    ))
    .await
    .expect("the Playground's conversation stream");
    let (tx, stream) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (_, mut read) = ws.split();
        while let Some(Ok(frame)) = read.next().await {
            if let Ok(text) = frame.to_text()
                && let Ok(value) = serde_json::from_str::<Value>(text)
                && tx.send(value).is_err()
            {
                break;
            }
        }
    });
    Running {
        _handler: handler,
        _playground: playground,
        base,
        http,
        stream,
        seen: Vec::new(),
    }
}

/// A template whose requests wait for `approver`, and one request by
/// `requester` from it, written where `handler local` will read them.
async fn seed_request(data: &Path, tenant: &str, requester: &Person, approver: &Person) -> String {
    let template = json!({"name": "Project", "description": "Customer projects", "code": "PRJ",
        "visibility": "Private",
        "approval": {"kind": "named", "approvers": [{"aadObjectId": approver.aad_object_id, "name": approver.name}]}});
    let file = data.join("template.json");
    std::fs::write(&file, template.to_string()).unwrap();
    handler(
        data,
        &[
            "template",
            "put",
            tenant,
            "project",
            "--file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let docs = SqliteDocuments::open(&data.join("documents.sqlite"), Arc::new(SystemClock))
        .expect("the store opens");
    let form = RequestForm {
        template_id: "project".into(),
        display_name: "Playground launch".into(),
        justification: "Trying SalesTim in the Agents Playground".into(),
        ..RequestForm::default()
    };
    let request = requests::submit(
        &docs,
        &SystemClock,
        &TenantId::parse(tenant).unwrap(),
        &TenantSettings::default(),
        requester,
        &form,
        &RequesterInfo::default(),
        None,
        None,
    )
    .await
    .expect("the request is submitted");
    request.id
}

#[tokio::test]
async fn the_agents_playground_installs_the_bot_talks_to_it_and_clicks_a_card() {
    let cfg = playground_config();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // The README's one command for the Playground's tenant.
    let added = handler(
        data,
        &[
            "tenant",
            "add",
            &cfg.tenant,
            "--name",
            "Playground",
            "--trial-days",
            "30",
        ],
    )
    .await;
    assert!(added.contains("SalesTim trial until"), "{added}");
    let shown = handler(data, &["tenant", "show", &cfg.tenant]).await;
    assert!(shown.contains("trialing (SalesTim trial)"), "{shown}");
    let me = Person::new(cfg.my_aad.clone(), "Alex Wilber");
    let approver = Person::new(cfg.other_aad.clone(), cfg.other_name.clone());
    let request_id = seed_request(data, &cfg.tenant, &me, &approver).await;

    let mut pg = start(data).await;

    // Install, as the UI does when it opens: Teams' two events, one welcome.
    let res = pg
        .post(
            &format!("/_debug/conversation/{}/installation", urlencode(&cfg.chat)),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let welcome = pg.bot_card_with(&["Welcome to SalesTim"]).await;
    assert_eq!(welcome["actionConversationId"], cfg.chat.as_str());
    pg.settle().await;

    pg.say(&cfg, "help").await;
    pg.bot_card_with(&["Here is what I can do"]).await;

    pg.say(&cfg, "my requests").await;
    let mine = pg.bot_card_with(&["Playground launch"]).await;
    assert!(card_text(&mine).contains("Waiting for approval"), "{mine}");

    // A click on an Action.Execute button of a card in the chat: the
    // requester cancels the request; the bot's answer is the new card.
    let res = pg
        .post(
            "/_conversation/v1/invoke",
            &json!({"name": "adaptiveCard/action", "from": {"id": cfg.me},
                "conversation": {"id": cfg.chat}, "replyToId": mine["message"]["messageId"],
                "value": {"action": {"type": "Action.Execute", "verb": "request.cancel",
                    "data": {"requestId": request_id}}, "trigger": "manual"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    // (The Playground hands back the bot's invoke body without its statusCode.)
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    assert!(
        answer["value"].to_string().contains("Cancelled"),
        "{answer}"
    );

    pg.say(&cfg, "my requests").await;
    pg.bot_card_with(&["Playground launch", "Cancelled"]).await;
    pg.settle().await;

    // Nothing the bot sent was a second welcome, or an error notice.
    assert_eq!(
        pg.count_cards_with("Welcome to SalesTim"),
        1,
        "one welcome per install; seen: {:#?}",
        pg.seen
    );
    assert_eq!(pg.count_cards_with("not set up"), 0);
    assert_eq!(pg.count_cards_with("paused"), 0);
}
