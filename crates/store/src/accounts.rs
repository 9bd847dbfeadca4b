//! Accounts, aliases and local domains. Addresses arrive normalized (the auth crate owns
//! normalization and password hashing); this module keeps the records consistent.

use crate::backend::TreeId;
use crate::blob::decode;
use crate::keys;
use crate::model::*;
use crate::tx::{abort, get, put};
use crate::{now_secs, Error, Result, Store};

impl Store {
    /// Creates an account with the default mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive)
    /// in one transaction.
    pub async fn create_account(
        &self,
        address: &str,
        password_hash: &str,
        quota_bytes: Option<u64>,
    ) -> Result<Account> {
        let id = AccountId::new(self.inner.db.generate_id()? + 1);
        let mut boxes = Vec::new();
        for (name, special) in DEFAULT_MAILBOXES {
            boxes.push((
                MailboxId::new(self.inner.db.generate_id()? + 1),
                *name,
                *special,
            ));
        }
        let account = Account {
            id,
            address: address.to_string(),
            password: password_hash.to_string(),
            quota_bytes,
            quota_messages: None,
            pop3_policy: Pop3Policy::Keep,
            save_sent: false,
            created: now_secs(),
            aliases: vec![],
        };
        let uidvalidity = uidvalidity_now();
        self.transact(|tx| {
            if tx.accounts.get(address)?.is_some() || tx.aliases.get(address)?.is_some() {
                return abort(Error::AccountExists);
            }
            put(tx.accounts, address.as_bytes(), &account)?;
            tx.account_ids
                .insert(keys::account(id), address.as_bytes())?;
            put(tx.usage, &keys::account(id), &Usage::default())?;
            for (mid, name, special) in &boxes {
                let mb = new_mailbox(*mid, name, uidvalidity, *special);
                let key = keys::mailbox(id, name);
                put(tx.mailboxes, &key, &mb)?;
                tx.mailbox_ids.insert(keys::mailbox_id(*mid), key)?;
                crate::subscriptions::subscribe_in_tx(tx, id, name)?;
            }
            Ok(())
        })?;
        self.sync().await?;
        Ok(account)
    }

    /// The account stored under exactly this (normalized) address.
    pub fn account(&self, address: &str) -> Result<Option<Account>> {
        match self.inner.db.get(TreeId::Accounts, address)? {
            Some(v) => Ok(Some(decode("account", &v)?)),
            None => Ok(None),
        }
    }

