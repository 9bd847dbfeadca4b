//! Subscriptions (RFC 3501 §6.3.6–7): the names an account subscribed to, kept apart from
//! its mailboxes. A subscription is to a name, not to a mailbox: subscribing to a name that
//! does not exist is allowed, and a subscription stays when its mailbox is deleted or renamed
//! (RFC 3501 §6.3.6: the server "MUST NOT unilaterally remove an existing mailbox name from
//! the subscription list even if a mailbox by that name no longer exists").
//!
//! Tree `subscriptions`: account id ‖ UTF-8 name (the `mailboxes` key layout) → empty value.
//! Mailboxes the store creates (an account's defaults, CREATE with its missing parents, the
//! target and parents of RENAME) are subscribed in the same transaction, as they were when
//! the flag lived in the mailbox record.
//!
//! # Migration
//! Stores written before this tree existed kept the subscription in `Mailbox::subscribed`.
//! [`Store::migrate_subscriptions`] copies those flags into the tree once, at open, in one
//! atomic batch together with a marker (the empty key, which no account's key can be); the
//! flag is not read after that. `Mailbox` keeps the field so older records still decode.

use crate::backend::{Batch, TreeId, Value};
use crate::blob::decode;
use crate::keys;
use crate::mailbox::normalize_name;
use crate::model::{AccountId, Mailbox};
use crate::tx::{Tx, TxResult};
use crate::{Result, Store};

/// Marks a store whose subscriptions were copied out of the mailbox records.
const MIGRATED: &[u8] = b"";

impl Store {
    /// The names the account is subscribed to, in name order (existing or not).
    pub fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        self.inner
            .db
            .scan_prefix(TreeId::Subscriptions, keys::account(account))
            .keys()
            .map(|k| {
                let k = k?;
                Ok(String::from_utf8_lossy(&k[8..]).into_owned())
            })
            .collect()
    }

    /// SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6–7). The name need not exist; unsubscribing a
    /// name that is not subscribed is not an error.
    pub async fn set_subscribed(&self, account: AccountId, name: &str, on: bool) -> Result<()> {
        let name = normalize_name(name)?;
        let w = self.writer(account);
        {
            let _g = crate::lock(&w);
            self.transact(|tx| {
                if tx.account_ids.get(keys::account(account))?.is_none() {
                    return crate::tx::abort(crate::Error::NoSuchAccount);
                }
                let key = keys::mailbox(account, &name);
                if on {
                    tx.subscriptions.insert(key, b"")?;
                } else {
                    tx.subscriptions.remove(key)?;
                }
                Ok(())
            })?;
        }
        self.sync().await
    }

    /// Copies the subscription flags of stores written before the `subscriptions` tree
    /// existed (see the module docs); does nothing once done.
    pub(crate) fn migrate_subscriptions(&self) -> Result<()> {
        let db = &self.inner.db;
        if db.contains(TreeId::Subscriptions, MIGRATED)? {
            return Ok(());
        }
        let mut batch = Batch::default();
        for entry in db.iter(TreeId::Mailboxes) {
            let (key, value) = entry?;
            let mb: Mailbox = decode("mailbox", &value)?;
            if mb.subscribed {
                batch.insert(key, b"");
            }
        }
        batch.insert(MIGRATED, b"");
        db.apply_batch(TreeId::Subscriptions, batch)?;
        // Flushed with the first write after it (sled's log keeps the order, so no later
        // change reaches the disk without it) or when the store closes.
        self.inner.durable.mark_written();
        Ok(())
    }
}

/// Subscribes `name` inside a transaction (a mailbox the store just created).
pub(crate) fn subscribe_in_tx(tx: &Tx<'_>, account: AccountId, name: &str) -> TxResult<()> {
    tx.subscriptions.insert(keys::mailbox(account, name), b"")
}

/// The keys of all of an account's subscriptions (for deleting the account).
pub(crate) fn keys_of(store: &Store, account: AccountId) -> Result<Vec<Value>> {
    store
        .inner
        .db
        .scan_prefix(TreeId::Subscriptions, keys::account(account))
        .keys()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store written before the `subscriptions` tree: the flags in the mailbox records are
    /// copied once at open, and the tree is the only truth afterwards.
    #[tokio::test]
    async fn migrates_flags_of_older_stores_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let id = {
            let store = Store::open(&path).expect("open");
            let a = store
                .create_account("old@example.test", "x", None)
                .await
                .expect("account");
            // What an older version left: flags in the records, no tree, no marker.
            let db = &store.inner.db;
            for entry in db.iter(TreeId::Mailboxes) {
                let (key, value) = entry.expect("entry");
                let mut mb: Mailbox = decode("mailbox", &value).expect("decode");
                mb.subscribed = mb.name != "Junk";
                db.insert(TreeId::Mailboxes, key, crate::blob::encode(&mb))
                    .expect("insert");
            }
            db.clear(TreeId::Subscriptions).expect("clear");
            a.id
        };
        let store = Store::open(&path).expect("reopen");
        let subs = store.subscriptions(id).expect("subscriptions");
        assert_eq!(subs, ["Archive", "Drafts", "INBOX", "Sent", "Trash"]);
        // Migrated once: later changes are not undone by the flags at the next open.
        store
            .set_subscribed(id, "Sent", false)
            .await
            .expect("unsub");
        drop(store);
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.subscriptions(id).expect("subscriptions"),
            ["Archive", "Drafts", "INBOX", "Trash"]
        );
    }
}
