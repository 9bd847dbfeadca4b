//! Mailboxes: create, rename (with children, INBOX semantics), delete, list, status.
//! Subscriptions are names, not mailboxes: `subscriptions.rs`.
//! Names are UTF-8 with "/" as the hierarchy separator; the IMAP server converts modified UTF-7.

use crate::accounts::{new_mailbox, uidvalidity_now};
use crate::backend::TreeId;
use crate::blob::decode;
use crate::keys;
use crate::model::*;
use crate::notify::Change;
use crate::subscriptions::subscribe_in_tx;
use crate::tx::{abort, get, put, Tx, TxResult};
use crate::{Error, Result, Store};

/// Hierarchy separator (docs/spec.md §8).
pub const SEPARATOR: char = '/';
/// Longest mailbox name we accept, in bytes.
pub const MAX_NAME: usize = 1000;

/// Validates a mailbox name and spells INBOX canonically ("inbox/x" → "INBOX/x").
pub fn normalize_name(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::InvalidName("empty name"));
    }
    if name.len() > MAX_NAME {
        return Err(Error::InvalidName("name longer than 1000 bytes"));
    }
    if name.chars().any(|c| c == '\0' || c == '\r' || c == '\n') {
        return Err(Error::InvalidName("NUL, CR and LF are not allowed"));
    }
    if name.contains(['*', '%']) {
        return Err(Error::InvalidName(
            "wildcards * and % are not allowed in names",
        ));
    }
    if name.split(SEPARATOR).any(str::is_empty) {
        return Err(Error::InvalidName(
            "empty hierarchy level (leading, trailing or double /)",
        ));
    }
    let (first, rest) = match name.split_once(SEPARATOR) {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    // RFC 3501 §5.1: INBOX is case-insensitive.
    if first.eq_ignore_ascii_case("INBOX") {
        return Ok(match rest {
            Some(r) => format!("INBOX{SEPARATOR}{r}"),
            None => "INBOX".to_string(),
        });
    }
    Ok(name.to_string())
}

