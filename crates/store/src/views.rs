//! Sessions' views of a mailbox, and the messages expunged under them.
//!
//! RFC 2180 §4.1.1: a session that has not yet been told of an expunge (IMAP may only say
//! EXPUNGE at certain points, RFC 3501 §7.4.1) still addresses the message by its sequence
//! number, and a FETCH must return the message's real data. So an expunge does not free the
//! message's bytes while a session may still address them:
//!
//! - A session that selects a mailbox opens a [`View`] before it reads its snapshot. Each view
//!   has a cursor: the MODSEQ up to which it has told its client every expunge.
//! - An expunge (IMAP EXPUNGE, MOVE, POP3 QUIT) of a mailbox with open views removes the
//!   message record as always (quota, counters, STATUS change at once), but keeps the blob's
//!   reference: it writes a `pinned` record in the same transaction and keeps the message's
//!   metadata here, in memory, as a *grave* with the expunge's MODSEQ.
//! - [`View::message`] finds a live message or its grave. When every view of the mailbox has
//!   moved its cursor past a grave's MODSEQ (or closed), the grave is released: the `pinned`
//!   record goes and the blob reference is dropped (the bytes go with the last reference).
//! - A crash loses the in-memory graves but not the `pinned` records: [`Store::open`] releases
//!   every one of them (no session survives a restart).
//!
//! Lock order: an account's writer lock, then the registry lock. Views are registered and
//! graves created under the account's writer lock, so an expunge either commits before a view
//! exists (the view's snapshot never contains the message) or sees the view and pins.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::backend::{self, TreeId};
use crate::model::{AccountId, MailboxId, MessageMeta, ModSeq, Uid};
use crate::tx::IndexOp;
use crate::{keys, Result, Store};

/// Message records held in memory by all mailbox indexes together, at most (about 88 bytes
/// each plus keywords: ~100 MiB). A mailbox opened beyond it is read from the backend.
pub const MAX_INDEXED: usize = 1_000_000;

/// Header bytes cached for SEARCH over all open mailboxes, at most; a header over
/// [`MAX_CACHED_HEADER`] is never cached (it is read again when needed).
pub const MAX_HEADER_CACHE: usize = 64 * 1024 * 1024;
/// The longest header block the SEARCH cache keeps.
pub const MAX_CACHED_HEADER: usize = 4096;

static HEADER_BYTES: AtomicU64 = AtomicU64::new(0);

/// The open views and graves of every watched mailbox.
#[derive(Default)]
pub(crate) struct Registry {
    mailboxes: HashMap<MailboxId, Watched>,
}

struct Watched {
    account: AccountId,
    /// The mailbox's message records in UID order, kept in memory while views are open
    /// (`None` when over the memory cap): SELECT, FETCH 1:* and SEARCH on a large mailbox
    /// read memory instead of scanning the backend. Updated after every commit (`apply_index`).
    /// Copy on write: readers take the inner `Arc` (a cheap clone) and read without a lock;
    /// a commit changes the list in place unless a reader still holds it, then a copy.
    index: Option<Arc<RwLock<Arc<Vec<MessageMeta>>>>>,
    /// Header blocks read for SEARCH, kept while the mailbox is open (Dovecot's cache file
    /// plays this part): uid → header bytes. Bounded by [`MAX_HEADER_CACHE`].
    headers: HashMap<Uid, Arc<Vec<u8>>>,
    /// View id → cursor (every expunge with a MODSEQ at or below it has been told).
    views: HashMap<u64, ModSeq>,
    /// Expunged messages some view may still address: uid → (expunge MODSEQ, metadata).
    graves: BTreeMap<Uid, (ModSeq, MessageMeta)>,
}

static NEXT_VIEW: AtomicU64 = AtomicU64::new(1);

/// A session's registration on a mailbox (see the module docs). Dropping it releases every
/// grave only this view still held.
pub struct View {
    store: Store,
    mailbox: MailboxId,
    id: u64,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("mailbox", &self.mailbox)
            .field("id", &self.id)
            .finish()
    }
}

