//! What the delivery side needs to act on a [`Vacation`] action: whether to answer and to
//! whom ([`reply_to`], RFC 5230 §4.5, §4.6 and RFC 3834 §2), and the reply itself
//! ([`build_reply`], RFC 5230 §5 and RFC 3834 §3). Both are pure: the caller keeps the
//! per-sender response record (keyed by [`Vacation::handle`] and the sender, for
//! [`Vacation::period_secs`], RFC 5230 §4.2), sends the reply with a null reverse-path
//! (RFC 5230 §5: `MAIL FROM:<>`), and supplies the clock and the Message-ID.

use std::fmt;

use crate::date;
use crate::message::{self, parse_headers, Headers};
use crate::{Envelope, Vacation};

/// RFC 5230 §4.1: `:days` when absent.
pub const DEFAULT_DAYS: u64 = 7;

/// Why no reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// RFC 3834 §2: the reverse-path is null (`<>`); never answer a bounce.
    NullSender,
    /// RFC 3834 §2 / RFC 5230 §4.6: Auto-Submitted is present and not "no".
    AutoSubmitted,
    /// RFC 5230 §4.6: List-Id or another List-* field, or Precedence bulk/list/junk.
    ListMail,
    /// RFC 5230 §4.5: the message comes from one of the user's own addresses.
    FromSelf,
    /// RFC 5230 §4.5: none of the user's addresses is in To, Cc, Bcc or Resent-To/Cc/Bcc.
    NotAddressed,
    /// RFC 5230 §4.6 / RFC 3834 §2: the sender is owner-*, *-request or MAILER-DAEMON.
    MailerDaemon,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NullSender => "null reverse-path",
            Skip::AutoSubmitted => "message is auto-submitted",
            Skip::ListMail => "message is list or bulk mail",
            Skip::FromSelf => "message is from the user",
            Skip::NotAddressed => "user is not a recipient in the header",
            Skip::MailerDaemon => "sender is a mailer daemon or list address",
        })
    }
}

/// RFC 5230 §4.2: the handle of a vacation without `:handle`, from the values that make
/// two responses the same (subject, from, mime, reason); FNV-1a, stable across builds.
pub(crate) fn default_handle(
    subject: Option<&str>,
    from: Option<&str>,
    mime: bool,
    reason: &str,
) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(subject.map_or("\u{0}", |s| s));
    feed(from.map_or("\u{0}", |s| s));
    feed(if mime { "mime" } else { "text" });
    feed(reason);
    format!("auto-{h:016x}")
}

