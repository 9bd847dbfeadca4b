//! What every session of a stress run shares: the error kinds (with the first failing exchange
//! of each), the operation counters, and the registry of facts the server has stated about
//! each UID (immutable data, the bytes it was given, expunges, flag changes in flight).
//!
//! The registry holds only what some session was told by the server (or sent to it: the bytes
//! of an APPEND), so a check against it is a check of the server against itself.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::parse::Val;

macro_rules! kinds {
    ($($name:ident = $label:literal : $what:literal,)*) => {
        /// One kind of violation; the report groups errors by kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Kind { $($name,)* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$name,)*];

            pub fn label(self) -> &'static str {
                match self { $(Kind::$name => $label,)* }
            }
            /// What the check is and which requirement it enforces.
            pub fn what(self) -> &'static str {
                match self { $(Kind::$name => $what,)* }
            }
        }
    };
}

kinds! {
    FlagsRegressed = "flags-regressed":
        "a FETCH carried a flag state older than one this session was already given in reply to its own STORE, and no STORE by any session could have undone it (ARCHITECTURE: nothing a session is told goes back in time)",
    ModseqBackwards = "modseq-backwards":
        "MODSEQ of a UID lower than one already reported to the session (RFC 7162 §3.1: mod-sequences only grow)",
    ModseqFlagsDiffer = "modseq-flags-differ":
        "the same MODSEQ reported twice for a UID with different FLAGS (RFC 7162 §3.1.1: every flag change gets a new mod-sequence)",
    CondstoreIncomplete = "condstore-fetch-incomplete":
        "after CONDSTORE was enabled, a FETCH carrying FLAGS without MODSEQ, or without UID (RFC 7162 §3.1)",
    FetchMissing = "fetch-ok-missing-items":
        "tagged OK but a message of the set did not get every requested item (RFC 3501 §6.4.5; RFC 2180 §4.1.1 says return the data, §4.1.2 allows a tagged NO); with CHANGEDSINCE m, a message the session knows with a MODSEQ above m was not answered (RFC 7162 §3.1.4.1)",
    CondstoreInvalid = "condstore-invalid":
        "MODIFIED naming a message outside the STORE's set (RFC 7162 §3.1.3)",
    UnannouncedFlag = "flag-not-announced":
        "a FETCH carried a flag or keyword not in the session's last FLAGS response (RFC 3501 §7.2.6)",
    ImmutableChanged = "immutable-changed":
        "a UID's ENVELOPE, BODYSTRUCTURE, BODY[...], RFC822.SIZE or INTERNALDATE differs from what the server reported before (RFC 3501 §2.3.1.1: a UID names one message; its content never changes)",
    ContentMismatch = "content-mismatch":
        "BODY[]/HEADER/TEXT/RFC822.SIZE differs from the bytes that were APPENDed or from the COPY source, or RFC822.SIZE differs from the length of BODY[] (RFC 3501 §6.3.11, §6.4.7, §7.4.2)",
    SeqOutOfRange = "seq-out-of-range":
        "EXPUNGE, FETCH or SEARCH named a message number beyond the messages the session was told about (RFC 3501 §7.4.1, §7.4.2)",
    ExistsDecreased = "exists-decreased":
        "EXISTS reported fewer messages than the session knows of; only EXPUNGE/VANISHED remove messages (RFC 3501 §7.3.1, §7.4.1)",
    UidInconsistent = "uid-inconsistent":
        "a message number's UID changed, UIDs not ascending with message numbers, a new message with a UID below UIDNEXT, or an expunged UID back in a later SELECT (RFC 3501 §2.3.1.1)",
    ExpungeInFetch = "expunge-during-fetch-store-search":
        "EXPUNGE/VANISHED sent while responding to FETCH, STORE or SEARCH (RFC 3501 §7.4.1, RFC 7162 §3.2.10)",
    AppendUid = "appenduid-invalid":
        "APPENDUID with another UIDVALIDITY or a UID below the UIDNEXT seen before the APPEND (RFC 4315 §3)",
    CopyUid = "copyuid-invalid":
        "COPYUID whose source UIDs were not requested, whose sets differ in size, or whose new UIDs are not new (RFC 4315 §3)",
    MoveNotExpunged = "move-not-expunged":
        "a message MOVE reported as moved (COPYUID) still in the session's view at the tagged OK (RFC 6851 §3.3)",
    ExpungeLeftDeleted = "expunge-left-deleted":
        "after EXPUNGE / UID EXPUNGE answered OK, a message the session knew to be \\Deleted (in the set) is still in its view while no other expunging command ran, or a SELECT sent later still lists it (RFC 3501 §6.4.3, RFC 4315 §2.1)",
    SelectInconsistent = "select-inconsistent":
        "UIDVALIDITY changed, UIDNEXT not above a UID already seen, or HIGHESTMODSEQ below a MODSEQ already seen (RFC 3501 §2.3.1.1, RFC 7162 §3.1.2.1)",
    SearchMismatch = "search-mismatch":
        "a SEARCH result contradicts the message's immutable data (SUBJECT, LARGER against the APPENDed bytes), or ESEARCH COUNT/MIN/MAX disagree with ALL (RFC 3501 §6.4.4, RFC 4731 §3.1)",
    CheckpointMessages = "checkpoint-messages":
        "at a checkpoint (no writes in flight, pending notifications drained with NOOP) a session's message list (count, UIDs in order) differs from a fresh SELECT",
    CheckpointFlags = "checkpoint-flags":
        "at a checkpoint a session's flags of a UID differ from a fresh SELECT's",
    CheckpointModseq = "checkpoint-modseq":
        "at a checkpoint a CONDSTORE session's MODSEQ of a UID differs from a fresh SELECT's",
    CheckpointKeywords = "checkpoint-keywords":
        "at a checkpoint a keyword in use is missing from a session's FLAGS (RFC 3501 §7.2.6)",
    CheckpointSearch = "checkpoint-search":
        "at a checkpoint a SEARCH answer differs from the session's own view of flags and content",
    CheckpointTimeout = "checkpoint-timeout":
        "sessions did not all pause (or report) within the time limit",
    UnexpectedNo = "unexpected-no":
        "tagged NO to a command that cannot fail by a race",
    UnexpectedBad = "unexpected-bad":
        "tagged BAD to a well-formed command",
    Protocol = "protocol-error":
        "unparsable response, unexpected BYE, disconnect or a response timeout",
    Pop3 = "pop3-error":
        "a POP3 reply that is wrong (not a race): bad status, or RETR content differing from what IMAP reported for that UID",
    Smtp = "smtp-error":
        "an SMTP delivery refused",
}

