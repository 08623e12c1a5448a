//! One reading of time: every time value Intercom may send, or a state file may hold, becomes
//! one instant here, and only here. Records, replication values, slices, bookmarks and state
//! all read time through [`instant`], so that two readers can never disagree about a record
//! (a slice keeping a record its column would date elsewhere, a bookmark passing it).
//!
//! Intercom sends Unix seconds as integers today. What else it, a proxy or an older shape may
//! send is read as the same instant:
//! - seconds or milliseconds: a magnitude from 1e11 up is milliseconds (1e11 seconds lie past
//!   the year 5000, 1e11 milliseconds in 1973);
//! - a number or a numeric string (`"1700000000"`), with or without a fraction
//!   (`1700000000.5`);
//! - a date-time string (RFC 3339, or the forms people write by hand: see
//!   [`crate::config::parse_datetime`]).
//!
//! An instant outside the years 1 to 9999 cannot be written as an RFC 3339 date-time, which is
//! what records carry: it is no instant at all.

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;

/// From this magnitude up, a number is milliseconds rather than seconds.
pub const MILLIS_FROM: i64 = 100_000_000_000;

/// The instant a time value stands for, or `None` when it stands for none (another type, an
/// empty or unreadable string, a number beyond the years 1 to 9999).
pub fn instant(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(whole) => from_integer(whole),
            None => n.as_f64().and_then(from_float),
        },
        Value::String(s) => from_text(s),
        _ => None,
    }
}

/// A time written as text: a number of seconds or milliseconds, or a date-time.
pub fn from_text(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(whole) = text.parse::<i64>() {
        return from_integer(whole);
    }
    if looks_numeric(text) {
        if let Ok(number) = text.parse::<f64>() {
            return from_float(number);
        }
    }
    crate::config::parse_datetime(text).filter(|dt| writable(*dt))
}

/// Whole seconds or milliseconds.
pub fn from_integer(value: i64) -> Option<DateTime<Utc>> {
    let dt = if value.checked_abs().is_none_or(|v| v >= MILLIS_FROM) {
        DateTime::from_timestamp_millis(value)
    } else {
        DateTime::from_timestamp(value, 0)
    }?;
    writable(dt).then_some(dt)
}

/// Seconds or milliseconds with a fraction, to the microsecond (Intercom's times are whole
/// seconds; a float's last digits are noise).
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
pub fn from_float(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() {
        return None;
    }
    // Whole units and the microseconds beyond them, in the number's own unit, so that whole
    // milliseconds stay exact.
    let (unit_micros, millis) = if value.abs() >= MILLIS_FROM as f64 {
        (1_000.0, true)
    } else {
        (1_000_000.0, false)
    };
    // Far beyond the years an RFC 3339 date-time can hold: refused before the casts saturate.
    if value.abs() > if millis { 1e16 } else { 1e13 } {
        return None;
    }
    let whole = value.floor();
    let micros = ((value - whole) * unit_micros).round() as i64;
    let start = if millis {
        DateTime::from_timestamp_millis(whole as i64)
    } else {
        DateTime::from_timestamp(whole as i64, 0)
    }?;
    let dt = start.checked_add_signed(chrono::Duration::microseconds(micros))?;
    writable(dt).then_some(dt)
}

/// Whether an instant can be written as an RFC 3339 date-time (a four-digit year).
fn writable(dt: DateTime<Utc>) -> bool {
    (1..=9999).contains(&dt.year())
}

/// Digits with a sign, a point or an exponent: text that is a number, and not words such as
/// `inf` or `NaN`, which Rust's float parser also takes.
fn looks_numeric(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, nanos)
    }

    #[test]
    fn every_form_of_the_same_instant_reads_the_same() {
        let expected = at(1_700_000_000, 0);
        for form in [
            json!(1_700_000_000),
            json!(1_700_000_000_000_i64),
            json!("1700000000"),
            json!(" 1700000000 "),
            json!("1700000000000"),
            json!(1_700_000_000.0),
            json!("1700000000.0"),
            json!(1.7e9),
            json!("1.7e9"),
            json!("2023-11-14T22:13:20Z"),
            json!("2023-11-15T00:13:20+02:00"),
            json!("2023-11-14 22:13:20"),
        ] {
            assert_eq!(instant(&form), expected, "{form}");
        }
    }

    #[test]
    fn fractions_are_kept() {
        assert_eq!(instant(&json!(1_700_000_000.5)), at(1_700_000_000, 500_000_000));
        assert_eq!(instant(&json!("1700000000.25")), at(1_700_000_000, 250_000_000));
        assert_eq!(instant(&json!(1_700_000_000_123.0)), at(1_700_000_000, 123_000_000));
        assert_eq!(instant(&json!(1_700_000_000_123.5)), at(1_700_000_000, 123_500_000));
        assert_eq!(instant(&json!(1_700_000_000.123_456_7)), at(1_700_000_000, 123_457_000));
        assert_eq!(instant(&json!(-0.5)), at(-1, 500_000_000));
    }

    #[test]
    fn the_boundary_between_seconds_and_milliseconds() {
        // 99,999,999,999 seconds: the year 5138. One more is milliseconds: 1973.
        assert_eq!(instant(&json!(99_999_999_999_i64)), at(99_999_999_999, 0));
        assert_eq!(instant(&json!(100_000_000_000_i64)), at(100_000_000, 0));
        assert_eq!(instant(&json!(-100_000_000_000_i64)), at(-100_000_000, 0));
        // The first second of the year 1, and the one before it.
        assert_eq!(instant(&json!(-62_135_596_800_i64)), at(-62_135_596_800, 0));
        assert_eq!(instant(&json!(-62_135_596_801_i64)), None);
        assert_eq!(instant(&json!(99_999_999_999.5)), at(99_999_999_999, 500_000_000));
        assert_eq!(instant(&json!(100_000_000_000.0)), at(100_000_000, 0));
        assert_eq!(instant(&json!("100000000000")), at(100_000_000, 0));
    }

    #[test]
    fn dates_before_1970_are_dates() {
        assert_eq!(instant(&json!(-86_400)), at(-86_400, 0));
        assert_eq!(instant(&json!("-86400")), at(-86_400, 0));
        assert_eq!(instant(&json!(0)), at(0, 0));
    }

    #[test]
    fn what_is_no_instant() {
        for value in [
            json!(null),
            json!(true),
            json!([]),
            json!({}),
            json!(""),
            json!("  "),
            json!("soon"),
            json!("NaN"),
            json!("inf"),
            json!("1e400"),
            json!("12-"),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(-1e300),
            // Milliseconds past the year 9999.
            json!(253_402_300_800_000_i64),
        ] {
            assert_eq!(instant(&value), None, "{value}");
        }
        // The last millisecond of 9999 still is one.
        assert!(instant(&json!(253_402_300_799_999_i64)).is_some());
    }
}
