//! The validity period of an X.509 certificate (RFC 5280 §4.1.2.5), read from its DER with a
//! minimal reader: the certificate renewal at start (`tls.rs`) needs only these two dates,
//! which does not justify an X.509 parser crate. Also the calendar arithmetic for messages
//! ("valid until 2027-03-08").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// notBefore and notAfter of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// How long the certificate is valid in all.
    pub fn lifetime(&self) -> Duration {
        self.not_after
            .duration_since(self.not_before)
            .unwrap_or(Duration::ZERO)
    }

    /// How long from `now` until it expires (zero when it has).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// One DER element: (tag, contents, rest). Definite lengths only (DER, X.690 §10.1).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version` (RFC 5280 §4.1).
const VERSION_TAG: u8 = 0xa0;

/// The validity of the DER certificate `der`, or `None` when it is not one.
///
/// RFC 5280 §4.1: `Certificate ::= SEQUENCE { tbsCertificate, … }`; `TBSCertificate ::=
/// SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity, … }`.
pub fn of_certificate(der: &[u8]) -> Option<Validity> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION_TAG {
        rest = after;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (t1, v1, after) = element(validity)?;
    let (t2, v2, _) = element(after)?;
    Some(Validity {
        not_before: time(t1, v1)?,
        not_after: time(t2, v2)?,
    })
}

/// RFC 5280 §4.1.2.5.1 UTCTime `YYMMDDHHMMSSZ` (YY ≥ 50 is 19YY) and §4.1.2.5.2
/// GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn time(tag: u8, v: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 12) => {
            let yy = num(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 14) => (num(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let (month, day) = (num(&rest[..2])?, num(&rest[2..4])?);
    let (h, m, s) = (num(&rest[4..6])?, num(&rest[6..8])?, num(&rest[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(match u64::try_from(secs) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC) of `t`, for messages.
pub fn date(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    // H. Hinnant's `civil_from_days`.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates() {
        let t = time(UTC_TIME, b"750101000000Z").expect("utc");
        assert_eq!(date(t), "1975-01-01");
        let t = time(UTC_TIME, b"491231235959Z").expect("utc 2049");
        assert_eq!(date(t), "2049-12-31");
        let t = time(GENERALIZED_TIME, b"40960101000000Z").expect("generalized");
        assert_eq!(date(t), "4096-01-01");
        assert_eq!(
            time(UTC_TIME, b"700101000001Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(86_400 * 59)),
            "1970-03-01"
        );
        for bad in [
            &b"7501010000Z"[..],
            b"750101000000",
            b"751301000000Z",
            b"7501010000xxZ",
        ] {
            assert_eq!(time(UTC_TIME, bad), None, "{bad:?}");
        }
        assert_eq!(time(GENERALIZED_TIME, b"750101000000Z"), None);
    }

    #[test]
    fn not_a_certificate() {
        assert_eq!(of_certificate(b""), None);
        assert_eq!(of_certificate(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
        assert_eq!(of_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
