//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from the structure cached at delivery,
//! and the address-list parser ENVELOPE needs (RFC 5322 §3.4, groups included).

use store::mime::{Envelope, Part, PartKind};

use crate::response::{nstring, string};

/// One ENVELOPE address: (name, adl, mailbox, host); a group start has only `mailbox` set,
/// a group end is all `None` (RFC 3501 §7.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// Splits at top-level occurrences of `seps` (outside quotes, comments, angle brackets).
fn tokens(v: &str) -> Vec<(String, Option<char>)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut depth, mut angle, mut escape) = (false, 0, false, false);
    for c in v.chars() {
        if escape {
            cur.push(c);
            escape = false;
            continue;
        }
        match c {
            '\\' if quote || depth > 0 => {
                cur.push(c);
                escape = true;
                continue;
            }
            '"' if depth == 0 => quote = !quote,
            '(' if !quote => depth += 1,
            ')' if !quote && depth > 0 => depth -= 1,
            '<' if !quote && depth == 0 => angle = true,
            '>' if !quote && depth == 0 => angle = false,
            ',' | ':' | ';' if !quote && depth == 0 && !angle => {
                out.push((std::mem::take(&mut cur), Some(c)));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push((cur, None));
    out
}

fn strip_comments(s: &str) -> (String, Option<String>) {
    let mut out = String::new();
    let mut comment = String::new();
    let (mut depth, mut quote) = (0, false);
    for c in s.chars() {
        match c {
            '"' if depth == 0 => {
                quote = !quote;
                out.push(c);
            }
            '(' if !quote => {
                depth += 1;
                if depth > 1 {
                    comment.push(c);
                }
            }
            ')' if !quote && depth > 0 => {
                depth -= 1;
                if depth > 0 {
                    comment.push(c);
                }
            }
            _ if depth > 0 => comment.push(c),
            _ => out.push(c),
        }
    }
    let comment = comment.trim().to_string();
    (out, (!comment.is_empty()).then_some(comment))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let mut out = String::new();
        let mut esc = false;
        for c in s[1..s.len() - 1].chars() {
            if esc || c != '\\' {
                out.push(c);
                esc = false;
            } else {
                esc = true;
            }
        }
        return out;
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn mailbox(text: &str) -> Option<Address> {
    let (text, comment) = strip_comments(text);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (name, addr) = match (text.find('<'), text.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let n = unquote(&text[..a]);
            (
                if n.is_empty() { None } else { Some(n) },
                text[a + 1..b].trim().to_string(),
            )
        }
        _ => (comment, text.to_string()),
    };
    // Source routes ("@a,@b:user@host") are obsolete; drop them.
    let addr = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(_, a)| a)
        .trim();
    let (mbox, host) = match addr.rsplit_once('@') {
        Some((m, h)) => (unquote(m), Some(h.trim().to_string())),
        None => (unquote(addr), None),
    };
    Some(Address {
        name,
        mailbox: Some(mbox),
        host,
    })
}

/// Parses an address-list header value.
pub fn parse_addresses(v: &str) -> Vec<Address> {
    let mut out = Vec::new();
    let mut in_group = false;
    for (text, sep) in tokens(v) {
        match sep {
            Some(':') if !in_group => {
                in_group = true;
                out.push(Address {
                    mailbox: Some(unquote(&text)),
                    ..Default::default()
                });
            }
            Some(';') => {
                out.extend(mailbox(&text));
                if in_group {
                    out.push(Address::default());
                    in_group = false;
                }
            }
            _ => out.extend(mailbox(&text)),
        }
    }
    if in_group {
        out.push(Address::default());
    }
    out
}

fn addresses(out: &mut Vec<u8>, v: Option<&str>) {
    let list = v.map(parse_addresses).unwrap_or_default();
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.extend_from_slice(b" NIL ");
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// RFC 3501 §7.4.2 ENVELOPE.
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    let from = e.from.as_deref();
    for v in [
        from,
        e.sender.as_deref().or(from),
        e.reply_to.as_deref().or(from),
    ] {
        // RFC 3501 §7.4.2: sender and reply-to default to from.
        out.push(b' ');
        addresses(out, v);
    }
    for v in [&e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, v.as_deref());
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn params(out: &mut Vec<u8>, p: &[(String, String)]) {
    if p.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

fn extension(out: &mut Vec<u8>, p: &Part) {
    out.push(b' ');
    match &p.disposition {
        Some((d, ps)) => {
            out.push(b'(');
            string(out, d.as_bytes());
            out.push(b' ');
            params(out, ps);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    if p.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, l) in p.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            string(out, l.as_bytes());
        }
        out.push(b')');
    }
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

/// BODYSTRUCTURE (`ext` true) or BODY (RFC 3501 §7.4.2).
pub fn body(out: &mut Vec<u8>, p: &Part, ext: bool) {
    out.push(b'(');
    match &p.kind {
        PartKind::Multipart(children) => {
            for c in children {
                body(out, c, ext);
            }
            out.push(b' ');
            string(out, p.subtype.as_bytes());
            if ext {
                out.push(b' ');
                params(out, &p.params);
                extension(out, p);
            }
        }
        kind => {
            string(out, p.content_type.as_bytes());
            out.push(b' ');
            string(out, p.subtype.as_bytes());
            out.push(b' ');
            params(out, &p.params);
            out.push(b' ');
            nstring(out, p.id.as_deref());
            out.push(b' ');
            nstring(out, p.description.as_deref());
            out.push(b' ');
            string(out, p.encoding.as_deref().unwrap_or("7BIT").as_bytes());
            out.extend_from_slice(
                format!(" {}", p.body_end.saturating_sub(p.body_start)).as_bytes(),
            );
            if let PartKind::Message(env, inner) = kind {
                out.push(b' ');
                envelope(out, env);
                out.push(b' ');
                body(out, inner, ext);
                out.extend_from_slice(format!(" {}", p.lines).as_bytes());
            } else if p.content_type == "text" {
                out.extend_from_slice(format!(" {}", p.lines).as_bytes());
            }
            if ext {
                out.push(b' ');
                nstring(out, p.md5.as_deref());
                extension(out, p);
            }
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, m: &str, h: &str) -> Address {
        Address {
            name: name.map(Into::into),
            mailbox: Some(m.into()),
            host: Some(h.into()),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addresses("a@b.c"), vec![a(None, "a", "b.c")]);
        assert_eq!(
            parse_addresses("\"Doe, John\" <j@x.org>, bob@y"),
            vec![a(Some("Doe, John"), "j", "x.org"), a(None, "bob", "y")]
        );
        assert_eq!(
            parse_addresses("Alice Smith <alice@x>"),
            vec![a(Some("Alice Smith"), "alice", "x")]
        );
        assert_eq!(
            parse_addresses("alice@x (Alice)"),
            vec![a(Some("Alice"), "alice", "x")]
        );
        let g = parse_addresses("friends: a@x, b@y;");
        assert_eq!(g.len(), 4);
        assert_eq!(g[0].mailbox.as_deref(), Some("friends"));
        assert_eq!(g[3], Address::default());
        assert_eq!(parse_addresses("undisclosed-recipients:;").len(), 2);
        assert!(parse_addresses("").is_empty());
    }
}
