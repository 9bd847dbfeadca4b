//! Messages leaving a mailbox: EXPUNGE (RFC 3501 §6.4.3, RFC 4315 UID EXPUNGE, POP3 QUIT),
//! COPY (RFC 3501 §6.4.7) and MOVE (RFC 6851), and the bookkeeping every removal shares:
//! counters, quota usage, blob references, the expunge log, and the pins that keep an
//! expunged message readable for open views (`views`, RFC 2180 §4.1.1).

use crate::blob;
use crate::keys;
use crate::message::{appended, change_usage, check_quota, count_in, load_mailbox};
use crate::model::*;
use crate::notify::Change;
use crate::tx::{abort, get, put, Tx, TxResult};
use crate::{Error, Result, Store};

impl Store {
    /// Removes exactly `uids` (those that exist) in one transaction; returns the removed UIDs.
    /// IMAP passes the \Deleted ones; POP3 passes its DELE-marked ones at QUIT.
    pub async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>> {
        let w = self.writer(account);
        let removed = {
            let _g = crate::lock(&w);
            // RFC 2180 §4.1.1: sessions that have the mailbox open keep reading these.
            let pin = self.watched(mailbox);
            let (removed, modseq) = self.transact_events(|tx| {
                let Some((key, mut mb)) = load_mailbox(tx, mailbox)? else {
                    return abort(Error::NoSuchMailbox);
                };
                let removed = remove_messages(tx, account, mailbox, &mut mb, uids, pin)?;
                put(tx.mailboxes, &key, &mb)?;
                let events = if removed.is_empty() {
                    vec![]
                } else {
                    vec![(
                        account,
                        Change::Expunged {
                            mailbox,
                            uids: removed.iter().map(|m| m.uid).collect(),
                            modseq: mb.highestmodseq,
                        },
                    )]
                };
                Ok(((removed, mb.highestmodseq), events))
            })?;
            let uids: Vec<Uid> = removed.iter().map(|m| m.uid).collect();
            if pin {
                self.bury(mailbox, modseq, removed);
            }
            uids
        };
        if !removed.is_empty() {
            self.sync().await?;
        }
        self.publish_durable();
        Ok(removed)
    }

    /// COPY (RFC 3501 §6.4.7): shares blobs; flags and INTERNALDATE preserved. Returns the
    /// destination UIDVALIDITY and (source uid, new uid) pairs (RFC 4315 COPYUID).
    pub async fn copy_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(UidValidity, Vec<(Uid, Uid)>)> {
        self.copy_or_move(account, from, uids, to, false).await
    }

    /// MOVE (RFC 6851 §3.1): copy and expunge the sources in one transaction.
    pub async fn move_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(UidValidity, Vec<(Uid, Uid)>)> {
        self.copy_or_move(account, from, uids, to, true).await
    }

