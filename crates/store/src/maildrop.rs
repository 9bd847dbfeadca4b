//! The POP3 maildrop lock (RFC 1939 §8: "the POP3 server acquires an exclusive-access lock on
//! the maildrop"). In-process, because one process owns the store; released on drop, so a
//! session that ends any way at all (QUIT, disconnect, timeout, panic) releases it.

use crate::model::AccountId;
use crate::{Error, Result, Store};

/// Held for a POP3 session's life; dropping it releases the maildrop.
#[derive(Debug)]
pub struct MaildropLock {
    store: Store,
    account: AccountId,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Takes the account's maildrop lock, or [`Error::MaildropInUse`].
    pub fn lock_maildrop(&self, account: AccountId) -> Result<MaildropLock> {
        let mut held = crate::lock(&self.inner.maildrops);
        if !held.insert(account) {
            return Err(Error::MaildropInUse);
        }
        Ok(MaildropLock {
            store: self.clone(),
            account,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        crate::lock(&self.store.inner.maildrops).remove(&self.account);
    }
}
