//! One session's model of its selected mailbox, built only from what the server told that
//! session: message numbers → UIDs, the last FLAGS/MODSEQ reported per message, the flags
//! announced by FLAGS. Every untagged response is applied in the order received (RFC 3501
//! §7: a client must accept any response at any time) and checked against the model and the
//! run's [`Registry`]; what does not fit becomes a [`Violation`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::errors::{violation, Kind, Violation};
use super::parse::NumSet;
use super::registry::Registry;
use super::response::{Code, Resp};

/// Flags of a message: lowercase, without `\Recent` (session-specific, RFC 3501 §2.3.2).
pub type Flags = BTreeSet<String>;

pub fn norm_flags(v: &[String]) -> Flags {
    v.iter()
        .map(|f| f.to_ascii_lowercase())
        .filter(|f| f != "\\recent")
        .collect()
}

pub fn show_flags(f: &Flags) -> String {
    format!("({})", f.iter().cloned().collect::<Vec<_>>().join(" "))
}

/// A flag state this session was given in reply to its own STORE: from then on the server
/// may only report the flag otherwise after some session's STORE that could change it.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub flag: String,
    pub present: bool,
    pub since: Instant,
    pub origin: Arc<str>,
}

/// One message of the session's view.
#[derive(Debug, Clone, Default)]
pub struct Msg {
    pub uid: Option<u32>,
    pub flags: Option<Flags>,
    pub modseq: Option<u64>,
    /// The command during which the current flags/MODSEQ were reported.
    pub origin: Option<Arc<str>>,
    pub anchors: Vec<Anchor>,
    /// Announced by EXISTS after the SELECT (its UID must be ≥ the SELECT's UIDNEXT).
    pub arrived: bool,
    /// The session's own `+FLAGS.SILENT (\Deleted)` was answered OK: `\Deleted` is set
    /// (the mix never clears it), even though the flags are otherwise unknown.
    pub deleted: bool,
}

/// The key of a FETCH item's name in [`Pending::got`].
pub fn item_key(name: &str) -> u64 {
    super::registry::digest(name.as_bytes())
}

/// A message of a command's set: by UID when the session knows it, else by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgKey {
    Uid(u32),
    Seq(u32),
}

/// What the command in flight collects from its responses.
#[derive(Debug, Default)]
pub struct Pending {
    /// `s3 c.17 UID STORE` — names the command in reports and origins.
    pub origin: Arc<str>,
    pub sent: Option<Instant>,
    /// FETCH, STORE, SEARCH by message number: no EXPUNGE/VANISHED allowed (RFC 3501 §7.4.1).
    pub no_expunge: bool,
    /// A FETCH of a body section without PEEK (sets \Seen, RFC 3501 §6.4.5).
    pub implicit_seen: bool,
    /// Items reported per message (digests of their names, see [`item_key`]).
    pub got: HashMap<MsgKey, HashSet<u64>>,
    /// UIDs removed from the view during the command.
    pub expunged: Vec<u32>,
    /// Last FLAGS (and MODSEQ) reported per UID during the command.
    pub flags_seen: HashMap<u32, Flags>,
    /// Last MODSEQ reported per UID during the command.
    pub modseq_seen: HashMap<u32, u64>,
    pub search: Option<Vec<u32>>,
    pub search_modseq: Option<u64>,
    pub esearch: Option<Resp>,
    /// COPYUID of an untagged OK (MOVE, RFC 6851 §4.3).
    pub copyuid: Option<Code>,
    pub violations: Vec<Violation>,
    /// Deviations the checker tolerates and counts (see [`super::errors::Counters::race`]).
    pub notes: Vec<&'static str>,
    /// Immutable items answered NIL: `(uid, item)`, settled later (see
    /// [`super::registry::Registry::nil`]).
    pub nils: Vec<(u32, String)>,
    pub bye: bool,
}

impl Pending {
    pub fn new(origin: String, no_expunge: bool) -> Pending {
        Pending {
            origin: origin.into(),
            sent: Some(Instant::now()),
            no_expunge,
            ..Pending::default()
        }
    }

    pub(super) fn bad(&mut self, kind: Kind, detail: String) {
        self.violations.push(violation(kind, detail));
    }
}

/// The selected mailbox as this session knows it.
#[derive(Debug, Clone)]
pub struct View {
    pub mailbox: String,
    pub msgs: Vec<Msg>,
    /// Flags of the last FLAGS response, lowercase.
    pub announced: HashSet<String>,
    pub uidvalidity: Option<u32>,
    /// UIDNEXT and HIGHESTMODSEQ of the SELECT.
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub condstore: bool,
    /// When the SELECT was sent, and the registry's highest UID/MODSEQ then.
    pub select_sent: Instant,
    pub known_then: (u32, u64),
    /// The view can no longer be trusted (see [`View::vanished`]): responses are ignored
    /// until the session selects the mailbox again.
    pub lost: bool,
}

impl View {
    pub fn new(mailbox: &str, condstore: bool, reg: &Registry) -> View {
        View {
            mailbox: mailbox.to_string(),
            msgs: Vec::new(),
            announced: HashSet::new(),
            uidvalidity: None,
            uidnext: None,
            highestmodseq: None,
            condstore,
            select_sent: Instant::now(),
            known_then: reg.highest(mailbox),
            lost: false,
        }
    }

    pub fn count(&self) -> u32 {
        self.msgs.len() as u32
    }

