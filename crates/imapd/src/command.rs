//! IMAP commands: bytes of one complete command (literals inline) → [`Command`], the type the
//! handlers consume. No I/O. Returns [`ParseError::Incomplete`] when the input stops early,
//! whatever byte it is cut at, and [`ParseError::Syntax`] or [`ParseError::Unknown`] with a
//! reason otherwise.
//!
//! Layout: `command_codec.rs` runs imap-codec (RFC 3501 §9 and most extensions) and converts
//! its `Command` into ours; `command_ext.rs` parses the extension grammar imap-codec lacks
//! (LIST-EXTENDED and XLIST, CREATE parameters, SEARCH RETURN, STATUS items of RFC 7889 and
//! RFC 9208); `command_append.rs` the APPENDs of RFC 3502 and RFC 4469; `command_preview.rs`
//! FETCH PREVIEW (RFC 8970); `command_cursor.rs` is the byte cursor that grammar uses;
//! `command_failure.rs` says where a command failed and whether it is a syntax error or a well-formed command we
//! do not know ([`well_formed`]). This file: our types, [`parse`] (which picks between the
//! parsers), [`literal_suffix`] for the read loop.

use crate::response::Code;
use crate::search::SearchKey;
use auth::Secret;
use store::{ModSeq, Uid, UidValidity};

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
    /// The parts of the sorted inclusive UID `ranges` that are in the set (`*` meaning
    /// `max`), sorted and merged: how VANISHED (EARLIER) is limited to a client's UIDs
    /// without visiting every UID of a large range.
    pub fn intersect(&self, ranges: &[(Uid, Uid)], max: Uid) -> Vec<(Uid, Uid)> {
        let v = |x| match x {
            Bound::Num(n) => Uid::new(n),
            Bound::Star => max,
        };
        let mut mine: Vec<(Uid, Uid)> = self
            .0
            .iter()
            .map(|&(a, b)| (v(a).min(v(b)), v(a).max(v(b))))
            .collect();
        mine.sort_unstable();
        let mut out: Vec<(Uid, Uid)> = Vec::new();
        for &(a, b) in ranges {
            for &(c, d) in &mine {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo > hi {
                    continue;
                }
                match out.last_mut() {
                    Some((_, h)) if lo <= h.next() => *h = (*h).max(hi),
                    _ => out.push((lo, hi)),
                }
            }
        }
        out
    }

    /// Whether `n` is in the set, with `*` meaning `max`: both UIDs (a UID set) or both
    /// sequence numbers, never one of each.
    pub fn contains<N: Copy + Into<u32>>(&self, n: N, max: N) -> bool {
        let (n, max): (u32, u32) = (n.into(), max.into());
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
    /// RFC 3516 §4.2 BINARY[part]<partial>: the part with its Content-Transfer-Encoding
    /// undone.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// RFC 3516 §4.2 BINARY.SIZE[part]: the size of that decoded content.
    BinarySize {
        part: Vec<u32>,
    },
    /// RFC 8970 §3.1 PREVIEW, with the LAZY modifier (computed all the same: RFC 8970 §3.1
    /// lets a server answer LAZY with the text when it can).
    Preview {
        lazy: bool,
    },
    /// RFC 8514 §4.2 SAVEDATE: when the message was put into this mailbox.
    SaveDate,
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
    /// APPEND: one message, or several with RFC 3502 MULTIAPPEND (never empty).
    Append {
        mailbox: String,
        messages: Vec<AppendMsg>,
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
    /// RFC 5256 §3 SORT (and RFC 5957 SORT=DISPLAY keys).
    Sort {
        uid: bool,
        keys: Vec<crate::sort::Key>,
        key: SearchKey,
        /// RFC 5267 §3 ESORT `RETURN (...)`: answer with ESEARCH.
        ret: Option<SearchReturn>,
    },
    /// RFC 5256 §3 THREAD.
    Thread {
        uid: bool,
        algorithm: crate::thread::Algorithm,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        items: Vec<FetchAtt>,
        /// RFC 7162 §3.1.4.1 CHANGEDSINCE.
        changed_since: Option<ModSeq>,
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
        unchanged_since: Option<ModSeq>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
        is_move: bool,
    },
    /// RFC 5267 §4.3 CANCELUPDATE: the tags of the searches whose updates stop.
    CancelUpdate(Vec<String>),
    /// RFC 9208 §4.2.1.
    GetQuota(String),
    /// RFC 9208 §4.2.2.
    GetQuotaRoot(String),
    /// RFC 9208 §4.2.3 (refused: quotas are set by the administrator).
    SetQuota(String),
    /// A well-formed command that can only fail, answered NO (not BAD) once the session's
    /// state allows the command: a mailbox name that is not modified UTF-7 (RFC 3501
    /// §5.1.3), a SEARCH charset we do not have (RFC 3501 §6.4.4).
    Refused {
        code: Option<Code>,
        text: String,
        /// The command is valid only in the selected state (SEARCH, COPY, MOVE).
        selected_only: bool,
        /// A SEARCH with RETURN (SAVE): failing, it empties the saved result (RFC 5182 §2.1).
        clears_saved: bool,
    },
}

/// One message of an APPEND (RFC 3501 §6.3.11; RFC 3502 §6.3.11 repeats these per message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMsg {
    pub flags: Vec<String>,
    pub date: Option<(i64, i16)>,
    /// The literal; empty for a CATENATE message until its parts are put together.
    pub message: Vec<u8>,
    /// RFC 4469 §5 `CATENATE (...)`: the parts the message is made of, in order.
    pub catenate: Option<Vec<CatPart>>,
}

