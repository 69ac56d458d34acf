//! Telemetry to Application Insights: on when
//! `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (see `crate::telemetry`),
//! with a sampling ratio and a bound on what waits for export.

use super::{ConfigError, invalid};

const CONNECTION_STRING: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
const SAMPLING: &str = "SALESTIM_TELEMETRY_SAMPLING";
const BUFFER: &str = "SALESTIM_TELEMETRY_BUFFER";

/// Enough for a few seconds of a busy instance's dependencies between two
/// exports (every 5 s); small next to the instance's memory (a span is a
/// few hundred bytes).
pub const DEFAULT_BUFFER: usize = 2048;
const MAX_BUFFER: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct TelemetrySettings {
    /// The connection string, its empty fields (a trailing `;`) removed.
    /// Its instrumentation key is no secret (it only lets one send).
    pub connection_string: String,
    /// `SALESTIM_TELEMETRY_SAMPLING`: the share of traces (invocations
    /// without a sampled parent) kept, 0 to 1. An invocation whose host
    /// trace was sampled out stays out, one that was sampled in stays in.
    pub sampling: f64,
    /// `SALESTIM_TELEMETRY_BUFFER`: spans held for export at most; past
    /// it they are dropped and counted.
    pub buffer: usize,
}

pub(super) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TelemetrySettings>, ConfigError> {
    let Some(raw) = get(CONNECTION_STRING) else {
        return Ok(None);
    };
    let connection_string = check_connection_string(&raw)?;
    let sampling = match get(SAMPLING) {
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| invalid(SAMPLING, format!("must be from 0 to 1, not {raw:?}")))?,
        None => 1.0,
    };
    let buffer = match get(BUFFER) {
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUFFER).contains(n))
            .ok_or_else(|| {
                invalid(
                    BUFFER,
                    format!("must be a whole number from 1 to {MAX_BUFFER}, not {raw:?}"),
                )
            })?,
        None => DEFAULT_BUFFER,
    };
    Ok(Some(TelemetrySettings {
        connection_string,
        sampling,
        buffer,
    }))
}

/// `Key=value` fields separated by `;`, with an `InstrumentationKey`, and
/// no `Authorization` but `ikey`: the exporter authenticates with the key
/// only, so a resource with local authentication disabled (Entra-only
/// ingestion) cannot be sent to.
fn check_connection_string(raw: &str) -> Result<String, ConfigError> {
    let fields: Vec<&str> = raw
        .split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    let mut has_key = false;
    for field in &fields {
        let Some((key, value)) = field.split_once('=').filter(|(_, v)| !v.contains('=')) else {
            return Err(invalid(
                CONNECTION_STRING,
                "must be Key=value fields separated by ';'",
            ));
        };
        if key.eq_ignore_ascii_case("InstrumentationKey") && !value.is_empty() {
            has_key = true;
        }
        if key.eq_ignore_ascii_case("Authorization") && !value.eq_ignore_ascii_case("ikey") {
            return Err(invalid(
                CONNECTION_STRING,
                "only Authorization=ikey is supported (Entra-only ingestion is not)",
            ));
        }
        if key.eq_ignore_ascii_case("IngestionEndpoint") && url::Url::parse(value).is_err() {
            return Err(invalid(CONNECTION_STRING, "IngestionEndpoint is not a URL"));
        }
    }
    if !has_key {
        return Err(invalid(CONNECTION_STRING, "has no InstrumentationKey"));
    }
    Ok(fields.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<TelemetrySettings>, ConfigError> {
        from_lookup(&|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn absent_is_off_and_a_portal_string_is_read_with_its_defaults() {
        assert_eq!(read(&[]).unwrap(), None);
        let cs = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;";
        let t = read(&[(CONNECTION_STRING, cs)]).unwrap().unwrap();
        assert_eq!(t.connection_string, cs.trim_end_matches(';'));
        assert_eq!((t.sampling, t.buffer), (1.0, DEFAULT_BUFFER));
    }

    #[test]
    fn malformed_values_name_their_setting() {
        for (pairs, setting) in [
            (
                vec![(CONNECTION_STRING, "IngestionEndpoint=https://x/")],
                CONNECTION_STRING,
            ),
            (
                vec![(CONNECTION_STRING, "InstrumentationKey=k;Authorization=AAD")],
                CONNECTION_STRING,
            ),
            (vec![(CONNECTION_STRING, "just text")], CONNECTION_STRING),
            (
                vec![
                    (CONNECTION_STRING, "InstrumentationKey=k"),
                    (SAMPLING, "1.5"),
                ],
                SAMPLING,
            ),
            (
                vec![(CONNECTION_STRING, "InstrumentationKey=k"), (BUFFER, "0")],
                BUFFER,
            ),
        ] {
            assert_eq!(read(&pairs).unwrap_err().setting, setting, "{pairs:?}");
        }
    }
}