impl Store {
    /// Opens a view of `mailbox`; call it before reading the snapshot the view starts from.
    /// Its cursor starts at the mailbox's HIGHESTMODSEQ now: every later expunge is kept
    /// readable for it until [`View::advance`] passes that expunge.
    pub fn open_view(&self, account: AccountId, mailbox: MailboxId) -> Result<View> {
        let w = self.writer(account);
        let _g = crate::lock(&w);
        let start = self
            .mailbox_by_id(mailbox)?
            .map_or(ModSeq::ZERO, |m| m.highestmodseq);
        let id = NEXT_VIEW.fetch_add(1, Ordering::Relaxed);
        let needs_index = crate::lock(&self.inner.views)
            .mailboxes
            .get(&mailbox)
            .is_none_or(|w| w.index.is_none());
        // Built under the writer lock: no write to this mailbox can come between the scan
        // and the registration that makes later commits update it.
        let built = if needs_index {
            let metas = self.scan_messages(mailbox)?;
            let indexed: usize = self.indexed();
            (indexed + metas.len() <= MAX_INDEXED).then(|| Arc::new(RwLock::new(Arc::new(metas))))
        } else {
            None
        };
        let mut reg = crate::lock(&self.inner.views);
        let w = reg.mailboxes.entry(mailbox).or_insert_with(|| Watched {
            account,
            index: None,
            headers: HashMap::new(),
            views: HashMap::new(),
            graves: BTreeMap::new(),
        });
        if w.index.is_none() {
            w.index = built;
        }
        w.views.insert(id, start);
        Ok(View {
            store: self.clone(),
            mailbox,
            id,
        })
    }

    /// Whether an expunge from `mailbox` must pin (some view is open). Call under the
    /// account's writer lock, together with [`Store::bury`].
    pub(crate) fn watched(&self, mailbox: MailboxId) -> bool {
        crate::lock(&self.inner.views)
            .mailboxes
            .get(&mailbox)
            .is_some_and(|w| !w.views.is_empty())
    }

    /// Keeps expunged messages readable for the open views (after the expunge committed,
    /// under the account's writer lock).
    pub(crate) fn bury(&self, mailbox: MailboxId, modseq: ModSeq, metas: Vec<MessageMeta>) {
        if metas.is_empty() {
            return;
        }
        let mut reg = crate::lock(&self.inner.views);
        match reg.mailboxes.get_mut(&mailbox) {
            Some(w) => {
                for m in metas {
                    w.graves.insert(m.uid, (modseq, m));
                }
            }
            None => {
                // Every view closed between the pin decision and now (cannot happen under the
                // writer lock, but a leak is worse than a check): release at once.
                drop(reg);
                let graves = metas.into_iter().map(|m| (mailbox, m)).collect();
                self.release_graves(graves);
            }
        }
    }

    /// Drops the graves of `mailbox` that no open view can address any more.
    fn collect(&self, mailbox: MailboxId) {
        let (account, dead) = {
            let mut reg = crate::lock(&self.inner.views);
            let Some(w) = reg.mailboxes.get_mut(&mailbox) else {
                return;
            };
            let floor = w.views.values().copied().min().unwrap_or(ModSeq::MAX);
            let mut dead = Vec::new();
            w.graves.retain(|_, (m, meta)| {
                let keep = *m > floor;
                if !keep {
                    dead.push((mailbox, meta.clone()));
                }
                keep
            });
            let account = w.account;
            if w.views.is_empty() && w.graves.is_empty() {
                if let Some(mut gone) = reg.mailboxes.remove(&mailbox) {
                    forget_headers(&mut gone.headers);
                }
            }
            (account, dead)
        };
        if dead.is_empty() {
            return;
        }
        let w = self.writer(account);
        let _g = crate::lock(&w);
        self.release_graves(dead);
    }

