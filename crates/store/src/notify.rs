//! Per-account change channels. Every durable change is published so live sessions (IMAP IDLE,
//! the dashboard) of the same account learn of it without polling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::model::{AccountId, Flags, MailboxId, Uid};

/// A change to one account's mailboxes, published after it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A message was added (delivery, APPEND, COPY, MOVE).
    Appended {
        mailbox: MailboxId,
        uid: Uid,
        modseq: u64,
    },
    /// A message's flags changed; `origin` is the session that did it (0 = none), so it can
    /// skip the echo it already reported.
    FlagsChanged {
        mailbox: MailboxId,
        uid: Uid,
        flags: Flags,
        modseq: u64,
        origin: u64,
    },
    /// Messages were removed (EXPUNGE, POP3 QUIT, MOVE source).
    Expunged {
        mailbox: MailboxId,
        uids: Vec<Uid>,
        modseq: u64,
    },
    /// Mailbox created.
    MailboxCreated { mailbox: MailboxId, name: String },
    /// Mailbox renamed.
    MailboxRenamed {
        mailbox: MailboxId,
        from: String,
        to: String,
    },
    /// Mailbox deleted.
    MailboxDeleted { mailbox: MailboxId, name: String },
}

#[derive(Default)]
pub(crate) struct Hub {
    channels: Mutex<HashMap<AccountId, broadcast::Sender<Change>>>,
    /// Committed changes not yet published, by write sequence number (commit order).
    outbox: Mutex<BTreeMap<u64, Vec<(AccountId, Change)>>>,
}

const CAPACITY: usize = 4096;

impl Hub {
    pub(crate) fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        let mut map = crate::lock(&self.channels);
        map.entry(account)
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Queues the changes of write `seq` until it is durable.
    pub(crate) fn queue(&self, seq: u64, changes: Vec<(AccountId, Change)>) {
        crate::lock(&self.outbox).insert(seq, changes);
    }

    /// Publishes, in commit order, every queued change of a write `<= durable`. The outbox
    /// lock is held while publishing so two releasers cannot interleave.
    pub(crate) fn release(&self, durable: u64) {
        let mut outbox = crate::lock(&self.outbox);
        let later = outbox.split_off(&(durable + 1));
        let ready = std::mem::replace(&mut *outbox, later);
        for (_, changes) in ready {
            for (account, change) in changes {
                self.publish(account, [change]);
            }
        }
    }

    pub(crate) fn publish(&self, account: AccountId, changes: impl IntoIterator<Item = Change>) {
        let mut map = crate::lock(&self.channels);
        let Some(tx) = map.get(&account) else { return };
        if tx.receiver_count() == 0 {
            map.remove(&account);
            return;
        }
        for c in changes {
            let _ = tx.send(c);
        }
    }
}
