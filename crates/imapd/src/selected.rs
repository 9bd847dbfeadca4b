//! What a session knows of its selected mailbox, and the one rule for what it is told.
//!
//! # The ordering rule (docs/architecture.md §7, "Live updates and the ordering rule")
//! Every change to a mailbox has a place in its change sequence, its MODSEQ, and the store
//! publishes one account's changes in that order. A session keeps a **cursor**: the MODSEQ up
//! to which it has applied the mailbox's changes. Everything it is told about other sessions'
//! work (EXISTS, EXPUNGE / VANISHED, FETCH FLAGS / MODSEQ, FLAGS) is derived from changes
//! after its cursor, in order. A command can also read a message's state straight from the
//! store (FETCH, the reply to STORE), which may be ahead of the cursor; `ahead` remembers the
//! MODSEQ told for such a message, and a change at or below it is not told again. So:
//! - nothing older ever follows something newer: per message, the MODSEQ (and the flag state)
//!   a session is told only moves forward;
//! - a session's own STORE reply and the echo of that change are the same state (the echo is
//!   dropped); several changes to one message since the last report are told once, as the
//!   newest state;
//! - a keyword is announced by untagged FLAGS (and PERMANENTFLAGS) before any FETCH carries
//!   it (RFC 3501 §7.2.6): [`Selected::announce`] is called before every FLAGS item is written.
//!
//! Expunges are told only where RFC 3501 §7.4.1 allows; until then the message keeps its
//! sequence number and stays readable through the store [`View`] (RFC 2180 §4.1.1). The view's
//! cursor moves only past expunges this session has told.

#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use store::{Change, Flags, Mailbox, MessageMeta, ModSeq, Uid, View};

use crate::response;

/// A message sequence number (RFC 3501 §2.3.1.2): the message's position, from 1, in the
/// session's view of the mailbox ([`Selected::uids`]). It changes when the session is told of
/// an expunge, so it is never stored or passed where a [`Uid`] belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNum(u32);

impl SeqNum {
    /// Wraps a number from the wire (RFC 3501 §9 `seq-number`).
    pub const fn new(n: u32) -> SeqNum {
        SeqNum(n)
    }

    /// The bare number, for the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The sequence number of the message at `index` of [`Selected::uids`].
    pub fn from_index(index: usize) -> SeqNum {
        // A session holds at most one entry per UID, and UIDs are u32.
        SeqNum(u32::try_from(index + 1).unwrap_or(u32::MAX))
    }
}

impl std::fmt::Display for SeqNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<SeqNum> for u32 {
    fn from(n: SeqNum) -> u32 {
        n.0
    }
}

/// What a session knows of its selected mailbox.
pub struct Selected {
    pub mailbox: Mailbox,
    /// EXAMINE, or SELECT of a mailbox we may not change.
    pub read_only: bool,
    /// UIDs in message-sequence order as the client knows them (seq = index + 1), including
    /// messages added since the last EXISTS (`announced` says how many the client knows).
    pub uids: Vec<Uid>,
    /// How many messages the client was told exist (last EXISTS, minus EXPUNGEs since).
    pub announced: usize,
    /// UIDs that are \Recent for this session (RFC 3501 §2.3.2).
    pub recent: BTreeSet<Uid>,
    /// The store's registration that keeps expunged messages readable until told.
    pub view: View,
    /// MODSEQ up to which the mailbox's changes have been applied.
    pub cursor: ModSeq,
    /// Messages whose state was told at a MODSEQ above `cursor` (read from the store by a
    /// command): uid → that MODSEQ.
    pub ahead: HashMap<Uid, ModSeq>,
    /// Keywords announced in FLAGS / PERMANENTFLAGS.
    pub keywords: BTreeSet<String>,
    /// Expunges not yet told (RFC 3501 §7.4.1): uid → MODSEQ of the expunge.
    pub pending_expunge: BTreeMap<Uid, ModSeq>,
    /// RFC 5182 §2.1: the last result a `SEARCH RETURN (SAVE)` kept, as UIDs (`$`); empty
    /// when the mailbox is selected.
    pub saved: Vec<Uid>,
    /// RFC 5267 §4 searches kept with `RETURN (UPDATE)` (`cmd/context.rs`); they end with the
    /// selection.
    pub contexts: Vec<crate::cmd::context::SearchContext>,
    /// The mailbox's sort and thread fields, shared with its other sessions (`sort_cache`).
    pub sort_fields: std::sync::Arc<crate::sort_cache::MailboxFields>,
}

