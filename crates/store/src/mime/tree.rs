//! The part tree: header blocks, multipart boundaries (RFC 2046 §5.1), message/rfc822
//! (§5.2.1) and multipart/digest defaults (§5.1.5), with the recovery rules described in the
//! parent module.

use super::rfc822::{Lexer, Params, Step};
use super::{envelope, fields, text, text_params, Part, PartKind, MAX_DEPTH, MAX_PARTS};

/// What the enclosing part makes of a child.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    None,
    Multipart { digest: bool },
    Message,
}

/// Content-* of one header block (first occurrence of each wins).
#[derive(Default)]
struct Mime {
    is_mime: bool,
    ctype: Option<(Vec<u8>, Option<Vec<u8>>, Params)>,
    id: Option<Vec<u8>>,
    description: Option<Vec<u8>>,
    encoding: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    disposition: Option<(Vec<u8>, Params)>,
    language: Option<Vec<Vec<u8>>>,
    location: Option<Vec<u8>>,
}

impl Mime {
    fn header(&mut self, name: &[u8], v: &[u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("MIME-Version") {
            self.is_mime = true;
        }
        if is("Content-Type") {
            self.is_mime = true;
            if self.ctype.is_none() {
                let mut l = Lexer::new(v);
                let mut t = Vec::new();
                let ok = l.content_type(&mut t) != Step::Err;
                let (ty, sub) = match t.iter().position(|&b| b == b'/') {
                    Some(s) => (t[..s].to_vec(), Some(t[s + 1..].to_vec())),
                    None => (t, None),
                };
                let params = if ok { l.params() } else { Vec::new() };
                self.ctype = Some((ty, sub, params));
            }
        } else if is("Content-Transfer-Encoding") && self.encoding.is_none() {
            let mut l = Lexer::new(v);
            let mut t = Vec::new();
            if l.skip_cfws() != Step::Err
                && l.mime_token(&mut t) != Step::Err
                && l.skip_cfws() == Step::End
                && !t.is_empty()
            {
                self.encoding = Some(t);
            }
        } else if is("Content-Disposition")
            && self.disposition.as_ref().is_none_or(|d| d.1.is_empty())
        {
            let mut l = Lexer::new(v);
            let mut t = Vec::new();
            if l.skip_cfws() != Step::Err && l.mime_token(&mut t) != Step::Err {
                self.disposition = Some((t, l.params()));
            }
        } else if is("Content-Language") && self.language.is_none() {
            let mut l = Lexer::new(v);
            let mut langs = Vec::new();
            l.skip_cfws();
            loop {
                let mut t = Vec::new();
                if l.atom(&mut t) == Step::Err {
                    break;
                }
                langs.push(t);
                if !l.at(b',') {
                    break;
                }
                l.pos += 1;
                l.skip_cfws();
            }
            if !langs.is_empty() {
                self.language = Some(langs);
            }
        } else {
            for (n, slot) in [
                ("Content-ID", &mut self.id),
                ("Content-Description", &mut self.description),
                ("Content-MD5", &mut self.md5),
                ("Content-Location", &mut self.location),
            ] {
                if is(n) && slot.is_none() {
                    *slot = Some(v.to_vec());
                }
            }
        }
    }
}

pub(super) struct Parser<'a> {
    raw: &'a [u8],
    /// Active multipart boundaries, innermost last: (boundary, depth of its multipart).
    boundaries: Vec<(Vec<u8>, usize)>,
    parts: usize,
}

/// Where a part stopped: at a boundary line of an enclosing multipart (at `line`, owned by
/// the multipart at `depth`, closing it when `close`), or at the end of the message.
#[derive(Clone, Copy)]
pub(super) enum Stop {
    Boundary {
        line: usize,
        depth: usize,
        close: bool,
        /// The newline before `line` ended a header cut short by the boundary: it belongs to
        /// the enclosing parts, which end at `line`.
        to_parent: bool,
    },
    Eof,
}

impl<'a> Parser<'a> {
    pub(super) fn new(raw: &'a [u8]) -> Self {
        Parser {
            raw,
            boundaries: Vec::new(),
            parts: 0,
        }
    }

    /// The active boundary a line at `at` starts (RFC 2046 §5.1.1 "--" boundary, matched as a
    /// prefix; the longest, then the innermost, wins).
    fn boundary_at(&self, at: usize) -> Option<(usize, bool)> {
        if self.boundaries.is_empty() {
            return None;
        }
        let line = self.raw.get(at..)?.strip_prefix(b"--")?;
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let mut best: Option<usize> = None;
        for (i, (b, _)) in self.boundaries.iter().enumerate().rev() {
            if line.starts_with(b) && best.is_none_or(|j| self.boundaries[j].0.len() < b.len()) {
                best = Some(i);
            }
        }
        let i = best?;
        let close = line[self.boundaries[i].0.len()..].starts_with(b"--");
        Some((i, close))
    }

