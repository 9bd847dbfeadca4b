//! Per-account change channels. Every durable change is published so live sessions (IMAP IDLE,
//! the dashboard) of the same account learn of it without polling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::model::{AccountId, Flags, MailboxId, ModSeq, Uid};

/// A change to one account's mailboxes, published after it is on disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    /// A message was added (delivery, APPEND, COPY, MOVE).
    Appended {
        mailbox: MailboxId,
        uid: Uid,
        modseq: ModSeq,
    },
    /// A message's flags changed. Which session did it is in [`Activity::origin`]; IMAP
    /// sessions do not need it (they compare MODSEQs, see imapd's `view` module).
    FlagsChanged {
        mailbox: MailboxId,
        uid: Uid,
        flags: Flags,
        modseq: ModSeq,
    },
    /// Messages were removed (EXPUNGE, POP3 QUIT, MOVE source).
    Expunged {
        mailbox: MailboxId,
        uids: Vec<Uid>,
        modseq: ModSeq,
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
    /// Changes of this account may have been lost (a node's link to the shared database
    /// went down, or one change was too large to send between nodes): a subscriber reads
    /// again what it shows, as after a lagged channel (docs/architecture.md §12.3).
    Resync,
}

/// A change of any account, with the session that made it: what the dashboard watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub account: AccountId,
    pub change: Change,
    /// The session (`net` session id) whose task made the change; 0 when none did (REST
    /// API, command line, tests). Set with [`with_origin`].
    pub origin: u64,
}

tokio::task_local! {
    static ORIGIN: u64;
}

/// Runs `f` with every store change it makes attributed to session `origin` (see
/// [`Activity::origin`]). Servers wrap each session's task in it.
pub async fn with_origin<F: std::future::Future>(origin: u64, f: F) -> F::Output {
    ORIGIN.scope(origin, f).await
}

/// The session of the running task, 0 outside [`with_origin`].
pub fn current_origin() -> u64 {
    ORIGIN.try_with(|o| *o).unwrap_or(0)
}

/// Changes of one committed write: their origin and (account, change) pairs.
type Batch = (u64, Vec<(AccountId, Change)>);

pub(crate) struct Hub {
    channels: Mutex<HashMap<AccountId, broadcast::Sender<Change>>>,
    /// Every account's changes (dashboard); sent only while someone listens.
    all: broadcast::Sender<Activity>,
    /// Committed changes not yet published, by write sequence number (commit order).
    outbox: Mutex<BTreeMap<u64, Batch>>,
}

const CAPACITY: usize = 4096;

impl Default for Hub {
    fn default() -> Self {
        Hub {
            channels: Mutex::default(),
            all: broadcast::channel(CAPACITY).0,
            outbox: Mutex::default(),
        }
    }
}

impl Hub {
    pub(crate) fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        let mut map = crate::lock(&self.channels);
        map.entry(account)
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Open subscriptions to one account's changes.
    pub(crate) fn subscribers(&self, account: AccountId) -> usize {
        crate::lock(&self.channels)
            .get(&account)
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Subscribes to every account's changes.
    pub(crate) fn subscribe_all(&self) -> broadcast::Receiver<Activity> {
        self.all.subscribe()
    }

    /// Queues the changes of write `seq` until it is durable; the origin is the session of
    /// the calling task.
    pub(crate) fn queue(&self, seq: u64, changes: Vec<(AccountId, Change)>) {
        crate::lock(&self.outbox).insert(seq, (current_origin(), changes));
    }

    /// Publishes, in commit order, every queued change of a write `<= durable`. The outbox
    /// lock is held while publishing so two releasers cannot interleave.
    pub(crate) fn release(&self, durable: u64) {
        let mut outbox = crate::lock(&self.outbox);
        let later = outbox.split_off(&(durable + 1));
        let ready = std::mem::replace(&mut *outbox, later);
        for (_, (origin, changes)) in ready {
            for (account, change) in changes {
                self.announce(account, change, origin);
            }
        }
    }

    /// Publishes one change to the account's subscribers and the dashboard's.
    pub(crate) fn announce(&self, account: AccountId, change: Change, origin: u64) {
        if self.all.receiver_count() > 0 {
            let _ = self.all.send(Activity {
                account,
                change: change.clone(),
                origin,
            });
        }
        self.publish(account, [change]);
    }

    /// The accounts someone is subscribed to now.
    pub(crate) fn subscribed_accounts(&self) -> Vec<AccountId> {
        crate::lock(&self.channels).keys().copied().collect()
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
