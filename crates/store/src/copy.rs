//! Moving a store from one backend to another (`mailstack store copy`, docs/architecture.md
//! §12): every record is copied as it is — accounts, aliases, domains, mailboxes with their
//! UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, messages with their UIDs, flags and MODSEQs, the
//! expunge log and its floor, subscriptions, Sieve scripts — and every body is read from the
//! source's blob store and put into the destination's (a body's location is the blob store's
//! own). The destination's id generator is moved past every id copied.

use crate::backend::{Batch, TreeId};
use crate::keys;
use crate::{Error, Result, Store};

/// What [`Store::copy_into`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub records: u64,
    pub bodies: u64,
    pub body_bytes: u64,
}

/// Trees copied record by record: every tree but these. `blob_locs` is rebuilt from the
/// bodies put, `blobs` (chunks of earlier versions) is read through `read_blob`, and `pinned`
/// belongs to the sessions of a running process (released at every open). A tree added to
/// [`TreeId::ALL`] is copied unless named here.
const NOT_COPIED: [TreeId; 3] = [TreeId::BlobLocs, TreeId::Blobs, TreeId::Pinned];

const BATCH: u64 = 1000;

impl Store {
    /// Copies this store into `dest`, which must hold no account yet (a store just created).
    /// Open `dest` again afterwards before serving from it.
    pub async fn copy_into(&self, dest: &Store) -> Result<CopyStats> {
        if !dest.inner.db.is_empty(TreeId::Accounts)? {
            return Err(Error::NotPermitted(
                "the destination store already has accounts; copy into an empty one",
            ));
        }
        let mut stats = CopyStats::default();
        let mut max_id = 0u64;
        for tree in TreeId::ALL.into_iter().filter(|t| !NOT_COPIED.contains(t)) {
            let mut batch = Batch::default();
            let mut n = 0u64;
            for kv in self.inner.db.iter(tree) {
                let (k, v) = kv?;
                if matches!(tree, TreeId::AccountIds | TreeId::MailboxIds | TreeId::Refs) {
                    max_id = max_id.max(keys::read_u64(&k));
                }
                batch.insert(&*k, &*v);
                n += 1;
                if n.is_multiple_of(BATCH) {
                    dest.inner
                        .db
                        .apply_batch(tree, std::mem::take(&mut batch))?;
                }
            }
            dest.inner.db.apply_batch(tree, batch)?;
            stats.records += n;
        }
        // Bodies: every blob some message or pin refers to.
        let mut locs = Batch::default();
        let mut n = 0u64;
        for kv in self.inner.db.iter(TreeId::Refs) {
            let (k, _) = kv?;
            let id = keys::read_u64(&k);
            let bytes = self.read_blob(id)?;
            let (loc, guard) = dest.inner.blobs.put(id, &bytes)?;
            drop(guard);
            locs.insert(keys::id(id), loc);
            stats.bodies += 1;
            stats.body_bytes += bytes.len() as u64;
            n += 1;
            if n.is_multiple_of(BATCH) {
                dest.inner.blobs.sync()?;
                dest.inner
                    .db
                    .apply_batch(TreeId::BlobLocs, std::mem::take(&mut locs))?;
            }
        }
        dest.inner.blobs.sync()?;
        dest.inner.db.apply_batch(TreeId::BlobLocs, locs)?;
        dest.inner.db.ids_above(max_id)?;
        dest.inner.durable.mark_written();
        dest.sync().await?;
        Ok(stats)
    }
}