/// Untagged output of applying changes, and what the session must do after writing it.
#[derive(Default)]
pub struct Applied {
    pub out: Vec<u8>,
    /// The selected mailbox was deleted: the output ends with BYE, the session closes.
    pub closed: bool,
}

/// The options of the session that shape untagged responses.
#[derive(Clone, Copy)]
pub struct Tell {
    /// RFC 7162 §3.1: unsolicited FETCH carries UID and MODSEQ.
    pub condstore: bool,
    /// RFC 7162 §3.2.10: VANISHED instead of EXPUNGE.
    pub qresync: bool,
    /// EXPUNGE / VANISHED may be sent now (not during FETCH, STORE, SEARCH).
    pub allow_expunge: bool,
}

impl Selected {
    /// The sequence number the client knows message `uid` by.
    pub fn seq_of(&self, uid: Uid) -> Option<SeqNum> {
        self.uids.binary_search(&uid).ok().map(SeqNum::from_index)
    }

    /// The highest sequence number (the number of messages the session holds; `*` in a
    /// sequence set, RFC 3501 §9).
    pub fn max_seq(&self) -> SeqNum {
        SeqNum(u32::try_from(self.uids.len()).unwrap_or(u32::MAX))
    }

    /// The highest UID the session holds, 0 when none (`*` in a UID set).
    pub fn max_uid(&self) -> Uid {
        self.uids.last().copied().unwrap_or(Uid::new(0))
    }

    /// The MODSEQ up to which this session knows message `uid`'s state changes.
    pub fn told(&self, uid: Uid) -> ModSeq {
        self.ahead
            .get(&uid)
            .copied()
            .unwrap_or(ModSeq::ZERO)
            .max(self.cursor)
    }

    /// Records that `uid`'s state at `modseq` was told (a FETCH with FLAGS or MODSEQ).
    pub fn mark_told(&mut self, uid: Uid, modseq: ModSeq) {
        if modseq > self.cursor {
            let e = self.ahead.entry(uid).or_insert(modseq);
            *e = (*e).max(modseq);
        }
    }

    /// The MODSEQ the client may take as its HIGHESTMODSEQ: every change at or below it has
    /// been told (expunges not yet told keep it below their MODSEQ).
    pub fn known_modseq(&self) -> ModSeq {
        match self.pending_expunge.values().min() {
            Some(&m) => m.prev().min(self.cursor),
            None => self.cursor,
        }
    }

    /// A message the client may address: live, or expunged but not yet told.
    pub fn message(&self, uid: Uid) -> Result<Option<MessageMeta>, store::Error> {
        self.view.message(uid)
    }

    /// RFC 3501 §7.2.6: announces, before a FETCH carries them, keywords the client has not
    /// been told of (FLAGS, then PERMANENTFLAGS for a read-write mailbox).
    pub fn announce(&mut self, flags: &Flags, out: &mut Vec<u8>) {
        let new: Vec<&String> = flags
            .keywords
            .iter()
            .filter(|k| !self.keywords.iter().any(|a| a.eq_ignore_ascii_case(k)))
            .collect();
        if new.is_empty() {
            return;
        }
        for k in new {
            self.keywords.insert(k.clone());
        }
        out.extend_from_slice(self.flags_lines().as_bytes());
    }

