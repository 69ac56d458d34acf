//! `functions/<Name>/function.json`: the single source of truth for which
//! functions exist and what triggers them. The local host runs from these
//! files, and a test checks them against the route table both ways.

use std::path::Path;

use serde::Deserialize;

use super::HostError;
use super::ncrontab::Schedule;
use crate::platform::queues::QueueName;

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: String,
    pub trigger: Trigger,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Clone)]
pub enum Trigger {
    Http {
        binding: String,
        /// Lower-case methods; empty means every method.
        methods: Vec<String>,
        /// The route template without the route prefix (`billing/stripe`).
        route: String,
        auth_level: String,
    },
    Timer {
        binding: String,
        schedule: Schedule,
        run_on_startup: bool,
        use_monitor: bool,
    },
    Queue {
        binding: String,
        queue: QueueName,
        connection: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Http { binding: String },
    Queue { binding: String, queue: QueueName },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    bindings: Vec<RawBinding>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawBinding {
    #[serde(rename = "type")]
    kind: String,
    direction: String,
    name: String,
    auth_level: Option<String>,
    methods: Option<Vec<String>>,
    route: Option<String>,
    schedule: Option<String>,
    run_on_startup: Option<bool>,
    use_monitor: Option<bool>,
    queue_name: Option<String>,
    connection: Option<String>,
}

const HTTP_METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];
const AUTH_LEVELS: [&str; 3] = ["anonymous", "function", "admin"];

impl FunctionDef {
    /// Parses and validates one function.json; `name` is its folder's name.
    pub fn parse(name: &str, json: &str) -> Result<Option<Self>, String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("invalid function name {name:?}"));
        }
        let raw: RawFunction = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if raw.disabled {
            return Ok(None);
        }
        let mut trigger = None;
        let mut outputs = Vec::new();
        for b in raw.bindings {
            let kind = b.kind.as_str();
            match (kind, b.direction.as_str()) {
                ("httpTrigger" | "timerTrigger" | "queueTrigger", "in") => {
                    if trigger.is_some() {
                        return Err("a function has exactly one trigger".into());
                    }
                    trigger = Some(parse_trigger(b)?);
                }
                ("http", "out") => outputs.push(Output::Http { binding: b.name }),
                ("queue", "out") => {
                    let queue = parse_queue(b.queue_name.as_deref())?;
                    outputs.push(Output::Queue {
                        binding: b.name,
                        queue,
                    });
                }
                (kind, direction) => {
                    return Err(format!("unsupported binding {kind:?} ({direction})"));
                }
            }
        }
        let trigger = trigger.ok_or("no trigger binding")?;
        let http_outs = outputs
            .iter()
            .filter(|o| matches!(o, Output::Http { .. }))
            .count();
        match (&trigger, http_outs) {
            (Trigger::Http { .. }, 1) => {}
            (Trigger::Http { .. }, _) => {
                return Err("an httpTrigger needs exactly one http output".into());
            }
            (_, 0) => {}
            (_, _) => return Err("only an httpTrigger can have an http output".into()),
        }
        Ok(Some(FunctionDef {
            name: name.to_owned(),
            trigger,
            outputs,
        }))
    }

    /// Loads every `<dir>/<Name>/function.json`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<FunctionDef>, HostError> {
        let config_err = |path: &Path, message: String| HostError::Config {
            path: path.display().to_string(),
            message,
        };
        let mut defs = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| config_err(dir, e.to_string()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path().join("function.json");
            if !path.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let json = std::fs::read_to_string(&path)?;
            if let Some(def) = FunctionDef::parse(&name, &json).map_err(|m| config_err(&path, m))? {
                defs.push(def);
            }
        }
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(defs)
    }
}

