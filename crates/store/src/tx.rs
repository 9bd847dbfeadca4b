//! One helper to run a transaction over every tree (through the backend seam, `backend`), with
//! named views and our error type.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::{TreeId, TxError, TxTree, TxView};
use crate::keys;
use crate::model::{AccountId, BlobId, MailboxId, MessageMeta, Uid};
use crate::notify::Change;
use crate::{Error, Result, Store};

pub(crate) use crate::backend::TxResult;

/// Named transactional views of the store's trees.
pub(crate) struct Tx<'a> {
    pub accounts: TxTree<'a>,
    pub account_ids: TxTree<'a>,
    pub aliases: TxTree<'a>,
    pub mailboxes: TxTree<'a>,
    pub mailbox_ids: TxTree<'a>,
    pub messages: TxTree<'a>,
    pub blobs: TxTree<'a>,
    pub structure: TxTree<'a>,
    pub refs: TxTree<'a>,
    pub usage: TxTree<'a>,
    pub expunge_log: TxTree<'a>,
    pub pinned: TxTree<'a>,
    pub blob_locs: TxTree<'a>,
    pub subscriptions: TxTree<'a>,
    pub sieve: TxTree<'a>,
    /// Bumped by every blob release (wakes the compactor).
    pub deletes: &'a std::sync::atomic::AtomicU64,
    /// This process's node number on a shared backend, 0 otherwise (`pinned` records name
    /// the node whose sessions hold them, `cluster`).
    pub node: u64,
    /// Message records written or removed by this attempt, applied to the in-memory indexes
    /// of open mailboxes once the transaction commits (`views`).
    pub index: std::cell::RefCell<Vec<IndexOp>>,
    /// Blobs whose last reference this attempt dropped: handed to the blob store once the
    /// transaction commits (`backend::blobs`).
    pub released: std::cell::RefCell<Vec<BlobId>>,
}

/// A change to a message record, for the in-memory mailbox indexes.
#[derive(Debug)]
pub(crate) enum IndexOp {
    Put(MailboxId, MessageMeta),
    Remove(MailboxId, Uid),
    /// The whole mailbox went (DELETE, account deletion).
    Drop(MailboxId),
}

impl Tx<'_> {
    /// Writes a message record (and notes it for the mailbox index).
    pub fn put_message(&self, mailbox: MailboxId, meta: &MessageMeta) -> TxResult<()> {
        put(self.messages, &keys::message(mailbox, meta.uid), meta)?;
        self.index
            .borrow_mut()
            .push(IndexOp::Put(mailbox, meta.clone()));
        Ok(())
    }

    /// Removes a message record (and notes it for the mailbox index).
    pub fn remove_message(&self, mailbox: MailboxId, uid: Uid) -> TxResult<()> {
        self.messages.remove(keys::message(mailbox, uid))?;
        self.index.borrow_mut().push(IndexOp::Remove(mailbox, uid));
        Ok(())
    }

    /// Notes that the last reference to a blob went (its body may go after the commit).
    pub fn released_blob(&self, blob: BlobId) {
        self.released.borrow_mut().push(blob);
    }

    /// Notes that a mailbox is gone with all its records.
    pub fn dropped_mailbox(&self, mailbox: MailboxId) {
        self.index.borrow_mut().push(IndexOp::Drop(mailbox));
    }
}

impl<'a> Tx<'a> {
    fn new(v: TxView<'a>, deletes: &'a std::sync::atomic::AtomicU64, node: u64) -> Self {
        Tx {
            accounts: v.tree(TreeId::Accounts),
            account_ids: v.tree(TreeId::AccountIds),
            aliases: v.tree(TreeId::Aliases),
            mailboxes: v.tree(TreeId::Mailboxes),
            mailbox_ids: v.tree(TreeId::MailboxIds),
            messages: v.tree(TreeId::Messages),
            blobs: v.tree(TreeId::Blobs),
            structure: v.tree(TreeId::Structure),
            refs: v.tree(TreeId::Refs),
            usage: v.tree(TreeId::Usage),
            expunge_log: v.tree(TreeId::ExpungeLog),
            pinned: v.tree(TreeId::Pinned),
            blob_locs: v.tree(TreeId::BlobLocs),
            subscriptions: v.tree(TreeId::Subscriptions),
            sieve: v.tree(TreeId::Sieve),
            deletes,
            node,
            index: Default::default(),
            released: Default::default(),
        }
    }
}

