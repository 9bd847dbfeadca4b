//! The registry of facts the server stated about each UID of the run — its immutable data,
//! the bytes it was given (APPEND) or copied from, NIL answers to settle, expunges — and the
//! mailbox-wide facts (UIDVALIDITY, highest UID and MODSEQ seen). It holds only what some
//! session was told by the server or sent to it, so a check against it is a check of the server
//! against itself. The history of flag changes and expunging commands is in
//! [`super::history`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::errors::{violation, Counters, Errors, FirstError, Kind, Violation};
use super::history::FlagOp;
use super::parse::Val;
use super::wire::Exchange;

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

#[derive(Debug, Default)]
pub(super) struct BoxFacts {
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
    pub(super) flag_ops: HashMap<Option<u32>, Vec<Arc<FlagOp>>>,
    /// Commands that may expunge messages (EXPUNGE, UID EXPUNGE, MOVE, a POP3 session with
    /// DELE): id, when sent, when answered (ms since the start; 0 = in flight).
    pub(super) expungers: Vec<(u64, Instant, Arc<AtomicU64>)>,
}

/// An immutable item answered [`hollow`] (RFC 2180 §4.1.3 allows NIL for a message expunged
/// by another session); an error unless the message turns out to be expunged.
#[derive(Debug)]
struct Nil {
    mbox: String,
    uid: u32,
    item: String,
    session: String,
    at: Instant,
    exchange: Exchange,
}

/// Facts about every mailbox of the run.
#[derive(Debug)]
pub struct Registry {
    start: Instant,
    boxes: Mutex<HashMap<String, BoxFacts>>,
    nils: Mutex<Vec<Nil>>,
    pub(super) next_id: AtomicU64,
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
            // Empty, or only line ends (mailstack answers `BODY[HEADER.FIELDS (..)]` "\r\n").
            Val::Str(s) => s.iter().all(u8::is_ascii_whitespace),
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

    pub(super) fn with<T>(&self, mbox: &str, f: impl FnOnce(&mut BoxFacts) -> T) -> T {
        let mut m = self.boxes.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(mbox.to_string()).or_default())
    }

    pub fn ms_since_start(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64 + 1
    }

    pub fn nil(&self, mbox: &str, uid: u32, item: &str, session: &str, exchange: Exchange) {
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
                        exchange: x.exchange.lines(),
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
