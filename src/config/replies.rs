//! How the bot answers under load: the time an activity may wait for its
//! reply to be sent inline before the reply goes to the durable outbox
//! instead, and how many activities may be in hand at once before the front
//! door answers 429.

use std::time::Duration;

use super::{ConfigError, invalid};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplySettings {
    /// `SALESTIM_BOT_REPLY_BUDGET_MS`: 0 sends every reply through the outbox.
    pub budget: Duration,
    /// `SALESTIM_BOT_MAX_IN_FLIGHT`: activities handled at once.
    pub max_in_flight: usize,
}

/// Long enough for a Connector that answers in tens of milliseconds, short
/// against the 15 s Teams waits for the bot's HTTP answer.
const DEFAULT_BUDGET_MS: u64 = 2_000;
const MAX_BUDGET_MS: u64 = 10_000;
/// Enough for the 50-client bench with room; small enough that a stalled
/// store or Connector is felt at the front door within seconds.
const DEFAULT_MAX_IN_FLIGHT: usize = 256;
const MAX_IN_FLIGHT: usize = 100_000;

impl Default for ReplySettings {
    fn default() -> Self {
        ReplySettings {
            budget: Duration::from_millis(DEFAULT_BUDGET_MS),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

pub(super) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<ReplySettings, ConfigError> {
    let budget = match get("SALESTIM_BOT_REPLY_BUDGET_MS") {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms <= MAX_BUDGET_MS)
            .ok_or_else(|| {
                invalid(
                    "SALESTIM_BOT_REPLY_BUDGET_MS",
                    format!("must be milliseconds from 0 to {MAX_BUDGET_MS}, not {raw:?}"),
                )
            })?,
        None => DEFAULT_BUDGET_MS,
    };
    let max_in_flight = match get("SALESTIM_BOT_MAX_IN_FLIGHT") {
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_IN_FLIGHT).contains(n))
            .ok_or_else(|| {
                invalid(
                    "SALESTIM_BOT_MAX_IN_FLIGHT",
                    format!("must be a whole number from 1 to {MAX_IN_FLIGHT}, not {raw:?}"),
                )
            })?,
        None => DEFAULT_MAX_IN_FLIGHT,
    };
    Ok(ReplySettings {
        budget: Duration::from_millis(budget),
        max_in_flight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ReplySettings, ConfigError> {
        from_lookup(&|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(read(&[]).unwrap(), ReplySettings::default());
        let s = read(&[
            ("SALESTIM_BOT_REPLY_BUDGET_MS", "0"),
            ("SALESTIM_BOT_MAX_IN_FLIGHT", "2"),
        ])
        .unwrap();
        assert_eq!((s.budget, s.max_in_flight), (Duration::ZERO, 2));
        for (name, bad) in [
            ("SALESTIM_BOT_REPLY_BUDGET_MS", "60000"),
            ("SALESTIM_BOT_REPLY_BUDGET_MS", "-1"),
            ("SALESTIM_BOT_MAX_IN_FLIGHT", "0"),
            ("SALESTIM_BOT_MAX_IN_FLIGHT", "many"),
        ] {
            assert_eq!(read(&[(name, bad)]).unwrap_err().setting, name, "{bad}");
        }
    }
}