    /// Removes the `pinned` records of `graves` and drops their blob references, in one
    /// transaction. No flush: if it is lost in a crash, [`Store::open`] releases them again.
    fn release_graves(&self, graves: Vec<(MailboxId, MessageMeta)>) {
        let r = self.transact(|tx| {
            for (mailbox, m) in &graves {
                let key = keys::message(*mailbox, m.uid);
                if tx.pinned.remove(&key[..])?.is_some() {
                    crate::expunge::release_blob(tx, m.blob, m.size)?;
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            // The records stay; the next start releases them.
            tracing::warn!("releasing expunged messages: {e}");
        }
    }

    /// At start-up no session of this process exists: releases every blob an expunge pinned
    /// for sessions of an earlier run. On a shared backend, only the pins of nodes that are
    /// gone (another node's sessions may still read theirs).
    pub(crate) fn release_all_pinned(&self) -> Result<()> {
        let mut batch = Vec::new();
        let mut alive: HashMap<u64, bool> = HashMap::new();
        for kv in self.inner.db.iter(TreeId::Pinned) {
            let (k, v) = kv?;
            // Earlier versions wrote (blob, size): no node.
            let (blob, size, node): (u64, u64, u64) =
                crate::blob::decode("pinned", &v).or_else(|_| {
                    crate::blob::decode::<(u64, u64)>("pinned", &v).map(|(b, s)| (b, s, 0))
                })?;
            if let backend::Backend::Postgres(pg) = &self.inner.db {
                let live = match alive.get(&node) {
                    Some(l) => *l,
                    None => {
                        let l = node != 0 && pg.node().alive(node)?;
                        alive.insert(node, l);
                        l
                    }
                };
                if live {
                    continue;
                }
            }
            batch.push((k, blob, size));
        }
        if batch.is_empty() {
            return Ok(());
        }
        tracing::info!(
            "releasing {} message(s) expunged while sessions were open",
            batch.len()
        );
        for chunk in batch.chunks(256) {
            self.transact(|tx| {
                for (k, blob, size) in chunk {
                    tx.pinned.remove(k)?;
                    crate::expunge::release_blob(tx, *blob, *size)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Drops the in-memory indexes of `account`'s open mailboxes (of every account with
    /// `None`): they are rebuilt from the backend by the next session that opens a view, and
    /// read from the backend until then (`cluster`: changes may have been missed).
    pub(crate) fn forget_indexes(&self, account: Option<AccountId>) {
        let mut reg = crate::lock(&self.inner.views);
        for w in reg.mailboxes.values_mut() {
            if account.is_none_or(|a| a == w.account) {
                w.index = None;
            }
        }
    }

    /// Message records held by the mailbox indexes.
    fn indexed(&self) -> usize {
        let reg = crate::lock(&self.inner.views);
        reg.mailboxes
            .values()
            .filter_map(|w| w.index.as_ref())
            .map(|i| i.read().map(|v| v.len()).unwrap_or(0))
            .sum()
    }

    /// The in-memory index of `mailbox`, when an open view keeps one.
    pub(crate) fn index(&self, mailbox: MailboxId) -> Option<Arc<RwLock<Arc<Vec<MessageMeta>>>>> {
        crate::lock(&self.inner.views)
            .mailboxes
            .get(&mailbox)
            .and_then(|w| w.index.clone())
    }

    /// Applies committed record changes to the indexes of open mailboxes (called right after
    /// the commit, under the account's writer lock, so in commit order).
    pub(crate) fn apply_index(&self, ops: Vec<IndexOp>) {
        let mut reg = crate::lock(&self.inner.views);
        for op in ops {
            let mailbox = match &op {
                IndexOp::Put(m, _) | IndexOp::Remove(m, _) | IndexOp::Drop(m) => *m,
            };
            let Some(w) = reg.mailboxes.get_mut(&mailbox) else {
                continue;
            };
            if let IndexOp::Remove(_, uid) = &op {
                if let Some(h) = w.headers.remove(uid) {
                    HEADER_BYTES.fetch_sub(h.len() as u64, Ordering::Relaxed);
                }
            }
            if matches!(op, IndexOp::Drop(_)) {
                w.index = None;
                forget_headers(&mut w.headers);
                continue;
            }
            let Some(index) = &w.index else { continue };
            let mut guard = index.write().unwrap_or_else(|p| p.into_inner());
            let v = Arc::make_mut(&mut guard);
            match op {
                IndexOp::Put(_, meta) => match v.binary_search_by_key(&meta.uid, |m| m.uid) {
                    Ok(i) => v[i] = meta,
                    Err(i) => v.insert(i, meta),
                },
                IndexOp::Remove(_, uid) => {
                    if let Ok(i) = v.binary_search_by_key(&uid, |m| m.uid) {
                        v.remove(i);
                    }
                }
                IndexOp::Drop(_) => {}
            }
        }
    }

    /// The header block of a message (RFC 5322 §2.1: up to the empty line), for SEARCH:
    /// from the open mailbox's cache, else read (and cached when small enough).
    pub fn message_header(&self, mailbox: MailboxId, meta: &MessageMeta) -> Result<Arc<Vec<u8>>> {
        if let Some(h) = crate::lock(&self.inner.views)
            .mailboxes
            .get(&mailbox)
            .and_then(|w| w.headers.get(&meta.uid))
        {
            return Ok(h.clone());
        }
        // Most headers are a few KiB; read more only when the first read ends inside one.
        let mut want = 8 * 1024u64;
        let header = loop {
            let asked = want.min(meta.size);
            let bytes = self.read_blob_range(meta.blob, 0, asked)?;
            let hl = crate::mime::header_length(&bytes);
            // A short read is the end of the body (never loop asking for more).
            if hl < bytes.len() || bytes.len() as u64 >= meta.size || (bytes.len() as u64) < asked {
                let mut b = bytes;
                b.truncate(hl);
                // The read buffer is up to 8 KiB (more for a long header); a cached header
                // must not keep it (the cache's bound counts header bytes).
                b.shrink_to_fit();
                break b;
            }
            want *= 4;
        };
        let header = Arc::new(header);
        if header.len() <= MAX_CACHED_HEADER
            && HEADER_BYTES.load(Ordering::Relaxed) < MAX_HEADER_CACHE as u64
        {
            let mut reg = crate::lock(&self.inner.views);
            if let Some(w) = reg.mailboxes.get_mut(&mailbox) {
                if !w.views.is_empty() && w.headers.insert(meta.uid, header.clone()).is_none() {
                    HEADER_BYTES.fetch_add(header.len() as u64, Ordering::Relaxed);
                }
            }
        }
        Ok(header)
    }

    /// Number of expunged messages kept for open views (tests, dashboard).
    pub fn graves(&self) -> usize {
        crate::lock(&self.inner.views)
            .mailboxes
            .values()
            .map(|w| w.graves.len())
            .sum()
    }
}

impl View {
    /// The mailbox this view is of.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// Tells the store that every expunge with a MODSEQ at or below `told` has been announced
    /// to this view's client, so their graves may go.
    pub fn advance(&self, told: ModSeq) {
        let changed = {
            let mut reg = crate::lock(&self.store.inner.views);
            match reg
                .mailboxes
                .get_mut(&self.mailbox)
                .and_then(|w| w.views.get_mut(&self.id))
            {
                Some(c) if *c < told => {
                    *c = told;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.store.collect(self.mailbox);
        }
    }

    /// A message this view may address: live in the mailbox, or expunged but not yet
    /// announced (its metadata as it was when it was expunged).
    pub fn message(&self, uid: Uid) -> Result<Option<MessageMeta>> {
        if let Some(m) = self.store.message(self.mailbox, uid)? {
            return Ok(Some(m));
        }
        Ok(self.expunged(uid))
    }

    /// RFC 3501 §2.3.2: claims the mailbox's new messages as \Recent for this session;
    /// returns the first UID that is recent for it (see [`Store::claim_recent`]).
    pub fn claim_recent(&self) -> Result<Uid> {
        self.store.claim_recent(self.mailbox)
    }

    /// The first UID no session has claimed as \Recent yet, without claiming (EXAMINE).
    pub fn peek_recent(&self) -> Result<Uid> {
        Ok(self
            .store
            .mailbox_by_id(self.mailbox)?
            .map_or(Uid::MAX, |m| m.recent_from))
    }

    /// An expunged message still kept for open views.
    pub fn expunged(&self, uid: Uid) -> Option<MessageMeta> {
        let grave = |reg: &Registry| {
            reg.mailboxes
                .get(&self.mailbox)
                .and_then(|w| w.graves.get(&uid))
                .map(|(_, m)| m.clone())
        };
        let account = {
            let reg = crate::lock(&self.store.inner.views);
            if let Some(m) = grave(&reg) {
                return Some(m);
            }
            reg.mailboxes.get(&self.mailbox)?.account
        };
        // An expunge commits, leaves the mailbox index, then buries what it removed, all under
        // the account's writer lock: a reader in between sees the message in neither (the
        // stress client caught a FETCH answering OK without it). Waiting for the lock closes
        // that window; it is taken only for a UID the index no longer has.
        drop(crate::lock(&self.store.writer(account)));
        grave(&crate::lock(&self.store.inner.views))
    }
}

impl Drop for View {
    fn drop(&mut self) {
        {
            let mut reg = crate::lock(&self.store.inner.views);
            if let Some(w) = reg.mailboxes.get_mut(&self.mailbox) {
                w.views.remove(&self.id);
            }
        }
        self.store.collect(self.mailbox);
    }
}

fn forget_headers(h: &mut HashMap<Uid, Arc<Vec<u8>>>) {
    let bytes: usize = h.values().map(|v| v.len()).sum();
    HEADER_BYTES.fetch_sub(bytes as u64, Ordering::Relaxed);
    h.clear();
}
