//! Calendar dates (proleptic Gregorian, UTC) without a date library.

use std::fmt;

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// The UTC date of Unix time `secs`, and the minutes since midnight.
    pub fn from_unix(secs: u64) -> (Date, u32) {
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
        let minutes = u32::try_from(secs % 86_400 / 60).unwrap_or(0);
        (Date::from_days(days), minutes)
    }

    /// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
    fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date { year, month, day }
    }

    /// Parses `YYYY-MM-DD` (a real date: no February 30th).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b.iter()
                .enumerate()
                .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
        if !shape_ok {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let date = Date { year: i64::from(year), month, day };
        ((1..=12).contains(&month) && (1..=date.days_in_month()).contains(&day)).then_some(date)
    }

    fn days_in_month(&self) -> u32 {
        let leap = (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0;
        match self.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::Date;

    #[test]
    fn unix_to_date() {
        assert_eq!(Date::from_unix(0), (Date::parse("1970-01-01").unwrap(), 0));
        // 2024-02-29T13:45:10Z
        let (d, m) = Date::from_unix(1_709_214_310);
        assert_eq!((d.to_string(), m), ("2024-02-29".to_owned(), 13 * 60 + 45));
        assert_eq!(Date::from_unix(1_735_689_599).0.to_string(), "2024-12-31");
    }

    #[test]
    fn parse_checks_the_calendar() {
        assert!(Date::parse("2024-02-29").is_some());
        for bad in ["2025-02-29", "2025-13-01", "2025-04-31", "2025-1-01", "20250101", "2025-01-0a", "today"]
        {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }
}
