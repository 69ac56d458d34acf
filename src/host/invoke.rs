//! The JSON protocol for non-HTTP invocations: the host POSTs
//! `{"Data": {..}, "Metadata": {..}}` to `/<FunctionName>` and reads back
//! `{"Outputs": {..}, "Logs": [..], "ReturnValue": ..}`.
//!
//! The host turns every value that is not an object with
//! `JsonConvert.SerializeObject`, so strings arrive JSON-encoded a second time
//! (`"\"hello\""`) and numbers as strings (`"1"`), although the documentation
//! shows plain values. Everything here accepts both forms.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::HostError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct InvokeRequest {
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

/// A queue trigger's message and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueTrigger {
    pub text: String,
    pub id: String,
    pub dequeue_count: u32,
    pub insertion_time: Option<OffsetDateTime>,
}

/// A timer trigger's `TimerInfo`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TimerInfo {
    #[serde(rename = "Schedule", default)]
    pub schedule: Value,
    #[serde(rename = "ScheduleStatus", default)]
    pub schedule_status: Option<ScheduleStatus>,
    #[serde(rename = "IsPastDue", default)]
    pub is_past_due: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ScheduleStatus {
    #[serde(rename = "Last", with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    #[serde(rename = "Next", with = "time::serde::rfc3339")]
    pub next: OffsetDateTime,
    #[serde(rename = "LastUpdated", with = "time::serde::rfc3339")]
    pub last_updated: OffsetDateTime,
}

/// Undoes the host's extra JSON encoding of a string value, if there is one.
pub fn decode_host_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::String(inner)) => Some(inner),
            _ => Some(s.clone()),
        },
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The value as JSON: an object as is, or a JSON string (once or twice
/// encoded) parsed.
fn decode_host_json(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) => {
            let text = decode_host_string(value)?;
            serde_json::from_str(&text).ok()
        }
        Value::Null => None,
        other => Some(other.clone()),
    }
}

impl InvokeRequest {
    /// The queue trigger bound to `binding`.
    pub fn queue_trigger(&self, binding: &str) -> Result<QueueTrigger, HostError> {
        let raw = self
            .data
            .get(binding)
            .ok_or_else(|| HostError::Payload(format!("Data has no {binding:?}")))?;
        // A JSON message may arrive as an object; its text is its JSON.
        let text = decode_host_string(raw)
            .ok_or_else(|| HostError::Payload(format!("Data.{binding} is null")))?;
        let meta = |key: &str| self.metadata.get(key).and_then(decode_host_string);
        let dequeue_count = match meta("DequeueCount") {
            Some(n) => n
                .parse()
                .map_err(|_| HostError::Payload(format!("Metadata.DequeueCount {n:?}")))?,
            None => 1,
        };
        Ok(QueueTrigger {
            text,
            id: meta("Id").unwrap_or_default(),
            dequeue_count,
            insertion_time: self.insertion_time(),
        })
    }

    /// `Metadata.InsertionTime`: when a queue trigger's message was queued.
    pub fn insertion_time(&self) -> Option<OffsetDateTime> {
        let raw = self
            .metadata
            .get("InsertionTime")
            .and_then(decode_host_string)?;
        OffsetDateTime::parse(&raw, &Rfc3339).ok()
    }

    /// The timer trigger bound to `binding`.
    pub fn timer(&self, binding: &str) -> Result<TimerInfo, HostError> {
        let raw = self
            .data
            .get(binding)
            .and_then(decode_host_json)
            .ok_or_else(|| HostError::Payload(format!("Data has no timer {binding:?}")))?;
        serde_json::from_value(raw).map_err(|e| HostError::Payload(format!("Data.{binding}: {e}")))
    }

    /// `Metadata.sys.MethodName`, the function the host meant to invoke.
    pub fn method_name(&self) -> Option<String> {
        self.metadata
            .get("sys")
            .and_then(decode_host_json)
            .and_then(|sys| sys.get("MethodName").and_then(decode_host_string))
    }
}

