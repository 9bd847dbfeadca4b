//! The sled backend: sled 0.34.7 on disk (`<data_dir>/db`, sled's own files). The only file
//! of the store that names sled's types; its errors become [`Error`] here.
//!
//! Durability (docs/architecture.md §4.1): sled's `flush()` writes its buffers and calls
//! `sync_file_range`, which neither flushes the device cache nor file metadata; the
//! [`SledFlusher`] follows it with `fdatasync` of the database file. sled 0.34 also writes any
//! page buffer over a quarter of a segment (~128 KiB: a leaf of 16 message chunks, a large
//! structure) to its own file under `blobs/`, which it never syncs; every flush therefore also
//! syncs the blob files it has not synced yet, and the folder.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use ::sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use ::sled::Transactional;

use super::{TreeId, TxError, TxResult, Value, ValueRepr};
use crate::{Error, Result};

/// sled page cache size.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;
const PID_FILE: &str = "mailstack.pid";
/// How long an open waits for a lock that no other process holds (see `SledBackend::open`).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

impl From<::sled::Error> for Error {
    fn from(e: ::sled::Error) -> Self {
        match e {
            ::sled::Error::Io(io) => Error::Io(io),
            other => Error::Db(other.to_string()),
        }
    }
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> Self {
        match e {
            UnabortableTransactionError::Conflict => TxError::Conflict,
            UnabortableTransactionError::Storage(e) => TxError::Storage(e.into()),
        }
    }
}

/// sled's shared buffer, behind [`Value`].
#[derive(Clone)]
pub(crate) struct Bytes(::sled::IVec);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn value(v: ::sled::IVec) -> Value {
    Value(ValueRepr::Sled(Bytes(v)))
}

/// sled's iterator, behind [`super::Scan`].
pub(crate) struct Iter(::sled::Iter);

impl Iter {
    pub(crate) fn next(&mut self) -> Option<Result<(Value, Value)>> {
        self.0
            .next()
            .map(|kv| kv.map(|(k, v)| (value(k), value(v))).map_err(Error::from))
    }
}

#[derive(Clone)]
pub(crate) struct SledBackend {
    db: ::sled::Db,
    path: PathBuf,
    /// Indexed by [`TreeId::index`]; the first [`TreeId::TX`] are the transaction's.
    trees: Vec<::sled::Tree>,
}

