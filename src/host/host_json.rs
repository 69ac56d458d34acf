//! `host.json`: the settings the local host honours (route prefix, queue
//! retry and polling behaviour), with the Functions host's defaults.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::HostError;

#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    pub route_prefix: String,
    pub max_dequeue_count: u32,
    /// How long a failed message stays invisible before its retry.
    pub visibility_timeout: Duration,
    pub batch_size: u32,
    /// The listener fetches a new batch when this few messages (or fewer)
    /// are still running; the host's default is half the batch size.
    pub new_batch_threshold: u32,
    pub max_polling_interval: Duration,
    pub message_encoding_none: bool,
    pub executable: String,
    pub forwarding: bool,
}

impl Default for HostJson {
    fn default() -> Self {
        HostJson {
            route_prefix: "api".into(),
            max_dequeue_count: 5,
            visibility_timeout: Duration::ZERO,
            batch_size: 16,
            new_batch_threshold: 8,
            max_polling_interval: Duration::from_secs(60),
            message_encoding_none: false,
            executable: "handler".into(),
            forwarding: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    version: String,
    #[serde(default)]
    custom_handler: Option<Value>,
    #[serde(default)]
    extensions: Option<Value>,
}

impl HostJson {
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = std::fs::read_to_string(path)?;
        Self::parse(&text).map_err(|message| HostError::Config {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if raw.version != "2.0" {
            return Err(format!("version must be \"2.0\", not {:?}", raw.version));
        }
        let mut host = HostJson::default();
        let handler = raw.custom_handler.ok_or("no customHandler section")?;
        host.executable = handler
            .pointer("/description/defaultExecutablePath")
            .and_then(Value::as_str)
            .ok_or("customHandler.description.defaultExecutablePath is missing")?
            .to_owned();
        host.forwarding = handler
            .get("enableForwardingHttpRequest")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ext = raw.extensions.unwrap_or(Value::Null);
        if let Some(prefix) = ext.pointer("/http/routePrefix").and_then(Value::as_str) {
            host.route_prefix = prefix.trim_matches('/').to_owned();
        }
        if let Some(queues) = ext.get("queues") {
            let num = |key: &str| queues.get(key).and_then(Value::as_u64);
            let span = |key: &str| -> Result<Option<Duration>, String> {
                match queues.get(key).and_then(Value::as_str) {
                    Some(s) => parse_timespan(s)
                        .map(Some)
                        .ok_or(format!("queues.{key}: not a hh:mm:ss TimeSpan: {s:?}")),
                    None => Ok(None),
                }
            };
            if let Some(n) = num("maxDequeueCount") {
                host.max_dequeue_count = u32::try_from(n)
                    .map_err(|_| "maxDequeueCount too large")?
                    .max(1);
            }
            if let Some(n) = num("batchSize") {
                if !(1..=32).contains(&n) {
                    return Err(format!("queues.batchSize must be 1-32, not {n}"));
                }
                host.batch_size = n as u32;
            }
            host.new_batch_threshold = match num("newBatchThreshold") {
                Some(n) => u32::try_from(n).map_err(|_| "newBatchThreshold too large")?,
                None => host.batch_size / 2,
            };
            if let Some(d) = span("visibilityTimeout")? {
                host.visibility_timeout = d;
            }
            if let Some(d) = span("maxPollingInterval")? {
                host.max_polling_interval = d.max(Duration::from_millis(100));
            }
            host.message_encoding_none =
                queues.get("messageEncoding").and_then(Value::as_str) == Some("none");
        }
        Ok(host)
    }
}

/// A .NET TimeSpan `hh:mm:ss[.fff]`.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let mut parts = s.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    if m > 59 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    // Checked: an hour count near `u64::MAX` is text, not a duration.
    let whole = h.checked_mul(3600)?.checked_add(m * 60)?;
    Duration::from_secs(whole).checked_add(Duration::from_secs_f64(sec))
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_settings_the_local_host_honours() {
        let host = HostJson::parse(
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"},"enableForwardingHttpRequest":true},
                "extensions":{"http":{"routePrefix":"api"},"queues":{"maxDequeueCount":3,"visibilityTimeout":"00:00:02","batchSize":8,"maxPollingInterval":"00:00:00.500","messageEncoding":"none"}}}"#,
        )
        .unwrap();
        assert_eq!(host.max_dequeue_count, 3);
        assert_eq!(host.visibility_timeout, Duration::from_secs(2));
        assert_eq!(host.max_polling_interval, Duration::from_millis(500));
        assert!(host.forwarding && host.message_encoding_none);
        assert_eq!(host.new_batch_threshold, 4, "half the batch by default");
        let explicit = HostJson::parse(
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"queues":{"batchSize":8,"newBatchThreshold":1}}}"#,
        )
        .unwrap();
        assert_eq!(explicit.new_batch_threshold, 1);
    }

    #[test]
    fn defaults_match_the_functions_host_and_bad_values_are_named() {
        let host = HostJson::parse(
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}}}"#,
        )
        .unwrap();
        assert_eq!((host.max_dequeue_count, host.batch_size), (5, 16));
        assert_eq!(host.new_batch_threshold, 8);
        assert_eq!(host.route_prefix, "api");
        let err = HostJson::parse(r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"queues":{"visibilityTimeout":"soon"}}}"#).unwrap_err();
        assert!(err.contains("visibilityTimeout"), "{err}");
        assert!(HostJson::parse(r#"{"version":"1.0"}"#).is_err());
    }
}
