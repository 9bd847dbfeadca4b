//! Messages arriving and changing: append/deliver (RFC 3501 §6.3.11, RFC 4315 APPENDUID),
//! reads (in UID order, from the mailbox index while a view is open), flags with MODSEQ
//! (RFC 3501 §6.4.6, RFC 7162 §3.1.3), and the helpers every write shares (mailbox lookup,
//! quota check and usage). Messages leaving a mailbox (expunge, copy, move): `expunge.rs`.

use std::sync::Arc;

use crate::backend::{TreeId, Value};
use crate::blob::decode;
use crate::keys;
use crate::mime::{self, ParsedMessage};
use crate::model::*;
use crate::notify::Change;
use crate::tx::{abort, get, put, Tx, TxResult};
use crate::{now_secs, Error, Result, Store};

/// A message to add to a mailbox.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest<'a> {
    pub bytes: &'a [u8],
    pub flags: Flags,
    /// INTERNALDATE (unix seconds, zone minutes); now (UTC) when `None`.
    pub internaldate: Option<(i64, i16)>,
}

/// How STORE changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

/// One message a flag change looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub uid: Uid,
    /// Its flags after the change.
    pub flags: Flags,
    /// Its MODSEQ after the change (unchanged when `changed` is false).
    pub modseq: ModSeq,
    /// Whether this call changed its flags (and gave it a new MODSEQ).
    pub changed: bool,
}

/// Outcome of a flag change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreResult {
    /// Messages whose flags were evaluated, in the order asked. Includes messages whose flags
    /// did not change, so FETCH responses can be sent (RFC 3501 §6.4.6).
    pub updated: Vec<Updated>,
    /// RFC 7162 §3.1.3: UIDs that failed the UNCHANGEDSINCE test.
    pub modified: Vec<Uid>,
}