    async fn copy_or_move(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<(UidValidity, Vec<(Uid, Uid)>)> {
        let w = self.writer(account);
        let (validity, pairs) = {
            let _g = crate::lock(&w);
            // RFC 2180 §4.1.1 (see `views`): a MOVE expunges from the source.
            let pin = is_move && self.watched(from);
            let moved =
                self.transact_events(|tx| copy_in_tx(tx, account, from, uids, to, is_move, pin))?;
            let (validity, pairs, removed, modseq) =
                (moved.validity, moved.pairs, moved.removed, moved.modseq);
            if pin {
                self.bury(from, modseq, removed);
            }
            (validity, pairs)
        };
        self.sync().await?;
        self.publish_durable();
        Ok((validity, pairs))
    }
}

/// What a COPY or MOVE did inside its transaction.
pub(crate) struct Moved {
    /// UIDVALIDITY of the destination (RFC 4315 COPYUID).
    pub validity: UidValidity,
    /// (source uid, destination uid).
    pub pairs: Vec<(Uid, Uid)>,
    /// MOVE: the source records removed (pinned for open views when `pin`).
    pub removed: Vec<MessageMeta>,
    /// MOVE: the source's MODSEQ of the expunge.
    pub modseq: ModSeq,
}

/// COPY / MOVE of `uids` from `from` to `to` inside a transaction (also the second half of
/// renaming INBOX, RFC 3501 §6.3.5).
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_in_tx(
    tx: &Tx<'_>,
    account: AccountId,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
    is_move: bool,
    pin: bool,
) -> TxResult<(Moved, Vec<(AccountId, Change)>)> {
    let Some((src_key, mut src)) = load_mailbox(tx, from)? else {
        return abort(Error::NoSuchMailbox);
    };
    let Some((dst_key, mut dst)) = load_mailbox(tx, to)? else {
        return abort(Error::NoSuchMailbox);
    };
    if keys::read_account(&src_key) != account || keys::read_account(&dst_key) != account {
        return abort(Error::NoSuchMailbox);
    }
    let mut metas = Vec::new();
    for &uid in uids {
        if let Some(m) = get::<MessageMeta>(tx.messages, &keys::message(from, uid))? {
            metas.push(m);
        }
    }
    let bytes: u64 = metas.iter().map(|m| m.size).sum();
    if !is_move || from == to {
        if let Err(e) = check_quota(tx, account, bytes, metas.len() as u64)? {
            return abort(e);
        }
    }
    let mut pairs = Vec::new();
    let mut events = Vec::new();
    // Same-mailbox MOVE is a copy then expunge of the originals: work on `dst`
    // only, then reload as the source.
    // RFC 8514 §3: the copies' save date is now; their INTERNALDATE stays the originals'.
    let saved = crate::now_secs();
    for m in &metas {
        let mut copy = m.clone();
        (copy.uid, copy.modseq) = count_in(&mut dst, m.size, &m.flags);
        copy.saved = saved;
        tx.put_message(to, &copy)?;
        let refs: u32 = get(tx.refs, &keys::id(m.blob))?.unwrap_or(1);
        put(tx.refs, &keys::id(m.blob), &(refs + 1))?;
        pairs.push((m.uid, copy.uid));
        events.push((account, appended(to, &copy)));
    }
    change_usage(tx, account, bytes, metas.len() as u64, u64::saturating_add)?;
    put(tx.mailboxes, &dst_key, &dst)?;
    let mut removed = Vec::new();
    if is_move {
        if from == to {
            src = dst.clone();
        }
        let moved: Vec<Uid> = metas.iter().map(|m| m.uid).collect();
        removed = remove_messages(tx, account, from, &mut src, &moved, pin)?;
        put(tx.mailboxes, &src_key, &src)?;
        if !removed.is_empty() {
            events.push((
                account,
                Change::Expunged {
                    mailbox: from,
                    uids: removed.iter().map(|m| m.uid).collect(),
                    modseq: src.highestmodseq,
                },
            ));
        }
    }
    Ok((
        Moved {
            validity: dst.uidvalidity,
            pairs,
            removed,
            modseq: src.highestmodseq,
        },
        events,
    ))
}

/// Removes messages from `mb` (in the transaction), updating counters, usage, blob refs and
/// the expunged log. Returns the records actually removed. With `pin`, the blob references
/// are kept (and recorded in `pinned`) for the sessions that may still read the messages
/// (`views`, RFC 2180 §4.1.1).
fn remove_messages(
    tx: &Tx<'_>,
    account: AccountId,
    mailbox: MailboxId,
    mb: &mut Mailbox,
    uids: &[Uid],
    pin: bool,
) -> TxResult<Vec<MessageMeta>> {
    let mut removed = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let key = keys::message(mailbox, uid);
        let Some(meta) = get::<MessageMeta>(tx.messages, &key)? else {
            continue;
        };
        tx.remove_message(mailbox, uid)?;
        if pin {
            put(tx.pinned, &key, &(meta.blob, meta.size, tx.node))?;
        } else {
            release_blob(tx, meta.blob, meta.size)?;
        }
        mb.exists = mb.exists.saturating_sub(1);
        mb.size = mb.size.saturating_sub(meta.size);
        if !meta.flags.has(Flags::SEEN) {
            mb.unseen = mb.unseen.saturating_sub(1);
        }
        bytes += meta.size;
        removed.push(meta);
    }
    if !removed.is_empty() {
        mb.highestmodseq = mb.highestmodseq.next();
        for m in &removed {
            // RFC 7162 §3.2.5.1: remembered for QRESYNC (`expunge_log`).
            tx.expunge_log
                .insert(&keys::expunge(mailbox, mb.highestmodseq, m.uid)[..], b"")?;
        }
        change_usage(
            tx,
            account,
            bytes,
            removed.len() as u64,
            u64::saturating_sub,
        )?;
    }
    Ok(removed)
}

/// Drops one reference to a blob; the last one removes its bytes and structure.
pub(crate) fn release_blob(tx: &Tx<'_>, blob_id: BlobId, size: u64) -> TxResult<()> {
    let key = keys::id(blob_id);
    let refs: u32 = get(tx.refs, &key)?.unwrap_or(1);
    if refs <= 1 {
        tx.refs.remove(key)?;
        tx.structure.remove(key)?;
        if tx.blob_locs.remove(key)?.is_some() {
            // The bytes in their segment are dead now; the compactor gives the space back
            // (a blob store in memory frees them once the transaction commits).
            tx.deletes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            tx.released_blob(blob_id);
        } else {
            // Stored by an older version, in the `blobs` tree.
            blob::remove(tx.blobs, blob_id, size)?;
        }
    } else {
        put(tx.refs, &key, &(refs - 1))?;
    }
    Ok(())
}

/// Removes one message as an expunge would (counters, usage, blob reference, expunge log):
/// recovery of a write that never became durable (`blob::recover_segment`).
pub(crate) fn forget_message(tx: &Tx<'_>, mailbox: MailboxId, meta: &MessageMeta) -> TxResult<()> {
    let Some((key, mut mb)) = load_mailbox(tx, mailbox)? else {
        return Ok(());
    };
    let account = keys::read_account(&key);
    remove_messages(tx, account, mailbox, &mut mb, &[meta.uid], false)?;
    put(tx.mailboxes, &key, &mb)
}