/// The first occurrence of an error kind.
#[derive(Debug, Clone)]
pub struct FirstError {
    pub at_s: f64,
    pub session: String,
    pub detail: String,
    pub exchange: Vec<String>,
}

/// Errors by kind.
#[derive(Debug, Default)]
pub struct Errors {
    by_kind: Mutex<BTreeMap<Kind, (u64, FirstError)>>,
}

impl Errors {
    pub fn record(&self, kind: Kind, first: FirstError) {
        let mut m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(kind).or_insert((0, first)).0 += 1;
    }

    pub fn total(&self) -> u64 {
        let m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        m.values().map(|(n, _)| n).sum()
    }

    pub fn snapshot(&self) -> Vec<(Kind, u64, FirstError)> {
        let m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, (n, f))| (*k, *n, f.clone())).collect()
    }
}

/// Counters of commands by label (each tagged command answered = 1) and of legitimate races.
#[derive(Debug, Default)]
pub struct Counters {
    ops: Mutex<BTreeMap<&'static str, u64>>,
    races: Mutex<BTreeMap<&'static str, u64>>,
    pub total: AtomicU64,
}

impl Counters {
    pub fn op(&self, label: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *self
            .ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(label)
            .or_default() += 1;
    }

    pub fn race(&self, label: &'static str) {
        *self
            .races
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(label)
            .or_default() += 1;
    }

