//! Response encoding: strings (atom / quoted / literal per RFC 3501 §4.3), nstring, flag
//! lists, dates (RFC 3501 §9 date-time), and the named response codes.

use std::fmt::Write;

use store::Uid;

/// Response codes we send (RFC 3501 §7.1, RFC 5530, RFC 4315, RFC 7889).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    TryCreate,
    AlreadyExists,
    NonExistent,
    AuthenticationFailed,
    Unavailable,
    PrivacyRequired,
    Cannot,
    OverQuota,
    TooBig,
    ReadOnly,
    ReadWrite,
    ServerBug,
    Limit,
    ClientBug,
    /// RFC 7162 §3.2.11: the previously selected mailbox is closed.
    Closed,
    /// RFC 5530 §3.
    NoPerm,
    /// RFC 5530 §3: a message asked for was expunged.
    ExpungeIssued,
    /// RFC 6154 §5: CREATE USE with an attribute we do not support.
    UseAttr,
    /// Free-form (APPENDUID …, COPYUID …, CAPABILITY …).
    Other(String),
}

impl Code {
    pub fn as_str(&self) -> &str {
        match self {
            Code::TryCreate => "TRYCREATE",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::NonExistent => "NONEXISTENT",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::Unavailable => "UNAVAILABLE",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::Cannot => "CANNOT",
            Code::OverQuota => "OVERQUOTA",
            Code::TooBig => "TOOBIG",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::ServerBug => "SERVERBUG",
            Code::Limit => "LIMIT",
            Code::ClientBug => "CLIENTBUG",
            Code::Closed => "CLOSED",
            Code::NoPerm => "NOPERM",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::UseAttr => "USEATTR",
            Code::Other(s) => s,
        }
    }
}

/// Sorted numbers (UIDs, sequence numbers) as a compact sequence set: `1:3,5,7:8`
/// (RFC 3501 §9 sequence-set).
pub fn sequence_set<N: Copy + Into<u32>>(nums: &[N]) -> String {
    let nums: Vec<u32> = nums.iter().map(|&n| n.into()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = nums[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Sorted inclusive UID ranges as a sequence set: `1:3,5,7:8`.
pub fn ranges_set(ranges: &[(Uid, Uid)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Appends `s` as a quoted string (RFC 3501 §4.3: `"` and `\` escaped). The caller has
/// checked that `s` holds no CR, LF, NUL or 8-bit octets.
pub fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends `s` as an IMAP string: quoted when it is safe, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let safe = s.len() < 1024 && s.iter().all(|&b| (0x20..0x7f).contains(&b));
    if safe {
        quoted(out, s);
    } else {
        literal(out, s);
    }
}

/// Appends `{n}\r\n` and the bytes (RFC 3501 §4.3).
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// nstring: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name for the wire: modified UTF-7, quoted (RFC 3501 §5.1.3).
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    string(out, crate::mutf7::encode(name).as_bytes());
}

/// `(\Seen \Flagged kw)`.
pub fn flags(flags: &store::Flags, recent: bool) -> String {
    let mut out = Vec::with_capacity(32);
    write_flags(&mut out, flags, recent);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`flags`] appended to `out` without allocating (FETCH of many messages).
pub fn write_flags(out: &mut Vec<u8>, flags: &store::Flags, recent: bool) {
    out.push(b'(');
    let start = out.len();
    for (bit, name) in [
        (store::Flags::SEEN, &b"\\Seen"[..]),
        (store::Flags::ANSWERED, b"\\Answered"),
        (store::Flags::FLAGGED, b"\\Flagged"),
        (store::Flags::DELETED, b"\\Deleted"),
        (store::Flags::DRAFT, b"\\Draft"),
    ] {
        if flags.system & bit != 0 {
            if out.len() > start {
                out.push(b' ');
            }
            out.extend_from_slice(name);
        }
    }
    for k in &flags.keywords {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(k.as_bytes());
    }
    if recent {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

fn month(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

fn dmy(d: &str, m: &str, y: &str) -> Option<i64> {
    let day: u32 = d.trim().parse().ok()?;
    let mon = month(m)?;
    let year: i64 = y.parse().ok()?;
    if !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    Some(days_from_civil(year, mon, day))
}

/// INTERNALDATE for the wire: `"17-Jul-1996 02:44:25 -0700"` (with quotes).
pub fn format_date_time(secs: i64, tz: i16) -> String {
    let local = secs + tz as i64 * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86400));
    let t = local.rem_euclid(86400);
    let sign = if tz < 0 { '-' } else { '+' };
    let a = (tz as i32).abs();
    let mut s = String::new();
    let _ = write!(
        s,
        "\"{d:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60,
        a / 60,
        a % 60
    );
    s
}

/// The calendar day of an RFC 5322 Date header (`Tue, 1 Jul 2003 10:52:37 +0200`), in its
/// own zone (RFC 3501 §6.4.4 SENT* keys disregard time and zone).
pub fn parse_rfc5322_date(v: &str) -> Option<i64> {
    let v = v.split_once(',').map_or(v, |(_, r)| r);
    let mut it = v.split_whitespace();
    let (d, m, y) = (it.next()?, it.next()?, it.next()?);
    let y = match y.len() {
        2 => format!("{}{y}", if y < "50" { "20" } else { "19" }),
        _ => y.to_string(),
    };
    dmy(d, m, &y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        let s = (days_from_civil(1996, 7, 17) * 86400) + 2 * 3600 + 44 * 60 + 25 + 7 * 3600;
        assert_eq!(format_date_time(s, -420), "\"17-Jul-1996 02:44:25 -0700\"");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            parse_rfc5322_date("Tue, 1 Jul 2003 10:52:37 +0200"),
            Some(days_from_civil(2003, 7, 1))
        );
        assert_eq!(parse_rfc5322_date("1 Foo 2003"), None);
    }

    #[test]
    fn sequence_sets() {
        assert_eq!(sequence_set(&[1u32, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(sequence_set(&[4u32]), "4");
        assert_eq!(sequence_set::<u32>(&[]), "");
    }

    #[test]
    fn strings() {
        let mut o = Vec::new();
        string(&mut o, b"a \"q\" \\");
        assert_eq!(o, b"\"a \\\"q\\\" \\\\\"");
        o.clear();
        string(&mut o, "café".as_bytes());
        assert_eq!(o, b"{5}\r\ncaf\xc3\xa9");
    }
}
