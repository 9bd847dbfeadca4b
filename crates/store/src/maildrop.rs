//! The POP3 maildrop lock (RFC 1939 §8: "the POP3 server acquires an exclusive-access lock on
//! the maildrop"). In-process for an embedded store; on a shared backend also an advisory
//! lock in the database, so it holds across nodes (`backend::pg_cluster`). Released on drop,
//! so a session that ends any way at all (QUIT, disconnect, timeout, panic) releases it.

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
        if held.contains(&account) {
            return Err(Error::MaildropInUse);
        }
        // Several nodes: the lock must hold across them too (an advisory lock of this node's
        // session, released with it if the process dies).
        if let crate::backend::Backend::Postgres(pg) = &self.inner.db {
            if !pg.node().lock_maildrop(account.get())? {
                return Err(Error::MaildropInUse);
            }
        }
        held.insert(account);
        Ok(MaildropLock {
            store: self.clone(),
            account,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        let mut held = crate::lock(&self.store.inner.maildrops);
        if let crate::backend::Backend::Postgres(pg) = &self.store.inner.db {
            if let Err(e) = pg.node().unlock_maildrop(self.account.get()) {
                // The lock goes with the connection; a node that cannot reach the database
                // cannot serve the maildrop anyway.
                tracing::warn!("releasing a maildrop lock: {e}");
            }
        }
        held.remove(&self.account);
    }
}
