//! The blob role: where message bodies are kept (docs/architecture.md §5, §12).
//!
//! The model writes a body with [`BlobStore::put`] before the transaction that links it,
//! records the returned *location* (opaque bytes) in the `blob_locs` tree inside that
//! transaction, reads with [`BlobStore::read`] given that location, and after a commit that
//! dropped the last reference (`expunge::release_blob` removed the location) calls
//! [`BlobStore::release`]. Reference counting stays in the model (`refs`), so every blob store
//! shares its rules: a body goes only when no mailbox and no session's view can address it.
//!
//! - `Segments`: append-only segment files (`segments`); the location is a postcard
//!   [`Loc`]; release does nothing, the compactor (`compact`) finds dead bytes from
//!   `blob_locs` and gives their space back. The default, with the sled backend.
//! - `Memory`: bodies in a map, for [`crate::Store::open_in_memory`]; the location is empty;
//!   release drops the bytes at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::BlobId;
use crate::segments::{Loc, PutGuard, Segments};
use crate::{Error, Result};

#[derive(Clone)]
pub(crate) enum BlobStore {
    Segments(Arc<Segments>),
    Memory(Arc<Mutex<HashMap<BlobId, Arc<[u8]>>>>),
    /// Bodies in the `blobs` table of the PostgreSQL backend (any process with the URL reads
    /// them); the location is empty; release deletes the rows.
    Postgres(super::pg::PgBackend),
}

/// Held from [`BlobStore::put`] until the transaction recording the location has committed
/// or failed (the compactor leaves a segment with a pending put alone).
pub(crate) struct BlobGuard<'a> {
    _segment: Option<PutGuard<'a>>,
}

impl BlobStore {
    pub(crate) fn memory() -> BlobStore {
        BlobStore::Memory(Arc::default())
    }

    /// Stores `bytes` as blob `id`; returns the location to record in `blob_locs`.
    pub(crate) fn put(&self, id: BlobId, bytes: &[u8]) -> Result<(Vec<u8>, BlobGuard<'_>)> {
        match self {
            BlobStore::Segments(s) => {
                let (loc, guard) = s.put(id, bytes)?;
                let guard = BlobGuard {
                    _segment: Some(guard),
                };
                Ok((crate::blob::encode(&loc), guard))
            }
            BlobStore::Memory(m) => {
                crate::lock(m).insert(id, bytes.into());
                Ok((Vec::new(), BlobGuard { _segment: None }))
            }
            BlobStore::Postgres(p) => {
                p.put_blob(id, bytes)?;
                Ok((Vec::new(), BlobGuard { _segment: None }))
            }
        }
    }