    pub fn ops(&self) -> Vec<(&'static str, u64)> {
        let m = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn races(&self) -> Vec<(&'static str, u64)> {
        let m = self.races.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// A 64-bit digest (`DefaultHasher::new()` has fixed keys: equal bytes, equal digests).
pub fn digest(b: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// The bytes the checker gave the server for a message (APPEND), as digests.
#[derive(Debug, Clone)]
pub struct Expected {
    pub len: u64,
    pub all: u64,
    pub header: u64,
    pub text: u64,
    /// The Subject header's value (SEARCH SUBJECT is checked against it).
    pub subject: String,
    /// Who appended it (`s3 b17.42 APPEND`), for reports.
    pub origin: String,
}

impl Expected {
    pub fn of(bytes: &[u8], origin: String) -> Expected {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes.len(), |p| p + 4);
        let subject = bytes[..split]
            .split(|&b| b == b'\n')
            .find_map(|l| {
                let l = String::from_utf8_lossy(l);
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("subject")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        Expected {
            len: bytes.len() as u64,
            all: digest(bytes),
            header: digest(&bytes[..split]),
            text: digest(&bytes[split..]),
            subject,
            origin,
        }
    }
}

/// One immutable item as first reported.
#[derive(Debug, Clone)]
struct Fact {
    digest: u64,
    len: usize,
    by: String,
}

#[derive(Debug, Default)]
struct MsgFacts {
    items: HashMap<String, Fact>,
    expected: Option<Arc<Expected>>,
}

/// A flag change some session sent: which flags it may add or remove, when it was sent and
/// when it was answered (`done`, in ms since the run started; 0 = still in flight).
#[derive(Debug, Clone)]
pub struct FlagOp {
    pub change: Change,
    pub sent: Instant,
    pub done: Arc<AtomicU64>,
}

/// A STORE's flag change (flags lowercase).
#[derive(Debug, Clone)]
pub enum Change {
    Add(Vec<String>),
    Remove(Vec<String>),
    Replace(Vec<String>),
}

impl Change {
    /// Whether this change can make `flag` present (`to_present`) or absent.
    fn can(&self, flag: &str, to_present: bool) -> bool {
        match (self, to_present) {
            (Change::Add(f), true) | (Change::Remove(f), false) => f.iter().any(|x| x == flag),
            (Change::Replace(f), p) => f.iter().any(|x| x == flag) == p,
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
struct BoxFacts {
    uidvalidity: Option<u32>,
    max_uid: u32,
    max_modseq: u64,
    msgs: HashMap<u32, MsgFacts>,
    /// UID → when its expunge was first reported to a session.
    expunged: HashMap<u32, Instant>,
    /// UID → since when it must be gone (a `\Deleted` message an EXPUNGE answered OK left in
    /// its session's view), and which command that was.
    gone: HashMap<u32, (Instant, String)>,
    /// UID → flag changes sent for it; `None` key: changes whose UIDs the sender did not know.
    flag_ops: HashMap<Option<u32>, Vec<FlagOp>>,
    /// Commands that may expunge messages (EXPUNGE, UID EXPUNGE, MOVE, a POP3 session with
    /// DELE): id, when sent, when answered (ms since the start; 0 = in flight).
    expungers: Vec<(u64, Instant, Arc<AtomicU64>)>,
}

/// A registered expunging command (see [`Registry::expunger`]).
pub struct Expunger {
    id: u64,
    mbox: String,
    sent: Instant,
    done: Arc<AtomicU64>,
}

/// How long flag changes are remembered after their answer (anchors are younger).
pub const FLAG_OP_MEMORY: Duration = Duration::from_secs(120);

/// An immutable item answered [`hollow`] (RFC 2180 §4.1.3 allows NIL for a message expunged
/// by another session); an error unless the message turns out to be expunged.
#[derive(Debug)]
struct Nil {
    mbox: String,
    uid: u32,
    item: String,
    session: String,
    at: Instant,
    exchange: Vec<String>,
}

/// Facts about every mailbox of the run.
#[derive(Debug)]
pub struct Registry {
    start: Instant,
    boxes: Mutex<HashMap<String, BoxFacts>>,
    nils: Mutex<Vec<Nil>>,
    next_id: AtomicU64,
}

/// A check that failed: its kind and what exactly was seen.
#[derive(Debug, Clone)]
pub struct Violation {
    pub kind: Kind,
    pub detail: String,
}

pub fn violation(kind: Kind, detail: impl Into<String>) -> Violation {
    Violation {
        kind,
        detail: detail.into(),
    }
}

/// Items that never change for a UID (RFC 3501 §2.3.1.1, §2.3.3–2.3.6).
pub fn is_immutable(item: &str) -> bool {
    matches!(
        item,
        "ENVELOPE" | "BODYSTRUCTURE" | "BODY" | "RFC822.SIZE" | "INTERNALDATE"
    ) || item.starts_with("BODY[")
        || item.starts_with("BINARY")
        || item.starts_with("RFC822.")
}

/// Whether `v` is an empty stand-in rather than data: what a server answers for a message
/// another session expunged and whose content is gone (Dovecot: `BODY[] NIL`,
/// `RFC822.SIZE 0`, a BODYSTRUCTURE with zero sizes, INTERNALDATE of 1970). Every message of the run has content,
/// so no real answer is hollow.
pub fn hollow(item: &str, v: &Val) -> bool {
    fn no_number(v: &Val) -> bool {
        match v {
            Val::Num(n) => *n == 0,
            Val::List(l) => l.iter().all(no_number),
            _ => true,
        }
    }
    fn no_text(v: &Val) -> bool {
        match v {
            Val::Str(s) => s.is_empty(),
            Val::Num(n) => *n == 0,
            Val::List(l) => l.iter().all(no_text),
            _ => true,
        }
    }
    match item {
        "BODYSTRUCTURE" | "BODY" => no_number(v),
        // Dovecot: the Unix epoch for an expunged message whose file is gone.
        "INTERNALDATE" => v
            .bytes()
            .is_none_or(|d| d.starts_with(b"01-Jan-1970 00:00:00")),
        _ => no_text(v),
    }
}

impl Registry {
    pub fn new(start: Instant) -> Registry {
        Registry {
            start,
            boxes: Mutex::new(HashMap::new()),
            nils: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn with<T>(&self, mbox: &str, f: impl FnOnce(&mut BoxFacts) -> T) -> T {
        let mut m = self.boxes.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(mbox.to_string()).or_default())
    }

    pub fn ms_since_start(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64 + 1
    }

    pub fn nil(&self, mbox: &str, uid: u32, item: &str, session: &str, exchange: Vec<String>) {
        self.nils
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Nil {
                mbox: mbox.into(),
                uid,
                item: item.into(),
                session: session.into(),
                at: Instant::now(),
                exchange,
            });
    }

    /// Settles the NIL answers received before `before` (a checkpoint's start, when every
    /// expunge committed before it has been reported to the session that made it): a NIL
    /// for a message that was expunged is counted, any other is an error.
    pub fn settle_nils(&self, errors: &Errors, counters: &Counters, before: Instant) {
        let due: Vec<Nil> = {
            let mut n = self.nils.lock().unwrap_or_else(|e| e.into_inner());
            let (due, keep) = n.drain(..).partition(|x| x.at < before);
            *n = keep;
            due
        };
        for x in due {
            if self.with(&x.mbox, |bf| bf.expunged.contains_key(&x.uid)) {
                counters.race("FETCH of a message expunged elsewhere answered NIL/empty data (RFC 2180 §4.1.3)");
            } else {
                errors.record(
                    Kind::ImmutableChanged,
                    FirstError {
                        at_s: x.at.saturating_duration_since(self.start).as_secs_f64(),
                        session: x.session,
                        detail: format!(
                            "{} UID {} {} answered NIL/empty, and the message was not expunged",
                            x.mbox, x.uid, x.item
                        ),
                        exchange: x.exchange,
                    },
                );
            }
        }
    }

    /// Records an immutable item of `uid` and checks it against what was reported before and
    /// against the APPENDed bytes.
    pub fn observe(&self, mbox: &str, uid: u32, item: &str, v: &Val, by: &str) -> Vec<Violation> {
        let (digest_v, len) = match v.bytes() {
            // Body sections: the content itself (its digest), so BODY[] can be compared with
            // the APPENDed bytes.
            Some(b) if item.starts_with("BODY[") || item.starts_with("RFC822") => {
                (digest(b), b.len())
            }
            _ => {
                let c = v.canon();
                (digest(&c), c.len())
            }
        };
        self.with(mbox, |bf| {
            bf.max_uid = bf.max_uid.max(uid);
            let mf = bf.msgs.entry(uid).or_default();
            let mut out = Vec::new();
            match mf.items.get(item) {
                Some(f) if f.digest != digest_v => out.push(violation(
                    Kind::ImmutableChanged,
                    format!(
                        "{mbox} UID {uid} {item}: {len} bytes now, {} bytes (other content) when \
                         first reported by {}",
                        f.len, f.by
                    ),
                )),
                Some(_) => {}
                None => {
                    mf.items.insert(
                        item.to_string(),
                        Fact {
                            digest: digest_v,
                            len,
                            by: by.to_string(),
                        },
                    );
                }
            }
            if let Some(e) = &mf.expected {
                out.extend(check_expected(mbox, uid, item, digest_v, len, v, e));
            }
            if let (Some(size), Some(body)) = (mf.items.get("RFC822.SIZE"), mf.items.get("BODY[]"))
            {
                // The size fact's digest is of its canonical text; compare with the number.
                if digest(body.len.to_string().as_bytes()) != size.digest {
                    out.push(violation(
                        Kind::ContentMismatch,
                        format!(
                            "{mbox} UID {uid}: RFC822.SIZE (from {}) is not the length of BODY[] \
                             ({} bytes, from {})",
                            size.by, body.len, body.by
                        ),
                    ));
                }
            }
            out
        })
    }

    /// The bytes of a message the checker APPENDed (or copied): checked against every item
    /// already reported and every later one.
    pub fn expect(&self, mbox: &str, uid: u32, e: Arc<Expected>) -> Vec<Violation> {
        self.with(mbox, |bf| {
            bf.max_uid = bf.max_uid.max(uid);
            let mf = bf.msgs.entry(uid).or_default();
            let mut out = Vec::new();
            if let Some(old) = &mf.expected {
                if old.all != e.all {
                    out.push(violation(
                        Kind::ContentMismatch,
                        format!(
                            "{mbox} UID {uid} was given twice with different bytes: {} and {}",
                            old.origin, e.origin
                        ),
                    ));
                }
                return out;
            }
            for (item, f) in &mf.items {
                // Items already reported, compared by their stored digests.
                out.extend(check_expected(
                    mbox,
                    uid,
                    item,
                    f.digest,
                    f.len,
                    &Val::Nil,
                    &e,
                ));
            }
            mf.expected = Some(e);
            out
        })
    }

    pub fn expected(&self, mbox: &str, uid: u32) -> Option<Arc<Expected>> {
        self.with(mbox, |bf| {
            bf.msgs.get(&uid).and_then(|m| m.expected.clone())
        })
    }

    /// COPY/MOVE: the new UID in `dst` holds the same message as `src_uid` in `src`.
    pub fn copied(&self, src: &str, src_uid: u32, dst: &str, dst_uid: u32) -> Vec<Violation> {
        match self.expected(src, src_uid) {
            Some(e) => {
                let mut e = (*e).clone();
                e.origin = format!("COPY of {src} UID {src_uid} ({})", e.origin);
                self.expect(dst, dst_uid, Arc::new(e))
            }
            None => Vec::new(),
        }
    }

    pub fn note_expunged(&self, mbox: &str, uid: u32, at: Instant) {
        self.with(mbox, |bf| {
            bf.expunged.entry(uid).or_insert(at);
        });
    }

    /// `uid` was `\Deleted` when `what` (an EXPUNGE) was answered at `t`: it is gone since.
    pub fn must_be_gone(&self, mbox: &str, uid: u32, t: Instant, what: &str) {
        self.with(mbox, |bf| {
            bf.gone.entry(uid).or_insert_with(|| (t, what.to_string()));
        });
    }

    /// The EXPUNGE after which `uid` must be gone, if it was answered before `t`.
    pub fn gone_before(&self, mbox: &str, uid: u32, t: Instant) -> Option<String> {
        self.with(mbox, |bf| {
            bf.gone
                .get(&uid)
                .filter(|(g, _)| *g < t)
                .map(|(_, what)| what.clone())
        })
    }

    /// Whether `uid`'s expunge had been reported to some session before `t`.
    pub fn expunged_before(&self, mbox: &str, uid: u32, t: Instant) -> bool {
        self.with(mbox, |bf| bf.expunged.get(&uid).is_some_and(|&e| e < t))
    }

    /// Highest UID and MODSEQ any session has been told of.
    pub fn highest(&self, mbox: &str) -> (u32, u64) {
        self.with(mbox, |bf| (bf.max_uid, bf.max_modseq))
    }

    pub fn note_uid(&self, mbox: &str, uid: u32) {
        self.with(mbox, |bf| bf.max_uid = bf.max_uid.max(uid));
    }

    pub fn note_modseq(&self, mbox: &str, m: u64) {
        self.with(mbox, |bf| bf.max_modseq = bf.max_modseq.max(m));
    }

    /// Records UIDVALIDITY; a different value than before is a violation.
    pub fn uidvalidity(&self, mbox: &str, v: u32) -> Option<Violation> {
        self.with(mbox, |bf| match bf.uidvalidity {
            Some(old) if old != v => Some(violation(
                Kind::SelectInconsistent,
                format!("{mbox}: UIDVALIDITY {v}, was {old}"),
            )),
            Some(_) => None,
            None => {
                bf.uidvalidity = Some(v);
                None
            }
        })
    }

    /// Registers a command that may expunge messages of `mbox`, before it is sent.
    pub fn expunger(&self, mbox: &str) -> Expunger {
        let e = Expunger {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            mbox: mbox.to_string(),
            sent: Instant::now(),
            done: Arc::new(AtomicU64::new(0)),
        };
        let forget = self.ms_since_start(Instant::now()) as i64 - FLAG_OP_MEMORY.as_millis() as i64;
        self.with(mbox, |bf| {
            bf.expungers.retain(|(_, _, d)| {
                let d = d.load(Ordering::Relaxed);
                d == 0 || d as i64 > forget
            });
            bf.expungers.push((e.id, e.sent, e.done.clone()));
        });
        e
    }

    /// The expunging command was answered.
    pub fn expunger_done(&self, e: &Expunger) {
        e.done
            .store(self.ms_since_start(Instant::now()), Ordering::Relaxed);
    }

    /// Whether another expunging command overlapped `e` (sent before `e` was answered and
    /// answered after `e` was sent): it may have removed a message without `e`'s session
    /// being told yet.
    pub fn others_expunging(&self, e: &Expunger) -> bool {
        let sent_ms = self.ms_since_start(e.sent);
        let done_ms = e.done.load(Ordering::Relaxed);
        self.with(&e.mbox, |bf| {
            bf.expungers.iter().any(|(id, sent, d)| {
                let d = d.load(Ordering::Relaxed);
                *id != e.id
                    && (done_ms == 0 || self.ms_since_start(*sent) <= done_ms)
                    && (d == 0 || d >= sent_ms)
            })
        })
    }

    /// Logs a flag change before it is sent; the returned cell is set when it is answered.
    pub fn flag_op(&self, mbox: &str, uids: &[Option<u32>], change: Change) -> Arc<AtomicU64> {
        let done = Arc::new(AtomicU64::new(0));
        let op = FlagOp {
            change,
            sent: Instant::now(),
            done: done.clone(),
        };
        let forget = self.ms_since_start(Instant::now()) as i64 - FLAG_OP_MEMORY.as_millis() as i64;
        self.with(mbox, |bf| {
            for u in uids {
                let v = bf.flag_ops.entry(*u).or_default();
                v.retain(|o| {
                    let d = o.done.load(Ordering::Relaxed);
                    d == 0 || d as i64 > forget
                });
                v.push(op.clone());
            }
        });
        done
    }

    /// Whether some session sent a change that can move `flag` of `uid` to `to_present`, sent
    /// before `until` and not answered before `since` (so it may have taken effect between).
    pub fn flag_change_explained(
        &self,
        mbox: &str,
        uid: u32,
        flag: &str,
        to_present: bool,
        since: Instant,
        until: Instant,
    ) -> bool {
        let since_ms = self.ms_since_start(since);
        self.with(mbox, |bf| {
            [Some(uid), None].iter().any(|k| {
                bf.flag_ops.get(k).is_some_and(|ops| {
                    ops.iter().any(|o| {
                        let d = o.done.load(Ordering::Relaxed);
                        o.sent < until
                            && (d == 0 || d >= since_ms)
                            && o.change.can(flag, to_present)
                    })
                })
            })
        })
    }
}

fn check_expected(
    mbox: &str,
    uid: u32,
    item: &str,
    digest_v: u64,
    len: usize,
    v: &Val,
    e: &Expected,
) -> Option<Violation> {
    let bad = |what: &str| {
        Some(violation(
            Kind::ContentMismatch,
            format!(
                "{mbox} UID {uid} {item}: {what} ({len} bytes reported; {} appended {} bytes)",
                e.origin, e.len
            ),
        ))
    };
    match item {
        "BODY[]" | "RFC822" if digest_v != e.all => bad("not the APPENDed bytes"),
        "BODY[HEADER]" | "RFC822.HEADER" if digest_v != e.header => bad("not the APPENDed header"),
        "BODY[TEXT]" | "RFC822.TEXT" if digest_v != e.text => bad("not the APPENDed body text"),
        "RFC822.SIZE" => match v.num() {
            Some(n) if n != e.len => bad(&format!("RFC822.SIZE {n}")),
            Some(_) => None,
            // From a stored fact: compare digests of the canonical number.
            None if digest_v != digest(e.len.to_string().as_bytes()) => {
                bad("RFC822.SIZE is not the APPENDed length")
            }
            None => None,
        },
        _ => None,
    }
}
