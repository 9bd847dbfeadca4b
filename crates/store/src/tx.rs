//! One helper to run a sled transaction over every tree, with named views and our error type.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::Transactional;

use crate::keys;
use crate::model::{AccountId, MailboxId, MessageMeta, Uid};
use crate::notify::Change;
use crate::{Error, Result, Store};

/// Named transactional views of the store's trees.
pub(crate) struct Tx<'a> {
    pub accounts: &'a TransactionalTree,
    pub account_ids: &'a TransactionalTree,
    pub aliases: &'a TransactionalTree,
    pub mailboxes: &'a TransactionalTree,
    pub mailbox_ids: &'a TransactionalTree,
    pub messages: &'a TransactionalTree,
    pub blobs: &'a TransactionalTree,
    pub structure: &'a TransactionalTree,
    pub refs: &'a TransactionalTree,
    pub usage: &'a TransactionalTree,
    pub expunge_log: &'a TransactionalTree,
    pub pinned: &'a TransactionalTree,
    pub blob_locs: &'a TransactionalTree,
    pub subscriptions: &'a TransactionalTree,
    /// Bumped by every blob release (wakes the compactor).
    pub deletes: &'a std::sync::atomic::AtomicU64,
    /// Message records written or removed by this attempt, applied to the in-memory indexes
    /// of open mailboxes once the transaction commits (`views`).
    pub index: std::cell::RefCell<Vec<IndexOp>>,
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
        self.messages.remove(&keys::message(mailbox, uid)[..])?;
        self.index.borrow_mut().push(IndexOp::Remove(mailbox, uid));
        Ok(())
    }

    /// Notes that a mailbox is gone with all its records.
    pub fn dropped_mailbox(&self, mailbox: MailboxId) {
        self.index.borrow_mut().push(IndexOp::Drop(mailbox));
    }
}

pub(crate) type TxResult<T> = ConflictableTransactionResult<T, Error>;

impl Store {
    /// Runs `f` atomically over all trees. Callers hold the account's writer lock, so the
    /// closure runs once in practice; it must still be safe to re-run (sled may retry).
    pub(crate) fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T> {
        self.transact_seq(f).map(|(t, _)| t)
    }

    /// A transaction whose result carries change events. The caller holds the writer lock of
    /// every account involved, so queueing the events here keeps each account's events in
    /// commit order; [`Store::publish_durable`] sends them once they are on disk.
    pub(crate) fn transact_events<T>(
        &self,
        f: impl Fn(&Tx<'_>) -> TxResult<(T, Vec<(AccountId, Change)>)>,
    ) -> Result<T> {
        let ((t, events), seq) = self.transact_seq(f)?;
        if !events.is_empty() {
            self.inner.notify.queue(seq, events);
        }
        Ok(t)
    }

    /// Publishes every queued change that is durable now, in commit order. Two writers of one
    /// account can finish their flushes in either order; publishing from the queue (rather
    /// than each writer its own events) keeps sessions from seeing UID 8 before UID 7.
    pub(crate) fn publish_durable(&self) {
        self.inner.notify.release(self.inner.durable.durable());
    }

    /// [`Store::transact`], also returning the write's sequence number.
    fn transact_seq<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<(T, u64)> {
        // After a failed flush nothing new is written (docs/architecture.md §4, "Durability").
        self.inner.durable.check()?;
        let i = &self.inner;
        let trees = [
            i.accounts.clone(),
            i.account_ids.clone(),
            i.aliases.clone(),
            i.mailboxes.clone(),
            i.mailbox_ids.clone(),
            i.messages.clone(),
            i.blobs.clone(),
            i.structure.clone(),
            i.refs.clone(),
            i.usage.clone(),
            i.expunge_log.clone(),
            i.pinned.clone(),
            i.blob_locs.clone(),
            i.subscriptions.clone(),
        ];
        let r = trees[..].transaction(|v| {
            let tx = Tx {
                accounts: &v[0],
                account_ids: &v[1],
                aliases: &v[2],
                mailboxes: &v[3],
                mailbox_ids: &v[4],
                messages: &v[5],
                blobs: &v[6],
                structure: &v[7],
                refs: &v[8],
                usage: &v[9],
                expunge_log: &v[10],
                pinned: &v[11],
                blob_locs: &v[12],
                subscriptions: &v[13],
                deletes: &i.deletes,
                index: Default::default(),
            };
            let t = f(&tx)?;
            Ok((t, tx.index.into_inner()))
        });
        match r {
            Ok((t, ops)) => {
                let seq = self.inner.durable.mark_written();
                // Committed: the indexes of open mailboxes follow, in commit order (callers
                // hold the account's writer lock).
                if !ops.is_empty() {
                    self.apply_index(ops);
                }
                Ok((t, seq))
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}

pub(crate) fn get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => crate::blob::decode(tree_name::<T>(), &v)
            .map(Some)
            .map_err(abort_err),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    tree.insert(key, crate::blob::encode(value))?;
    Ok(())
}

pub(crate) fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn abort_err(e: Error) -> ConflictableTransactionError<Error> {
    ConflictableTransactionError::Abort(e)
}

fn tree_name<T>() -> &'static str {
    std::any::type_name::<T>()
}