impl Store {
    /// Appends one message (APPEND, `mailstack deliver`). Refused with [`Error::OverQuota`] when
    /// it does not fit. Returns (UIDVALIDITY, UID) once durable (RFC 4315 APPENDUID).
    pub async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        req: AppendRequest<'_>,
    ) -> Result<(UidValidity, Uid)> {
        let mut results = self.deliver(&[(account, mailbox)], req).await?;
        results.pop().unwrap_or(Err(Error::NoSuchMailbox))
    }

    /// Delivers one message to several mailboxes (of possibly several accounts), sharing one
    /// stored copy. Each target succeeds or fails on its own (quota, missing mailbox); all the
    /// successful ones are committed in one transaction and made durable before this returns.
    pub async fn deliver(
        &self,
        targets: &[(AccountId, MailboxId)],
        req: AppendRequest<'_>,
    ) -> Result<Vec<Result<(UidValidity, Uid)>>> {
        self.inner.durable.check()?;
        let blob_id = self.inner.db.generate_id()? + 1;
        // Parsing and writing up to 50 MiB is blocking work: keep it off the async workers.
        let (parsed, (loc, guard)) = crate::blocking(|| {
            let parsed = mime::parse(req.bytes);
            self.inner
                .blobs
                .put(blob_id, req.bytes)
                .map(|put| (parsed, put))
        })?;
        let size = req.bytes.len() as u64;
        let (date, tz) = req.internaldate.unwrap_or((now_secs(), 0));
        let mut accounts: Vec<AccountId> = targets.iter().map(|t| t.0).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let writers: Vec<_> = accounts.iter().map(|a| self.writer(*a)).collect();
        let results = {
            let _guards: Vec<_> = writers.iter().map(|w| crate::lock(w)).collect();
            self.transact_events(|tx| {
                let mut results = Vec::new();
                let mut events: Vec<(AccountId, Change)> = Vec::new();
                let mut stored = 0u32;
                for &(account, mailbox) in targets {
                    let Some((key, mut mb)) = load_mailbox(tx, mailbox)? else {
                        results.push(Err(Error::NoSuchMailbox));
                        continue;
                    };
                    if keys::read_account(&key) != account {
                        results.push(Err(Error::NoSuchMailbox));
                        continue;
                    }
                    if let Err(e) = check_quota(tx, account, size, 1)? {
                        results.push(Err(e));
                        continue;
                    }
                    let uid = mb.uidnext;
                    mb.uidnext = uid.next();
                    mb.highestmodseq = mb.highestmodseq.next();
                    mb.exists += 1;
                    mb.size += size;
                    if !req.flags.has(Flags::SEEN) {
                        mb.unseen += 1;
                    }
                    let meta = MessageMeta {
                        uid,
                        blob: blob_id,
                        flags: req.flags.clone(),
                        internaldate: date,
                        tz_minutes: tz,
                        size,
                        modseq: mb.highestmodseq,
                    };
                    tx.put_message(mailbox, &meta)?;
                    put(tx.mailboxes, &key, &mb)?;
                    change_usage(tx, account, size, 1, u64::saturating_add)?;
                    stored += 1;
                    events.push((
                        account,
                        Change::Appended {
                            mailbox,
                            uid,
                            modseq: meta.modseq,
                        },
                    ));
                    results.push(Ok((mb.uidvalidity, uid)));
                }
                if stored > 0 {
                    // The blob store's location record, as it gave it.
                    tx.blob_locs.insert(keys::id(blob_id), &loc)?;
                    put(tx.structure, &keys::id(blob_id), &parsed)?;
                    put(tx.refs, &keys::id(blob_id), &stored)?;
                }
                Ok((results, events))
            })
        };
        // The location is committed (or the bytes are dead): the compactor may look now.
        drop(guard);
        let linked = matches!(&results, Ok(r) if r.iter().any(Result::is_ok));
        if !linked {
            // No mailbox took it: a blob store that frees bodies (memory) frees this one.
            self.inner.blobs.release(&[blob_id]);
        }
        let results = results?;
        self.sync().await?;
        self.publish_durable();
        Ok(results)
    }

    /// Messages of a mailbox in UID order (from memory while a session has it open).
    pub fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        Ok(Arc::unwrap_or_clone(self.messages_shared(mailbox)?))
    }

    /// [`Store::messages`] without copying the records of an open mailbox: the index's list
    /// as of now (later commits do not change it), shared.
    pub fn messages_shared(&self, mailbox: MailboxId) -> Result<Arc<Vec<MessageMeta>>> {
        if let Some(index) = self.index(mailbox) {
            return Ok(index.read().unwrap_or_else(|p| p.into_inner()).clone());
        }
        Ok(Arc::new(self.scan_messages(mailbox)?))
    }

    /// A mailbox's record and its messages as of one moment. Read under the account's writer
    /// lock: a commit lands in the backend, then leaves or enters the in-memory index, all under
    /// that lock, so a reader in between would pair the new HIGHESTMODSEQ with the old
    /// message list, and a session starting from it would skip the change as already seen
    /// (the stress client caught a SELECT keeping two expunged UIDs for good).
    pub fn snapshot(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Option<(Mailbox, Vec<MessageMeta>)>> {
        let w = self.writer(account);
        let _g = crate::lock(&w);
        let Some(mb) = self.mailbox_by_id(mailbox)? else {
            return Ok(None);
        };
        let metas = self.messages(mailbox)?;
        Ok(Some((mb, metas)))
    }

    /// Messages of a mailbox in UID order, read from the backend.
    pub(crate) fn scan_messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        self.inner
            .db
            .scan_prefix(TreeId::Messages, keys::mailbox_id(mailbox))
            .values()
            .map(|v| decode("message", &v?))
            .collect()
    }

    /// Messages of a mailbox with a UID of at least `from`, in UID order (a range scan, so
    /// it costs what it returns). IMAP sessions use it to pick up new messages: change events
    /// of concurrent writers can be published out of UID order, the store's tree cannot.
    pub fn messages_from(&self, mailbox: MailboxId, from: Uid) -> Result<Vec<MessageMeta>> {
        if let Some(index) = self.index(mailbox) {
            let v = index.read().unwrap_or_else(|p| p.into_inner());
            let start = v.partition_point(|m| m.uid < from);
            return Ok(v[start..].to_vec());
        }
        self.inner
            .db
            .range(
                TreeId::Messages,
                keys::message(mailbox, from),
                keys::message(mailbox, Uid::MAX),
            )
            .values()
            .map(|v| decode("message", &v?))
            .collect()
    }

    pub fn message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<MessageMeta>> {
        if let Some(index) = self.index(mailbox) {
            let v = index.read().unwrap_or_else(|p| p.into_inner());
            return Ok(v
                .binary_search_by_key(&uid, |m| m.uid)
                .ok()
                .map(|i| v[i].clone()));
        }
        match self
            .inner
            .db
            .get(TreeId::Messages, keys::message(mailbox, uid))?
        {
            Some(v) => Ok(Some(decode("message", &v)?)),
            None => Ok(None),
        }
    }

    /// The MIME structure cached at delivery.
    pub fn structure(&self, blob: BlobId) -> Result<ParsedMessage> {
        match self.inner.db.get(TreeId::Structure, keys::id(blob))? {
            Some(v) => match decode::<ParsedMessage>("structure", &v) {
                Ok(p) if p.version == mime::STRUCTURE_VERSION => Ok(p),
                // Cached by an older version: the message itself is the truth.
                _ => Ok(mime::parse(&self.read_blob(blob)?)),
            },
            None => Ok(mime::parse(&self.read_blob(blob)?)),
        }
    }

    /// Changes flags of `uids` (missing ones are skipped). With `unchanged_since`, messages
    /// whose MODSEQ is higher are left alone and reported in `modified` (RFC 7162 §3.1.3).
    #[allow(clippy::too_many_arguments)]
    pub async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreResult> {
        let w = self.writer(account);
        let (result, changed) = {
            let _g = crate::lock(&w);
            self.transact_events(|tx| {
                let Some((key, mut mb)) = load_mailbox(tx, mailbox)? else {
                    return abort(Error::NoSuchMailbox);
                };
                let mut res = StoreResult::default();
                let mut events = Vec::new();
                for &uid in uids {
                    let mkey = keys::message(mailbox, uid);
                    let Some(mut meta) = get::<MessageMeta>(tx.messages, &mkey)? else {
                        continue;
                    };
                    if unchanged_since.is_some_and(|u| meta.modseq > u) {
                        res.modified.push(uid);
                        continue;
                    }
                    let mut new = meta.flags.clone();
                    match op {
                        FlagOp::Set => new = flags.clone(),
                        FlagOp::Add => new.union(flags),
                        FlagOp::Remove => new.subtract(flags),
                    }
                    if same_flags(&new, &meta.flags) {
                        res.updated.push(Updated {
                            uid,
                            flags: meta.flags.clone(),
                            modseq: meta.modseq,
                            changed: false,
                        });
                        continue;
                    }
                    match (meta.flags.has(Flags::SEEN), new.has(Flags::SEEN)) {
                        (false, true) => mb.unseen = mb.unseen.saturating_sub(1),
                        (true, false) => mb.unseen += 1,
                        _ => {}
                    }
                    mb.highestmodseq = mb.highestmodseq.next();
                    meta.flags = new;
                    meta.modseq = mb.highestmodseq;
                    tx.put_message(mailbox, &meta)?;
                    res.updated.push(Updated {
                        uid,
                        flags: meta.flags.clone(),
                        modseq: meta.modseq,
                        changed: true,
                    });
                    events.push((
                        account,
                        Change::FlagsChanged {
                            mailbox,
                            uid,
                            flags: meta.flags.clone(),
                            modseq: meta.modseq,
                        },
                    ));
                }
                put(tx.mailboxes, &key, &mb)?;
                let changed = !events.is_empty();
                Ok(((res, changed), events))
            })?
        };
        if changed {
            self.sync().await?;
        }
        self.publish_durable();
        Ok(result)
    }
}