    /// Scans lines from `from` for a boundary line. `first` is true when `from` starts a line
    /// with no newline before it that would belong to the boundary.
    fn scan(&self, from: usize, first: bool) -> (usize, Stop) {
        let mut at = from;
        let mut first = first;
        loop {
            {
                if let Some((i, close)) = self.boundary_at(at) {
                    let end = if first {
                        at
                    } else {
                        at - newline_before(self.raw, at)
                    };
                    let depth = self.boundaries[i].1;
                    let stop = Stop::Boundary {
                        line: at,
                        depth,
                        close,
                        to_parent: false,
                    };
                    return (end, stop);
                }
            }
            match self.raw[at.min(self.raw.len())..]
                .iter()
                .position(|&b| b == b'\n')
            {
                Some(p) => at += p + 1,
                None => return (self.raw.len(), Stop::Eof),
            }
            first = false;
        }
    }

    /// Offset after the line at `at`.
    fn next_line(&self, at: usize) -> usize {
        match self.raw[at.min(self.raw.len())..]
            .iter()
            .position(|&b| b == b'\n')
        {
            Some(p) => at + p + 1,
            None => self.raw.len(),
        }
    }

    /// Parses the part whose header starts at `start`, `depth` containers deep. Returns the
    /// part and where it stopped.
    pub(super) fn part(
        &mut self,
        start: usize,
        depth: usize,
        container: Container,
    ) -> (Part, Stop) {
        self.parts += 1;
        let raw = self.raw;
        // Header block: up to the empty line, the end, or a boundary line of an enclosing
        // multipart (then the newline before that line belongs to the boundary).
        let mut at = start;
        let (mut cut, mut blank) = (None, None);
        while at < raw.len() {
            if let Some((i, close)) = self.boundary_at(at) {
                let nl = if at > start {
                    newline_before(raw, at)
                } else {
                    0
                };
                let depth = self.boundaries[i].1;
                let stop = Stop::Boundary {
                    line: at,
                    depth,
                    close,
                    to_parent: nl > 0,
                };
                cut = Some((at - nl, stop));
                break;
            }
            let next = self.next_line(at);
            let line = &raw[at..next];
            if line == b"\n" || line == b"\r\n" {
                blank = Some(at);
                at = next;
                break;
            }
            at = next;
        }
        let mut mime = Mime {
            is_mime: matches!(container, Container::Multipart { .. }),
            ..Mime::default()
        };
        for f in fields(&raw[start..cut.map_or(at, |(c, _)| c)]) {
            if f.name.len() >= 8 && f.name[..8].eq_ignore_ascii_case(b"Content-")
                || f.name.eq_ignore_ascii_case(b"MIME-Version")
            {
                mime.header(f.name, &f.value);
            }
        }
        if !mime.is_mime {
            mime = Mime::default();
        }
        let (ty, sub) = match &mime.ctype {
            Some((t, s, _)) => (
                t.to_ascii_lowercase(),
                s.as_deref().map(<[u8]>::to_ascii_lowercase),
            ),
            None => (Vec::new(), None),
        };
        let digest_default =
            mime.ctype.is_none() && container == (Container::Multipart { digest: true });
        let deep = depth >= MAX_DEPTH || self.parts >= MAX_PARTS;
        let is_message = !deep
            && (digest_default || (ty == b"message" && sub.as_deref() == Some(&b"rfc822"[..])));
        let is_multi = !deep && ty == b"multipart" && sub.is_some();
        let digest = sub.as_deref() == Some(&b"digest"[..]);
        let boundary = mime.ctype.as_ref().and_then(|(_, _, p)| {
            p.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
                .map(|(_, v)| v.clone())
        });
        if let (None, Some(blank)) = (cut, blank) {
            // An empty line right before a boundary line of an enclosing multipart is that
            // boundary's [CR]LF: the header ends without it and the body is empty. (A
            // multipart's own boundary, already known here, is not such a line.)
            let own = is_multi.then(|| boundary.clone()).flatten();
            let n = self.boundaries.len();
            if let Some(b) = own {
                self.boundaries.push((b, depth));
            }
            let found = self.boundary_at(at).filter(|(i, _)| *i < n);
            self.boundaries.truncate(n);
            if let Some((i, close)) = found {
                let stop = Stop::Boundary {
                    line: at,
                    depth: self.boundaries[i].1,
                    close,
                    to_parent: false,
                };
                cut = Some((blank, stop));
            }
        }
        let body_start = cut.map_or(at, |(c, _)| c);

        let (kind, body_end, stop) = if let Some((end, stop)) = cut {
            // Header cut short by a boundary: empty body.
            let kind = if is_multi {
                PartKind::Multipart(Vec::new())
            } else if is_message {
                let inner = empty_part(end);
                PartKind::Message(Box::default(), Box::new(inner))
            } else {
                PartKind::Leaf
            };
            (kind, end, stop)
        } else if is_multi {
            let pushed = boundary.is_some();
            if let Some(b) = boundary {
                self.boundaries.push((b, depth));
            }
            let mut children = Vec::new();
            // The preamble, then parts until the closing boundary, then the epilogue.
            let (mut end, mut stop) = self.scan(body_start, true);
            loop {
                match stop {
                    Stop::Boundary {
                        line,
                        depth: d,
                        close,
                        ..
                    } if d == depth => {
                        let after = self.next_line(line);
                        if close {
                            self.boundaries.retain(|(_, d)| *d < depth);
                            (end, stop) = self.scan(after, true);
                            break;
                        }
                        if self.parts >= MAX_PARTS {
                            // Too many parts: the rest of the message is this part's body.
                            self.boundaries.clear();
                            (end, stop) = (raw.len(), Stop::Eof);
                            break;
                        }
                        let (child, cstop) =
                            self.part(after, depth + 1, Container::Multipart { digest });
                        end = parent_end(&child, cstop);
                        stop = cstop;
                        children.push(child);
                    }
                    _ => break,
                }
            }
            if pushed {
                // RFC 2046 §5.1.2: an outer boundary also ends the parts inside.
                self.boundaries.retain(|(_, d)| *d < depth);
            }
            (PartKind::Multipart(children), end, stop)
        } else if is_message {
            let (inner, stop) = self.part(body_start, depth + 1, Container::Message);
            let env = envelope(raw, inner.header_start as usize, inner.body_start as usize);
            let end = parent_end(&inner, stop);
            (PartKind::Message(Box::new(env), Box::new(inner)), end, stop)
        } else {
            let (end, stop) = self.scan(body_start, true);
            (PartKind::Leaf, end, stop)
        };
        let s = |b: Option<Vec<u8>>| b.map(|v| text(&v));
        let (content_type, subtype, params) = match mime.ctype {
            Some((t, Some(s), p)) => (text(&t), text(&s), text_params(p)),
            // Unreadable Content-Type: what could be read, no subtype.
            Some((t, None, p)) => (text(&t), String::new(), text_params(p)),
            None => ("text".into(), "plain".into(), Vec::new()),
        };
        let body = raw.get(body_start..body_end).unwrap_or_default();
        let part = Part {
            header_start: offset(start),
            body_start: offset(body_start),
            body_end: offset(body_end),
            content_type,
            subtype,
            params,
            id: s(mime.id),
            description: s(mime.description),
            encoding: s(mime.encoding),
            md5: s(mime.md5),
            disposition: mime.disposition.map(|(d, p)| (text(&d), text_params(p))),
            language: mime
                .language
                .unwrap_or_default()
                .iter()
                .map(|l| text(l))
                .collect(),
            location: s(mime.location),
            lines: offset(body.iter().filter(|&&b| b == b'\n').count()),
            kind,
        };
        (part, stop)
    }
}

/// Where the part containing `child` ends when `child` stopped at `stop`.
fn parent_end(child: &Part, stop: Stop) -> usize {
    match stop {
        Stop::Boundary {
            line,
            to_parent: true,
            ..
        } => line,
        _ => child.body_end as usize,
    }
}

/// Length of the [CR]LF that ends just before `at`.
fn newline_before(raw: &[u8], at: usize) -> usize {
    match (
        at.checked_sub(2).map(|i| raw[i]),
        at.checked_sub(1).map(|i| raw[i]),
    ) {
        (Some(b'\r'), Some(b'\n')) => 2,
        (_, Some(b'\n')) => 1,
        _ => 0,
    }
}

/// An offset or count as the structure stores it (u32; a message is far below 4 GiB, and
/// one that is not gets offsets that stop at the end of the range rather than wrap).
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn empty_part(at: usize) -> Part {
    Part {
        header_start: offset(at),
        body_start: offset(at),
        body_end: offset(at),
        content_type: "text".into(),
        subtype: "plain".into(),
        params: Vec::new(),
        id: None,
        description: None,
        encoding: None,
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        lines: 0,
        kind: PartKind::Leaf,
    }
}