    /// `len` bytes from `start` of blob `id` at `loc` (fewer at its end). A location whose
    /// bytes are gone (a compacted segment, a released body) is `Error::Io(NotFound)`.
    pub(crate) fn read(&self, id: BlobId, loc: &[u8], start: u64, len: u64) -> Result<Vec<u8>> {
        match self {
            BlobStore::Segments(s) => {
                let loc: Loc = crate::blob::decode("blob location", loc)?;
                Ok(s.read(loc, start, len)?)
            }
            BlobStore::Memory(m) => {
                let b = crate::lock(m).get(&id).cloned().ok_or_else(|| {
                    Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "blob released",
                    ))
                })?;
                let at = |n: u64| usize::try_from(n).map_or(b.len(), |n| n.min(b.len()));
                let from = at(start);
                Ok(b[from..at(start.saturating_add(len)).max(from)].to_vec())
            }
            BlobStore::Postgres(p) => p.read_blob(id, start, len)?.ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "blob released",
                ))
            }),
        }
    }

    /// The blobs whose last reference went in a transaction that committed (or whose
    /// transaction failed before linking them).
    pub(crate) fn release(&self, ids: &[BlobId]) {
        match self {
            BlobStore::Memory(m) => {
                let mut m = crate::lock(m);
                for id in ids {
                    m.remove(id);
                }
            }
            BlobStore::Postgres(p) => {
                if let Err(e) = p.release_blobs(ids) {
                    // The rows stay; nothing refers to them any more (logged, not fatal).
                    tracing::warn!("releasing {} PostgreSQL bodies: {e}", ids.len());
                }
            }
            BlobStore::Segments(_) => {}
        }
    }

    /// Makes every body written so far durable (before the records pointing at them are).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        match self {
            BlobStore::Segments(s) => s.sync(),
            BlobStore::Memory(_) | BlobStore::Postgres(_) => Ok(()),
        }
    }

    /// How many bodies a blob store that frees them (memory) holds; `None` for segment
    /// files, whose unlinked bytes are dead space the compactor gives back.
    pub(crate) fn held(&self) -> Option<usize> {
        match self {
            BlobStore::Segments(_) | BlobStore::Postgres(_) => None,
            BlobStore::Memory(m) => Some(crate::lock(m).len()),
        }
    }

    /// The segment files, when bodies are there (compactor, recovery at open).
    pub(crate) fn segments(&self) -> Option<&Arc<Segments>> {
        match self {
            BlobStore::Segments(s) => Some(s),
            BlobStore::Memory(_) | BlobStore::Postgres(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_blobs_read_ranges_and_release() {
        let b = BlobStore::memory();
        let (loc, guard) = b.put(1, b"hello world").expect("put");
        drop(guard);
        assert_eq!(b.read(1, &loc, 0, u64::MAX).expect("all"), b"hello world");
        assert_eq!(b.read(1, &loc, 6, 3).expect("range"), b"wor");
        assert_eq!(b.read(1, &loc, 20, 3).expect("past end"), b"");
        b.release(&[1]);
        assert!(matches!(b.read(1, &loc, 0, 1), Err(Error::Io(_))));
    }

    /// The release rules of docs/architecture.md §8 on a blob store that frees bodies: a body
    /// goes with its last reference (a copy elsewhere, a view's pin keep it), and a delivery
    /// no mailbox took leaves nothing behind.
    #[tokio::test]
    async fn memory_bodies_go_with_their_last_reference() {
        use crate::{AppendRequest, Store};
        let store = Store::open_in_memory().expect("memory store");
        let bodies = || match &store.inner.blobs {
            BlobStore::Memory(m) => crate::lock(m).len(),
            BlobStore::Segments(_) | BlobStore::Postgres(_) => unreachable!("a memory store"),
        };
        let a = store
            .create_account("m@example.test", "x", None)
            .await
            .expect("account");
        let inbox = store.mailbox(a.id, "INBOX").expect("q").expect("inbox");
        let trash = store.mailbox(a.id, "Trash").expect("q").expect("trash");
        let req = AppendRequest {
            bytes: b"Subject: x\r\n\r\nbody\r\n",
            ..Default::default()
        };
        let (_, uid) = store
            .append(a.id, inbox.id, req.clone())
            .await
            .expect("append");
        let (_, pairs) = store
            .copy_messages(a.id, inbox.id, &[uid], trash.id)
            .await
            .expect("copy");
        let view = store.open_view(a.id, inbox.id).expect("view");
        store
            .expunge(a.id, inbox.id, &[uid])
            .await
            .expect("expunge");
        store
            .expunge(a.id, trash.id, &[pairs[0].1])
            .await
            .expect("expunge copy");
        assert_eq!(bodies(), 1, "pinned for the view that was not told");
        let meta = view.message(uid).expect("q").expect("grave");
        assert_eq!(store.read_blob(meta.blob).expect("read"), req.bytes);
        drop(view);
        assert_eq!(bodies(), 0, "gone with the last reference");
        store
            .update_account("m@example.test", |a| a.quota_bytes = Some(1))
            .await
            .expect("quota");
        let refused = store.append(a.id, inbox.id, req).await;
        assert!(matches!(refused, Err(Error::OverQuota)));
        assert_eq!(bodies(), 0, "a refused delivery leaves no body");
    }
}
