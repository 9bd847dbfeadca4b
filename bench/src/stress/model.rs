//! One session's model of its selected mailbox, built only from what the server told that
//! session: message numbers → UIDs, the last FLAGS/MODSEQ reported per message, the flags
//! announced by FLAGS. Every untagged response is applied in the order received (RFC 3501
//! §7: a client must accept any response at any time) and checked against the model and the
//! run's [`Registry`]; what does not fit becomes a [`Violation`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::parse::{Code, NumSet, Resp, Val};
use super::shared::{hollow, is_immutable, violation, Kind, Registry, Violation};

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
    /// Items reported per message.
    pub got: HashMap<MsgKey, HashSet<String>>,
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
    /// Deviations the checker tolerates and counts (see [`super::shared::Counters::race`]).
    pub notes: Vec<&'static str>,
    /// Immutable items answered NIL: `(uid, item)`, settled later (see
    /// [`super::shared::Registry::nil`]).
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

    fn bad(&mut self, kind: Kind, detail: String) {
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
                status: super::parse::Status::Bye,
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

    fn fetch(
        &mut self,
        seq: u32,
        items: &[(String, Val)],
        p: &mut Pending,
        reg: &Registry,
        now: Instant,
    ) {
        let i = seq as usize;
        if i == 0 || i > self.msgs.len() {
            p.bad(
                Kind::SeqOutOfRange,
                format!("* {seq} FETCH with {} messages", self.msgs.len()),
            );
            return;
        }
        let get = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        // UID (RFC 3501 §2.3.1.1): fixed per message number, ascending.
        if let Some(u) = get("UID").and_then(Val::num) {
            let u = u as u32;
            self.learn_uid(i - 1, u, p, reg);
        } else if self.condstore && get("FLAGS").is_some() {
            // RFC 7162 §3.1 asks for UID too, but Dovecot 2.3 leaves it out of the FETCH
            // responses of a STORE by message number: counted, not an error.
            p.notes.push(
                "FETCH FLAGS without UID after CONDSTORE (RFC 7162 §3.1; Dovecot 2.3 does this)",
            );
        }
        let uid = self.msgs[i - 1].uid;
        let mbox = self.mailbox.clone();
        for (name, _) in items {
            p.got
                .entry(MsgKey::Seq(seq))
                .or_default()
                .insert(name.clone());
            if let Some(u) = uid {
                p.got
                    .entry(MsgKey::Uid(u))
                    .or_default()
                    .insert(name.clone());
            }
        }
        if let Some(u) = uid {
            for (name, v) in items {
                if !is_immutable(name) {
                    continue;
                }
                if hollow(name, v) {
                    // RFC 2180 §4.1.3: data of a message expunged elsewhere may come back NIL
                    // (Dovecot also answers RFC822.SIZE 0, an empty BODYSTRUCTURE): that the
                    // message was indeed expunged is checked later.
                    p.nils.push((u, name.clone()));
                } else {
                    p.violations
                        .extend(reg.observe(&mbox, u, name, v, &p.origin));
                }
            }
        }
        let modseq = get("MODSEQ").and_then(|v| v.list()?.first()?.num());
        if let Some(m) = modseq {
            reg.note_modseq(&mbox, m);
            if let Some(u) = uid {
                p.modseq_seen.insert(u, m);
            }
        }
        let flags = get("FLAGS").map(|v| {
            let names: Vec<String> = v
                .list()
                .unwrap_or_default()
                .iter()
                .filter_map(Val::text)
                .collect();
            norm_flags(&names)
        });
        if let Some(f) = &flags {
            if self.condstore && modseq.is_none() {
                if p.implicit_seen {
                    // RFC 7162 §3.1 asks for MODSEQ after an implicit \Seen too; Dovecot 2.3
                    // leaves it out: counted, not an error.
                    p.notes.push("FETCH FLAGS without MODSEQ after an implicit \\Seen (RFC 7162 §3.1; Dovecot 2.3 does this)");
                } else {
                    p.bad(
                        Kind::CondstoreIncomplete,
                        format!("* {seq} FETCH with FLAGS but without MODSEQ after CONDSTORE was enabled"),
                    );
                }
            }
            let unknown: Vec<&String> = f.iter().filter(|x| !self.announced.contains(*x)).collect();
            if !unknown.is_empty() {
                p.bad(
                    Kind::UnannouncedFlag,
                    format!(
                        "* {seq} FETCH (UID {}) carries {unknown:?}; last FLAGS: {:?}",
                        uid.unwrap_or(0),
                        self.announced
                    ),
                );
            }
        }
        let m = &mut self.msgs[i - 1];
        let uid_s = uid.map_or_else(|| format!("message {seq}"), |u| format!("UID {u}"));
        if let (Some(new), Some(old)) = (modseq, m.modseq) {
            let origin = m.origin.as_deref().unwrap_or("?");
            if new < old {
                p.violations.push(violation(
                    Kind::ModseqBackwards,
                    format!(
                        "{uid_s}: MODSEQ {new} {} after MODSEQ {old} {} (from {origin})",
                        flags.as_ref().map(show_flags).unwrap_or_default(),
                        m.flags.as_ref().map(show_flags).unwrap_or_default()
                    ),
                ));
                return;
            }
            if new == old {
                if let (Some(f), Some(of)) = (&flags, &m.flags) {
                    if f != of {
                        p.violations.push(violation(
                            Kind::ModseqFlagsDiffer,
                            format!(
                                "{uid_s}: MODSEQ {new} with FLAGS {} but FLAGS {} with the same \
                                 MODSEQ from {origin}",
                                show_flags(f),
                                show_flags(of)
                            ),
                        ));
                    }
                }
            }
        }
        if let (Some(f), Some(u)) = (&flags, uid) {
            // Anchors: flags given in reply to this session's STOREs.
            let mut keep = Vec::new();
            for a in m.anchors.drain(..) {
                if f.contains(&a.flag) == a.present {
                    keep.push(a);
                    continue;
                }
                if !reg.flag_change_explained(&mbox, u, &a.flag, !a.present, a.since, now) {
                    p.violations.push(violation(
                        Kind::FlagsRegressed,
                        format!(
                            "UID {u}: FLAGS {} {} {} although {} reported it {} and no session \
                             sent a STORE that could change it since",
                            show_flags(f),
                            if a.present { "lack" } else { "carry" },
                            a.flag,
                            a.origin,
                            if a.present { "set" } else { "clear" },
                        ),
                    ));
                }
            }
            m.anchors = keep;
            p.flags_seen.insert(u, f.clone());
        }
        if flags.is_some() || modseq.is_some() {
            if flags.is_some() {
                if modseq.is_none() && self.condstore {
                    // Flags without their MODSEQ: the old MODSEQ no longer goes with them.
                    m.modseq = None;
                }
                m.flags = flags;
            } else if modseq != m.modseq {
                // A new MODSEQ without its flags: the flags are no longer known.
                m.flags = None;
            }
            if modseq.is_some() {
                m.modseq = modseq;
            }
            m.origin = Some(p.origin.clone());
        }
    }

    fn learn_uid(&mut self, i: usize, u: u32, p: &mut Pending, reg: &Registry) {
        let mbox = self.mailbox.clone();
        match self.msgs[i].uid {
            Some(old) if old != u => {
                p.bad(
                    Kind::UidInconsistent,
                    format!("message {} was UID {old}, now UID {u}", i + 1),
                );
                return;
            }
            Some(_) => return,
            None => {}
        }
        let lower = self.msgs[..i].iter().rev().find_map(|m| m.uid);
        let higher = self.msgs[i + 1..].iter().find_map(|m| m.uid);
        if lower.is_some_and(|l| l >= u) || higher.is_some_and(|h| h <= u) {
            p.bad(
                Kind::UidInconsistent,
                format!(
                    "message {} has UID {u} but its neighbours have UIDs {lower:?} and {higher:?}",
                    i + 1
                ),
            );
            return;
        }
        if self.msgs[i].arrived {
            if let Some(next) = self.uidnext {
                if u < next {
                    p.bad(
                        Kind::UidInconsistent,
                        format!(
                            "message {} announced after the SELECT has UID {u} < UIDNEXT {next}",
                            i + 1
                        ),
                    );
                }
            }
        } else if reg.expunged_before(&mbox, u, self.select_sent) {
            p.bad(
                Kind::UidInconsistent,
                format!("UID {u} was reported expunged before this SELECT, yet it is listed"),
            );
        } else if let Some(what) = reg.gone_before(&mbox, u, self.select_sent) {
            p.bad(
                Kind::ExpungeLeftDeleted,
                format!("UID {u} was \\Deleted when {what} before this SELECT, yet it is listed"),
            );
        }
        reg.note_uid(&mbox, u);
        self.msgs[i].uid = Some(u);
    }
}