    pub fn seq_of(&self, uid: u32) -> Option<usize> {
        self.msgs.iter().position(|m| m.uid == Some(uid))
    }

    /// Message numbers (1-based) whose UID is unknown.
    pub fn unknown(&self) -> Vec<u32> {
        (1..=self.count())
            .filter(|&n| self.msgs[n as usize - 1].uid.is_none())
            .collect()
    }

    /// Applies one response; violations go to `p`.
    pub fn apply(&mut self, r: &Resp, p: &mut Pending, reg: &Registry) {
        if self.lost {
            return;
        }
        let now = Instant::now();
        match r {
            Resp::Exists(n) => {
                let n = *n as usize;
                if n < self.msgs.len() {
                    p.bad(
                        Kind::ExistsDecreased,
                        format!(
                            "* {n} EXISTS but the session knows {} messages",
                            self.msgs.len()
                        ),
                    );
                    self.msgs.truncate(n);
                }
                let arrived = self.uidnext.is_some();
                while self.msgs.len() < n {
                    self.msgs.push(Msg {
                        arrived,
                        ..Msg::default()
                    });
                }
            }
            Resp::Expunge(n) => {
                if p.no_expunge {
                    p.bad(
                        Kind::ExpungeInFetch,
                        format!("* {n} EXPUNGE during {}", p.origin),
                    );
                }
                let i = *n as usize;
                if i == 0 || i > self.msgs.len() {
                    p.bad(
                        Kind::SeqOutOfRange,
                        format!("* {n} EXPUNGE with {} messages", self.msgs.len()),
                    );
                    return;
                }
                let m = self.msgs.remove(i - 1);
                if let Some(u) = m.uid {
                    p.expunged.push(u);
                    reg.note_expunged(&self.mailbox, u, now);
                }
            }
            Resp::Vanished { earlier, uids } => self.vanished(*earlier, uids, p, reg, now),
            Resp::Flags(f) => self.announced = norm_flags(f).into_iter().collect(),
            Resp::Fetch { seq, items } => self.fetch(*seq, items, p, reg, now),
            Resp::Cond { code: Some(c), .. } => self.code(c, p, reg),
            Resp::Cond {
                status: super::response::Status::Bye,
                ..
            } => p.bye = true,
            Resp::Search { nums, modseq } => {
                p.search = Some(nums.clone());
                p.search_modseq = *modseq;
            }
            Resp::Esearch { .. } => p.esearch = Some(r.clone()),
            _ => {}
        }
    }

    /// Response codes of a SELECT (or an untagged OK at any time).
    pub fn code(&mut self, c: &Code, p: &mut Pending, reg: &Registry) {
        let mbox = self.mailbox.clone();
        match c {
            Code::UidValidity(v) => {
                self.uidvalidity = Some(*v);
                if let Some(x) = reg.uidvalidity(&mbox, *v) {
                    p.violations.push(x);
                }
            }
            Code::UidNext(n) => {
                self.uidnext = Some(*n);
                if *n <= self.known_then.0 {
                    p.bad(
                        Kind::SelectInconsistent,
                        format!(
                            "{mbox}: UIDNEXT {n} but UID {} was reported before the SELECT",
                            self.known_then.0
                        ),
                    );
                }
            }
            Code::HighestModseq(m) => {
                self.highestmodseq = Some(*m);
                if *m < self.known_then.1 {
                    p.bad(
                        Kind::SelectInconsistent,
                        format!(
                            "{mbox}: HIGHESTMODSEQ {m} but MODSEQ {} was reported before the SELECT",
                            self.known_then.1
                        ),
                    );
                }
                reg.note_modseq(&mbox, *m);
            }
            Code::CopyUid { .. } => p.copyuid = Some(c.clone()),
            _ => {}
        }
    }

    fn vanished(
        &mut self,
        earlier: bool,
        uids: &NumSet,
        p: &mut Pending,
        reg: &Registry,
        now: Instant,
    ) {
        if !earlier && p.no_expunge {
            p.bad(
                Kind::ExpungeInFetch,
                format!("* VANISHED during {}", p.origin),
            );
        }
        let mut gone = std::collections::HashSet::new();
        let mut i = 0;
        while i < self.msgs.len() {
            match self.msgs[i].uid {
                Some(u) if uids.contains(u) => {
                    self.msgs.remove(i);
                    gone.insert(u);
                    p.expunged.push(u);
                    reg.note_expunged(&self.mailbox, u, now);
                }
                _ => i += 1,
            }
        }
        if earlier {
            return;
        }
        // A UID not in the view: either a message the server never reported (nothing to do)
        // or one whose UID the session has not learnt yet (one message fewer). Only where
        // unknown messages sit between the known UIDs around it can that be the case; then the
        // two cannot be told apart, the view is lost and the session selects the mailbox again.
        let ambiguous = uids.0.iter().any(|&(a, b)| {
            (a..=b.min(a.saturating_add(100_000))).any(|u| {
                if gone.contains(&u) || self.seq_of(u).is_some() {
                    return false;
                }
                let after = self
                    .msgs
                    .iter()
                    .rposition(|m| m.uid.is_some_and(|x| x < u))
                    .map_or(0, |k| k + 1);
                self.msgs.get(after).is_some_and(|m| m.uid.is_none())
            })
        });
        if ambiguous {
            p.notes.push("VANISHED named a UID that may be one the session had not learnt (view rebuilt by SELECT)");
            self.lost = true;
        }
    }
}
