//! Messages arriving and changing: append/deliver and append_many (RFC 3501 §6.3.11, RFC 3502
//! MULTIAPPEND, RFC 4315 APPENDUID),
//! reads (in UID order, from the mailbox index while a view is open), flags with MODSEQ
//! (RFC 3501 §6.4.6, RFC 7162 §3.1.3), and the helpers every write shares (mailbox lookup,
//! quota check and usage). Messages leaving a mailbox (expunge, copy, move): `expunge.rs`.

use std::sync::Arc;

use crate::backend::blobs::BlobGuard;
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
        // Parsing and writing up to 50 MiB is blocking work: keep it off the async workers.
        let body = crate::blocking(|| self.put_body(&req))?;
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
                    if let Err(e) = check_quota(tx, account, body.size, 1)? {
                        results.push(Err(e));
                        continue;
                    }
                    let meta = add_message(tx, mailbox, &mut mb, &body)?;
                    put(tx.mailboxes, &key, &mb)?;
                    change_usage(tx, account, body.size, 1, u64::saturating_add)?;
                    stored += 1;
                    events.push((account, appended(mailbox, &meta)));
                    results.push(Ok((mb.uidvalidity, meta.uid)));
                }
                if stored > 0 {
                    link_body(tx, &body, stored)?;
                }
                Ok((results, events))
            })
        };
        let linked = matches!(&results, Ok(r) if r.iter().any(Result::is_ok));
        self.settle_bodies(vec![body], linked);
        let results = results?;
        self.sync().await?;
        self.publish_durable();
        Ok(results)
    }

    /// Appends several messages to one mailbox in one transaction (IMAP MULTIAPPEND,
    /// RFC 3502 §6.3.11: all or none). They get consecutive UIDs in the order given, one
    /// MODSEQ each (docs/architecture.md §3.2); the quota is checked for all of them together
    /// ([`Error::OverQuota`]: nothing is appended). Their `Appended` changes are published
    /// together, in UID order, once durable, so no session sees some of them without the
    /// others. Returns (UIDVALIDITY, UID) per message, in the order given (RFC 4315
    /// APPENDUID). An empty list appends nothing and does not look at the mailbox.
    pub async fn append_many(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        reqs: &[AppendRequest<'_>],
    ) -> Result<Vec<(UidValidity, Uid)>> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.durable.check()?;
        let mut bodies = Vec::with_capacity(reqs.len());
        // Bodies are written before the transaction that links them (docs/architecture.md
        // §5.1); one that fails to write releases those written before it.
        let written = crate::blocking(|| -> Result<()> {
            for req in reqs {
                bodies.push(self.put_body(req)?);
            }
            Ok(())
        });
        if let Err(e) = written {
            self.settle_bodies(bodies, false);
            return Err(e);
        }
        let bytes: u64 = bodies.iter().map(|b| b.size).sum();
        let count = bodies.len() as u64;
        let w = self.writer(account);
        let results = {
            let _g = crate::lock(&w);
            self.transact_events(|tx| {
                let Some((key, mut mb)) = load_mailbox(tx, mailbox)? else {
                    return abort(Error::NoSuchMailbox);
                };
                if keys::read_account(&key) != account {
                    return abort(Error::NoSuchMailbox);
                }
                if let Err(e) = check_quota(tx, account, bytes, count)? {
                    return abort(e);
                }
                let mut results = Vec::with_capacity(bodies.len());
                let mut events = Vec::with_capacity(bodies.len());
                for body in &bodies {
                    let meta = add_message(tx, mailbox, &mut mb, body)?;
                    link_body(tx, body, 1)?;
                    events.push((account, appended(mailbox, &meta)));
                    results.push((mb.uidvalidity, meta.uid));
                }
                put(tx.mailboxes, &key, &mb)?;
                change_usage(tx, account, bytes, count, u64::saturating_add)?;
                Ok((results, events))
            })
        };
        self.settle_bodies(bodies, results.is_ok());
        let results = results?;
        self.sync().await?;
        self.publish_durable();
        Ok(results)
    }

    /// Parses a message and writes its bytes to the blob store (blocking work: run it inside
    /// [`crate::blocking`]). The body is linked by a transaction, then [`Store::settle_bodies`].
    fn put_body(&self, req: &AppendRequest<'_>) -> Result<Body<'_>> {
        let id = self.inner.db.generate_id()? + 1;
        let parsed = mime::parse(req.bytes);
        let (loc, guard) = self.inner.blobs.put(id, req.bytes)?;
        Ok(Body {
            id,
            parsed,
            loc,
            size: req.bytes.len() as u64,
            flags: req.flags.clone(),
            // Fixed before the transaction, so a backend's retry writes the same date.
            date: req.internaldate.unwrap_or((now_secs(), 0)),
            _guard: guard,
        })
    }

    /// After the transaction that would link `bodies`: their locations are committed (or
    /// the bytes are dead), so the compactor may look at their segments; when the transaction
    /// linked none of them (refused, failed), a blob store that frees bodies (memory) frees
    /// them now.
    fn settle_bodies(&self, bodies: Vec<Body<'_>>, linked: bool) {
        let ids: Vec<BlobId> = bodies.iter().map(|b| b.id).collect();
        drop(bodies);
        if !linked {
            self.inner.blobs.release(&ids);
        }
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
        if self.inner.cluster.is_some() {
            return self.shared_snapshot(mailbox);
        }
        let w = self.writer(account);
        let _g = crate::lock(&w);
        let Some(mb) = self.mailbox_by_id(mailbox)? else {
            return Ok(None);
        };
        let metas = self.messages(mailbox)?;
        Ok(Some((mb, metas)))
    }

    /// [`Store::snapshot`] on a shared backend, where other nodes commit without this node's
    /// writer lock and this node's index follows them a moment later. The messages are read
    /// from the database in one statement (one consistent state of them), between two reads
    /// of the mailbox record. When no commit came between those reads, the record is the
    /// messages' own. Otherwise the record is made to fit the messages: the HIGHESTMODSEQ of
    /// the first read (at or below theirs: a session starting there may be told a change it
    /// already has — an append it lists, an expunge of a UID it lacks, flags again — never
    /// skip one it lacks), UIDNEXT just past the first read's or the last message's, and the
    /// counters counted from the messages.
    fn shared_snapshot(&self, mailbox: MailboxId) -> Result<Option<(Mailbox, Vec<MessageMeta>)>> {
        let Some(before) = self.mailbox_by_id(mailbox)? else {
            return Ok(None);
        };
        let metas = self.scan_messages(mailbox)?;
        let Some(mut mb) = self.mailbox_by_id(mailbox)? else {
            return Ok(None);
        };
        if mb.highestmodseq != before.highestmodseq {
            mb.highestmodseq = before.highestmodseq;
            let past_last = metas.last().map_or(Uid::new(1), |m| m.uid.next());
            mb.uidnext = before.uidnext.max(past_last);
            mb.exists = u32::try_from(metas.len()).unwrap_or(u32::MAX);
            mb.size = metas.iter().map(|m| m.size).sum();
            let unseen = metas.iter().filter(|m| !m.flags.has(Flags::SEEN)).count();
            mb.unseen = u32::try_from(unseen).unwrap_or(u32::MAX);
        }
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
        match self.index(mailbox) {
            Some(index) => Ok(find(&index, uid)),
            None => self.stored_message(mailbox, uid),
        }
    }

    /// A message record from the mailbox's in-memory index; `None` when the mailbox has no
    /// index or the index does not hold the message.
    pub(crate) fn indexed_message(&self, mailbox: MailboxId, uid: Uid) -> Option<MessageMeta> {
        let index = self.index(mailbox)?;
        find(&index, uid)
    }

    /// A message record as the backend has it (not the in-memory index).
    pub(crate) fn stored_message(
        &self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<Option<MessageMeta>> {
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

/// A message body written to the blob store, not yet linked to a mailbox.
struct Body<'s> {
    id: BlobId,
    parsed: ParsedMessage,
    /// The blob store's location record, as it gave it.
    loc: Vec<u8>,
    size: u64,
    flags: Flags,
    /// INTERNALDATE (unix seconds, zone minutes).
    date: (i64, i16),
    /// Keeps the compactor off the body's segment until the transaction is over.
    _guard: BlobGuard<'s>,
}

/// Adds `body` to `mailbox` inside a transaction: the next UID, a new MODSEQ (§3.2 of
/// docs/architecture.md), the counters of `mb` (the caller writes `mb` back).
fn add_message(
    tx: &Tx<'_>,
    mailbox: MailboxId,
    mb: &mut Mailbox,
    body: &Body<'_>,
) -> TxResult<MessageMeta> {
    let (uid, modseq) = count_in(mb, body.size, &body.flags);
    let meta = MessageMeta {
        uid,
        blob: body.id,
        flags: body.flags.clone(),
        internaldate: body.date.0,
        tz_minutes: body.date.1,
        size: body.size,
        modseq,
        // RFC 8514 §3: the time it was put into this mailbox (a COPY or MOVE too).
        saved: now_secs(),
    };
    tx.put_message(mailbox, &meta)?;
    Ok(meta)
}

/// Counts a new message of `size` bytes with `flags` into the mailbox record `mb`: its UID
/// is the next one and it is the mailbox's next change (docs/architecture.md §3.2).
pub(crate) fn count_in(mb: &mut Mailbox, size: u64, flags: &Flags) -> (Uid, ModSeq) {
    let uid = mb.uidnext;
    mb.uidnext = uid.next();
    mb.highestmodseq = mb.highestmodseq.next();
    mb.exists += 1;
    mb.size += size;
    if !flags.has(Flags::SEEN) {
        mb.unseen += 1;
    }
    (uid, mb.highestmodseq)
}

/// Records where `body` is, its MIME structure and its `refs` messages referring to it.
fn link_body(tx: &Tx<'_>, body: &Body<'_>, refs: u32) -> TxResult<()> {
    tx.blob_locs.insert(keys::id(body.id), &body.loc)?;
    put(tx.structure, &keys::id(body.id), &body.parsed)?;
    put(tx.refs, &keys::id(body.id), &refs)
}

/// Message `uid` in a mailbox index.
fn find(index: &std::sync::RwLock<Arc<Vec<MessageMeta>>>, uid: Uid) -> Option<MessageMeta> {
    let v = index.read().unwrap_or_else(|p| p.into_inner());
    v.binary_search_by_key(&uid, |m| m.uid)
        .ok()
        .map(|i| v[i].clone())
}

/// The change that tells sessions `meta` was added to `mailbox`.
pub(crate) fn appended(mailbox: MailboxId, meta: &MessageMeta) -> Change {
    Change::Appended {
        mailbox,
        uid: meta.uid,
        modseq: meta.modseq,
    }
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
