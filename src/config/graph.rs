//! How hard the app leans on Microsoft Graph in each customer tenant: the
//! pace of each tenant's requests (a token bucket per tenant, see
//! `graph::governor`) and the Graph requests one sweep of a tenant may
//! spend before it stops and continues at the next run.

use std::num::NonZeroU32;

use super::{ConfigError, invalid};
use crate::graph::Pace;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphLimits {
    /// `SALESTIM_GRAPH_TENANT_RPS` and `SALESTIM_GRAPH_TENANT_BURST`.
    pub pace: Pace,
    /// `SALESTIM_SWEEP_GRAPH_BUDGET`: Graph requests (retries included) one
    /// sweep of one tenant may make.
    pub sweep_budget: u64,
}

/// A tenant of 100,000 groups and 200,000 users takes about 3,000 delta
/// pages in a full round: more than a run of the lease (30 minutes) at
/// the default pace should not spend.
pub const DEFAULT_SWEEP_BUDGET: u64 = 20_000;
const MAX_RPS: u32 = 1_000;
/// Graph's `$batch` holds twenty requests: a smaller burst could never
/// send a full one.
const MIN_BURST: u32 = 20;

impl Default for GraphLimits {
    fn default() -> Self {
        GraphLimits {
            pace: Pace::DEFAULT,
            sweep_budget: DEFAULT_SWEEP_BUDGET,
        }
    }
}

pub(super) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<GraphLimits, ConfigError> {
    let number =
        |name: &'static str, range: std::ops::RangeInclusive<u64>, default: u64| match get(name) {
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!(
                            "must be a whole number from {} to {}, not {raw:?}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
            None => Ok(default),
        };
    let per_second = number(
        "SALESTIM_GRAPH_TENANT_RPS",
        1..=u64::from(MAX_RPS),
        u64::from(Pace::DEFAULT.per_second.get()),
    )?;
    let burst = number(
        "SALESTIM_GRAPH_TENANT_BURST",
        u64::from(MIN_BURST)..=u64::from(MAX_RPS) * 10,
        u64::from(Pace::DEFAULT.burst.get()),
    )?;
    let sweep_budget = number(
        "SALESTIM_SWEEP_GRAPH_BUDGET",
        1..=10_000_000,
        DEFAULT_SWEEP_BUDGET,
    )?;
    let nonzero = |n: u64| NonZeroU32::new(n as u32).expect("checked above");
    Ok(GraphLimits {
        pace: Pace {
            per_second: nonzero(per_second),
            burst: nonzero(burst),
        },
        sweep_budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunMode;
    use crate::config::tests::settings;

    fn read(pairs: &[(&str, &str)]) -> Result<GraphLimits, ConfigError> {
        settings(RunMode::Local, pairs).map(|s| s.graph_limits)
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(read(&[]).unwrap(), GraphLimits::default());
        let s = read(&[
            ("SALESTIM_GRAPH_TENANT_RPS", "5"),
            ("SALESTIM_GRAPH_TENANT_BURST", "20"),
            ("SALESTIM_SWEEP_GRAPH_BUDGET", "3"),
        ])
        .unwrap();
        assert_eq!(
            (s.pace.per_second.get(), s.pace.burst.get(), s.sweep_budget),
            (5, 20, 3)
        );
        for (name, bad) in [
            ("SALESTIM_GRAPH_TENANT_RPS", "0"),
            ("SALESTIM_GRAPH_TENANT_RPS", "fast"),
            ("SALESTIM_GRAPH_TENANT_BURST", "19"),
            ("SALESTIM_SWEEP_GRAPH_BUDGET", "0"),
            ("SALESTIM_SWEEP_GRAPH_BUDGET", "-5"),
        ] {
            assert_eq!(read(&[(name, bad)]).unwrap_err().setting, name, "{bad}");
        }
    }
}
