//! The sort and thread fields of a mailbox's messages (`sort::Fields`: dates, base subject,
//! first addresses, Message-ID, References), read from each header once and shared by every
//! session that has the mailbox selected, so a second SORT or THREAD of a large mailbox
//! compares what is in memory instead of reading 100,000 headers again (docs/architecture.md
//! §3.6). A message's header never changes and a UID is never reused, so an entry never goes
//! stale; entries of expunged messages stay until the mailbox's last session leaves it, and
//! then the whole cache of that mailbox goes (nothing is kept for mailboxes nobody selected).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use store::{MailboxId, Uid};

use crate::sort::{Fields, Key};

/// The caches of every selected mailbox of a server (in `Ctx`; cheap to clone).
#[derive(Clone, Default)]
pub struct SortCache {
    mailboxes: Arc<Mutex<HashMap<MailboxId, Weak<MailboxFields>>>>,
}

/// One mailbox's fields by UID, alive while a session holds it (`Selected::sort_fields`).
#[derive(Default)]
pub struct MailboxFields {
    by_uid: Mutex<HashMap<Uid, Arc<Fields>>>,
    /// The last SORT's criteria, the UIDs it sorted (in mailbox order) and their order: the
    /// same criteria over the same UIDs give the same order (the fields of a UID never
    /// change), so a repeated SORT of an unchanged result skips the sort.
    last_sort: Mutex<Option<SortMemo>>,
}

struct SortMemo {
    keys: Vec<Key>,
    uids: Vec<Uid>,
    order: Arc<Vec<usize>>,
}

impl SortCache {
    /// The cache of `mailbox`, shared with the other sessions that have it selected.
    pub fn attach(&self, mailbox: MailboxId) -> Arc<MailboxFields> {
        let mut map = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = map.get(&mailbox).and_then(Weak::upgrade) {
            return live;
        }
        // Forget mailboxes whose last session left.
        map.retain(|_, w| w.strong_count() > 0);
        let fresh = Arc::new(MailboxFields::default());
        map.insert(mailbox, Arc::downgrade(&fresh));
        fresh
    }
}

impl MailboxFields {
    /// The fields of `uids`, reading the headers of those not cached with `read` (outside
    /// the lock, so a slow first SORT does not hold up other sessions' cached ones).
    pub fn get_all(&self, uids: &[Uid], mut read: impl FnMut(usize) -> Fields) -> Vec<Arc<Fields>> {
        let mut out: Vec<Option<Arc<Fields>>> = {
            let map = self.by_uid.lock().unwrap_or_else(|p| p.into_inner());
            uids.iter().map(|u| map.get(u).cloned()).collect()
        };
        let mut new = Vec::new();
        for (i, slot) in out.iter_mut().enumerate() {
            if slot.is_none() {
                let f = Arc::new(read(i));
                new.push((uids[i], f.clone()));
                *slot = Some(f);
            }
        }
        if !new.is_empty() {
            self.by_uid
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(new);
        }
        out.into_iter().flatten().collect()
    }

    /// The order a SORT by `keys` gave `uids` before, if it was the last one.
    pub fn sorted(&self, keys: &[Key], uids: &[Uid]) -> Option<Arc<Vec<usize>>> {
        let memo = self.last_sort.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref()
            .filter(|m| m.keys == keys && m.uids == uids)
            .map(|m| m.order.clone())
    }

    /// Remembers a SORT's order.
    pub fn remember_sort(&self, keys: &[Key], uids: Vec<Uid>, order: Arc<Vec<usize>>) {
        *self.last_sort.lock().unwrap_or_else(|p| p.into_inner()) = Some(SortMemo {
            keys: keys.to_vec(),
            uids,
            order,
        });
    }

    /// How many messages are cached (tests).
    pub fn len(&self) -> usize {
        self.by_uid.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_while_selected_and_gone_after() {
        let cache = SortCache::default();
        let mb = MailboxId::new(7);
        let a = cache.attach(mb);
        let b = cache.attach(mb);
        let uids = [Uid::new(1), Uid::new(2)];
        let mut reads = 0;
        let f = a.get_all(&uids, |i| {
            reads += 1;
            Fields {
                size: i as u64,
                ..Fields::default()
            }
        });
        assert_eq!((reads, f[1].size), (2, 1));
        // The other session's SORT reads nothing again.
        let again = b.get_all(&uids, |_| unreachable!("cached"));
        assert_eq!(again.len(), 2);
        drop((a, b, f, again));
        // Nobody has the mailbox: a new selection starts empty.
        assert!(cache.attach(mb).is_empty());
    }
}
