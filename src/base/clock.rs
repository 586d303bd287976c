//! The broker's one wall clock: Kafka timestamps are milliseconds since the Unix epoch, and
//! every layer (log segments, retention, group and transaction coordinators, the CLI producer)
//! reads the same clock through [`now_ms`], so tests and code agree on what "now" means.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, as Kafka timestamps are. A clock set before 1970 reads 0
/// rather than failing: timestamps are data, not invariants.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A point in time split into UTC calendar fields, for the timestamps Kafka writes in
/// human-readable form (log lines, the date comment of meta.properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Days since 1970-01-01 (1970-01-01 was a Thursday).
    pub days_since_epoch: i64,
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1..=12.
    pub month: i64,
    /// Day of the month, 1..=31.
    pub day: i64,
    /// Hour, 0..=23.
    pub hour: u64,
    /// Minute, 0..=59.
    pub minute: u64,
    /// Second, 0..=59.
    pub second: u64,
    /// Millisecond, 0..=999.
    pub millis: u32,
}

impl From<SystemTime> for UtcTime {
    fn from(time: SystemTime) -> UtcTime {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = (secs / 86_400) as i64;
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            days_since_epoch: days,
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day: doy - (153 * mp + 2) / 5 + 1,
            hour: secs % 86_400 / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            millis: since.subsec_millis(),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_fields() {
        let t = UtcTime::from(UNIX_EPOCH + Duration::from_millis(951_782_400_123 + 3_723_000));
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (2000, 2, 29, 1, 2, 3, 123)
        );
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
