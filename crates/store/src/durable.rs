//! Group commit: make writes durable, sharing one flush between concurrent writers.
//!
//! sled's `flush()` writes its buffers and calls `sync_file_range`, which neither flushes the
//! device cache nor file metadata; we follow it with `fdatasync` of the database file.
//! sled 0.34 also writes any page buffer over a quarter of a segment (~128 KiB: a leaf of 16
//! message chunks, a large structure) to its own file under `blobs/`, which it never syncs;
//! every flush therefore also syncs the blob files it has not synced yet, and the folder.
//! A writer records the write sequence number it needs, then waits for the flush lock; whoever
//! holds it flushes everything written so far, so the writers queued behind it usually find
//! their write already covered and return without another flush.
//!
//! Flushes run on one dedicated thread, not on tokio's blocking pool: sled frees replaced
//! pages through per-thread epoch garbage bags, and a pool thread that flushed once and then
//! sat idle kept its bag — hundreds of MiB across a pool grown by a login burst (`make soak`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::Result;

type Reply = tokio::sync::oneshot::Sender<Result<()>>;

pub(crate) struct GroupCommit {
    /// Flush requests for the flusher thread; `None` once dropping.
    requests: Option<mpsc::Sender<Reply>>,
    thread: Option<JoinHandle<()>>,
    /// Bumped after every applied write (before it is flushed).
    written: AtomicU64,
    /// Highest `written` value known to be on disk.
    durable: AtomicU64,
    /// Why the store refuses writes (a flush failed), if it does.
    failed: std::sync::Mutex<Option<String>>,
    inject_failure: Arc<std::sync::atomic::AtomicBool>,
    flush_lock: tokio::sync::Mutex<()>,
}

/// What the flusher thread owns.
struct Flusher {
    db: sled::Db,
    /// Message bytes: synced before sled, so no record points at bytes not on disk.
    segments: Arc<crate::segments::Segments>,
    /// Fault injection (tests): every flush fails as a failing disk would.
    inject_failure: Arc<std::sync::atomic::AtomicBool>,
    file: Arc<File>,
    blobs: PathBuf,
    /// Blob files already synced (sled never rewrites one; it deletes and makes new ones).
    synced: HashSet<OsString>,
}

impl Flusher {
    fn flush(&mut self) -> Result<()> {
        if self.inject_failure.load(Ordering::Acquire) {
            return Err(std::io::Error::other("injected fsync failure").into());
        }
        self.segments.sync()?;
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
            sync_dir(&self.blobs)?;
        }
        Ok(())
    }

    fn run(mut self, requests: mpsc::Receiver<Reply>) {
        while let Ok(first) = requests.recv() {
            // Everyone who asked meanwhile shares this flush.
            let mut waiting = vec![first];
            waiting.extend(requests.try_iter());
            let r = self.flush();
            if let Err(e) = &r {
                // docs/architecture.md §4, "Durability": after a failed fsync nothing written
                // since is known to be on disk; the store refuses writes from now on.
                tracing::error!("store flush failed, refusing writes from now on: {e}");
            }
            for w in waiting {
                let _ = w.send(match &r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(crate::Error::Unavailable(format!("flush failed: {e}"))),
                });
            }
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl GroupCommit {
    pub(crate) fn new(
        db: sled::Db,
        db_file: PathBuf,
        blobs: PathBuf,
        segments: Arc<crate::segments::Segments>,
    ) -> Result<Self> {
        let file = File::open(db_file)?;
        let (tx, rx) = mpsc::channel();
        let inject_failure = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flusher = Flusher {
            db,
            segments,
            inject_failure: inject_failure.clone(),
            file: Arc::new(file),
            blobs,
            synced: HashSet::new(),
        };
        let thread = std::thread::Builder::new()
            .name("store-flush".into())
            .spawn(move || flusher.run(rx))?;
        Ok(GroupCommit {
            requests: Some(tx),
            thread: Some(thread),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            failed: std::sync::Mutex::new(None),
            inject_failure,
            flush_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Makes every later flush fail (tests of the "disk failed" path).
    pub(crate) fn inject_failure(&self) {
        self.inject_failure.store(true, Ordering::Release);
    }

    /// `Err(Unavailable)` once a flush has failed: the store then refuses every write.
    pub(crate) fn check(&self) -> Result<()> {
        match &*crate::lock(&self.failed) {
            Some(why) => Err(crate::Error::Unavailable(why.clone())),
            None => Ok(()),
        }
    }

    fn fail(&self, e: &crate::Error) {
        let mut f = crate::lock(&self.failed);
        if f.is_none() {
            *f = Some(e.to_string());
        }
    }

    /// [`GroupCommit::sync`] for threads outside the runtime (the compactor).
    pub(crate) fn sync_blocking(&self) -> Result<()> {
        self.check()?;
        let target = self.written.load(Ordering::Acquire);
        if self.durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let gone = || crate::Error::Unavailable("the flush thread is gone".into());
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(tx)
            .map_err(|_| gone())?;
        let r = rx.blocking_recv().map_err(|_| gone())?;
        if let Err(e) = &r {
            self.fail(e);
        }
        r?;
        self.durable.fetch_max(target, Ordering::AcqRel);
        Ok(())
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
        self.check()?;
        if self.durable.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.durable.load(Ordering::Acquire) >= seq {
            return Ok(()); // a flush that started after our write covered it
        }
        let target = self.written.load(Ordering::Acquire);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let gone = || crate::Error::Unavailable("the flush thread is gone".into());
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(tx)
            .map_err(|_| gone())?;
        let r = rx.await.map_err(|_| gone())?;
        if let Err(e) = &r {
            self.fail(e);
        }
        r?;
        self.durable.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}

impl Drop for GroupCommit {
    /// Stops the flusher (it finishes a flush in progress) so its database handle is closed
    /// when the store is: reopening right after dropping must find the files unlocked.
    fn drop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blob_files_are_synced_and_forgotten_when_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .expect("sled");
        let blobs = dir.path().join("db/blobs");
        let (segs, _) =
            crate::segments::Segments::open(&dir.path().join("segments")).expect("segments");
        let gc = GroupCommit::new(
            db.clone(),
            dir.path().join("db/db"),
            blobs.clone(),
            Arc::new(segs),
        )
        .expect("group commit");
        // A value far over the blob threshold lands in a blob file.
        db.insert(b"big", vec![7u8; 600 * 1024]).expect("insert");
        let seq = gc.mark_written();
        gc.wait_for(seq).await.expect("flush");
        assert!(gc.durable() >= seq);
        let files = std::fs::read_dir(&blobs).expect("blobs").count();
        assert!(files >= 1, "expected a blob file");
        drop(gc);
        drop(db);
        // Reopening right after the drop works (the flusher's handle is closed).
        let again = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .expect("reopen");
        assert_eq!(
            again.get(b"big").expect("get").map(|v| v.len()),
            Some(600 * 1024)
        );
    }
}
