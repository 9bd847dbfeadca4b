//! One helper to run a sled transaction over every tree, with named views and our error type.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::Transactional;

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
    pub expunged: &'a TransactionalTree,
}

pub(crate) type TxResult<T> = ConflictableTransactionResult<T, Error>;

impl Store {
    /// Runs `f` atomically over all trees. Callers hold the account's writer lock, so the
    /// closure runs once in practice; it must still be safe to re-run (sled may retry).
    pub(crate) fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T> {
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
            i.expunged.clone(),
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
                expunged: &v[10],
            };
            f(&tx)
        });
        match r {
            Ok(t) => {
                self.inner.durable.mark_written();
                Ok(t)
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
