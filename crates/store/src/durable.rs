//! Group commit: make writes durable, sharing one flush between concurrent writers.
//!
//! sled's `flush()` writes its buffers and calls `sync_file_range`, which neither flushes the
//! device cache nor file metadata; we follow it with `fdatasync` of the database file.
//! A writer records the write sequence number it needs, then waits for the flush lock; whoever
//! holds it flushes everything written so far, so the writers queued behind it usually find
//! their write already covered and return without another flush.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::Result;

pub(crate) struct GroupCommit {
    db: sled::Db,
    file: Arc<File>,
    /// Bumped after every applied write (before it is flushed).
    written: AtomicU64,
    /// Highest `written` value known to be on disk.
    durable: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    pub(crate) fn new(db: sled::Db, db_file: PathBuf) -> Result<Self> {
        let file = File::open(db_file)?;
        Ok(GroupCommit {
            db,
            file: Arc::new(file),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Records that a write was applied; returns the sequence number to wait for.
    pub(crate) fn mark_written(&self) -> u64 {
        self.written.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Highest write sequence number known to be on disk.
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Waits until every write so far is durable.
    pub(crate) async fn sync(&self) -> Result<()> {
        let need = self.written.load(Ordering::Acquire);
        self.wait_for(need).await
    }

    /// Waits until write `seq` is durable; flushes if nobody else already did.
    pub(crate) async fn wait_for(&self, seq: u64) -> Result<()> {
        if self.durable.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.durable.load(Ordering::Acquire) >= seq {
            return Ok(()); // a flush that started after our write covered it
        }
        let target = self.written.load(Ordering::Acquire);
        let db = self.db.clone();
        let file = self.file.clone();
        let flushed = tokio::task::spawn_blocking(move || -> Result<()> {
            db.flush()?;
            file.sync_data()?;
            Ok(())
        })
        .await;
        match flushed {
            Ok(r) => r?,
            Err(e) => return Err(crate::Error::Corrupt(format!("flush task failed: {e}"))),
        }
        self.durable.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}
