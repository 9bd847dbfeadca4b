//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from the structure cached at delivery,
//! and the address-list parser ENVELOPE needs (RFC 5322 §3.4, groups and obsolete routes).
//!
//! The answers are byte-for-byte those of Dovecot on the same message (checked by
//! `tests/tests/dovecot_diff.rs`), including its string choices: a quoted string unless the
//! value has CR, LF, 8-bit octets or more than four `"`/`\` (then a literal), subjects and
//! display names cleaned for humans (white space runs collapsed, then a literal if anything
//! changed), "7bit" and `("charset" "us-ascii")` defaults, and an empty text/plain part in a
//! multipart without parts (RFC 3501 §7.4.2 body-type-mpart needs one).

use store::mime::rfc822::{Lexer, Step};
use store::mime::{Envelope, Part, PartKind};

/// One ENVELOPE address (RFC 3501 §7.4.2): a group start has only `mailbox` (the group name),
/// a group end has nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

struct AddrParser<'a> {
    l: Lexer<'a>,
    out: Vec<Address>,
    cur: Address,
}

impl AddrParser<'_> {
    fn add(&mut self) {
        self.out.push(std::mem::take(&mut self.cur));
    }

    /// Adds the current address with what is missing named (RFC 3501 has no NIL mailbox or
    /// host for a mailbox, so the gaps are visible).
    fn add_fixed(&mut self) {
        self.cur
            .mailbox
            .get_or_insert_with(|| b"MISSING_MAILBOX".to_vec());
        self.cur
            .host
            .get_or_insert_with(|| b"MISSING_DOMAIN".to_vec());
        self.add();
    }

    fn local_part(&mut self) -> Step {
        let mut s = Vec::new();
        let r = if self.l.at(b'"') {
            self.l.quoted(&mut s)
        } else {
            self.l.local_atom(&mut s)
        };
        if r != Step::Err {
            self.cur.mailbox = Some(s);
        }
        r
    }

    fn domain(&mut self) -> Step {
        let mut s = Vec::new();
        let r = self.l.domain(&mut s);
        if r != Step::Err {
            self.cur.host = Some(s);
        }
        r
    }

    /// obs-route: "@a,@b" (RFC 5322 §4.4).
    fn route(&mut self) -> Step {
        let mut s = Vec::new();
        loop {
            if self.l.more() == Step::End {
                return Step::End;
            }
            if !self.l.at(b'@') {
                break;
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let r = self.l.domain(&mut s);
            if r != Step::More {
                return r;
            }
            while self.l.skip_cfws() == Step::More && self.l.at(b',') {
                self.l.pos += 1;
            }
        }
        self.cur.route = Some(s);
        Step::More
    }

    /// angle-addr at "<" (RFC 5322 §3.4, obs-route included), read as Dovecot reads it: a
    /// route without its ":" is named INVALID_ROUTE and reading goes on; `<>` is an address
    /// with neither mailbox nor domain (the null reverse-path of bounces), not an error; the
    /// input ending inside the brackets is one (`Err`: the caller names the domain
    /// SYNTAX_ERROR).
    fn angle_addr(&mut self) -> Step {
        self.l.pos += 1;
        if self.l.skip_cfws() != Step::More {
            return Step::Err;
        }
        if self.l.at(b'@') {
            if self.route() == Step::More && self.l.at(b':') {
                self.l.pos += 1;
            } else {
                self.cur.route = Some(b"INVALID_ROUTE".to_vec());
                if self.l.more() == Step::End {
                    return Step::Err;
                }
            }
            if self.l.skip_cfws() != Step::More {
                return Step::Err;
            }
        }
        if !self.l.at(b'>') {
            if self.local_part() != Step::More {
                return Step::Err;
            }
            if self.l.at(b'@') && self.domain() != Step::More {
                return Step::Err;
            }
            if !self.l.at(b'>') {
                return Step::Err;
            }
        }
        self.l.pos += 1;
        self.l.skip_cfws()
    }

    fn name_addr(&mut self) -> Step {
        let mut s = Vec::new();
        if self.l.phrase(&mut s) != Step::More || !self.l.at(b'<') {
            return Step::Err;
        }
        self.cur.name = (!s.is_empty()).then_some(s);
        if self.angle_addr() == Step::Err {
            self.cur.host = Some(b"SYNTAX_ERROR".to_vec());
        }
        self.l.more()
    }

    /// addr-spec; a comment after it is the display name (RFC 822 style "a@b (Name)").
    fn addr_spec(&mut self) -> Step {
        self.l.comment = Some(Vec::new());
        let mut r = self.local_part();
        if r != Step::End && self.l.at(b'@') {
            let r2 = self.domain();
            if r2 != Step::More {
                r = r2;
            }
        }
        if let Some(c) = self.l.comment.take().filter(|c| !c.is_empty()) {
            self.cur.name = Some(c);
        }
        self.l.comment = Some(Vec::new());
        r
    }

    fn mailbox(&mut self) -> Step {
        let start = self.l.pos;
        let mut r = self.name_addr();
        if r == Step::Err {
            self.l.pos = start;
            r = self.addr_spec();
        }
        self.add_fixed();
        r
    }

    fn group(&mut self) -> Step {
        let mut s = Vec::new();
        if self.l.phrase(&mut s) != Step::More || !self.l.at(b':') {
            return Step::Err;
        }
        self.l.pos += 1;
        let mut r = self.l.skip_cfws();
        self.cur.mailbox = Some(s);
        self.add();
        if r == Step::More && !self.l.at(b';') {
            loop {
                if self.mailbox() != Step::More {
                    r = Step::Err;
                    break;
                }
                if !self.l.at(b',') {
                    break;
                }
                self.l.pos += 1;
                if self.l.skip_cfws() != Step::More {
                    r = Step::Err;
                    break;
                }
            }
        }
        if r != Step::Err {
            r = if self.l.at(b';') {
                self.l.pos += 1;
                self.l.skip_cfws()
            } else {
                Step::Err
            };
        }
        self.add();
        if r == Step::End {
            Step::End
        } else {
            Step::More
        }
    }

    fn address(&mut self) -> Step {
        let start = self.l.pos;
        let r = self.group();
        if r != Step::Err {
            return r;
        }
        self.l.pos = start;
        self.cur = Address::default();
        self.mailbox()
    }
}

