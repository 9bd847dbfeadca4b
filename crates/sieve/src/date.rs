//! Dates for the "date" extension (RFC 5260): time zones, the date-parts of §4.2, calendar
//! arithmetic (proleptic Gregorian, days since 1970-01-01), the Date header parsed by
//! mail-parser, and the RFC 5322 §3.3 date format the vacation reply uses.

use mail_parser::parsers::MessageStream;
use mail_parser::HeaderValue;

/// RFC 5260 §4.2 date-parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatePart {
    Year,
    Month,
    Day,
    Date,
    Julian,
    Hour,
    Minute,
    Second,
    Time,
    Iso8601,
    Std11,
    Zone,
    Weekday,
}

impl DatePart {
    /// Date-part names are case-insensitive (RFC 5260 §4.2).
    pub fn parse(s: &str) -> Option<DatePart> {
        Some(match s.to_ascii_lowercase().as_str() {
            "year" => DatePart::Year,
            "month" => DatePart::Month,
            "day" => DatePart::Day,
            "date" => DatePart::Date,
            "julian" => DatePart::Julian,
            "hour" => DatePart::Hour,
            "minute" => DatePart::Minute,
            "second" => DatePart::Second,
            "time" => DatePart::Time,
            "iso8601" => DatePart::Iso8601,
            "std11" => DatePart::Std11,
            "zone" => DatePart::Zone,
            "weekday" => DatePart::Weekday,
            _ => return None,
        })
    }
}

/// RFC 5260 §4.1: time-zone = ("+" / "-") 4DIGIT, as minutes east of UTC.
pub(crate) fn parse_zone(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let num = |i: usize| i32::from(b[i] - b'0') * 10 + i32::from(b[i + 1] - b'0');
    let (h, m) = (num(1), num(3));
    (h <= 23 && m <= 59).then_some(sign * (h * 60 + m))
}

/// "+hhmm" / "-hhmm"; RFC 5260 §4.2: a zero offset has a positive sign.
pub(crate) fn format_zone(zone: i32) -> String {
    let sign = if zone < 0 { '-' } else { '+' };
    let z = zone.unsigned_abs();
    format!("{sign}{:02}{:02}", z / 60, z % 60)
}

/// A moment in a given zone, broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Minutes east of UTC.
    pub zone: i32,
    /// Days since 1970-01-01 of the local date.
    pub days: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `unix` seconds seen in the zone `zone` (minutes east of UTC).
pub(crate) fn civil(unix: i64, zone: i32) -> Civil {
    let local = unix.saturating_add(i64::from(zone) * 60);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        zone,
        days,
    }
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Civil {
    /// 0 = Sunday (RFC 5260 §4.2 "weekday"); 1970-01-01 was a Thursday.
    pub fn weekday(&self) -> usize {
        (self.days + 4).rem_euclid(7) as usize
    }

    /// The value of one date-part (RFC 5260 §4.2).
    pub fn part(&self, p: DatePart) -> String {
        let date = format!("{:04}-{:02}-{:02}", self.year, self.month, self.day);
        let time = format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second);
        match p {
            DatePart::Year => format!("{:04}", self.year),
            DatePart::Month => format!("{:02}", self.month),
            DatePart::Day => format!("{:02}", self.day),
            DatePart::Date => date,
            // Modified Julian Day: days since 1858-11-17 (MJD 40587 is 1970-01-01).
            DatePart::Julian => (self.days + 40_587).to_string(),
            DatePart::Hour => format!("{:02}", self.hour),
            DatePart::Minute => format!("{:02}", self.minute),
            DatePart::Second => format!("{:02}", self.second),
            DatePart::Time => time,
            DatePart::Iso8601 => {
                let z = format_zone(self.zone);
                format!("{date}T{time}{}:{}", &z[..3], &z[3..])
            }
            DatePart::Std11 => self.rfc5322(),
            DatePart::Zone => format_zone(self.zone),
            DatePart::Weekday => self.weekday().to_string(),
        }
    }

    /// RFC 5322 §3.3 date-time, e.g. "Tue, 01 Dec 2026 09:30:00 +0100".
    pub fn rfc5322(&self) -> String {
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} {}",
            WEEKDAYS[self.weekday()],
            self.day,
            MONTHS[(self.month as usize).saturating_sub(1).min(11)],
            self.year,
            self.hour,
            self.minute,
            self.second,
            format_zone(self.zone)
        )
    }
}

/// A header's date (RFC 5322 §3.3, mail-parser's lenient parser): UTC seconds and the zone
/// written in it. For Received-style values the date after the last ';' is used.
pub(crate) fn header_date(raw: &[u8]) -> Option<(i64, i32)> {
    let raw = match raw.iter().rposition(|&b| b == b';') {
        Some(i) => &raw[i + 1..],
        None => raw,
    };
    let mut buf = raw.to_vec();
    buf.push(b'\n');
    let HeaderValue::DateTime(dt) = MessageStream::new(&buf).parse_date() else {
        return None;
    };
    if !dt.is_valid() {
        return None;
    }
    let zone = (i32::from(dt.tz_hour) * 60 + i32::from(dt.tz_minute))
        * if dt.tz_before_gmt { -1 } else { 1 };
    let days = days_from_civil(i64::from(dt.year), u32::from(dt.month), u32::from(dt.day));
    let local = days * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second);
    Some((local - i64::from(zone) * 60, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        for days in [-719_468_i64, -1, 0, 1, 11_016, 20_788, 2_932_896] {
            let c = civil(days * 86_400, 0);
            assert_eq!(days_from_civil(c.year, c.month, c.day), days);
        }
        let c = civil(0, 0);
        assert_eq!((c.year, c.month, c.day, c.weekday()), (1970, 1, 1, 4));
        assert_eq!(c.part(DatePart::Julian), "40587");
    }

    #[test]
    fn parts_in_zone() {
        // 2026-12-01T09:30:05Z seen from +0130.
        let t = days_from_civil(2026, 12, 1) * 86_400 + 9 * 3600 + 30 * 60 + 5;
        let c = civil(t, 90);
        assert_eq!(c.part(DatePart::Date), "2026-12-01");
        assert_eq!(c.part(DatePart::Time), "11:00:05");
        assert_eq!(c.part(DatePart::Iso8601), "2026-12-01T11:00:05+01:30");
        assert_eq!(c.part(DatePart::Std11), "Tue, 01 Dec 2026 11:00:05 +0130");
        assert_eq!(c.part(DatePart::Zone), "+0130");
        assert_eq!(c.part(DatePart::Weekday), "2");
        assert_eq!(civil(t, 0).part(DatePart::Zone), "+0000");
        assert_eq!(civil(t, -600).part(DatePart::Day), "30");
    }

    #[test]
    fn zones() {
        assert_eq!(parse_zone("+0100"), Some(60));
        assert_eq!(parse_zone("-0930"), Some(-570));
        assert_eq!(parse_zone("0100"), None);
        assert_eq!(parse_zone("+2400"), None);
        assert_eq!(parse_zone("+01:00"), None);
    }

    #[test]
    fn header_dates() {
        let (t, z) = header_date(b" Tue, 1 Dec 2026 10:00:00 +0100").unwrap();
        assert_eq!(z, 60);
        assert_eq!(t, days_from_civil(2026, 12, 1) * 86_400 + 9 * 3600);
        let (_, z) = header_date(b" from x by y; Wed, 02 Dec 2026 08:00:00 -0500 (EST)").unwrap();
        assert_eq!(z, -300);
        assert!(header_date(b" yesterday").is_none());
    }
}
