//! mbox files (RFC 4155 `application/mbox`) in the mboxrd variant, with the flag headers
//! Dovecot writes.
//!
//! - Each message starts with a From_ line, `From <envelope sender> <asctime date>`
//!   (RFC 4155 §2): the sender is the message's `Return-Path` (RFC 5321 §4.4) or
//!   `MAILER-DAEMON`, the date its INTERNALDATE in UTC, e.g. `Thu Jan  1 00:00:00 1970`.
//! - mboxrd quoting: a line of the message matching `^>*From ` gets one more `>` on export,
//!   and loses one on import, so any body comes back exactly.
//! - A message ends with an empty line. On import a From_ line starts a message only at the
//!   start of the file or after an empty line.
//! - Flags, at the end of the header (as Dovecot's mbox storage writes them): `Status:`
//!   `R` \Seen, `O` not \Recent; `X-Status:` `A` \Answered, `F` \Flagged, `T` \Draft,
//!   `D` \Deleted; `X-Keywords:` the keywords, separated by spaces.

use std::io::{self, Write};

use store::Flags;

use super::{now, to_crlf, to_lf, Item};

/// The envelope sender of a From_ line when the message has no usable `Return-Path`
/// (RFC 4155 §2 leaves it to the writer; Dovecot and procmail write this).
pub const NO_SENDER: &str = "MAILER-DAEMON";