/// Parses an address-list header value (RFC 5322 §3.4).
pub fn parse_addresses(v: &[u8]) -> Vec<Address> {
    let mut p = AddrParser {
        l: Lexer::new(v),
        out: Vec::new(),
        cur: Address::default(),
    };
    p.l.comment = Some(Vec::new());
    if p.l.skip_cfws() != Step::More {
        return Vec::new();
    }
    loop {
        if p.address() == Step::End || !p.l.at(b',') {
            break;
        }
        p.l.pos += 1;
        match p.l.skip_cfws() {
            Step::More => {}
            Step::Err => {
                p.add_fixed();
                break;
            }
            Step::End => break,
        }
    }
    p.out
}

/// An IMAP string (RFC 3501 §4.3): quoted, or a literal for CR, LF, NUL, 8-bit octets or
/// more than four characters that would need escaping.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let specials = s.iter().filter(|&&b| b == b'"' || b == b'\\').count();
    if specials > 4
        || s.iter()
            .any(|&b| matches!(b, b'\r' | b'\n' | 0) || b >= 0x80)
    {
        crate::response::literal(out, s);
        return;
    }
    crate::response::quoted(out, s);
}

/// NIL or a string with the line breaks of folding removed (a space kept between lines).
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    let Some(s) = s else {
        out.extend_from_slice(b"NIL");
        return;
    };
    if !s.iter().any(|&b| b == b'\r' || b == b'\n') {
        return string(out, s);
    }
    let mut v = Vec::with_capacity(s.len());
    for (i, &b) in s.iter().enumerate() {
        if b != b'\r' && b != b'\n' {
            v.push(b);
        } else if s
            .get(i + 1)
            .is_some_and(|n| !matches!(n, b' ' | b'\t' | b'\r' | b'\n'))
        {
            v.push(b' ');
        }
    }
    string(out, &v);
}

