//! Raw message bytes: reading them from the blob store (`backend::blobs`: the segment files,
//! where every message since the segment store goes, or memory), or from 32 KiB chunks in the
//! `blobs` tree (messages stored by earlier versions; see the crate's *Invariants* for why
//! chunks stay small), and the recovery of the last segment at open.

use crate::backend::{TreeId, TxResult, TxTree};

use crate::backend::Value;
use crate::keys;
use crate::model::BlobId;
use crate::segments::Loc;
use crate::{Error, Result, Store};

/// Largest value we hand to sled for message bytes (sled 0.34 spills values above
/// segment_size / 4 ≈ 128 KiB into blob files that `flush` does not fsync).
pub const CHUNK: usize = 32 * 1024;

#[cfg(test)]
pub(crate) fn write(tree: TxTree<'_>, blob: BlobId, bytes: &[u8]) -> TxResult<()> {
    for (i, chunk) in (0..=u32::MAX).zip(bytes.chunks(CHUNK)) {
        tree.insert(keys::chunk(blob, i), chunk)?;
    }
    Ok(())
}

pub(crate) fn remove(tree: TxTree<'_>, blob: BlobId, size: u64) -> TxResult<()> {
    let n = size.div_ceil(CHUNK as u64).max(1);
    // Chunk indexes are u32 (the key layout); a message is far below 4 Gi chunks.
    for i in 0..u32::try_from(n).unwrap_or(u32::MAX) {
        tree.remove(keys::chunk(blob, i))?;
    }
    Ok(())
}

impl Store {
    /// Where the blob store keeps a blob's bytes (`None`: in legacy chunks, or gone).
    fn blob_loc(&self, blob: BlobId) -> Result<Option<Value>> {
        self.inner.db.get(TreeId::BlobLocs, keys::id(blob))
    }

    /// Reads from the blob store; when the compactor moved the blob after we looked up its
    /// location (its old file is gone), looks it up again once.
    fn read_stored(&self, blob: BlobId, loc: &[u8], start: u64, len: u64) -> Result<Vec<u8>> {
        let blobs = &self.inner.blobs;
        crate::blocking(|| match blobs.read(blob, loc, start, len) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                match self.blob_loc(blob)? {
                    Some(moved) if *moved != *loc => blobs.read(blob, &moved, start, len),
                    _ => Err(e.into()),
                }
            }
            r => r,
        })
    }

    /// How many message bodies the store keeps: the locations recorded in `blob_locs`, or
    /// the bodies a blob store that frees them (memory) holds, whichever is more. A write
    /// that was refused or failed leaves neither behind. For tests (docs/architecture.md §5).
    #[doc(hidden)]
    pub fn bodies_held(&self) -> Result<usize> {
        let located = (self.inner.db.iter(TreeId::BlobLocs).keys())
            .try_fold(0usize, |n, k| k.map(|_| n + 1))?;
        Ok(self.inner.blobs.held().unwrap_or(0).max(located))
    }

    /// The whole message.
    pub fn read_blob(&self, blob: BlobId) -> Result<Vec<u8>> {
        if let Some(loc) = self.blob_loc(blob)? {
            return self.read_stored(blob, &loc, 0, u64::MAX);
        }
        let mut out = Vec::new();
        let mut found = false;
        let db = &self.inner.db;
        for kv in db.range(
            TreeId::Blobs,
            keys::chunk(blob, 0),
            keys::chunk(blob, u32::MAX),
        ) {
            let (_, v) = kv?;
            found = true;
            out.extend_from_slice(&v);
        }
        if !found {
            return Err(released());
        }
        Ok(out)
    }

    /// `len` bytes from `start` (fewer at the end of the message); reads only the chunks needed.
    pub fn read_blob_range(&self, blob: BlobId, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(len.min(1 << 20)).unwrap_or(0));
        if len == 0 {
            return Ok(out);
        }
        if let Some(loc) = self.blob_loc(blob)? {
            return self.read_stored(blob, &loc, start, len);
        }
        let end = start.saturating_add(len);
        let chunk_of = |at: u64| u32::try_from(at / CHUNK as u64).unwrap_or(u32::MAX);
        let (first, last) = (chunk_of(start), chunk_of(end - 1));
        let db = &self.inner.db;
        let mut found = false;
        for kv in db.range(
            TreeId::Blobs,
            keys::chunk(blob, first),
            keys::chunk(blob, last),
        ) {
            let (k, v) = kv?;
            found = true;
            let idx = u64::from(keys::message_uid(&k).get()); // same layout: id ‖ u32
            let cstart = idx * CHUNK as u64;
            let within = |at: u64| usize::try_from(at).map_or(v.len(), |n| n.min(v.len()));
            let (from, to) = (within(start.saturating_sub(cstart)), within(end - cstart));
            if from < to {
                out.extend_from_slice(&v[from..to]);
            }
        }
        // Neither a location nor a chunk: the body was released (an expunge on another node
        // of a shared store, docs/architecture.md §12.3), not an empty message.
        if !found {
            return Err(released());
        }
        Ok(out)
    }
}

/// A body that is gone: as the blob stores report it.
fn released() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "blob released",
    ))
}

impl Store {
    /// At open: verifies every record of the last segment the previous run wrote to. sled may
    /// have reached the disk with the location of a write whose bytes did not (a power loss
    /// before the group commit): such a message was never acknowledged, and is removed.
    pub(crate) fn recover_segment(&self, seg: u32) -> Result<()> {
        let Some(segments) = self.inner.blobs.segments() else {
            return Ok(());
        };
        let db = &self.inner.db;
        let mut bad = Vec::new();
        for kv in db.iter(TreeId::BlobLocs) {
            let (k, v) = kv?;
            let loc: Loc = decode("blob location", &v)?;
            let id = keys::read_u64(&k);
            if loc.seg == seg && !segments.verify(id, loc) {
                bad.push(id);
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            "removing {} message(s) whose bytes were not on disk after a crash (never acknowledged)",
            bad.len()
        );
        let mut victims = Vec::new();
        for kv in db.iter(TreeId::Messages) {
            let (k, v) = kv?;
            let meta: crate::model::MessageMeta = decode("message", &v)?;
            if bad.contains(&meta.blob) {
                victims.push((keys::read_mailbox_id(&k), meta));
            }
        }
        self.transact(|tx| {
            for (mailbox, meta) in &victims {
                crate::expunge::forget_message(tx, *mailbox, meta)?;
            }
            for id in &bad {
                tx.blob_locs.remove(keys::id(*id))?;
                tx.refs.remove(keys::id(*id))?;
                tx.structure.remove(keys::id(*id))?;
            }
            Ok(())
        })?;
        self.inner.durable.mark_written();
        Ok(())
    }
}

/// Decodes a postcard record, naming the tree in the error.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // postcard cannot fail for our plain structs (no maps with non-string keys, no unsized).
    postcard::to_allocvec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages stored by versions before the segment store (chunks in sled) stay readable
    /// (on every backend: the chunks are ordinary records).
    #[test]
    fn legacy_chunks_are_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        legacy_chunks_on(Store::open(dir.path()).expect("open"));
        legacy_chunks_on(Store::open_in_memory().expect("memory"));
    }

    fn legacy_chunks_on(store: Store) {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        store
            .transact(|tx| write(tx.blobs, 42, &bytes))
            .expect("write");
        assert_eq!(store.read_blob(42).expect("read"), bytes);
        assert_eq!(
            store.read_blob_range(42, 40_000, 30_000).expect("range"),
            bytes[40_000..70_000]
        );
    }
}