/// Writes one message: its From_ line, the message with its flag headers and LF line ends,
/// mboxrd-quoted, and the empty line that ends it.
pub fn write(out: &mut dyn Write, item: &Item) -> io::Result<()> {
    let date = item.internaldate.unwrap_or_else(now);
    writeln!(
        out,
        "From {} {}",
        envelope_sender(&item.bytes),
        asctime(date)
    )?;
    let mut bytes = item.bytes.clone();
    let at = header_end(&bytes);
    let meta = flag_headers(item);
    if at == bytes.len() && !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    let at = at.min(bytes.len());
    bytes.splice(at..at, meta);
    let lf = to_lf(&bytes);
    for line in lf.split_inclusive(|&b| b == b'\n') {
        // mboxrd: `^>*From ` gains a `>`.
        if is_from_line(line.trim_ascii_start_matches(b'>')) {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    if !lf.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// The letters of `X-Status`, in the order Dovecot writes them.
const X_STATUS: [(u8, char); 4] = [
    (Flags::ANSWERED, 'A'),
    (Flags::FLAGGED, 'F'),
    (Flags::DRAFT, 'T'),
    (Flags::DELETED, 'D'),
];

/// `Status`, `X-Status` and `X-Keywords` for `item` (CRLF; absent when empty).
fn flag_headers(item: &Item) -> Vec<u8> {
    let f = &item.flags;
    let mut status = String::new();
    if f.has(Flags::SEEN) {
        status.push('R');
    }
    if !item.recent {
        status.push('O');
    }
    let xstatus: String = (X_STATUS.iter())
        .filter(|(bit, _)| f.has(*bit))
        .map(|(_, c)| *c)
        .collect();
    let mut out = String::new();
    for (name, value) in [
        ("Status", status),
        ("X-Status", xstatus),
        ("X-Keywords", f.keywords.join(" ")),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.into_bytes()
}

/// Reads an mbox file into messages as the store keeps them. An empty file is an empty
/// mbox; anything else must start with a From_ line.
pub fn parse(file: &[u8]) -> Result<Vec<Item>, String> {
    if file.is_empty() {
        return Ok(Vec::new());
    }
    if !is_from_line(file) {
        return Err(
            "not an mbox file: it does not start with a \"From \" line (RFC 4155 §2)".into(),
        );
    }
    let mut items = Vec::new();
    let mut current: Option<(Option<i64>, Vec<u8>)> = None;
    let mut after_empty = true;
    for line in file.split_inclusive(|&b| b == b'\n') {
        if after_empty && is_from_line(line) {
            items.extend(current.take().map(|(date, body)| item(date, body)));
            current = Some((from_line_date(line), Vec::new()));
            after_empty = false;
            continue;
        }
        after_empty = line == b"\n" || line == b"\r\n";
        if let Some((_, body)) = current.as_mut() {
            // mboxrd: `^>+From ` loses a `>`.
            let unquoted = match line.strip_prefix(b">") {
                Some(rest) if is_from_line(rest.trim_ascii_start_matches(b'>')) => rest,
                _ => line,
            };
            body.extend_from_slice(unquoted);
        }
    }
    items.extend(current.map(|(date, body)| item(date, body)));
    Ok(items)
}

/// A message read from an mbox: the empty line that ended it dropped, CRLF line ends, flags
/// taken out of its header.
fn item(date: Option<i64>, mut body: Vec<u8>) -> Item {
    if body.ends_with(b"\n\n") || body == b"\n" {
        body.pop();
    } else if body.ends_with(b"\r\n\r\n") || body == b"\r\n" {
        body.truncate(body.len() - 2);
    }
    let mut bytes = to_crlf(&body);
    let meta = take_flag_headers(&mut bytes);
    Item {
        bytes,
        flags: meta.flags,
        internaldate: date,
        recent: meta.recent,
    }
}

/// What the flag headers of a message said.
pub struct FlagHeaders {
    pub flags: Flags,
    /// No `O` in `Status` (or no `Status` at all).
    pub recent: bool,
}

/// Removes `Status`, `X-Status` and `X-Keywords` (with their continuation lines) from the
/// header of `bytes` and returns the flags they gave.
pub fn take_flag_headers(bytes: &mut Vec<u8>) -> FlagHeaders {
    let end = header_end(bytes);
    let mut kept = Vec::with_capacity(bytes.len());
    let mut meta = FlagHeaders {
        flags: Flags::default(),
        recent: true,
    };
    // The field being dropped, if any: its continuation lines go with it.
    let mut dropping: Option<&[u8]> = None;
    for line in bytes[..end].split_inclusive(|&b| b == b'\n') {
        let continued = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if continued {
            if dropping == Some(b"x-keywords") {
                keywords(&mut meta.flags, &String::from_utf8_lossy(line));
            }
        } else {
            dropping = None;
            if let Some((name, value)) = line.split_once_byte(b':') {
                let value = String::from_utf8_lossy(value);
                let name = name.trim_ascii().to_ascii_lowercase();
                match name.as_slice() {
                    b"status" => {
                        meta.recent = !value.contains('O');
                        if value.contains('R') {
                            meta.flags.system |= Flags::SEEN;
                        }
                        dropping = Some(b"status");
                    }
                    b"x-status" => {
                        for (bit, c) in X_STATUS {
                            if value.contains(c) {
                                meta.flags.system |= bit;
                            }
                        }
                        dropping = Some(b"x-status");
                    }
                    b"x-keywords" => {
                        keywords(&mut meta.flags, &value);
                        dropping = Some(b"x-keywords");
                    }
                    _ => {}
                }
            }
        }
        if dropping.is_none() {
            kept.extend_from_slice(line);
        }
    }
    kept.extend_from_slice(&bytes[end..]);
    *bytes = kept;
    meta
}

/// Adds the keywords of an `X-Keywords` value (separated by spaces or commas) that are IMAP
/// atoms (RFC 3501 §9 `flag-keyword`); anything else could not be sent to a client.
fn keywords(flags: &mut Flags, value: &str) {
    for k in value.split(|c: char| c.is_whitespace() || c == ',') {
        let atom = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
        if atom {
            flags.insert(k);
        }
    }
}

/// Where the header of a message ends: the offset of the empty line that separates it from
/// the body (0 when the message starts with one), or the end when there is none.
pub fn header_end(bytes: &[u8]) -> usize {
    if bytes.starts_with(b"\r\n") || bytes.starts_with(b"\n") {
        return 0;
    }
    bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 1)
        .into_iter()
        .chain(bytes.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 1))
        .min()
        .unwrap_or(bytes.len())
}

/// `From ` at the start of a line (RFC 4155 §2).
fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// RFC 4155 §2: the envelope sender of the From_ line, from the message's first
/// `Return-Path` (RFC 5321 §4.4); [`NO_SENDER`] when it is missing, null (`<>`) or not one word.
fn envelope_sender(bytes: &[u8]) -> String {
    let end = header_end(bytes);
    for line in bytes[..end].split(|&b| b == b'\n') {
        let Some((name, value)) = line.split_once_byte(b':') else {
            continue;
        };
        if !name.eq_ignore_ascii_case(b"return-path") {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        let addr = value.trim().trim_start_matches('<').trim_end_matches('>');
        if !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_graphic()) {
            return addr.to_string();
        }
        break;
    }
    NO_SENDER.to_string()
}

/// The date of a From_ line as unix seconds, if it has one: `Thu Jan  1 00:00:00 1970`
/// (C's asctime, RFC 4155 §2), optionally with a numeric zone before or after the year
/// (`… 1970 +0200`), as other writers add.
pub fn from_line_date(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = text.split_whitespace().skip(2).collect();
    let time = words.iter().position(|w| w.contains(':'))?;
    let (mon, day) = (words.get(time.checked_sub(2)?)?, words.get(time - 1)?);
    let mut hms = words[time].to_string();
    if hms.len() == 5 {
        hms.push_str(":00");
    }
    let mut year = None;
    let mut zone = 0i64;
    for w in &words[time + 1..] {
        if w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()) {
            year = Some(*w);
        } else if let Some(z) = numeric_zone(w) {
            zone = z;
        }
    }
    let day: u32 = day.parse().ok()?;
    // httpdate checks the weekday against the date; the weekday of the line may be missing
    // or wrong, so each is tried (the date itself decides which one fits).
    let utc = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .find_map(|wd| {
            let imf = format!("{wd}, {day:02} {mon} {} {hms} GMT", year?);
            httpdate::parse_http_date(&imf).ok()
        })?;
    let secs = utc.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(i64::try_from(secs).ok()? - zone)
}

/// `+0200` → 7200 seconds.
fn numeric_zone(w: &str) -> Option<i64> {
    let (sign, digits) = match w.as_bytes().first()? {
        b'+' => (1, &w[1..]),
        b'-' => (-1, &w[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    Some(sign * (n / 100 * 3600 + n % 100 * 60))
}

/// Unix seconds as C's asctime in UTC (`Thu Jan  1 00:00:00 1970`), the From_ line's date
/// (RFC 4155 §2). Dates outside 1970–9999 are written as the nearest one inside.
pub fn asctime(secs: i64) -> String {
    let imf = imf_date(secs);
    // IMF-fixdate `Thu, 01 Jan 1970 00:00:00 GMT` (RFC 9110 §5.6.7) rearranged.
    let (wday, day, mon, year, time) = (
        &imf[0..3],
        imf[5..7].trim_start_matches('0'),
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    format!("{wday} {mon} {day:>2} {time} {year}")
}

/// Unix seconds as an IMF-fixdate (RFC 9110 §5.6.7), `Thu, 01 Jan 1970 00:00:00 GMT`,
/// within 1970–9999.
pub fn imf_date(secs: i64) -> String {
    const LAST: u64 = 253_402_300_799; // 9999-12-31 23:59:59
    let secs = u64::try_from(secs).unwrap_or(0).min(LAST);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Byte-slice helpers the parsers above share.
trait Bytes {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])>;
    fn trim_ascii_start_matches(&self, b: u8) -> &[u8];
}

impl Bytes for [u8] {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])> {
        let i = self.iter().position(|c| *c == b)?;
        Some((&self[..i], &self[i + 1..]))
    }

    fn trim_ascii_start_matches(&self, b: u8) -> &[u8] {
        let n = self.iter().take_while(|c| **c == b).count();
        &self[n..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bytes: &[u8], flags: &[&str], date: i64) -> Item {
        Item {
            bytes: bytes.to_vec(),
            flags: Flags::from_names(flags.iter().copied()),
            internaldate: Some(date),
            recent: false,
        }
    }

    fn written(items: &[Item]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in items {
            write(&mut out, i).expect("write to a Vec");
        }
        out
    }

    #[test]
    fn dates_of_from_lines() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
        assert_eq!(
            from_line_date(b"From a@b Tue Nov 14 22:13:20 2023\n"),
            Some(1_700_000_000)
        );
        // A wrong weekday, one space before the day, a zone: still read.
        assert_eq!(
            from_line_date(b"From a@b Mon Nov 14 22:13:20 2023\n"),
            Some(1_700_000_000)
        );
        assert_eq!(
            from_line_date(b"From a@b Tue Nov 14 23:13:20 2023 +0100\n"),
            Some(1_700_000_000)
        );
        assert_eq!(
            from_line_date(b"From a@b Tue Nov 14 22:13 2023\n"),
            Some(1_699_999_980)
        );
        for bad in [
            &b"From \n"[..],
            b"From a@b yesterday\n",
            b"From a@b Tue Nov 14 22:13:20\n",
            b"From a Foo 99 1:2:3 2023",
        ] {
            assert_eq!(
                from_line_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(asctime(-5), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(i64::MAX), "Fri Dec 31 23:59:59 9999");
    }

    #[test]
    fn messages_round_trip_with_their_flags() {
        let a = item(
            b"Return-Path: <alice@example.test>\r\nSubject: one\r\n\r\nFrom here\r\n>From there\r\n>>From far\r\nFromage\r\n",
            &["\\Seen", "\\Flagged", "$Label1", "Work"],
            1_700_000_000,
        );
        let mut b = item(
            b"Subject: two\r\n\r\nbody without end",
            &["\\Answered", "\\Draft", "\\Deleted"],
            86_400,
        );
        b.recent = true;
        let c = item(b"\r\nno header\r\n\r\n", &[], 0);
        let file = written(&[a.clone(), b.clone(), c.clone()]);
        let text = String::from_utf8_lossy(&file);
        assert!(text.starts_with("From alice@example.test Tue Nov 14 22:13:20 2023\nReturn-Path: <alice@example.test>\nSubject: one\nStatus: RO\nX-Status: F\nX-Keywords: $Label1 Work\n\n>From here\n>>From there\n>>>From far\nFromage\n\n"), "{text}");
        assert!(text.contains("\nFrom MAILER-DAEMON Fri Jan  2 00:00:00 1970\nSubject: two\nX-Status: ATD\n\nbody without end\n\n"), "{text}");
        assert!(
            text.ends_with(
                "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nStatus: O\n\nno header\n\n\n"
            ),
            "{text}"
        );
        let back = parse(&file).expect("an mbox");
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], a);
        assert_eq!(
            back[1].bytes, b"Subject: two\r\n\r\nbody without end\r\n",
            "a final line end is added"
        );
        assert_eq!((back[1].flags.clone(), back[1].recent), (b.flags, true));
        assert_eq!(back[2], c);
    }

    #[test]
    fn foreign_files() {
        assert_eq!(parse(b""), Ok(vec![]));
        assert!(parse(b"Subject: not an mbox\r\n\r\nhi\r\n")
            .unwrap_err()
            .contains("not an mbox"));
        // A From line inside a message (no empty line before it) does not split it; folded
        // and lower-case flag headers are read; a non-atom keyword is dropped; CRLF files work.
        let file = b"From x@y Thu Jan  1 00:00:00 1970\r\nstatus: R\r\nX-Keywords: a,\r\n b (bad)\r\nSubject: s\r\n\r\nline\r\nFrom inside\r\n\r\nFrom z Thu Jan  1 00:00:01 1970\r\n\r\nsecond\r\n";
        let items = parse(file).expect("mbox");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].bytes, b"Subject: s\r\n\r\nline\r\nFrom inside\r\n");
        assert_eq!(items[0].flags.names(), ["\\Seen", "a", "b"]);
        assert!(items[0].recent);
        assert_eq!(
            (items[1].bytes.as_slice(), items[1].internaldate),
            (&b"\r\nsecond\r\n"[..], Some(1))
        );
    }
}