/// A subject or display name: white space runs become one space, leading and trailing white
/// space goes; a value that needed any change (or has `"`, `\`, 8-bit) is sent as a literal.
pub fn human(out: &mut Vec<u8>, s: &[u8]) {
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let (mut modify, mut last_ws, mut prefix) = (false, true, true);
    for &b in s {
        match b {
            0 | b'"' | b'\\' => modify = true,
            b'\r' | b'\n' | b'\t' => modify = true,
            b' ' => modify |= last_ws,
            _ => modify |= b >= 0x80,
        }
        last_ws = ws(b);
        prefix &= last_ws;
    }
    if last_ws && !s.is_empty() && !prefix {
        modify = true;
    }
    if !modify {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    let mut v: Vec<u8> = Vec::with_capacity(s.len());
    let mut last_ws = true;
    for &b in s {
        if ws(b) {
            if !last_ws {
                v.push(b' ');
            }
            last_ws = true;
        } else {
            v.push(if b == 0 { 0x80 } else { b });
            last_ws = false;
        }
    }
    if last_ws && v.last() == Some(&b' ') {
        v.pop();
    }
    if v.is_empty() {
        out.extend_from_slice(b"\"\"");
    } else {
        crate::response::literal(out, &v);
    }
}

fn address_list(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match &a.name {
            Some(n) => human(out, n),
            None => out.extend_from_slice(b"NIL"),
        }
        for v in [&a.route, &a.mailbox, &a.host] {
            out.push(b' ');
            nstring(out, v.as_deref());
        }
        out.push(b')');
    }
    out.push(b')');
}

