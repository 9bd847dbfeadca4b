//! The wire side of the differential test: a blocking IMAP client, a parser for the values
//! in its answers (enough to walk a BODYSTRUCTURE), and the diff printer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One IMAP connection with blocking I/O and a read deadline.
pub(crate) struct Imap {
    r: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    pub(crate) fn connect(port: u16) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut c = Imap {
            r: BufReader::new(s),
            tag: 0,
        };
        let greeting = c.response();
        assert!(greeting.starts_with(b"* OK"), "{}", show(&greeting));
        c
    }

    /// One response line with its literals (the bytes exactly as sent, CRLFs included).
    pub(crate) fn response(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            self.r.read_until(b'\n', &mut out).expect("read");
            assert!(out.len() > start, "connection closed");
            let line = &out[start..];
            let Some(n) = literal_len(line) else {
                return out;
            };
            let at = out.len();
            out.resize(at + n, 0);
            self.r.read_exact(&mut out[at..]).expect("literal");
        }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).expect("write");
    }

    /// Runs a command; returns the untagged responses and the tagged one.
    pub(crate) fn run(&mut self, cmd: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.send(format!("{tag} {cmd}\r\n").as_bytes());
        self.until(&tag)
    }

    pub(crate) fn until(&mut self, tag: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut untagged = Vec::new();
        loop {
            let r = self.response();
            if r.starts_with(format!("{tag} ").as_bytes()) {
                return (untagged, r);
            }
            untagged.push(r);
        }
    }

    pub(crate) fn ok(&mut self, cmd: &str) -> Vec<Vec<u8>> {
        let (u, t) = self.run(cmd);
        assert!(
            t.split(|&b| b == b' ').nth(1) == Some(b"OK"),
            "{cmd}: {}",
            show(&t)
        );
        u
    }

    /// APPENDs `msg` with INTERNALDATE `date` (the same on both servers, so SORT (ARRIVAL)
    /// and the DATE fallback compare equal).
    pub(crate) fn append(&mut self, msg: &[u8], date: &str) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.send(format!("{tag} APPEND INBOX \"{date}\" {{{}}}\r\n", msg.len()).as_bytes());
        let cont = self.response();
        assert!(cont.starts_with(b"+"), "APPEND: {}", show(&cont));
        self.send(msg);
        self.send(b"\r\n");
        let (_, t) = self.until(&tag);
        assert!(
            t.starts_with(format!("{tag} OK").as_bytes()),
            "{}",
            show(&t)
        );
    }
}

pub(crate) fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

/// Bytes for a diff line: printable ASCII as is, the rest escaped.
pub(crate) fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// The first difference with some context on each side.
pub(crate) fn diff(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let from = at.saturating_sub(60);
    let cut = |s: &[u8]| show(&s[from.min(s.len())..(at + 100).min(s.len())]);
    format!(
        "    at byte {at}\n    dovecot: …{}\n    ours:    …{}",
        cut(a),
        cut(b)
    )
}

/// A parsed IMAP value, enough to walk a BODYSTRUCTURE.
#[derive(Debug)]
pub(crate) enum Val {
    Atom(Vec<u8>),
    Str(Vec<u8>),
    List(Vec<Val>),
}

pub(crate) fn parse_val(s: &[u8], i: &mut usize) -> Val {
    while s.get(*i) == Some(&b' ') {
        *i += 1;
    }
    match s.get(*i) {
        Some(b'(') => {
            *i += 1;
            let mut items = Vec::new();
            loop {
                while s.get(*i) == Some(&b' ') {
                    *i += 1;
                }
                if s.get(*i).is_none_or(|&b| b == b')') {
                    *i += 1;
                    return Val::List(items);
                }
                items.push(parse_val(s, i));
            }
        }
        Some(b'"') => {
            *i += 1;
            let mut out = Vec::new();
            while let Some(&b) = s.get(*i) {
                *i += 1;
                match b {
                    b'\\' => {
                        out.extend(s.get(*i));
                        *i += 1;
                    }
                    b'"' => break,
                    _ => out.push(b),
                }
            }
            Val::Str(out)
        }
        Some(b'{') => {
            let close = *i + s[*i..].iter().position(|&b| b == b'}').expect("literal");
            let n: usize = std::str::from_utf8(&s[*i + 1..close])
                .expect("utf8")
                .parse()
                .expect("literal length");
            let start = close + 3;
            *i = start + n;
            Val::Str(s[start..start + n].to_vec())
        }
        _ => {
            let start = *i;
            while s.get(*i).is_some_and(|&b| !b" ()".contains(&b)) {
                *i += 1;
            }
            Val::Atom(s[start..*i].to_vec())
        }
    }
}

pub(crate) fn text(v: &Val) -> String {
    match v {
        Val::Str(s) | Val::Atom(s) => String::from_utf8_lossy(s).to_ascii_lowercase(),
        Val::List(_) => String::new(),
    }
}

/// Every part's path, whether it is a message/rfc822, and whether it is a leaf (neither
/// multipart nor message).
pub(crate) fn part_paths(body: &Val, prefix: &str, out: &mut Vec<(String, bool, bool)>) {
    let Val::List(items) = body else { return };
    let child = |n: usize| {
        if prefix.is_empty() {
            n.to_string()
        } else {
            format!("{prefix}.{n}")
        }
    };
    if matches!(items.first(), Some(Val::List(_))) {
        for (i, c) in items
            .iter()
            .take_while(|v| matches!(v, Val::List(_)))
            .enumerate()
        {
            out.push((child(i + 1), is_message(c), is_leaf(c)));
            part_paths(c, &child(i + 1), out);
        }
    } else if is_message(body) {
        // The encapsulated message's parts, numbered under this part.
        if let Some(inner @ Val::List(inner_items)) = items.get(8) {
            if matches!(inner_items.first(), Some(Val::List(_))) {
                part_paths(inner, prefix, out);
            } else {
                out.push((child(1), is_message(inner), is_leaf(inner)));
                part_paths(inner, &child(1), out);
            }
        }
    } else if prefix.is_empty() {
        out.push(("1".into(), false, true));
    }
}

pub(crate) fn is_leaf(v: &Val) -> bool {
    let Val::List(items) = v else { return false };
    !matches!(items.first(), Some(Val::List(_))) && !is_message(v)
}

pub(crate) fn is_message(v: &Val) -> bool {
    let Val::List(items) = v else { return false };
    items.len() > 8 && text(&items[0]) == "message" && text(&items[1]) == "rfc822"
}
