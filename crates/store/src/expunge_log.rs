//! The expunge log that QRESYNC answers from (RFC 7162 §3.2.5.1): every expunge is recorded
//! with its MODSEQ (`expunge_log`: mailbox ‖ modseq ‖ uid), so "what vanished since MODSEQ m"
//! is one range scan.
//!
//! The log is bounded: the compactor keeps at most [`MAX_PER_MAILBOX`] entries per mailbox
//! (pruning the oldest down to half of it) and drops the entries of deleted mailboxes. A
//! pruned mailbox remembers its *floor*, the highest MODSEQ it forgot. A client asking about
//! changes since a MODSEQ below the floor gets every UID below UIDNEXT that is not in the
//! mailbox now: a superset of what really vanished, which RFC 7162 §3.2.5.1 allows (a client
//! ignores UIDs it does not have), never a wrong answer.

use std::collections::HashMap;

use crate::backend::{Backend, Batch, TreeId, Value};
use crate::model::{MailboxId, ModSeq, Uid};
use crate::{keys, Result, Store};

/// Expunges remembered per mailbox before the oldest are pruned.
pub const MAX_PER_MAILBOX: usize = 1_000;

impl Store {
    /// UIDs expunged from `mailbox` with a MODSEQ above `modseq`, as sorted inclusive ranges
    /// (RFC 7162 §3.2.5.2 VANISHED (EARLIER)). Below the pruning floor, every UID under
    /// UIDNEXT that is not in the mailbox now (see the module docs).
    pub fn expunged_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<(Uid, Uid)>> {
        let db = &self.inner.db;
        let floor = match db.get(TreeId::ExpungeFloor, keys::mailbox_id(mailbox))? {
            Some(v) => ModSeq::new(keys::read_u64(&v)),
            None => ModSeq::ZERO,
        };
        if modseq >= floor {
            let from = keys::expunge(mailbox, modseq.next(), Uid::new(0));
            let to = keys::expunge(mailbox, ModSeq::MAX, Uid::MAX);
            let mut uids = Vec::new();
            for k in db.range(TreeId::ExpungeLog, from, to).keys() {
                uids.push(keys::read_expunge(&k?).2);
            }
            uids.sort_unstable();
            uids.dedup();
            return Ok(to_ranges(&uids));
        }
        let Some(mb) = self.mailbox_by_id(mailbox)? else {
            return Ok(vec![]);
        };
        let live: Vec<Uid> = self.messages(mailbox)?.iter().map(|m| m.uid).collect();
        let mut out = Vec::new();
        let mut next = Uid::new(1);
        for u in live.into_iter().chain(std::iter::once(mb.uidnext)) {
            if u > next {
                out.push((next, u.prev()));
            }
            next = u.next();
        }
        Ok(out)
    }

    /// Moves entries of the log kept by earlier versions (`expunged`: mailbox ‖ uid → modseq)
    /// into `expunge_log`, once, at open.
    pub(crate) fn migrate_expunge_log(&self) -> Result<()> {
        let db = &self.inner.db;
        if db.is_empty(TreeId::Expunged)? {
            return Ok(());
        }
        let mut batch = Batch::default();
        let mut old = Batch::default();
        for kv in db.iter(TreeId::Expunged) {
            let (k, v) = kv?;
            let key = keys::expunge(
                keys::read_mailbox_id(&k),
                ModSeq::new(keys::read_u64(&v)),
                keys::message_uid(&k),
            );
            batch.insert(key, b"");
            old.remove(k);
        }
        db.apply_batch(TreeId::ExpungeLog, batch)?;
        db.apply_batch(TreeId::Expunged, old)?;
        self.inner.durable.mark_written();
        Ok(())
    }
}

/// Sorted, deduplicated UIDs → inclusive ranges.
fn to_ranges(uids: &[Uid]) -> Vec<(Uid, Uid)> {
    let mut out: Vec<(Uid, Uid)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some((_, hi)) if u == hi.next() => *hi = u,
            _ => out.push((u, u)),
        }
    }
    out
}

/// The compactor's part: prunes mailboxes over [`MAX_PER_MAILBOX`] and drops the entries of
/// deleted mailboxes. Returns how many entries went.
pub(crate) fn prune(db: &Backend) -> Result<usize> {
    let mut per: HashMap<MailboxId, Vec<Value>> = HashMap::new();
    for k in db.iter(TreeId::ExpungeLog).keys() {
        let k = k?;
        per.entry(keys::read_mailbox_id(&k)).or_default().push(k);
    }
    let mut removed = 0;
    for (mailbox, entries) in per {
        let mut batch = Batch::default();
        if !db.contains(TreeId::MailboxIds, keys::mailbox_id(mailbox))? {
            for k in &entries {
                batch.remove(k);
            }
            db.remove(TreeId::ExpungeFloor, keys::mailbox_id(mailbox))?;
            removed += entries.len();
        } else if entries.len() > MAX_PER_MAILBOX {
            // Keys are in MODSEQ order: the first ones are the oldest.
            let cut = entries.len() - MAX_PER_MAILBOX / 2;
            let mut floor = ModSeq::ZERO;
            for k in &entries[..cut] {
                floor = floor.max(keys::read_expunge(k).1);
                batch.remove(k);
            }
            // The floor first: a reader never sees the entries gone without it.
            db.insert(
                TreeId::ExpungeFloor,
                keys::mailbox_id(mailbox),
                keys::id(floor.get()),
            )?;
            removed += cut;
        } else {
            continue;
        }
        db.apply_batch(TreeId::ExpungeLog, batch)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let u = Uid::new;
        let uids: Vec<Uid> = [1, 2, 3, 5, 7, 8].map(u).to_vec();
        assert_eq!(
            to_ranges(&uids),
            vec![(u(1), u(3)), (u(5), u(5)), (u(7), u(8))]
        );
        assert_eq!(to_ranges(&[]), vec![]);
    }
}
