//! IMAP commands: bytes of one complete command (literals inline) → [`Command`], the type the
//! handlers consume. No I/O. Returns [`ParseError::Incomplete`] when the input stops early,
//! whatever byte it is cut at, and [`ParseError::Syntax`] with a reason otherwise.
//!
//! Layout: `command_codec.rs` runs imap-codec (RFC 3501 §9 and most extensions) and converts
//! its `Command` into ours; `command_ext.rs` parses the extension grammar imap-codec lacks
//! (LIST-EXTENDED, CREATE parameters, SEARCH RETURN). This file: our types, [`parse`] (which
//! picks between the two), [`literal_suffix`] for the read loop, and the small byte cursor the
//! extension grammar uses.

use crate::search::SearchKey;
use auth::Secret;

/// A parsed command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub kind: Kind,
}

/// Sequence-set bound: a number or `*` (RFC 3501 §9 seq-number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Num(u32),
    Star,
}

/// RFC 3501 §9 sequence-set (numbers or UIDs depending on the command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(Bound, Bound)>);

impl SeqSet {
    /// The parts of the sorted inclusive `ranges` that are in the set (`*` meaning `max`),
    /// sorted and merged: how VANISHED (EARLIER) is limited to a client's UIDs without
    /// visiting every UID of a large range.
    pub fn intersect(&self, ranges: &[(u32, u32)], max: u32) -> Vec<(u32, u32)> {
        let v = |x| match x {
            Bound::Num(n) => n,
            Bound::Star => max,
        };
        let mut mine: Vec<(u32, u32)> = self
            .0
            .iter()
            .map(|&(a, b)| (v(a).min(v(b)), v(a).max(v(b))))
            .collect();
        mine.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &(a, b) in ranges {
            for &(c, d) in &mine {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo > hi {
                    continue;
                }
                match out.last_mut() {
                    Some((_, h)) if lo <= h.saturating_add(1) => *h = (*h).max(hi),
                    _ => out.push((lo, hi)),
                }
            }
        }
        out
    }

    /// Whether `n` is in the set, with `*` meaning `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let v = |x| match x {
                Bound::Num(n) => n,
                Bound::Star => max,
            };
            let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
            n >= lo && n <= hi
        })
    }
}

/// Section text of BODY[...] (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// One FETCH data item (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Flags,
    Uid,
    InternalDate,
    Rfc822Size,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    Envelope,
    Body,
    BodyStructure,
    ModSeq,
    Section {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 4978 COMPRESS DEFLATE.
    Compress,
    /// The password stays a [`Secret`] from the parser to the auth call (never printed).
    Login {
        user: String,
        pass: Secret<String>,
    },
    /// The initial response (RFC 4959) carries credentials: a [`Secret`] as well.
    Authenticate {
        mechanism: String,
        initial: Option<Secret<Vec<u8>>>,
    },
    Select {
        mailbox: String,
        read_only: bool,
        params: SelectParams,
    },
    /// CREATE with RFC 6154 §3 `USE (attrs)`.
    Create {
        mailbox: String,
        special_use: Vec<String>,
    },
    Delete(String),
    Rename(String, String),
    Subscribe(String),
    Unsubscribe(String),
    List {
        reference: String,
        /// One pattern, or several with RFC 5258 `("a" "b")`.
        patterns: Vec<String>,
        lsub: bool,
        opts: ListOpts,
    },
    Status {
        mailbox: String,
        items: Vec<String>,
    },
    Append {
        mailbox: String,
        flags: Vec<String>,
        date: Option<(i64, i16)>,
        message: Vec<u8>,
    },
    Namespace,
    Enable(Vec<String>),
    Id,
    Idle,
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<SeqSet>,
    },
    Search {
        uid: bool,
        key: SearchKey,
        /// RFC 4731 `RETURN (...)`: answer with ESEARCH.
        ret: Option<SearchReturn>,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        items: Vec<FetchAtt>,
        /// RFC 7162 §3.1.4.1 CHANGEDSINCE.
        changed_since: Option<u64>,
        /// RFC 7162 §3.2.6 VANISHED modifier.
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SeqSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
        /// RFC 7162 §3.1.3 UNCHANGEDSINCE.
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
        is_move: bool,
    },
    /// RFC 9208 §4.2.1.
    GetQuota(String),
    /// RFC 9208 §4.2.2.
    GetQuotaRoot(String),
    /// RFC 9208 §4.2.3 (refused: quotas are set by the administrator).
    SetQuota(String),
}