impl SledBackend {
    pub(crate) fn open(path: &Path) -> Result<SledBackend> {
        let mut tries: u32 = 0;
        let db = loop {
            // sled's default page cache is 1 GiB; 128 MiB keeps a server with 10,000 IDLE
            // clients small (`make bench` row 5) while the working set of large mailboxes
            // still fits.
            match ::sled::Config::new()
                .path(path)
                .cache_capacity(CACHE_BYTES)
                // Every write we acknowledge is flushed by the group commit; sled's own flush
                // every 500 ms would only wake an idle server twice a second.
                .flush_every_ms(None)
                .open()
            {
                Ok(db) => break db,
                Err(::sled::Error::Io(e)) if is_lock_error(&e) => {
                    // A store of this process dropped just now may still hold the lock for a
                    // moment (apparently sled's I/O threads let go of the file a little after
                    // the last handle): a reopen right after a drop failed under load. The PID file is gone
                    // then (the store removes it on close); a process holding the lock has
                    // written its PID, and is reported at once.
                    let pid = std::fs::read_to_string(path.join(PID_FILE))
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|_| "unknown".into());
                    if pid == "unknown" {
                        tries += 1;
                        if tries * LOCK_RETRY < LOCK_WAIT {
                            std::thread::sleep(LOCK_RETRY);
                            continue;
                        }
                    }
                    return Err(Error::Locked { pid });
                }
                Err(e) => return Err(e.into()),
            }
        };
        std::fs::write(path.join(PID_FILE), std::process::id().to_string())?;
        let trees = TreeId::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<std::result::Result<_, _>>()?;
        Ok(SledBackend {
            db,
            path: path.to_path_buf(),
            trees,
        })
    }

    fn tree(&self, id: TreeId) -> &::sled::Tree {
        &self.trees[id.index()]
    }

    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Value>> {
        Ok(self.tree(tree).get(key)?.map(value))
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) -> Result<()> {
        self.tree(tree).insert(key, v)?;
        Ok(())
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) -> Result<()> {
        self.tree(tree).remove(key)?;
        Ok(())
    }

    pub(crate) fn scan_prefix(&self, tree: TreeId, prefix: &[u8]) -> Iter {
        Iter(self.tree(tree).scan_prefix(prefix))
    }

    pub(crate) fn range(&self, tree: TreeId, from: &[u8], to: &[u8]) -> Iter {
        Iter(self.tree(tree).range(from..=to))
    }

    pub(crate) fn apply_batch(
        &self,
        tree: TreeId,
        ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let mut batch = ::sled::Batch::default();
        for (k, v) in ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree(tree).apply_batch(batch)?;
        Ok(())
    }

    pub(crate) fn generate_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    pub(crate) fn transact<T>(&self, f: impl Fn(super::TxView<'_>) -> TxResult<T>) -> Result<T> {
        let r = self.trees[..TreeId::TX].transaction(|v| {
            f(super::TxView::Sled(TxTrees(v))).map_err(|e| match e {
                TxError::Conflict => ConflictableTransactionError::Conflict,
                TxError::Abort(e) | TxError::Storage(e) => ConflictableTransactionError::Abort(e),
            })
        });
        match r {
            Ok(t) => Ok(t),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    pub(crate) fn flusher(&self) -> Result<SledFlusher> {
        Ok(SledFlusher {
            db: self.db.clone(),
            file: File::open(self.path.join("db"))?,
            blobs: self.path.join("blobs"),
            synced: HashSet::new(),
        })
    }

    pub(crate) fn close(&self) {
        let _ = self.db.flush();
        let _ = std::fs::remove_file(self.path.join(PID_FILE));
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.raw_os_error() == Some(11)
        || e.to_string().contains("lock")
}

/// The trees of one sled transaction attempt.
#[derive(Clone, Copy)]
pub(crate) struct TxTrees<'a>(&'a [TransactionalTree]);

impl TxTrees<'_> {
    fn tree(&self, id: TreeId) -> &TransactionalTree {
        &self.0[id.index()]
    }

    pub(crate) fn get(&self, id: TreeId, key: &[u8]) -> TxResult<Option<Value>> {
        Ok(self.tree(id).get(key)?.map(value))
    }

    pub(crate) fn insert(&self, id: TreeId, key: &[u8], v: &[u8]) -> TxResult<()> {
        self.tree(id).insert(key, v)?;
        Ok(())
    }

    pub(crate) fn remove(&self, id: TreeId, key: &[u8]) -> TxResult<Option<Value>> {
        Ok(self.tree(id).remove(key)?.map(value))
    }
}

/// What the group commit's thread flushes (see the module docs).
pub(crate) struct SledFlusher {
    db: ::sled::Db,
    /// sled's database file, fdatasynced after its `flush`.
    file: File,
    /// sled's folder of large pages.
    blobs: PathBuf,
    /// Blob files already synced (sled never rewrites one; it deletes and makes new ones).
    synced: HashSet<OsString>,
}

impl SledFlusher {
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.db.flush()?;
        self.sync_blobs()?;
        self.file.sync_data()?;
        Ok(())
    }

    /// fsyncs every blob file not synced yet, then the folder (their names).
    fn sync_blobs(&mut self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(f) => f.sync_data()?,
                    // sled removed it meanwhile (the page was rewritten): nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
                new = true;
            }
            present.insert(name);
        }
        self.synced = present;
        if new {
            File::open(&self.blobs)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_files_are_synced_and_forgotten_when_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = SledBackend::open(dir.path()).expect("open");
        let mut flusher = backend.flusher().expect("flusher");
        // A value far over the blob threshold lands in a blob file.
        backend
            .insert(TreeId::Structure, b"big", &vec![7u8; 600 * 1024])
            .expect("insert");
        flusher.flush().expect("flush");
        let files = std::fs::read_dir(dir.path().join("blobs"))
            .expect("blobs")
            .count();
        assert!(files >= 1, "expected a blob file");
        assert_eq!(flusher.synced.len(), files);
        drop(flusher);
        backend.close();
        drop(backend);
        // Reopening right after the drop works (every handle is closed).
        let again = SledBackend::open(dir.path()).expect("reopen");
        assert_eq!(
            again
                .get(TreeId::Structure, b"big")
                .expect("get")
                .map(|v| v.len()),
            Some(600 * 1024)
        );
    }
}