/// What the handler answers to an invocation (always HTTP 200; a failed
/// invocation answers a non-2xx status instead, so the host retries it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InvokeResponse {
    #[serde(rename = "Outputs", default)]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs", default)]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue", default)]
    pub return_value: Value,
}

impl InvokeResponse {
    pub fn ok() -> Self {
        InvokeResponse::default()
    }

    /// What the invocation did, said once: logged here, inside the
    /// invocation's span, so the line carries the function, the invocation
    /// id and the tenant (the host forwards the handler's stdout), and
    /// returned as `ReturnValue` to whoever invoked the function by hand
    /// (`LocalHost::run_function`). No `Logs`: the host would write them to
    /// its invocation log a second time, without the span's fields; and a
    /// `ReturnValue` no `$return` binding takes goes nowhere.
    pub fn done(summary: impl Into<String>) -> Self {
        let summary = summary.into();
        tracing::info!("{summary}");
        InvokeResponse {
            return_value: Value::String(summary),
            ..InvokeResponse::default()
        }
    }

    /// A line for the host's invocation log (Application Insights `traces`,
    /// under the function's category), which the host writes only for a
    /// response with a success status.
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }

    /// Messages for a queue output binding (one message per element).
    pub fn output(mut self, binding: &str, value: Value) -> Self {
        self.outputs.insert(binding.to_owned(), value);
        self
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queue_trigger_accepts_the_double_encoded_form_the_host_really_sends() {
        let req: InvokeRequest = serde_json::from_value(json!({
            "Data": {"msg": "\"{\\\"id\\\":\\\"evt_1\\\"}\""},
            "Metadata": {"DequeueCount": "3", "Id": "\"800ae4b3\"",
                         "InsertionTime": "2019-10-09T17:58:31+00:00",
                         "sys": {"MethodName": "BillingEvents"}}
        }))
        .unwrap();
        let q = req.queue_trigger("msg").unwrap();
        assert_eq!(q.text, r#"{"id":"evt_1"}"#);
        assert_eq!(q.dequeue_count, 3);
        assert_eq!(q.id, "800ae4b3");
        assert_eq!(q.insertion_time.unwrap().unix_timestamp(), 1570643911);
        assert_eq!(req.method_name().as_deref(), Some("BillingEvents"));
    }

    #[test]
    fn queue_trigger_accepts_the_documented_plain_form_and_objects() {
        let req: InvokeRequest = serde_json::from_value(json!({
            "Data": {"msg": {"id": "evt_2"}},
            "Metadata": {"DequeueCount": 1, "Id": "abc"}
        }))
        .unwrap();
        let q = req.queue_trigger("msg").unwrap();
        assert_eq!(q.text, r#"{"id":"evt_2"}"#);
        assert_eq!((q.dequeue_count, q.id.as_str()), (1, "abc"));
        assert!(req.queue_trigger("other").is_err());
        let bad: InvokeRequest = serde_json::from_value(
            json!({"Data": {"msg": "x"}, "Metadata": {"DequeueCount": "many"}}),
        )
        .unwrap();
        assert!(bad.queue_trigger("msg").is_err());
    }

    #[test]
    fn timer_info_parses_as_object_or_json_string() {
        let obj =
            json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": true});
        for data in [obj.clone(), Value::String(obj.to_string())] {
            let req = InvokeRequest {
                data: [("timer".to_owned(), data)].into_iter().collect(),
                ..Default::default()
            };
            let timer = req.timer("timer").unwrap();
            assert!(timer.is_past_due);
            assert!(timer.schedule_status.is_none());
        }
    }

    #[test]
    fn invoke_response_serialises_with_the_host_field_names() {
        let res = InvokeResponse::ok()
            .log("done")
            .output("out", json!([{"a": 1}]));
        assert_eq!(
            serde_json::to_value(&res).unwrap(),
            json!({"Outputs": {"out": [{"a": 1}]}, "Logs": ["done"], "ReturnValue": null})
        );
    }
}