/// SELECT / EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<Qresync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])` (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SeqSet>,
    /// (known sequence set, matching UIDs): parsed, not needed (we keep every expunge).
    pub seq_match: Option<(SeqSet, SeqSet)>,
}

/// LIST-EXTENDED selection and return options (RFC 5258 §3, RFC 5819, RFC 6154 §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOpts {
    /// The extended syntax was used (select options, pattern list or RETURN).
    pub extended: bool,
    pub select_subscribed: bool,
    pub select_special_use: bool,
    pub recursive_match: bool,
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    /// RFC 5819 `RETURN (STATUS (items))`.
    pub return_status: Option<Vec<String>>,
}

/// RFC 4731 §3.1 search return options; none set means ALL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
}

impl Kind {
    /// Commands during which EXPUNGE must not be sent (RFC 3501 §7.4.1).
    pub fn forbids_expunge(&self) -> bool {
        matches!(
            self,
            Kind::Fetch { .. } | Kind::Store { .. } | Kind::Search { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More input is needed.
    Incomplete,
    /// Not valid: the tag (if one could be read) and why.
    Syntax { tag: Option<String>, reason: String },
}

/// A literal announced at the end of a line: `{n}` or `{n+}` (RFC 7888).
pub fn literal_suffix(line: &[u8]) -> Option<(u64, bool)> {
    let l = net::trim_eol(line);
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let inner = &l[open + 1..];
    let (digits, plus) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, plus))
}

/// Parses one complete command. On success returns it and the bytes consumed.
///
/// imap-codec parses first; where it fails, the few commands whose extension grammar it lacks
/// (LIST-EXTENDED, CREATE with parameters, SEARCH RETURN) go to our extension parser
/// (`command_ext.rs`). See the crate docs for the split.
pub fn parse(input: &[u8]) -> Result<(Command, usize), ParseError> {
    let mut p = Parser { s: input, pos: 0 };
    let tag = match p.tag() {
        Ok(t) => t,
        Err(Fail::Incomplete) => return Err(ParseError::Incomplete),
        Err(Fail::Syntax(reason)) => return Err(ParseError::Syntax { tag: None, reason }),
    };
    let incomplete = match command_codec::parse(input) {
        command_codec::Outcome::Parsed(cmd, used) => return Ok((cmd, used)),
        command_codec::Outcome::Invalid(tag, reason) => {
            return Err(ParseError::Syntax {
                tag: Some(tag),
                reason,
            })
        }
        command_codec::Outcome::Incomplete => true,
        command_codec::Outcome::Failed => false,
    };
    match command_ext::parse(input, &tag) {
        Some(Ok(done)) => return Ok(done),
        Some(Err(ParseError::Incomplete)) => return Err(ParseError::Incomplete),
        Some(Err(e)) if !incomplete => return Err(e),
        _ => {}
    }
    if incomplete {
        return Err(ParseError::Incomplete);
    }
    Err(ParseError::Syntax {
        reason: {
            let (name, name_end) = command_name(input, p.pos);
            command_codec::failure_reason(input, &name, name_end)
        },
        tag: Some(tag),
    })
}

/// The command name after the tag, upper case (`UID FETCH` etc. for UID commands), and
/// where it ends.
fn command_name(input: &[u8], tag_end: usize) -> (String, usize) {
    let word = |from: usize| -> (String, usize) {
        let rest = input.get(from..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
            .unwrap_or(rest.len());
        (
            String::from_utf8_lossy(&rest[..n]).to_ascii_uppercase(),
            from + n,
        )
    };
    let (name, end) = word(tag_end + 1);
    if name == "UID" && input.get(end) == Some(&b' ') {
        let (sub, end) = word(end + 1);
        return (format!("UID {sub}"), end);
    }
    (name, end)
}

enum Fail {
    Incomplete,
    Syntax(String),
}

type R<T> = Result<T, Fail>;

fn syn<T>(why: impl Into<String>) -> R<T> {
    Err(Fail::Syntax(why.into()))
}

/// Byte cursor for the tag and the extension grammar.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_atom_char(b: u8) -> bool {
    // RFC 3501 §9 ATOM-CHAR: not atom-specials.
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> R<u8> {
        self.s.get(self.pos).copied().ok_or(Fail::Incomplete)
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> R<()> {
        match self.peek()? {
            c if c == b => {
                self.pos += 1;
                Ok(())
            }
            c => syn(format!("expected '{}', got '{}'", b as char, c as char)),
        }
    }

    fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    fn crlf(&mut self) -> R<()> {
        self.eat(b'\r');
        match self.peek()? {
            b'\n' => {
                self.pos += 1;
                Ok(())
            }
            _ => syn("unexpected characters at end of command"),
        }
    }

    /// Whether the command has more arguments (next byte is a space).
    fn at_sp(&self) -> bool {
        self.s.get(self.pos) == Some(&b' ')
    }

    /// RFC 3501 §9 tag: ASTRING-CHAR except "+".
    fn tag(&mut self) -> R<String> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if !(is_atom_char(b) || b == b']') || b == b'+' {
                break;
            }
            self.pos += 1;
        }
        if self.pos == self.s.len() {
            return Err(Fail::Incomplete);
        }
        if self.pos == start {
            return syn("missing tag");
        }
        if !b" \r\n".contains(&self.s[self.pos]) {
            return syn("invalid tag");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    /// An atom, with extra allowed characters (`]` for flags etc.).
    fn atom_with(&mut self, extra: &[u8]) -> R<String> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if !(is_atom_char(b) || extra.contains(&b)) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == self.s.len() {
            return Err(Fail::Incomplete);
        }
        if self.pos == start {
            return syn("expected an atom");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn atom(&mut self) -> R<String> {
        self.atom_with(b"")
    }

    fn number(&mut self) -> R<u32> {
        let start = self.pos;
        while self.peek()?.is_ascii_digit() {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|d| d.parse().ok())
            .map_or_else(|| syn("expected a number"), Ok)
    }

    /// quoted / literal (RFC 3501 §9 string).
    fn string(&mut self) -> R<String> {
        let mut out = Vec::new();
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.pos += 1;
                            break;
                        }
                        b'\\' => {
                            self.pos += 1;
                            let c = self.peek()?;
                            if c != b'"' && c != b'\\' {
                                return syn("bad escape in quoted string");
                            }
                            out.push(c);
                            self.pos += 1;
                        }
                        b'\r' | b'\n' => return syn("CR/LF in quoted string"),
                        c => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let n = self.number()? as usize;
                self.eat(b'+');
                self.expect(b'}')?;
                self.eat(b'\r');
                self.expect(b'\n')?;
                if self.s.len() < self.pos.saturating_add(n) {
                    return Err(Fail::Incomplete);
                }
                out = self.s[self.pos..self.pos + n].to_vec();
                self.pos += n;
            }
            _ => return syn("expected a string"),
        }
        String::from_utf8(out).map_or_else(|_| syn("string is not UTF-8"), Ok)
    }