/// RFC 3501 §7.4.2 ENVELOPE.
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    let addrs = |i: usize| e.raw(i).map(parse_addresses).unwrap_or_default();
    let from = addrs(2);
    out.push(b'(');
    nstring(out, e.raw(0));
    out.push(b' ');
    match e.raw(1) {
        Some(s) => human(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
    // RFC 3501 §7.4.2: sender and reply-to default to from.
    for i in 2..=7 {
        out.push(b' ');
        let list = addrs(i);
        let list = if list.is_empty() && (i == 3 || i == 4) {
            &from
        } else {
            &list
        };
        address_list(out, list);
    }
    for i in [8, 9] {
        out.push(b' ');
        nstring(out, e.raw(i));
    }
    out.push(b')');
}

fn params(out: &mut Vec<u8>, p: &[(String, String)], default_charset: bool) {
    let add_charset = default_charset && !p.iter().any(|(k, _)| k.eq_ignore_ascii_case("charset"));
    if p.is_empty() && !add_charset {
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
    if add_charset {
        if !p.is_empty() {
            out.push(b' ');
        }
        // RFC 2045 §5.2: the default charset of text.
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}

/// body-ext-1part / body-ext-mpart after the MD5 or the parameters: disposition, language,
/// location (RFC 3501 §7.4.2).
fn extension(out: &mut Vec<u8>, p: &Part) {
    out.push(b' ');
    match &p.disposition {
        Some((d, ps)) => {
            out.push(b'(');
            string(out, d.as_bytes());
            out.push(b' ');
            params(out, ps, false);
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
    nstring(out, p.location.as_deref().map(str::as_bytes));
}

/// BODYSTRUCTURE (`ext` true) or BODY (RFC 3501 §7.4.2).
pub fn body(out: &mut Vec<u8>, p: &Part, ext: bool) {
    out.push(b'(');
    match &p.kind {
        PartKind::Multipart(children) => {
            for c in children {
                body(out, c, ext);
            }
            if children.is_empty() {
                // body-type-mpart needs a part: an empty text/plain one.
                out.extend_from_slice(
                    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0",
                );
                out.extend_from_slice(if ext { b" NIL NIL NIL NIL)" } else { b")" });
            }
            out.push(b' ');
            string(out, p.subtype.as_bytes());
            if ext {
                out.push(b' ');
                params(out, &p.params, false);
                extension(out, p);
            }
        }
        kind => {
            let message = matches!(kind, PartKind::Message(..));
            if message {
                out.extend_from_slice(b"\"message\" \"rfc822\"");
            } else {
                string(out, p.content_type.as_bytes());
                out.push(b' ');
                string(out, p.subtype.as_bytes());
            }
            let text = !message && p.is_text();
            out.push(b' ');
            params(out, &p.params, text);
            for v in [&p.id, &p.description] {
                out.push(b' ');
                nstring(out, v.as_deref().map(str::as_bytes));
            }
            out.push(b' ');
            string(out, p.encoding.as_deref().unwrap_or("7bit").as_bytes());
            let size = p.body_end.saturating_sub(p.body_start);
            out.extend_from_slice(format!(" {size}").as_bytes());
            if let PartKind::Message(env, inner) = kind {
                out.push(b' ');
                envelope(out, env);
                out.push(b' ');
                body(out, inner, ext);
                out.extend_from_slice(format!(" {}", p.lines).as_bytes());
            } else if text {
                out.extend_from_slice(format!(" {}", p.lines).as_bytes());
            }
            if ext {
                out.push(b' ');
                nstring(out, p.md5.as_deref().map(str::as_bytes));
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
            name: name.map(|n| n.as_bytes().to_vec()),
            route: None,
            mailbox: Some(m.as_bytes().to_vec()),
            host: Some(h.as_bytes().to_vec()),
        }
    }

    #[test]
    fn addresses() {
        let p = |s: &str| parse_addresses(s.as_bytes());
        assert_eq!(p("a@b.c"), vec![a(None, "a", "b.c")]);
        assert_eq!(
            p("\"Doe, John\" <j@x.org>, bob@y"),
            vec![a(Some("Doe, John"), "j", "x.org"), a(None, "bob", "y")]
        );
        assert_eq!(p("alice@x (Alice)"), vec![a(Some("Alice"), "alice", "x")]);
        let g = p("friends: a@x, b@y;");
        assert_eq!(g.len(), 4);
        assert_eq!(g[0].mailbox.as_deref(), Some(&b"friends"[..]));
        assert_eq!(g[3], Address::default());
        assert_eq!(p("undisclosed-recipients:;").len(), 2);
        assert!(p("").is_empty());
        // RFC 5322 §4.4 obsolete route; a missing domain is named.
        let r = p("<@a.example,@b.example:u@c.example>");
        assert_eq!(r[0].route.as_deref(), Some(&b"@a.example,@b.example"[..]));
        assert_eq!(p("local")[0].host.as_deref(), Some(&b"MISSING_DOMAIN"[..]));
    }

    #[test]
    fn strings() {
        let s = |f: fn(&mut Vec<u8>, &[u8]), v: &str| {
            let mut o = Vec::new();
            f(&mut o, v.as_bytes());
            String::from_utf8(o).unwrap()
        };
        assert_eq!(s(string, "a \"b\""), "\"a \\\"b\\\"\"");
        assert_eq!(s(string, "\"\"\"\"\""), "{5}\r\n\"\"\"\"\"");
        assert_eq!(s(human, "plain words"), "\"plain words\"");
        assert_eq!(s(human, " a \n\t b "), "{3}\r\na b");
        assert_eq!(s(human, "   "), "\"\"");
    }
}

#[cfg(test)]
#[path = "bodystructure_tests.rs"]
mod dovecot_tests;
