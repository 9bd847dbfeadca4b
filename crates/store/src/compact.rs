//! The segment compactor: gives back the space of deleted messages (see `segments`).
//!
//! One thread, woken every [`INTERVAL`] (and by [`crate::Store::compact_now`]); it works only
//! when messages were deleted since its last pass. A pass:
//! 1. counts the live bytes of every segment from the `blob_locs` tree;
//! 2. makes the store durable, so every deletion it counted is on disk before a file goes;
//! 3. deletes sealed segments with nothing live, and for each sealed segment that is less
//!    than half live, copies its live records to the current segment, syncs them, records the
//!    new locations (only where a record still points at the old copy), makes that durable,
//!    then deletes the old file.
//!
//! 4. prunes the expunge log (`expunge_log::prune`);
//! 5. lets the backend bound its own space (`Backend::maintain`: sled rewrites its files into
//!    a fresh generation once they are over 24 MiB and 3 × its records, docs/architecture.md
//!    §5.4). This step also runs on the passes with nothing deleted.
//!
//! Segments with a write whose location is not committed yet are never touched
//! (`Segments::busy_from`). Readers that looked up an old location retry once when its file
//! is gone (`Store::read_blob`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::backend::{Backend, TreeId};
use crate::blob::decode;
use crate::durable::GroupCommit;
use crate::segments::{Loc, Segments};
use crate::{keys, Result};

/// How often the compactor looks for work.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Segments smaller than this are not compacted unless entirely dead.
const MIN_COMPACT: u64 = 1024 * 1024;

/// What the compactor thread works with (no `Store`: the store's drop joins this thread).
pub(crate) struct Compactor {
    /// The segment files, when bodies are kept there (not in memory).
    pub segments: Option<Arc<Segments>>,
    pub db: Backend,
    pub durable: Arc<GroupCommit>,
    /// Bumped by every blob release (`expunge::release_blob`).
    pub deletes: Arc<AtomicU64>,
}

/// Messages to the compactor thread.
pub(crate) enum Wake {
    /// Run a pass now and report.
    Now(mpsc::Sender<Result<Stats>>),
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Segment files deleted.
    pub removed: usize,
    /// Live records copied out of mostly-dead segments.
    pub moved: usize,
    /// Expunge-log entries pruned (`expunge_log`).
    pub pruned: usize,
    /// Whether the backend rewrote its files (step 5).
    pub rewritten: bool,
}

impl Compactor {
    pub(crate) fn run(self, wake: mpsc::Receiver<Wake>) {
        let mut seen = u64::MAX;
        loop {
            let asked = match wake.recv_timeout(INTERVAL) {
                Ok(Wake::Now(reply)) => Some(reply),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let deletes = self.deletes.load(Ordering::Acquire);
            if asked.is_none() && deletes == seen {
                // Flag changes alone grow sled's files too (step 5).
                if let Err(e) = self.db.maintain() {
                    tracing::warn!("database rewrite: {e}");
                }
                continue;
            }
            seen = deletes;
            let r = self.pass();
            if let Err(e) = &r {
                tracing::warn!("segment compaction: {e}");
            }
            if let Some(reply) = asked {
                let _ = reply.send(r);
            }
        }
    }

    fn pass(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        if let Some(segments) = &self.segments {
            self.segments_pass(segments, &mut stats)?;
        }
        stats.pruned = crate::expunge_log::prune(&self.db)?;
        stats.rewritten = self.db.maintain()?;
        Ok(stats)
    }

    /// Steps 1–3 of the module docs.
    fn segments_pass(&self, segments: &Segments, stats: &mut Stats) -> Result<()> {
        // First: segments below this have no write in flight now and never will (writes go
        // to the current segment), so the scan below sees all their live records.
        let busy = segments.busy_from();
        let mut live: HashMap<u32, u64> = HashMap::new();
        for v in self.db.iter(TreeId::BlobLocs).values() {
            let loc: Loc = decode("blob location", &v?)?;
            *live.entry(loc.seg).or_default() += loc.len + 24;
        }
        // Every deletion counted above is durable before any file goes.
        self.durable.sync_blocking()?;
        for (seg, size) in segments.sizes()? {
            if seg >= busy {
                continue;
            }
            let l = live.get(&seg).copied().unwrap_or(0);
            if l == 0 {
                segments.remove(seg)?;
                stats.removed += 1;
            } else if l * 2 < size && size >= MIN_COMPACT {
                stats.moved += self.compact(segments, seg)?;
                stats.removed += 1;
            }
        }
        Ok(())
    }

    /// Moves the live records of `seg` to the current segment, then deletes it.
    fn compact(&self, segments: &Segments, seg: u32) -> Result<usize> {
        let mut moved = Vec::new();
        let mut guards = Vec::new();
        for (id, old) in segments.records(seg)? {
            let current: Option<Loc> = match self.db.get(TreeId::BlobLocs, keys::id(id))? {
                Some(v) => Some(decode("blob location", &v)?),
                None => None,
            };
            if current != Some(old) {
                continue; // deleted, or a copy that is not the recorded one
            }
            let bytes = segments.read(old, 0, old.len)?;
            let (new, guard) = segments.put(id, &bytes)?;
            guards.push(guard);
            moved.push((id, old, new));
        }
        // The copies are on disk before any location points at them.
        segments.sync()?;
        let n = moved.len();
        self.db.transact(|v| {
            let t = v.tree(TreeId::BlobLocs);
            for (id, old, new) in &moved {
                let key = keys::id(*id);
                let still = match t.get(key)? {
                    Some(v) => decode::<Loc>("blob location", &v).ok() == Some(*old),
                    None => false,
                };
                if still {
                    t.insert(key, crate::blob::encode(new))?;
                }
            }
            Ok(())
        })?;
        self.durable.mark_written();
        self.durable.sync_blocking()?;
        drop(guards);
        segments.remove(seg)?;
        Ok(n)
    }
}