    /// RFC 3501 §9 astring.
    fn astring(&mut self) -> R<String> {
        match self.peek()? {
            b'"' | b'{' => self.string(),
            _ => self.atom_with(b"]"),
        }
    }

    /// A mailbox name, decoded from modified UTF-7 (RFC 3501 §5.1.3).
    fn mailbox(&mut self) -> R<String> {
        let raw = self.astring()?;
        if raw.eq_ignore_ascii_case("INBOX") {
            // RFC 3501 §5.1: INBOX is case-insensitive (spelled as imap-codec does).
            return Ok("INBOX".into());
        }
        crate::mutf7::decode(&raw)
            .map_or_else(|| syn("mailbox name is not valid modified UTF-7"), Ok)
    }

    /// list-mailbox: astring plus the wildcards.
    fn list_mailbox(&mut self) -> R<String> {
        let raw = match self.peek()? {
            b'"' | b'{' => self.string()?,
            _ => self.atom_with(b"%*]")?,
        };
        crate::mutf7::decode(&raw).map_or_else(|| syn("pattern is not valid modified UTF-7"), Ok)
    }

    /// `(flag flag ...)` or a single flag.
    fn flag_list(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        if self.eat(b'(') {
            if self.eat(b')') {
                return Ok(out);
            }
            loop {
                out.push(self.flag()?);
                if self.eat(b')') {
                    return Ok(out);
                }
                self.sp()?;
            }
        }
        loop {
            out.push(self.flag()?);
            if !self.at_sp() {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn flag(&mut self) -> R<String> {
        if self.eat(b'\\') {
            let a = self.atom()?;
            return Ok(format!("\\{a}"));
        }
        self.atom()
    }

    fn word(&mut self) -> R<String> {
        Ok(self.atom_with(b"")?.to_ascii_uppercase())
    }
}

#[path = "command_codec.rs"]
mod command_codec;
#[path = "command_ext.rs"]
mod command_ext;

#[cfg(test)]
#[path = "command_codec_tests.rs"]
mod codec_tests;
#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
