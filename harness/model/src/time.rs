//! Virtual time: timestamps, calendar durations and the clock a scenario moves by hand.
//!
//! Nothing in kmlab reads the wall clock for a result. The clock starts at the scenario's
//! start date and moves only when a `clock` step says so.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

const SECONDS_PER_DAY: i64 = 86_400;

/// A moment in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The calendar fields of a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Timestamp {
    /// The default start of every scenario: 1 March 2001, 09:00 UTC, when Exchange 2000 and
    /// Windows 2000 certificate services were current.
    pub const DEFAULT_START: Self = Self(983_437_200);

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Builds a timestamp from calendar fields; `None` if a field is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self(
            days * SECONDS_PER_DAY
                + i64::from(hour) * 3600
                + i64::from(minute) * 60
                + i64::from(second),
        ))
    }

    fn civil(self) -> Civil {
        let days = self.0.div_euclid(SECONDS_PER_DAY);
        let rest = self.0.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // `rest` is below 86 400, so every field fits in u32.
        let rest = rest as u32;
        Civil {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
        }
    }

    /// The year, e.g. 2001.
    pub fn year(self) -> i64 {
        self.civil().year
    }

    /// The timestamp `duration` later, adding calendar months first (clamping the day to the
    /// month's length, so 31 January plus one month is 28 or 29 February) and then seconds.
    #[must_use]
    pub fn plus(self, duration: Duration) -> Self {
        let c = self.civil();
        let months_total = c.year * 12 + i64::from(c.month) - 1 + i64::from(duration.months);
        let year = months_total.div_euclid(12);
        // rem_euclid(12) is 0..=11.
        let month = months_total.rem_euclid(12) as u32 + 1;
        let day = c.day.min(days_in_month(year, month));
        let moved = days_from_civil(year, month, day) * SECONDS_PER_DAY
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second);
        Self(moved + duration.seconds)
    }

    /// The date as RFC 5322 wants it in a `Date:` header, e.g. `Thu, 01 Mar 2001 09:00:00 +0000`.
    pub fn to_rfc5322(self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let c = self.civil();
        // 1970-01-01 was a Thursday; rem_euclid(7) is 0..=6.
        let weekday = DAYS[self.0.div_euclid(SECONDS_PER_DAY).rem_euclid(7) as usize];
        format!(
            "{weekday}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
            c.day,
            MONTHS[c.month as usize - 1],
            c.year,
            c.hour,
            c.minute,
            c.second
        )
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, e.g. `2001-03-01T09:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a UTC time like 2001-03-01T09:00:00Z or a date like 2001-03-01")]
pub struct TimestampParseError;

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    /// Accepts `YYYY-MM-DD` (midnight) and `YYYY-MM-DDTHH:MM:SSZ`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| -> Result<u32, TimestampParseError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TimestampParseError);
            }
            part.parse().map_err(|_| TimestampParseError)
        };
        let (date, time) = match s.split_once('T') {
            Some((date, time)) => (
                date,
                Some(time.strip_suffix('Z').ok_or(TimestampParseError)?),
            ),
            None => (s, None),
        };
        let mut date_parts = date.split('-');
        let (Some(y), Some(m), Some(d), None) = (
            date_parts.next(),
            date_parts.next(),
            date_parts.next(),
            date_parts.next(),
        ) else {
            return Err(TimestampParseError);
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(TimestampParseError);
        }
        let (hour, minute, second) = match time {
            None => (0, 0, 0),
            Some(time) => {
                let mut parts = time.split(':');
                let (Some(h), Some(mi), Some(se), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(TimestampParseError);
                };
                (number(h)?, number(mi)?, number(se)?)
            }
        };
        Self::from_civil(
            i64::from(number(y)?),
            number(m)?,
            number(d)?,
            hour,
            minute,
            second,
        )
        .ok_or(TimestampParseError)
    }
}

/// A calendar duration: whole months (a year is twelve) plus seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Duration {
    months: u32,
    seconds: i64,
}

impl Duration {
    /// A number of calendar years.
    pub fn years(years: u32) -> Self {
        Self {
            months: years.saturating_mul(12),
            seconds: 0,
        }
    }

    /// A number of calendar months.
    pub fn months(months: u32) -> Self {
        Self { months, seconds: 0 }
    }

    /// A number of days of 24 hours.
    pub fn days(days: u32) -> Self {
        Self {
            months: 0,
            seconds: i64::from(days) * SECONDS_PER_DAY,
        }
    }

    /// A number of seconds.
    pub fn seconds(seconds: u32) -> Self {
        Self {
            months: 0,
            seconds: i64::from(seconds),
        }
    }

    /// The same span of real time (a month counted as 30 days), for waiting on the world
    /// outside the run; a negative duration is none.
    pub fn as_real_time(self) -> std::time::Duration {
        let days = i64::from(self.months) * 30;
        let seconds = self.seconds.saturating_add(days * SECONDS_PER_DAY);
        std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.months >= 12 {
            parts.push(format!("{}y", self.months / 12));
        }
        if self.months % 12 != 0 {
            parts.push(format!("{}mo", self.months % 12));
        }
        let mut rest = self.seconds;
        for (unit, size) in [("d", SECONDS_PER_DAY), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                parts.push(format!("{}{unit}", rest / size));
                rest %= size;
            }
        }
        if parts.is_empty() {
            return f.write_str("0s");
        }
        f.write_str(&parts.join(" "))
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a duration like `30d`, `2y`, `6mo`, `12h`, `15m`, `30s` or `1y 6mo`")]
pub struct DurationParseError;

impl FromStr for Duration {
    type Err = DurationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut total = Duration::default();
        let mut any = false;
        for part in s.split_whitespace() {
            let digits = part.bytes().take_while(u8::is_ascii_digit).count();
            let (value, unit) = part.split_at(digits);
            let value: u32 = value.parse().map_err(|_| DurationParseError)?;
            match unit {
                "y" => total.months = total.months.saturating_add(value.saturating_mul(12)),
                "mo" => total.months = total.months.saturating_add(value),
                "d" => total.seconds += i64::from(value) * SECONDS_PER_DAY,
                "h" => total.seconds += i64::from(value) * 3600,
                "m" => total.seconds += i64::from(value) * 60,
                "s" => total.seconds += i64::from(value),
                _ => return Err(DurationParseError),
            }
            any = true;
        }
        if any {
            Ok(total)
        } else {
            Err(DurationParseError)
        }
    }
}

/// The scenario's clock. It moves only through [`VirtualClock::advance`].
#[derive(Debug, Clone)]
pub struct VirtualClock {
    now: Timestamp,
}

impl VirtualClock {
    /// A clock standing at `start`.
    pub fn starting_at(start: Timestamp) -> Self {
        Self { now: start }
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.plus(by);
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both results are small positive numbers by construction.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_first_of_march_2001() {
        assert_eq!(Timestamp::DEFAULT_START.to_string(), "2001-03-01T09:00:00Z");
        assert_eq!(
            Timestamp::DEFAULT_START.to_rfc5322(),
            "Thu, 01 Mar 2001 09:00:00 +0000"
        );
    }

    #[test]
    fn parses_and_prints_round_trip() {
        for text in [
            "1999-12-31T23:59:59Z",
            "2000-02-29T00:00:00Z",
            "2049-12-31T12:00:00Z",
        ] {
            let t: Timestamp = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        assert_eq!(
            "2001-03-01".parse::<Timestamp>().unwrap().to_string(),
            "2001-03-01T00:00:00Z"
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        for text in [
            "2001-02-29",
            "2001-13-01",
            "2001-3-1",
            "2001-03-01T25:00:00Z",
            "x",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
    }

    #[test]
    fn adding_months_clamps_to_month_end() {
        let t: Timestamp = "2001-01-31T10:00:00Z".parse().unwrap();
        assert_eq!(
            t.plus(Duration::months(1)).to_string(),
            "2001-02-28T10:00:00Z"
        );
        let leap: Timestamp = "2000-02-29".parse().unwrap();
        assert_eq!(
            leap.plus(Duration::years(1)).to_string(),
            "2001-02-28T00:00:00Z"
        );
    }

    #[test]
    fn durations_parse_and_combine() {
        let d: Duration = "1y 6mo 2d 3h".parse().unwrap();
        assert_eq!(d.to_string(), "1y 6mo 2d 3h");
        assert!("".parse::<Duration>().is_err());
        assert!("5w".parse::<Duration>().is_err());
        let t = Timestamp::DEFAULT_START.plus("30d".parse().unwrap());
        assert_eq!(t.to_string(), "2001-03-31T09:00:00Z");
    }

    #[test]
    fn clock_moves_only_when_advanced() {
        let mut clock = VirtualClock::starting_at(Timestamp::DEFAULT_START);
        assert_eq!(clock.now(), Timestamp::DEFAULT_START);
        clock.advance(Duration::years(2));
        assert_eq!(clock.now().to_string(), "2003-03-01T09:00:00Z");
    }
}
