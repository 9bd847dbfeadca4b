//! Store change events → untagged responses for the selected mailbox (RFC 3501 §7.3.1,
//! §7.4.1, §7.4.2; RFC 7162 §3.2.10 VANISHED; RFC 2177 IDLE uses the same path).

use std::collections::BTreeSet;

use store::{Change, Uid};
use tokio::sync::broadcast;

use crate::response;
use crate::session::{Session, State};

impl Session {
    /// Applies pending store changes to the selected mailbox and writes the untagged responses
    /// RFC 3501 §7 allows now. With `allow_expunge` false (FETCH/STORE/SEARCH) expunges wait.
    pub fn sync_events(&mut self, allow_expunge: bool) {
        let Some(rx) = self.rx.as_mut() else { return };
        let mut changes = Vec::new();
        let mut lagged = false;
        loop {
            match rx.try_recv() {
                Ok(c) => changes.push(c),
                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        let out = self.apply_changes(changes, lagged, allow_expunge);
        if !out.is_empty() {
            self.conn.write(&out);
        }
    }

    /// Turns changes into untagged responses (returned, not written). When the selected
    /// mailbox was deleted by another session the output ends with `* BYE` and the session
    /// is marked closing.
    pub fn apply_changes(
        &mut self,
        changes: Vec<Change>,
        lagged: bool,
        allow_expunge: bool,
    ) -> Vec<u8> {
        let store = self.ctx.auth.store().clone();
        let me = self.id;
        let (condstore, qresync) = (self.condstore, self.qresync);
        let State::Selected { sel, .. } = &mut self.state else {
            return vec![];
        };
        let mbid = sel.mailbox.id;
        let mut out = Vec::new();
        let mut appended = false;
        let mut deleted = false;
        let mut new_uids: Vec<Uid> = Vec::new();
        let mut gap = false;
        for c in changes {
            match c {
                Change::Appended { mailbox, uid, .. } if mailbox == mbid => {
                    if sel.uids.last().is_none_or(|&l| uid > l) {
                        new_uids.push(uid);
                    } else if sel.seq_of(uid).is_none() {
                        // An older UID we never saw: never drop it, resynchronise instead.
                        gap = true;
                    }
                }
                Change::Expunged { mailbox, uids, .. } if mailbox == mbid => {
                    sel.pending_expunge.extend(uids);
                }
                Change::FlagsChanged {
                    mailbox,
                    uid,
                    flags,
                    modseq,
                    origin,
                } if mailbox == mbid && origin != me => {
                    if let Some(seq) = sel.seq_of(uid) {
                        let f = response::flags(&flags, sel.recent.contains(&uid));
                        // RFC 7162 §3.1: after a CONDSTORE enabling command, unsolicited
                        // FETCH responses carry MODSEQ.
                        let m = if condstore {
                            format!(" MODSEQ ({modseq})")
                        } else {
                            String::new()
                        };
                        out.extend_from_slice(
                            format!("* {seq} FETCH (UID {uid} FLAGS {f}{m})\r\n").as_bytes(),
                        );
                    }
                }
                Change::MailboxRenamed { mailbox, to, .. } if mailbox == mbid => {
                    sel.mailbox.name = to
                }
                Change::MailboxDeleted { mailbox, .. } if mailbox == mbid => deleted = true,
                _ => {}
            }
        }
        if !new_uids.is_empty() {
            // New messages get the next sequence numbers in UID order (RFC 3501 §2.3.1.1).
            // Read them from the store rather than trusting event order: if concurrent
            // writers' events ever arrive as UID n+1 before n, n must not be skipped.
            let last = sel.uids.last().copied().unwrap_or(0);
            match store.messages_from(mbid, last.saturating_add(1)) {
                Ok(metas) => sel.uids.extend(metas.iter().map(|m| m.uid)),
                Err(e) => {
                    tracing::warn!("reading new messages: {e}");
                    new_uids.sort_unstable();
                    new_uids.dedup();
                    sel.uids.extend(new_uids);
                }
            }
            appended = sel.uids.last().copied().unwrap_or(0) > last;
        }
        if lagged || gap {
            // Missed (or out-of-order) events: resynchronise from the store.
            if let Ok(metas) = store.messages(mbid) {
                let now: BTreeSet<Uid> = metas.iter().map(|m| m.uid).collect();
                sel.pending_expunge
                    .extend(sel.uids.iter().filter(|u| !now.contains(u)));
                let last = sel.uids.last().copied().unwrap_or(0);
                for m in metas.iter().filter(|m| m.uid > last) {
                    sel.uids.push(m.uid);
                    appended = true;
                }
            }
        }
        if allow_expunge && !sel.pending_expunge.is_empty() {
            let mut gone = std::mem::take(&mut sel.pending_expunge);
            gone.sort_unstable();
            gone.dedup();
            let mut vanished = Vec::new();
            // RFC 3501 §7.4.1: each EXPUNGE renumbers; send in descending order to keep it simple.
            for uid in gone.iter().rev() {
                if let Some(seq) = sel.seq_of(*uid) {
                    sel.uids.remove(seq as usize - 1);
                    sel.recent.remove(uid);
                    if qresync {
                        vanished.push(*uid);
                    } else {
                        out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                    }
                }
            }
            if !vanished.is_empty() {
                // RFC 7162 §3.2.10: once QRESYNC is enabled, VANISHED replaces EXPUNGE.
                vanished.sort_unstable();
                out.extend_from_slice(
                    format!("* VANISHED {}\r\n", response::sequence_set(&vanished)).as_bytes(),
                );
            }
        }
        if appended {
            if let Ok(from) = store.claim_recent(mbid) {
                sel.recent.extend(sel.uids.iter().filter(|&&u| u >= from));
            }
            // RFC 3501 §7.3.1 / §7.3.2.
            out.extend_from_slice(
                format!(
                    "* {} EXISTS\r\n* {} RECENT\r\n",
                    sel.uids.len(),
                    sel.recent.len()
                )
                .as_bytes(),
            );
        }
        if deleted {
            // Nothing in IMAP4rev1 can announce it to a selected session: say why and close
            // (as Dovecot does) instead of answering for a mailbox that is gone.
            out.extend_from_slice(b"* BYE selected mailbox was deleted by another session\r\n");
            self.closing = true;
        }
        out
    }
}