fn parse_trigger(b: RawBinding) -> Result<Trigger, String> {
    match b.kind.as_str() {
        "httpTrigger" => {
            let methods: Vec<String> = b
                .methods
                .unwrap_or_default()
                .iter()
                .map(|m| m.to_ascii_lowercase())
                .collect();
            if let Some(bad) = methods.iter().find(|m| !HTTP_METHODS.contains(&m.as_str())) {
                return Err(format!("unknown HTTP method {bad:?}"));
            }
            let auth_level = b
                .auth_level
                .unwrap_or_else(|| "function".into())
                .to_ascii_lowercase();
            if !AUTH_LEVELS.contains(&auth_level.as_str()) {
                return Err(format!("unknown authLevel {auth_level:?}"));
            }
            let route = b
                .route
                .ok_or("an httpTrigger here always names its route")?;
            if route.starts_with('/') || route.ends_with('/') || route.is_empty() {
                return Err(format!("route {route:?} must not start or end with '/'"));
            }
            Ok(Trigger::Http {
                binding: b.name,
                methods,
                route,
                auth_level,
            })
        }
        "timerTrigger" => {
            let expr = b.schedule.ok_or("a timerTrigger needs a schedule")?;
            let schedule = expr.parse::<Schedule>().map_err(|e| e.to_string())?;
            Ok(Trigger::Timer {
                binding: b.name,
                schedule,
                run_on_startup: b.run_on_startup.unwrap_or(false),
                use_monitor: b.use_monitor.unwrap_or(true),
            })
        }
        "queueTrigger" => Ok(Trigger::Queue {
            binding: b.name,
            queue: parse_queue(b.queue_name.as_deref())?,
            connection: b.connection.unwrap_or_else(|| "AzureWebJobsStorage".into()),
        }),
        other => Err(format!("unsupported trigger {other:?}")),
    }
}

fn parse_queue(name: Option<&str>) -> Result<QueueName, String> {
    let name = name.ok_or("a queue binding needs a queueName")?;
    QueueName::parse(name).map_err(|e| e.to_string())
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_trigger_kind() {
        let http = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["GET"],"route":"health"},{"type":"http","direction":"out","name":"res"}]}"#;
        let def = FunctionDef::parse("Health", http).unwrap().unwrap();
        assert!(
            matches!(&def.trigger, Trigger::Http { methods, route, .. } if methods == &["get"] && route == "health")
        );
        let timer = r#"{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 3 * * *","runOnStartup":true}]}"#;
        let def = FunctionDef::parse("Dunning", timer).unwrap().unwrap();
        assert!(matches!(
            def.trigger,
            Trigger::Timer {
                run_on_startup: true,
                ..
            }
        ));
        let queue = r#"{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"billing-events","connection":"AzureWebJobsStorage"},{"type":"queue","direction":"out","name":"out","queueName":"next-step"}]}"#;
        let def = FunctionDef::parse("Billing", queue).unwrap().unwrap();
        assert_eq!(def.outputs.len(), 1);
        assert!(
            FunctionDef::parse("Off", r#"{"bindings":[],"disabled":true}"#)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rejects_what_the_host_would_reject() {
        let cases = [
            (
                "Bad",
                r#"{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"* * * * *"}]}"#,
            ),
            (
                "Bad",
                r#"{"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"Billing_Events"}]}"#,
            ),
            (
                "Bad",
                r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"x"}]}"#,
            ),
            (
                "Bad",
                r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"x","methods":["fetch"]},{"type":"http","direction":"out","name":"res"}]}"#,
            ),
            (
                "Bad",
                r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"b"}]}"#,
            ),
            (
                "Bad",
                r#"{"bindings":[{"type":"http","direction":"out","name":"res"}]}"#,
            ),
            ("Bad", r#"{"bindings":[], "scriptFile": "x"}"#),
            ("Bad Name", r#"{"bindings":[]}"#),
            ("Bad", "not json"),
        ];
        for (name, json) in cases {
            assert!(FunctionDef::parse(name, json).is_err(), "{json}");
        }
    }
}