impl Store {
    /// Runs `f` atomically over all trees. Callers hold the account's writer lock, so the
    /// closure runs once in practice; it must still be safe to re-run (a backend may retry).
    pub(crate) fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T> {
        self.transact_seq(f, |_, _| {}).map(|(t, _)| t)
    }

    /// A transaction whose result carries change events. The caller holds the writer lock of
    /// every account involved, so queueing the events here keeps each account's events in
    /// commit order; [`Store::publish_durable`] sends them once they are on disk.
    pub(crate) fn transact_events<T>(
        &self,
        f: impl Fn(&Tx<'_>) -> TxResult<(T, Vec<(AccountId, Change)>)>,
    ) -> Result<T> {
        let Some(cluster) = &self.inner.cluster else {
            let ((t, events), seq) = self.transact_seq(f, |_, _| {})?;
            if !events.is_empty() {
                self.inner.notify.queue(seq, events);
            }
            return Ok(t);
        };
        // A shared backend: the events go to every node (this one included) as notifications
        // of the transaction, and come back in commit order (`cluster`).
        let origin = crate::notify::current_origin();
        let ((t, _), _) = self.transact_seq(f, |v, (_, events)| {
            if !events.is_empty() {
                v.notify(cluster.encode(origin, events));
            }
        })?;
        Ok(t)
    }

    /// Publishes every queued change that is durable now, in commit order. Two writers of one
    /// account can finish their flushes in either order; publishing from the queue (rather
    /// than each writer its own events) keeps sessions from seeing UID 8 before UID 7. On a
    /// shared backend, waits until every change committed so far is published (`cluster`).
    pub(crate) fn publish_durable(&self) {
        match &self.inner.cluster {
            Some(c) => c.settle(),
            None => self.inner.notify.release(self.inner.durable.durable()),
        }
    }

    /// [`Store::transact`], also returning the write's sequence number; `notes` may add
    /// notifications to the attempt that produced `T` (`cluster`).
    fn transact_seq<T>(
        &self,
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
        notes: impl Fn(TxView<'_>, &T),
    ) -> Result<(T, u64)> {
        // After a failed flush nothing new is written (docs/architecture.md §4, "Durability").
        self.inner.durable.check()?;
        let i = &self.inner;
        let node = self.node().unwrap_or(0);
        let (t, ops, released) = i.db.transact(|v| {
            let tx = Tx::new(v, &i.deletes, node);
            let t = f(&tx)?;
            notes(v, &t);
            Ok((t, tx.index.into_inner(), tx.released.into_inner()))
        })?;
        let seq = i.durable.mark_written();
        // Committed: the indexes of open mailboxes follow, in commit order (callers hold the
        // account's writer lock).
        if !ops.is_empty() {
            self.apply_index(ops);
        }
        if !released.is_empty() {
            i.blobs.release(&released);
        }
        Ok((t, seq))
    }
}

pub(crate) fn get<T: DeserializeOwned>(tree: TxTree<'_>, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => Ok(Some(crate::blob::decode(tree_name::<T>(), &v)?)),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Serialize>(tree: TxTree<'_>, key: &[u8], value: &T) -> TxResult<()> {
    tree.insert(key, crate::blob::encode(value))
}

pub(crate) fn abort<T>(e: Error) -> TxResult<T> {
    Err(TxError::Abort(e))
}

fn tree_name<T>() -> &'static str {
    std::any::type_name::<T>()
}