    /// The untagged FLAGS and PERMANENTFLAGS lines for the keywords known so far
    /// (RFC 3501 §7.2.6, §7.1 PERMANENTFLAGS; `\*`: clients may create keywords).
    pub fn flags_lines(&self) -> String {
        let kw: String = self.keywords.iter().map(|k| format!(" {k}")).collect();
        let mut s = format!("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})\r\n");
        if self.read_only {
            s.push_str("* OK [PERMANENTFLAGS ()] read-only mailbox\r\n");
        } else {
            s.push_str(&format!(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] flags permitted\r\n"
            ));
        }
        s
    }

    /// Applies the changes (of any of the account's mailboxes, in the order published) and
    /// returns the untagged responses RFC 3501 §7 allows now. `resync` holds the store's
    /// current state when changes were lost (a lagged channel, the IDLE re-check).
    pub fn apply(
        &mut self,
        changes: Vec<Change>,
        resync: Option<(Mailbox, Vec<MessageMeta>)>,
        tell: Tell,
    ) -> Applied {
        let mbid = self.mailbox.id;
        let mut applied = Applied::default();
        // Newest state per message since the last report (several changes are told once).
        let mut flags: BTreeMap<Uid, (Flags, ModSeq)> = BTreeMap::new();
        if let Some((mb, metas)) = resync {
            self.resync(mb, metas, &mut flags);
        }
        for c in changes {
            match c {
                Change::Appended {
                    mailbox,
                    uid,
                    modseq,
                } if mailbox == mbid => {
                    if modseq <= self.cursor {
                        continue;
                    }
                    self.cursor = modseq;
                    // UIDs are given in commit order, and changes published in commit order.
                    if self.uids.last().is_none_or(|&l| uid > l) {
                        self.uids.push(uid);
                    }
                }
                Change::FlagsChanged {
                    mailbox,
                    uid,
                    flags: f,
                    modseq,
                } if mailbox == mbid => {
                    if modseq <= self.cursor {
                        continue;
                    }
                    self.cursor = modseq;
                    // Not when a command already told this state or a newer one.
                    if self.ahead.get(&uid).is_none_or(|&a| modseq > a)
                        && self.seq_of(uid).is_some()
                    {
                        flags.insert(uid, (f, modseq));
                    }
                }
                Change::Expunged {
                    mailbox,
                    uids,
                    modseq,
                } if mailbox == mbid => {
                    if modseq <= self.cursor {
                        continue;
                    }
                    self.cursor = modseq;
                    for u in uids {
                        if self.seq_of(u).is_some() {
                            self.pending_expunge.entry(u).or_insert(modseq);
                        }
                    }
                }
                Change::MailboxRenamed { mailbox, to, .. } if mailbox == mbid => {
                    self.mailbox.name = to
                }
                Change::MailboxDeleted { mailbox, .. } if mailbox == mbid => applied.closed = true,
                _ => {}
            }
        }
        let out = &mut applied.out;
        self.drop_unannounced_expunges();
        if tell.allow_expunge {
            self.tell_expunges(tell.qresync, out);
        }
        if self.uids.len() > self.announced {
            // RFC 3501 §2.3.2: the first session to see a new message gets it as \Recent;
            // EXAMINE never claims (RFC 3501 §6.3.2), it shows what nobody has claimed.
            let from = if self.read_only {
                self.view.peek_recent()
            } else {
                self.view.claim_recent()
            };
            match from {
                Ok(from) => {
                    let new = &self.uids[self.announced..];
                    self.recent.extend(new.iter().filter(|&&u| u >= from));
                }
                Err(e) => tracing::warn!("claiming \\Recent: {e}"),
            }
        }
        if self.uids.len() > self.announced {
            // RFC 3501 §7.2.6: the client learns every keyword in use before it learns of a
            // message carrying one (a message appended or copied elsewhere with keywords).
            let new: Vec<Uid> = self.uids[self.announced..].to_vec();
            for u in new {
                match self.message(u) {
                    Ok(Some(m)) => self.announce(&m.flags, out),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("reading flags of a new message: {e}"),
                }
            }
        }
        if self.uids.len() != self.announced {
            // RFC 3501 §7.3.1 / §7.3.2.
            out.extend_from_slice(
                format!(
                    "* {} EXISTS\r\n* {} RECENT\r\n",
                    self.uids.len(),
                    self.recent.len()
                )
                .as_bytes(),
            );
            self.announced = self.uids.len();
        }
        for (uid, (f, modseq)) in flags {
            let Some(seq) = self.seq_of(uid) else {
                continue;
            };
            self.announce(&f, out);
            let fl = response::flags(&f, self.recent.contains(&uid));
            // RFC 3501 §7.4.2 unsolicited FETCH, always with the UID (clients match it
            // without a sequence-number map); RFC 7162 §3.1 / §3.2.4: MODSEQ once CONDSTORE
            // (or QRESYNC) is on.
            let line = if tell.condstore || tell.qresync {
                format!("* {seq} FETCH (UID {uid} FLAGS {fl} MODSEQ ({modseq}))\r\n")
            } else {
                format!("* {seq} FETCH (UID {uid} FLAGS {fl})\r\n")
            };
            out.extend_from_slice(line.as_bytes());
            self.mark_told(uid, modseq);
        }
        if applied.closed {
            // Nothing in IMAP4rev1 can announce it to a selected session: say why and close
            // (as Dovecot does) instead of answering for a mailbox that is gone.
            out.extend_from_slice(b"* BYE selected mailbox was deleted by another session\r\n");
        }
        let cursor = self.cursor;
        self.ahead.retain(|_, m| *m > cursor);
        self.view.advance(self.known_modseq());
        applied
    }

    /// Takes the store's state as the truth after lost changes: messages gone become pending
    /// expunges, new ones are appended, changed flags are queued for telling.
    fn resync(
        &mut self,
        mb: Mailbox,
        metas: Vec<MessageMeta>,
        flags: &mut BTreeMap<Uid, (Flags, ModSeq)>,
    ) {
        let now: HashMap<Uid, &MessageMeta> = metas.iter().map(|m| (m.uid, m)).collect();
        for &u in &self.uids {
            match now.get(&u) {
                // The expunge's MODSEQ is unknown but above the cursor: keep the view below.
                None => {
                    self.pending_expunge.entry(u).or_insert(self.cursor.next());
                }
                Some(m) if m.modseq > self.told(u) => {
                    flags.insert(u, (m.flags.clone(), m.modseq));
                }
                Some(_) => {}
            }
        }
        let last = self.max_uid();
        for m in metas.iter().filter(|m| m.uid > last) {
            self.uids.push(m.uid);
            flags.insert(m.uid, (m.flags.clone(), m.modseq));
        }
        self.cursor = self.cursor.max(mb.highestmodseq);
    }

    /// Messages added and expunged before the client heard of them vanish silently (they
    /// are always at the end of the list, so no told sequence number moves).
    fn drop_unannounced_expunges(&mut self) {
        let mut i = self.announced;
        while i < self.uids.len() {
            if self.pending_expunge.remove(&self.uids[i]).is_some() {
                self.uids.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// EXPUNGE (RFC 3501 §7.4.1) or, with QRESYNC, VANISHED (RFC 7162 §3.2.10) for every
    /// pending expunge.
    fn tell_expunges(&mut self, qresync: bool, out: &mut Vec<u8>) {
        if self.pending_expunge.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.pending_expunge);
        let mut vanished = Vec::new();
        // Each EXPUNGE renumbers the messages after it: descending order keeps it simple.
        for (&uid, _) in gone.iter().rev() {
            let Some(i) = self.uids.binary_search(&uid).ok() else {
                continue;
            };
            let seq = SeqNum::from_index(i);
            self.uids.remove(i);
            self.announced = self.announced.saturating_sub(1);
            self.recent.remove(&uid);
            self.ahead.remove(&uid);
            if qresync {
                vanished.push(uid);
            } else {
                out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
            }
        }
        if !vanished.is_empty() {
            vanished.sort_unstable();
            out.extend_from_slice(
                format!("* VANISHED {}\r\n", response::sequence_set(&vanished)).as_bytes(),
            );
        }
    }
}