fn same_flags(a: &Flags, b: &Flags) -> bool {
    a.system == b.system
        && a.keywords.len() == b.keywords.len()
        && a.keywords.iter().all(|k| b.contains(k))
}

pub(crate) fn load_mailbox(tx: &Tx<'_>, mailbox: MailboxId) -> TxResult<Option<(Value, Mailbox)>> {
    let Some(key) = tx.mailbox_ids.get(keys::mailbox_id(mailbox))? else {
        return Ok(None);
    };
    Ok(get::<Mailbox>(tx.mailboxes, &key)?.map(|m| (key, m)))
}

/// Quota check (docs/spec.md §5): the one place both SMTP and IMAP hit.
pub(crate) fn check_quota(
    tx: &Tx<'_>,
    account: AccountId,
    bytes: u64,
    messages: u64,
) -> TxResult<std::result::Result<(), Error>> {
    let Some(addr) = tx.account_ids.get(keys::account(account))? else {
        return Ok(Err(Error::NoSuchAccount));
    };
    let Some(acct) = get::<Account>(tx.accounts, &addr)? else {
        return Ok(Err(Error::NoSuchAccount));
    };
    let used: Usage = get(tx.usage, &keys::account(account))?.unwrap_or_default();
    if acct.quota_bytes.is_some_and(|q| used.bytes + bytes > q)
        || acct
            .quota_messages
            .is_some_and(|q| used.messages + messages > q)
    {
        return Ok(Err(Error::OverQuota));
    }
    Ok(Ok(()))
}

/// Counts messages into (`op` = `u64::saturating_add`) or out of (`u64::saturating_sub`)
/// an account's quota usage.
pub(crate) fn change_usage(
    tx: &Tx<'_>,
    account: AccountId,
    bytes: u64,
    messages: u64,
    op: fn(u64, u64) -> u64,
) -> TxResult<()> {
    let key = keys::account(account);
    let u: Usage = get(tx.usage, &key)?.unwrap_or_default();
    let u = Usage {
        bytes: op(u.bytes, bytes),
        messages: op(u.messages, messages),
    };
    put(tx.usage, &key, &u)
}