/// An address reduced for comparison: angle brackets and white space gone, lower case.
fn norm(a: &str) -> String {
    a.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

/// Whether `addr` is `mine`, also when `addr` carries a "+detail" (RFC 5233 subaddress).
fn same(addr: &str, mine: &str) -> bool {
    let (a, m) = (norm(addr), norm(mine));
    if a.is_empty() {
        return false;
    }
    if a == m {
        return true;
    }
    match (message::split_address(&a), message::split_address(&m)) {
        ((al, Some(ad)), (ml, Some(md))) => {
            ad == md && al.split_once('+').is_some_and(|(base, _)| base == ml)
        }
        _ => false,
    }
}

/// RFC 5230 §4.5/§4.6, RFC 3834 §2: whether to reply and to whom. `my_addresses` are the
/// account's addresses (primary and aliases); the vacation's `:addresses` and the envelope
/// recipient count as the user's too. On success the address to reply to: the envelope
/// sender.
pub fn reply_to(
    v: &Vacation,
    envelope: &Envelope<'_>,
    message: &[u8],
    my_addresses: &[&str],
) -> Result<String, Skip> {
    let sender = norm(envelope.from);
    if sender.is_empty() {
        // RFC 3834 §2: no response to the null reverse-path.
        return Err(Skip::NullSender);
    }
    let (local, _) = message::split_address(&sender);
    // RFC 3834 §2: addresses of mailer daemons and list software.
    if local == "mailer-daemon" || local.starts_with("owner-") || local.ends_with("-request") {
        return Err(Skip::MailerDaemon);
    }
    let h = parse_headers(message);
    // RFC 3834 §2 / RFC 5230 §4.6: automatic messages are not answered.
    if let Some(a) = h.first_decoded("auto-submitted") {
        let value = a.split(';').next().unwrap_or("").trim();
        if !value.eq_ignore_ascii_case("no") {
            return Err(Skip::AutoSubmitted);
        }
    }
    // RFC 5230 §4.6: nor mailing lists and bulk mail.
    if is_list_mail(&h) {
        return Err(Skip::ListMail);
    }
    let mine: Vec<&str> = my_addresses
        .iter()
        .copied()
        .chain(v.addresses.iter().map(String::as_str))
        .chain([envelope.to])
        .filter(|a| !norm(a).is_empty())
        .collect();
    // RFC 5230 §4.5: never answer the user's own mail.
    if mine.iter().any(|m| same(&sender, m)) {
        return Err(Skip::FromSelf);
    }
    // RFC 5230 §4.5: answer only mail that names the user as a recipient.
    let addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .flat_map(|name| h.get(name).collect::<Vec<_>>())
        .flat_map(|f| message::addresses(f.raw))
        .any(|a| mine.iter().any(|m| same(&a, m)));
    if !addressed {
        return Err(Skip::NotAddressed);
    }
    Ok(envelope
        .from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string())
}

/// RFC 5230 §4.6: List-Id and the other RFC 2369 List-* fields, Precedence bulk/list/junk.
fn is_list_mail(h: &Headers<'_>) -> bool {
    h.fields.iter().any(|f| {
        f.name.len() > 5 && f.name[..5].eq_ignore_ascii_case("list-")
            || f.name.eq_ignore_ascii_case("precedence")
                && matches!(
                    message::decode(f.raw).trim().to_ascii_lowercase().as_str(),
                    "bulk" | "list" | "junk"
                )
    })
}

/// The reply to `original` (RFC 5230 §5, RFC 3834 §3): From (`:from` or `recipient`), To,
/// Subject (`:subject` or "Auto: " and the original subject), In-Reply-To and References,
/// Date, Message-ID (`message_id`, brackets added if missing), Auto-Submitted:
/// auto-replied, MIME-Version and a text/plain UTF-8 body — or, with `:mime`, the reason
/// as the MIME entity it is. Line breaks are CRLF; values are stripped of line breaks.
pub fn build_reply(
    v: &Vacation,
    recipient: &str,
    to: &str,
    original: &[u8],
    now_unix: i64,
    message_id: &str,
) -> Vec<u8> {
    let h = parse_headers(original);
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    field(
        "From",
        &format_from(&one_line(v.from.as_deref().unwrap_or(recipient))),
    );
    field("To", &one_line(to));
    // RFC 5230 §4.3: the default subject.
    let subject = match &v.subject {
        Some(s) => one_line(s),
        None => match h.first_decoded("subject").map(|s| one_line(&s)) {
            Some(s) if !s.is_empty() => format!("Auto: {s}"),
            _ => "Automated reply".to_string(),
        },
    };
    field("Subject", &encode_words(&subject));
    // RFC 5230 §5 / RFC 5322 §3.6.4: thread the reply under the original.
    let ids = |name: &str| {
        h.first_decoded(name)
            .map(|v| msg_ids(&v))
            .unwrap_or_default()
    };
    if let Some(orig) = ids("message-id").into_iter().next() {
        let mut refs = ids("references");
        if refs.is_empty() {
            refs = ids("in-reply-to");
            refs.truncate(1);
        }
        refs.push(orig.clone());
        field("In-Reply-To", &orig);
        field("References", &refs.join("\r\n "));
    }
    field("Date", &date::civil(now_unix, 0).rfc5322());
    let id = one_line(message_id);
    let id = id.trim();
    if id.starts_with('<') {
        field("Message-ID", id);
    } else {
        field("Message-ID", &format!("<{id}>"));
    }
    // RFC 3834 §5: marks the reply as automatic so it is not answered in turn.
    field("Auto-Submitted", "auto-replied");
    field("MIME-Version", "1.0");
    let reason = crlf(&v.reason);
    if v.mime {
        // RFC 5230 §4.4: the reason is a MIME entity, its own header first. One without a
        // header is a body of the default type (RFC 2045 §5.2) after an empty line.
        if parse_headers(reason.as_bytes()).fields.is_empty() && !reason.starts_with("\r\n") {
            out.push_str("\r\n");
        }
        out.push_str(&reason);
    } else {
        field("Content-Type", "text/plain; charset=utf-8");
        let ascii = reason.is_ascii() && reason.split("\r\n").all(|l| l.len() <= 998);
        if ascii {
            field("Content-Transfer-Encoding", "7bit");
            out.push_str("\r\n");
            out.push_str(&reason);
        } else {
            field("Content-Transfer-Encoding", "quoted-printable");
            out.push_str("\r\n");
            out.push_str(&quoted_printable(&reason));
        }
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// A header value without line breaks (no header injection through script strings).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Line breaks as CRLF (a bare CR or LF becomes one too: RFC 5322 §2.3 allows no other).
fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// The `<...>` message ids in a value.
fn msg_ids(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open..].find('>') else {
            break;
        };
        let id = &rest[open..open + len + 1];
        if !id.contains(char::is_whitespace) && id.len() > 2 {
            out.push(id.to_string());
        }
        rest = &rest[open + len + 1..];
    }
    out
}

/// RFC 2047 §4.1/§5: UTF-8 "B" encoded words (at most 75 characters each) for a value that
/// is not plain ASCII or too long for one line; plain ASCII as it is.
fn encode_words(s: &str) -> String {
    if s.is_ascii() && s.len() <= 900 && !s.contains("=?") {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// A From value: an addr-spec as it is, a display name quoted or encoded as needed.
fn format_from(s: &str) -> String {
    let Some(open) = s.rfind('<').filter(|_| s.ends_with('>')) else {
        return s.to_string();
    };
    let name = s[..open].trim().trim_matches('"').trim();
    let addr = &s[open..];
    if name.is_empty() {
        addr.to_string()
    } else if name.is_ascii() {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" {addr}")
    } else {
        format!("{} {addr}", encode_words(name))
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 2045 §6.7: quoted-printable, lines at most 76 characters (CRLF line breaks in).
fn quoted_printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for (i, line) in s.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut len = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain =
                (b'!'..=b'~').contains(&b) && b != b'=' || (b == b' ' || b == b'\t') && !last;
            let piece = if plain {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if len + piece.len() > 75 {
                out.push_str("=\r\n");
                len = 0;
            }
            out.push_str(&piece);
            len += piece.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(encode_words("plain"), "plain");
        assert_eq!(encode_words("é"), "=?UTF-8?B?w6k=?=");
        let long = encode_words(&"é".repeat(40));
        assert!(long.split("\r\n ").all(|w| w.len() <= 75));
        assert_eq!(quoted_printable("café \r\nok"), "caf=C3=A9=20\r\nok");
        assert_eq!(crlf("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd");
        let q = quoted_printable(&"é".repeat(60));
        assert!(q.split("\r\n").all(|l| l.len() <= 76));
    }

    #[test]
    fn handles_are_stable_and_distinct() {
        let a = default_handle(Some("s"), None, false, "r");
        assert_eq!(a, default_handle(Some("s"), None, false, "r"));
        assert_ne!(a, default_handle(Some("s"), None, true, "r"));
        assert_ne!(a, default_handle(None, Some("s"), false, "r"));
        assert_ne!(
            default_handle(Some(""), None, false, "r"),
            default_handle(None, None, false, "r")
        );
    }

    #[test]
    fn addresses_compare() {
        assert!(same("<Alice@Example.org>", "alice@example.org"));
        assert!(same("alice+work@example.org", "alice@example.org"));
        assert!(!same("alice@example.org", "alice+work@example.org"));
        assert!(!same("bob@example.org", "alice@example.org"));
        assert_eq!(
            format_from("Jörg <j@x.org>"),
            "=?UTF-8?B?SsO2cmc=?= <j@x.org>"
        );
        assert_eq!(format_from("A, B <j@x.org>"), "\"A, B\" <j@x.org>");
        assert_eq!(msg_ids(" <a@b> junk <c@d>"), ["<a@b>", "<c@d>"]);
    }
}