impl Store {
    /// All mailboxes of an account, ordered by name.
    pub fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        self.inner
            .db
            .scan_prefix(TreeId::Mailboxes, keys::account(account))
            .values()
            .map(|v| decode("mailbox", &v?))
            .collect()
    }

    /// The mailbox called `name` (INBOX case-insensitive).
    pub fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<Mailbox>> {
        let name = normalize_name(name)?;
        match self
            .inner
            .db
            .get(TreeId::Mailboxes, keys::mailbox(account, &name))?
        {
            Some(v) => Ok(Some(decode("mailbox", &v)?)),
            None => Ok(None),
        }
    }

    /// The mailbox with this id (which survives renames).
    pub fn mailbox_by_id(&self, id: MailboxId) -> Result<Option<Mailbox>> {
        let Some(key) = self
            .inner
            .db
            .get(TreeId::MailboxIds, keys::mailbox_id(id))?
        else {
            return Ok(None);
        };
        match self.inner.db.get(TreeId::Mailboxes, key)? {
            Some(v) => Ok(Some(decode("mailbox", &v)?)),
            None => Ok(None),
        }
    }

    /// Creates a mailbox and any missing parents (RFC 3501 §6.3.3).
    pub async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        let name = normalize_name(name)?;
        if name == "INBOX" {
            return Err(Error::MailboxExists);
        }
        let wanted = self.levels(&name)?;
        let uidvalidity = uidvalidity_now();
        let w = self.writer(account);
        let created = {
            let _g = crate::lock(&w);
            self.transact_events(|tx| create_in_tx(tx, account, &wanted, uidvalidity, special_use))?
        };
        self.sync().await?;
        self.publish_durable();
        Ok(created)
    }

    /// The names of `name` and its missing parents, each with a fresh mailbox id.
    fn levels(&self, name: &str) -> Result<Vec<(String, MailboxId)>> {
        let mut wanted = Vec::new();
        let mut prefix = String::new();
        for level in name.split(SEPARATOR) {
            if !prefix.is_empty() {
                prefix.push(SEPARATOR);
            }
            prefix.push_str(level);
            wanted.push((
                prefix.clone(),
                MailboxId::new(self.inner.db.generate_id()? + 1),
            ));
        }
        Ok(wanted)
    }

    /// Deletes a mailbox and its messages. INBOX cannot be deleted (RFC 3501 §6.3.4); children
    /// stay (their parent then shows as \Noselect in LIST).
    pub async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        let name = normalize_name(name)?;
        if name == "INBOX" {
            return Err(Error::NotPermitted("INBOX cannot be deleted"));
        }
        let w = self.writer(account);
        {
            let _g = crate::lock(&w);
            let mb = self.mailbox(account, &name)?.ok_or(Error::NoSuchMailbox)?;
            let msgs = self.messages(mb.id)?;
            let total: u64 = msgs.iter().map(|m| m.size).sum();
            self.transact_events(|tx| {
                tx.mailboxes.remove(keys::mailbox(account, &name))?;
                tx.mailbox_ids.remove(keys::mailbox_id(mb.id))?;
                tx.dropped_mailbox(mb.id);
                for m in &msgs {
                    tx.remove_message(mb.id, m.uid)?;
                    crate::expunge::release_blob(tx, m.blob, m.size)?;
                }
                crate::message::change_usage(
                    tx,
                    account,
                    total,
                    msgs.len() as u64,
                    u64::saturating_sub,
                )?;
                let deleted = Change::MailboxDeleted {
                    mailbox: mb.id,
                    name: mb.name.clone(),
                };
                Ok(((), vec![(account, deleted)]))
            })?;
        }
        self.sync().await?;
        self.publish_durable();
        Ok(())
    }

    /// Renames a mailbox with all its children (RFC 3501 §6.3.5). Renaming INBOX moves its
    /// messages into a new mailbox and leaves INBOX empty; INBOX's children stay.
    pub async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let from = normalize_name(from)?;
        let to = normalize_name(to)?;
        if to == "INBOX" {
            return Err(Error::MailboxExists);
        }
        if from == to || to.starts_with(&format!("{from}{SEPARATOR}")) {
            return Err(Error::NotPermitted("cannot rename a mailbox into itself"));
        }
        if from == "INBOX" {
            return self.rename_inbox(account, &to).await;
        }
        let parents = parent_names(&to);
        let mut parent_ids = Vec::new();
        for _ in &parents {
            parent_ids.push(MailboxId::new(self.inner.db.generate_id()? + 1));
        }
        let uidvalidity = uidvalidity_now();
        let w = self.writer(account);
        {
            let _g = crate::lock(&w);
            let all = self.mailboxes(account)?;
            let child_prefix = format!("{from}{SEPARATOR}");
            let moving: Vec<Mailbox> = all
                .into_iter()
                .filter(|m| m.name == from || m.name.starts_with(&child_prefix))
                .collect();
            if moving.is_empty() {
                return Err(Error::NoSuchMailbox);
            }
            self.transact_events(|tx| {
                let mut events = Vec::new();
                for m in &moving {
                    let new_name = format!("{to}{}", &m.name[from.len()..]);
                    let new_key = keys::mailbox(account, &new_name);
                    if tx.mailboxes.get(&new_key)?.is_some() {
                        return abort(Error::MailboxExists);
                    }
                    tx.mailboxes.remove(keys::mailbox(account, &m.name))?;
                    let mut renamed = m.clone();
                    renamed.name = new_name.clone();
                    put(tx.mailboxes, &new_key, &renamed)?;
                    tx.mailbox_ids.insert(keys::mailbox_id(m.id), new_key)?;
                    // RFC 3501 §6.3.6: the old name stays subscribed (never removed by the
                    // server); the new one is subscribed too, so the mailbox stays visible.
                    if tx
                        .subscriptions
                        .get(keys::mailbox(account, &m.name))?
                        .is_some()
                    {
                        subscribe_in_tx(tx, account, &new_name)?;
                    }
                    events.push((
                        account,
                        Change::MailboxRenamed {
                            mailbox: m.id,
                            from: m.name.clone(),
                            to: new_name,
                        },
                    ));
                }
                for (p, id) in parents.iter().zip(&parent_ids) {
                    let key = keys::mailbox(account, p);
                    if tx.mailboxes.get(&key)?.is_none() {
                        put(tx.mailboxes, &key, &new_mailbox(*id, p, uidvalidity, None))?;
                        tx.mailbox_ids.insert(keys::mailbox_id(*id), key)?;
                        subscribe_in_tx(tx, account, p)?;
                    }
                }
                Ok(((), events))
            })?;
        }
        self.sync().await?;
        self.publish_durable();
        Ok(())
    }

    /// RFC 3501 §6.3.5: renaming INBOX creates the new mailbox and moves every message of
    /// INBOX into it, in one transaction (a crash leaves INBOX as it was, or fully moved).
    async fn rename_inbox(&self, account: AccountId, to: &str) -> Result<()> {
        let wanted = self.levels(to)?;
        let uidvalidity = uidvalidity_now();
        let w = self.writer(account);
        {
            let _g = crate::lock(&w);
            let inbox = self
                .mailbox(account, "INBOX")?
                .ok_or(Error::NoSuchMailbox)?;
            let uids: Vec<Uid> = self.messages(inbox.id)?.iter().map(|m| m.uid).collect();
            let pin = self.watched(inbox.id);
            let moved = self.transact_events(|tx| {
                let (target, mut events) = create_in_tx(tx, account, &wanted, uidvalidity, None)?;
                let (moved, more) =
                    crate::expunge::copy_in_tx(tx, account, inbox.id, &uids, target.id, true, pin)?;
                events.extend(more);
                Ok((moved, events))
            })?;
            if pin {
                self.bury(inbox.id, moved.modseq, moved.removed);
            }
        }
        self.sync().await?;
        self.publish_durable();
        Ok(())
    }

    /// Counters for STATUS and `mailbox list`.
    pub fn status(&self, account: AccountId, name: &str) -> Result<MailboxStatus> {
        let mb = self.mailbox(account, name)?.ok_or(Error::NoSuchMailbox)?;
        Ok(status_of(&mb))
    }

    /// RFC 3501 §2.3.2 \Recent: the first session to claim a mailbox gets the UIDs from the
    /// returned value on as recent; later claims see none of those. Not durable on purpose
    /// (\Recent is session state); written without a flush.
    pub fn claim_recent(&self, mailbox: MailboxId) -> Result<Uid> {
        let Some(key) = self
            .inner
            .db
            .get(TreeId::MailboxIds, keys::mailbox_id(mailbox))?
        else {
            return Err(Error::NoSuchMailbox);
        };
        let account = keys::read_account(&key);
        let w = self.writer(account);
        let _g = crate::lock(&w);
        // A transaction, not a read then a write: on a shared backend another node may
        // commit to this record in between (its UIDNEXT would go back, docs/architecture.md
        // §12.3).
        self.transact(|tx| {
            let Some(mut mb) = get::<Mailbox>(tx.mailboxes, &key[..])? else {
                return abort(Error::NoSuchMailbox);
            };
            let from = mb.recent_from;
            if from != mb.uidnext {
                mb.recent_from = mb.uidnext;
                put(tx.mailboxes, &key[..], &mb)?;
            }
            Ok(from)
        })
    }
}