/// One part of a CATENATE message (RFC 4469 §5 cat-part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: these octets.
    Text(Vec<u8>),
    /// `URL astring`: an IMAP URL (RFC 5092) naming a message or a part of one.
    Url(String),
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
    pub uidvalidity: UidValidity,
    pub modseq: ModSeq,
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

/// The STATUS items we answer (RFC 3501 §6.3.10, RFC 8438 §3 SIZE, RFC 7162 §3.1.7
/// HIGHESTMODSEQ, RFC 9051 §6.3.11 / RFC 9208 §4.1.4 DELETED and DELETED-STORAGE, RFC 7889
/// §3 APPENDLIMIT).
pub const STATUS_ITEMS: &[&str] = &[
    "MESSAGES",
    "RECENT",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "SIZE",
    "HIGHESTMODSEQ",
    "DELETED",
    "DELETED-STORAGE",
    "APPENDLIMIT",
];

/// The answer to a command naming a mailbox that is not modified UTF-7 (RFC 3501 §5.1.3):
/// NO [CANNOT] (RFC 5530 §3: such a name can never exist), as Dovecot answers NO.
fn invalid_name() -> (Option<Code>, String) {
    (
        Some(Code::Cannot),
        // Response text is 7-bit (RFC 3501 §9 TEXT-CHAR): no "§" here.
        "invalid mailbox name: not modified UTF-7".into(),
    )
}

/// RFC 4731 §3.1 search return options; none set means ALL (SAVE alone: nothing returned).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// RFC 5182 §2.1 SAVE: keep the result for `$`.
    pub save: bool,
    /// RFC 5267 §4.4 PARTIAL low:high (1-based positions in the result, low <= high).
    pub partial: Option<(u32, u32)>,
    /// RFC 5267 §4.2 UPDATE: keep the search and tell the client how its result changes.
    pub update: bool,
}

impl SearchReturn {
    /// Whether an option that returns data is set (SAVE alone returns nothing).
    pub fn returns_any(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some()
    }
}

