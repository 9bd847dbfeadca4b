//! Group commit: make writes durable, sharing one flush between concurrent writers.
//!
//! A flush syncs the message bodies first (`backend::blobs`: the segment files written since
//! the last flush), then the record backend's own flush hook (`backend::Flusher`: for sled,
//! its `flush`, its blob files and an `fdatasync` of its database file; nothing for the
//! memory backend), so no record can point at bytes that are not on disk.
//! A writer records the write sequence number it needs, then waits for the flush lock; whoever
//! holds it flushes everything written so far, so the writers queued behind it usually find
//! their write already covered and return without another flush.
//!
//! Flushes run on one dedicated thread, not on tokio's blocking pool: sled frees replaced
//! pages through per-thread epoch garbage bags, and a pool thread that flushed once and then
//! sat idle kept its bag — hundreds of MiB across a pool grown by a login burst (`make soak`).

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
    /// The record backend's flush hook.
    records: crate::backend::Flusher,
    /// Message bytes: synced before the records, so no record points at bytes not on disk.
    blobs: crate::backend::blobs::BlobStore,
    /// Fault injection (tests): every flush fails as a failing disk would.
    inject_failure: Arc<std::sync::atomic::AtomicBool>,
}

impl Flusher {
    fn flush(&mut self) -> Result<()> {
        if self.inject_failure.load(Ordering::Acquire) {
            return Err(std::io::Error::other("injected fsync failure").into());
        }
        self.blobs.sync()?;
        self.records.flush()
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

impl GroupCommit {
    pub(crate) fn new(
        records: crate::backend::Flusher,
        blobs: crate::backend::blobs::BlobStore,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let inject_failure = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flusher = Flusher {
            records,
            blobs,
            inject_failure: inject_failure.clone(),
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
    async fn writers_share_flushes_and_a_failure_sticks() {
        let gc = GroupCommit::new(
            crate::backend::Flusher::Memory,
            crate::backend::blobs::BlobStore::memory(),
        )
        .expect("group commit");
        let seq = gc.mark_written();
        gc.wait_for(seq).await.expect("flush");
        assert!(gc.durable() >= seq);
        gc.inject_failure();
        let seq = gc.mark_written();
        assert!(gc.wait_for(seq).await.is_err());
        assert!(gc.check().is_err(), "refuses writes after a failed flush");
    }
}