    pub fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        match self.inner.db.get(TreeId::AccountIds, keys::account(id))? {
            Some(addr) => self.account(&String::from_utf8_lossy(&addr)),
            None => Ok(None),
        }
    }

    /// The account an address (primary or alias) delivers to.
    pub fn resolve(&self, address: &str) -> Result<Option<Account>> {
        if let Some(a) = self.account(address)? {
            return Ok(Some(a));
        }
        match self.inner.db.get(TreeId::Aliases, address)? {
            Some(id) => self.account_by_id(keys::read_account(&id)),
            None => Ok(None),
        }
    }

    /// All accounts, ordered by address.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.inner
            .db
            .iter(TreeId::Accounts)
            .values()
            .map(|v| decode("account", &v?))
            .collect()
    }

    /// Changes an account's settings (password, quota, policy, save_sent) durably.
    pub async fn update_account(
        &self,
        address: &str,
        change: impl Fn(&mut Account),
    ) -> Result<Account> {
        let current = self.account(address)?.ok_or(Error::NoSuchAccount)?;
        let w = self.writer(current.id);
        let updated = {
            let _g = crate::lock(&w);
            self.transact(|tx| {
                let Some(mut a) = get::<Account>(tx.accounts, address.as_bytes())? else {
                    return abort(Error::NoSuchAccount);
                };
                change(&mut a);
                put(tx.accounts, address.as_bytes(), &a)?;
                Ok(a)
            })?
        };
        self.sync().await?;
        Ok(updated)
    }

    /// Deletes an account with its aliases, mailboxes and messages in one transaction.
    pub async fn delete_account(&self, address: &str) -> Result<()> {
        let account = self.account(address)?.ok_or(Error::NoSuchAccount)?;
        let w = self.writer(account.id);
        {
            let _g = crate::lock(&w);
            let boxes = self.mailboxes(account.id)?;
            let subscriptions = crate::subscriptions::keys_of(self, account.id)?;
            let sieve = crate::scripts::keys_of(self, account.id)?;
            let mut msgs = Vec::new();
            for mb in &boxes {
                msgs.push((mb.id, self.messages(mb.id)?));
            }
            self.transact(|tx| {
                for mb in &boxes {
                    tx.mailboxes.remove(keys::mailbox(account.id, &mb.name))?;
                    tx.mailbox_ids.remove(keys::mailbox_id(mb.id))?;
                    tx.dropped_mailbox(mb.id);
                }
                for (mid, list) in &msgs {
                    for m in list {
                        tx.remove_message(*mid, m.uid)?;
                        crate::expunge::release_blob(tx, m.blob, m.size)?;
                    }
                }
                for alias in &account.aliases {
                    tx.aliases.remove(alias.as_bytes())?;
                }
                for key in &subscriptions {
                    tx.subscriptions.remove(key)?;
                }
                for key in &sieve {
                    tx.sieve.remove(key)?;
                }
                tx.usage.remove(keys::account(account.id))?;
                tx.account_ids.remove(keys::account(account.id))?;
                tx.accounts.remove(address.as_bytes())?;
                Ok(())
            })?;
        }
        self.sync().await?;
        Ok(())
    }

    /// Adds an alias (normalized) delivering to `address`.
    pub async fn add_alias(&self, alias: &str, address: &str) -> Result<()> {
        let account = self.account(address)?.ok_or(Error::NoSuchAccount)?;
        let w = self.writer(account.id);
        {
            let _g = crate::lock(&w);
            self.transact(|tx| {
                if tx.accounts.get(alias)?.is_some() || tx.aliases.get(alias)?.is_some() {
                    return abort(Error::Alias("that address is already in use"));
                }
                let Some(mut a) = get::<Account>(tx.accounts, address.as_bytes())? else {
                    return abort(Error::NoSuchAccount);
                };
                if a.aliases.len() >= MAX_ALIASES {
                    return abort(Error::Alias("an account has at most 10 aliases"));
                }
                a.aliases.push(alias.to_string());
                put(tx.accounts, address.as_bytes(), &a)?;
                tx.aliases.insert(alias.as_bytes(), keys::account(a.id))?;
                Ok(())
            })?;
        }
        self.sync().await
    }

    /// Removes an alias.
    pub async fn remove_alias(&self, alias: &str) -> Result<()> {
        let id = match self.inner.db.get(TreeId::Aliases, alias)? {
            Some(id) => keys::read_account(&id),
            None => return Err(Error::Alias("no such alias")),
        };
        let account = self.account_by_id(id)?.ok_or(Error::NoSuchAccount)?;
        let w = self.writer(id);
        {
            let _g = crate::lock(&w);
            self.transact(|tx| {
                let key = account.address.as_bytes();
                let Some(mut a) = get::<Account>(tx.accounts, key)? else {
                    return abort(Error::NoSuchAccount);
                };
                a.aliases.retain(|x| x != alias);
                put(tx.accounts, key, &a)?;
                tx.aliases.remove(alias.as_bytes())?;
                Ok(())
            })?;
        }
        self.sync().await
    }

    /// Records the configured local domains (lower-case).
    pub async fn set_domains(&self, domains: &[String]) -> Result<()> {
        for d in domains {
            self.inner
                .db
                .insert(TreeId::Domains, d.to_ascii_lowercase().as_bytes(), b"")?;
        }
        self.inner.durable.mark_written();
        self.sync().await
    }

    pub fn is_local_domain(&self, domain: &str) -> Result<bool> {
        self.inner
            .db
            .contains(TreeId::Domains, domain.to_ascii_lowercase().as_bytes())
    }

    pub fn domains(&self) -> Result<Vec<String>> {
        self.inner
            .db
            .iter(TreeId::Domains)
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// Quota usage of an account.
    pub fn usage(&self, account: AccountId) -> Result<Usage> {
        match self.inner.db.get(TreeId::Usage, keys::account(account))? {
            Some(v) => decode("usage", &v),
            None => Ok(Usage::default()),
        }
    }
}

pub(crate) fn new_mailbox(
    id: MailboxId,
    name: &str,
    uidvalidity: UidValidity,
    special_use: Option<SpecialUse>,
) -> Mailbox {
    Mailbox {
        id,
        name: name.to_string(),
        uidvalidity,
        uidnext: Uid::new(1),
        highestmodseq: ModSeq::new(1),
        special_use,
        subscribed: true,
        exists: 0,
        unseen: 0,
        size: 0,
        recent_from: Uid::new(1),
    }
}

/// RFC 3501 §2.3.1.1: UIDVALIDITY must grow when a name is reused; seconds since the epoch
/// (as u32) do, since a name cannot be deleted and recreated twice within one second by us
/// without the counter below.
pub(crate) fn uidvalidity_now() -> UidValidity {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    // The low 32 bits of the clock (the mask makes the conversion infallible).
    let now = u32::try_from(now_secs() & 0xffff_ffff).unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev.wrapping_add(1)).max(1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return UidValidity::new(next),
            Err(p) => prev = p,
        }
    }
}