impl Kind {
    /// Commands during which EXPUNGE must not be sent (RFC 3501 §7.4.1).
    pub fn forbids_expunge(&self) -> bool {
        matches!(
            self,
            Kind::Fetch { .. }
                | Kind::Store { .. }
                | Kind::Search { .. }
                | Kind::Sort { .. }
                | Kind::Thread { .. }
                | Kind::Refused {
                    selected_only: true,
                    ..
                }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More input is needed.
    Incomplete,
    /// Not valid: the tag (if one could be read) and why.
    Syntax { tag: Option<String>, reason: String },
    /// Well formed (a tag, a command name, balanced arguments: [`well_formed`]) but a command,
    /// key, item or option we do not serve, such as an extension we do not advertise. Still
    /// BAD (RFC 3501 §7.1.3), but a client probing for extensions is not sending garbage.
    Unknown { tag: String, reason: String },
}

impl ParseError {
    /// Strikes toward the disconnect limit (`session::MAX_BAD` syntax errors in a row): a
    /// syntax error counts 2, a well-formed command we do not know 1.
    pub fn strikes(&self) -> u32 {
        match self {
            ParseError::Unknown { .. } => 1,
            ParseError::Incomplete | ParseError::Syntax { .. } => 2,
        }
    }
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
        Err(Fail::Syntax(reason) | Fail::Unknown(reason)) => {
            return Err(ParseError::Syntax { tag: None, reason })
        }
    };
    let incomplete = match command_codec::parse(input) {
        command_codec::Outcome::Parsed(cmd, used) => return Ok((cmd, used)),
        command_codec::Outcome::Invalid(e) => return Err(e),
        command_codec::Outcome::Incomplete => true,
        command_codec::Outcome::Failed => false,
    };
    // RFC 8970 §3.1 FETCH PREVIEW and RFC 8514 §4.2 FETCH SAVEDATE, which imap-codec does
    // not know: cut out, parsed again.
    match command_preview::rewrite(input, &command_name(input, p.pos).0) {
        command_preview::Rewrite::Done { bytes, cut } => {
            let (mut cmd, used) = parse(&bytes)?;
            if let Kind::Fetch { items, .. } = &mut cmd.kind {
                if cut.alone {
                    items.clear();
                }
                if let Some(lazy) = cut.preview {
                    items.push(FetchAtt::Preview { lazy });
                }
                if cut.savedate {
                    items.push(FetchAtt::SaveDate);
                }
            }
            return Ok((cmd, used + input.len() - bytes.len()));
        }
        command_preview::Rewrite::Incomplete => return Err(ParseError::Incomplete),
        command_preview::Rewrite::Bad(reason) => {
            return Err(ParseError::Syntax {
                tag: Some(tag),
                reason,
            })
        }
        command_preview::Rewrite::None => {}
    }
    // RFC 8514 §4.3: SAVEDBEFORE / SAVEDON / SAVEDSINCE / SAVEDATESUPPORTED.
    match command_savedate::rewrite(input, &command_name(input, p.pos).0) {
        command_savedate::Rewrite::Done(bytes) => {
            let (mut cmd, used) = parse(&bytes)?;
            if let Kind::Search { key, .. } | Kind::Sort { key, .. } | Kind::Thread { key, .. } =
                &mut cmd.kind
            {
                command_savedate::restore(key);
            }
            return Ok((cmd, (used + input.len()).saturating_sub(bytes.len())));
        }
        command_savedate::Rewrite::Incomplete => return Err(ParseError::Incomplete),
        command_savedate::Rewrite::None => {}
    }
    // RFC 5182 §3: `$` as a sequence set, which imap-codec does not know.
    match command_saved::rewrite(input, &command_name(input, p.pos).0) {
        command_saved::Rewrite::Done(bytes, end) => {
            return command_saved::parse_rewritten(&bytes, end)
        }
        command_saved::Rewrite::Incomplete if !incomplete => return Err(ParseError::Incomplete),
        _ => {}
    }
    match command_ext::parse(input, &tag) {
        Some(Ok(done)) => return Ok(done),
        Some(Err(ParseError::Incomplete)) => return Err(ParseError::Incomplete),
        Some(Err(e)) if !incomplete => return Err(e),
        _ => {}
    }
    if incomplete {
        return Err(ParseError::Incomplete);
    }
    let (name, name_end) = command_name(input, p.pos);
    Err(failed(input, tag, &name, name_end))
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

#[path = "command_failure.rs"]
mod command_failure;
use command_failure::failed;
pub use command_failure::well_formed;
#[path = "command_cursor.rs"]
mod command_cursor;
use command_cursor::{Fail, Parser};
#[path = "command_append.rs"]
mod command_append;
#[path = "command_codec.rs"]
mod command_codec;
#[path = "command_ext.rs"]
mod command_ext;
#[path = "command_preview.rs"]
mod command_preview;
#[path = "command_saved.rs"]
mod command_saved;
#[path = "command_savedate.rs"]
mod command_savedate;
#[path = "command_search.rs"]
mod command_search;

#[cfg(test)]
#[path = "command_codec_tests.rs"]
mod codec_tests;
#[cfg(test)]
#[path = "command_ext_tests.rs"]
mod ext_tests;
#[cfg(test)]
#[path = "command_failure_tests.rs"]
mod failure_tests;
#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
