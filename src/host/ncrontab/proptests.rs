//! Schedules come from `function.json`, which an operator edits by hand:
//! any text must give a schedule or a reason, never a panic, and a schedule
//! that parsed must answer `next_after` for any instant (or say none).

use proptest::prelude::*;
use time::OffsetDateTime;

use super::*;

/// Any instant the `time` crate can hold.
fn any_instant() -> impl Strategy<Value = OffsetDateTime> {
    let (min, max) = (
        OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp(),
        OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp(),
    );
    prop_oneof![
        // Around now, where schedules really run.
        1_600_000_000i64..2_000_000_000,
        min..=max,
    ]
    .prop_map(|t| OffsetDateTime::from_unix_timestamp(t).expect("in range"))
}

/// One NCRONTAB field, valid or nearly: numbers (huge ones too), ranges,
/// steps, lists, names, wildcards.
fn field() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        0u64..70,
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        any::<u64>()
    ]
    .prop_map(|n| n.to_string());
    let atom = prop_oneof![
        Just("*".to_owned()),
        Just("?".to_owned()),
        number.clone(),
        (number.clone(), number.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        "(Mon|Fri|Sun|Jan|Dec|L|W|#|x)",
        "[0-9*/,#LW-]{1,6}",
    ];
    (
        proptest::collection::vec(atom, 1..4),
        proptest::option::of(number),
    )
        .prop_map(|(atoms, step)| {
            let list = atoms.join(",");
            match step {
                Some(s) => format!("{list}/{s}"),
                None => list,
            }
        })
}

fn near_cron() -> impl Strategy<Value = String> {
    proptest::collection::vec(field(), 5..8).prop_map(|fields| fields.join(" "))
}

/// `hh:mm:ss` and `d.hh:mm:ss` with any numbers, signs included.
fn near_interval() -> impl Strategy<Value = String> {
    (
        proptest::option::of(
            prop_oneof![any::<i64>(), 0i64..20_000_000].prop_map(|d| d.to_string()),
        ),
        "[0-9+-]{1,3}",
        "[0-9]{1,2}",
        "[0-9]{1,2}",
    )
        .prop_map(|(days, h, m, s)| match days {
            Some(d) => format!("{d}.{h}:{m}:{s}"),
            None => format!("{h}:{m}:{s}"),
        })
}

fn check(expr: &str, after: OffsetDateTime) -> Result<(), TestCaseError> {
    match expr.parse::<Schedule>() {
        Ok(schedule) => {
            if let Some(next) = schedule.next_after(after) {
                prop_assert!(next > after, "{expr:?}: {next} is not after {after}");
            }
        }
        Err(e) => {
            prop_assert_eq!(&e.expr, expr);
            prop_assert!(!e.reason.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_text_gives_a_schedule_or_a_reason(expr in "\\PC{0,40}", after in any_instant()) {
        check(&expr, after)?;
    }

    #[test]
    fn near_cron_expressions_never_panic(expr in near_cron(), after in any_instant()) {
        check(&expr, after)?;
    }

    #[test]
    fn near_intervals_never_panic(expr in near_interval(), after in any_instant()) {
        check(&expr, after)?;
    }
}

#[test]
fn day_counts_beyond_a_timespan_are_refused_not_a_panic() {
    for bad in [
        "10675200.00:00:00",
        "9223372036854775807.00:00:00",
        "-9223372036854775808.00:00:00",
    ] {
        assert!(bad.parse::<Schedule>().is_err(), "{bad}");
    }
    let longest: Schedule = "10675199.00:00:00".parse().expect("TimeSpan.MaxValue.Days");
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("in range");
    // About 29,000 years on: past what an instant holds, so there is none.
    assert_eq!(longest.next_after(now), None);
    let late = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
    assert_eq!(
        "1.00:00:00".parse::<Schedule>().unwrap().next_after(late),
        None
    );
}