/// Creates `wanted` (a name and its missing parents, see `Store::levels`) inside a
/// transaction; the last one must not exist yet. Returns it and the change events.
fn create_in_tx(
    tx: &Tx<'_>,
    account: AccountId,
    wanted: &[(String, MailboxId)],
    uidvalidity: UidValidity,
    special_use: Option<SpecialUse>,
) -> TxResult<(Mailbox, Vec<(AccountId, Change)>)> {
    if tx.account_ids.get(keys::account(account))?.is_none() {
        return abort(Error::NoSuchAccount);
    }
    let mut events = Vec::new();
    let mut last = None;
    for (i, (n, id)) in wanted.iter().enumerate() {
        let key = keys::mailbox(account, n);
        let leaf = i + 1 == wanted.len();
        if let Some(existing) = get::<Mailbox>(tx.mailboxes, &key)? {
            if leaf {
                return abort(Error::MailboxExists);
            }
            last = Some(existing);
            continue;
        }
        let su = if leaf { special_use } else { None };
        let mb = new_mailbox(*id, n, uidvalidity, su);
        put(tx.mailboxes, &key, &mb)?;
        tx.mailbox_ids.insert(keys::mailbox_id(*id), key)?;
        // Mailboxes the store creates start subscribed (`subscriptions`).
        subscribe_in_tx(tx, account, n)?;
        events.push((
            account,
            Change::MailboxCreated {
                mailbox: *id,
                name: n.clone(),
            },
        ));
        last = Some(mb);
    }
    match last {
        Some(mb) => Ok((mb, events)),
        None => abort(Error::InvalidName("empty name")),
    }
}

pub(crate) fn status_of(mb: &Mailbox) -> MailboxStatus {
    MailboxStatus {
        name: mb.name.clone(),
        messages: mb.exists,
        unseen: mb.unseen,
        bytes: mb.size,
        uidnext: mb.uidnext,
        uidvalidity: mb.uidvalidity,
        highestmodseq: mb.highestmodseq,
    }
}

/// "a/b/c" → ["a", "a/b"].
fn parent_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc = String::new();
    let levels: Vec<&str> = name.split(SEPARATOR).collect();
    for l in &levels[..levels.len().saturating_sub(1)] {
        if !acc.is_empty() {
            acc.push(SEPARATOR);
        }
        acc.push_str(l);
        out.push(acc.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("inbox").ok().as_deref(), Some("INBOX"));
        assert_eq!(
            normalize_name("Inbox/Sub").ok().as_deref(),
            Some("INBOX/Sub")
        );
        assert_eq!(normalize_name("Inboxes").ok().as_deref(), Some("Inboxes"));
        for bad in ["", "/a", "a/", "a//b", "a\0b", "a\r\nb", "a*", "%"] {
            assert!(normalize_name(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_name(&"x".repeat(1001)).is_err());
        assert!(normalize_name(&"x".repeat(1000)).is_ok());
        assert_eq!(
            parent_names("a/b/c"),
            vec!["a".to_string(), "a/b".to_string()]
        );
    }
}
