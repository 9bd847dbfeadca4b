//! Raw message bytes, chunked. See the crate's *Invariants* for why chunks stay small.

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use crate::keys;
use crate::model::BlobId;
use crate::{Error, Result, Store};

/// Largest value we hand to sled for message bytes (sled 0.34 spills values above
/// segment_size / 4 ≈ 128 KiB into blob files that `flush` does not fsync).
pub const CHUNK: usize = 32 * 1024;

pub(crate) fn write(
    tree: &TransactionalTree,
    blob: BlobId,
    bytes: &[u8],
) -> ConflictableTransactionResult<(), Error> {
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        tree.insert(&keys::chunk(blob, i as u32)[..], chunk)?;
    }
    Ok(())
}

pub(crate) fn remove(
    tree: &TransactionalTree,
    blob: BlobId,
    size: u64,
) -> ConflictableTransactionResult<(), Error> {
    let n = (size as usize).div_ceil(CHUNK).max(1);
    for i in 0..n {
        tree.remove(&keys::chunk(blob, i as u32)[..])?;
    }
    Ok(())
}

impl Store {
    /// The whole message.
    pub fn read_blob(&self, blob: BlobId) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for kv in self
            .inner
            .blobs
            .range(keys::chunk(blob, 0)..=keys::chunk(blob, u32::MAX))
        {
            let (_, v) = kv?;
            out.extend_from_slice(&v);
        }
        Ok(out)
    }

    /// `len` bytes from `start` (fewer at the end of the message); reads only the chunks needed.
    pub fn read_blob_range(&self, blob: BlobId, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
        if len == 0 {
            return Ok(out);
        }
        let end = start.saturating_add(len);
        let first = (start / CHUNK as u64) as u32;
        let last = ((end - 1) / CHUNK as u64).min(u32::MAX as u64) as u32;
        for kv in self
            .inner
            .blobs
            .range(keys::chunk(blob, first)..=keys::chunk(blob, last))
        {
            let (k, v) = kv?;
            let idx = keys::message_uid(&k) as u64; // same layout: id ‖ u32
            let cstart = idx * CHUNK as u64;
            let from = start.saturating_sub(cstart) as usize;
            let to = ((end - cstart) as usize).min(v.len());
            if from < to {
                out.extend_from_slice(&v[from..to]);
            }
        }
        Ok(out)
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
