//! The sled backend: sled 0.34.7 on disk (sled's own files in the data folder, or in
//! `<data_dir>/sled.<n>/` after a rewrite). The only file of the store that names sled's
//! types; its errors become [`Error`] here.
//!
//! Generations (docs/architecture.md §5.4): sled's files grow far past its records under
//! churn, so [`SledBackend::maintain`] copies the records into a fresh sled once the files
//! are over [`REWRITE_FLOOR`] and [`REWRITE_FACTOR`] × the records, and switches to it
//! through `sled.current`.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

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
/// The data folder's lock file.
const LOCK_FILE: &str = "store.lock";
/// Names the generation in use when it is not sled's files in the data folder itself.
const CURRENT: &str = "sled.current";
const GEN_PREFIX: &str = "sled.";
/// The default tree's key for [`Gen::id_base`].
const ID_BASE: &[u8] = b"mailstack.id_base";
/// sled's files are never rewritten below this size.
const REWRITE_FLOOR: u64 = 24 * 1024 * 1024;
/// ... nor while they are at most this many times the bytes of the records.
const REWRITE_FACTOR: u64 = 3;
/// Records per batch when copying a tree.
const COPY_BATCH: usize = 4096;

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

/// One generation of the database: sled's files in `dir`. A rewrite (`maintain`) copies the
/// live records into the next generation and switches to it (docs/architecture.md §5.4).
struct Gen {
    db: ::sled::Db,
    /// Indexed by [`TreeId::index`]; the first [`TreeId::TX`] are the transaction's.
    trees: Vec<::sled::Tree>,
    dir: PathBuf,
    /// 0: sled's files directly in the data folder (every store before the first rewrite);
    /// n: the folder `sled.<n>`.
    num: u64,
    /// Added to sled's own ids: a new generation goes on above every id the last one gave.
    id_base: u64,
}

impl Gen {
    fn open(dir: &Path, num: u64) -> Result<Gen> {
        let db = open_db(dir)?;
        let trees = TreeId::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<std::result::Result<_, _>>()?;
        let id_base = match db.get(ID_BASE)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                Error::Corrupt(format!("{}: id base of {} bytes", dir.display(), v.len()))
            })?),
            None => 0,
        };
        Ok(Gen {
            db,
            trees,
            dir: dir.to_path_buf(),
            num,
            id_base,
        })
    }

    fn tree(&self, id: TreeId) -> &::sled::Tree {
        &self.trees[id.index()]
    }

    /// Key and value bytes of every record: what a rewrite would copy.
    fn live_bytes(&self) -> Result<u64> {
        let mut n = 0u64;
        for t in &self.trees {
            for kv in t.iter() {
                let (k, v) = kv?;
                n += (k.len() + v.len()) as u64;
            }
        }
        Ok(n)
    }
}

#[derive(Clone)]
pub(crate) struct SledBackend(Arc<Shared>);

struct Shared {
    /// The data folder.
    path: PathBuf,
    cur: RwLock<Arc<Gen>>,
    /// Held shared by every write, exclusively by a rewrite: nothing is written to a
    /// generation while it is copied (see [`SledBackend::writing`]).
    gate: RwLock<()>,
    /// `maintain` looks at the live bytes once the database is larger than this.
    check_at: Mutex<u64>,
    /// Below this size sled's files are never rewritten ([`REWRITE_FLOOR`]; tests lower it).
    floor: AtomicU64,
    /// Generations replaced but still referenced (an iterator, a flush): removed later.
    retired: Mutex<Vec<Arc<Gen>>>,
    /// The data folder's lock (`store.lock`), held while the store is open.
    _lock: File,
}

impl SledBackend {
    pub(crate) fn open(path: &Path) -> Result<SledBackend> {
        let lock = lock_folder(path)?;
        let (dir, num) = match std::fs::read_to_string(path.join(CURRENT)) {
            Ok(name) => {
                let name = name.trim().to_string();
                let num = gen_number(&name).ok_or_else(|| {
                    Error::Corrupt(format!("{}: {name:?}", path.join(CURRENT).display()))
                })?;
                (path.join(name), num)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path.to_path_buf(), 0),
            Err(e) => return Err(e.into()),
        };
        // A rewrite that stopped half-way leaves its folder; one that finished may leave the
        // generation it replaced.
        remove_generations_except(path, num)?;
        let gen = Gen::open(&dir, num)?;
        std::fs::write(path.join(PID_FILE), std::process::id().to_string())?;
        Ok(SledBackend(Arc::new(Shared {
            path: path.to_path_buf(),
            cur: RwLock::new(Arc::new(gen)),
            gate: RwLock::new(()),
            check_at: Mutex::new(REWRITE_FLOOR),
            floor: AtomicU64::new(REWRITE_FLOOR),
            retired: Mutex::new(Vec::new()),
            _lock: lock,
        })))
    }

    /// The gate, shared, for one write. A thread's first hold queues behind a waiting
    /// rewrite (so a steady stream of writes cannot hold a rewrite off for ever); a nested
    /// one (a write inside a transaction's closure) is taken recursively, never waiting
    /// behind a rewrite that itself waits for the outer hold.
    fn writing(&self) -> Writing<'_> {
        let depth = WRITE_DEPTH.get();
        let guard = if depth == 0 {
            self.0.gate.read()
        } else {
            self.0.gate.read_recursive()
        };
        WRITE_DEPTH.set(depth + 1);
        Writing { _guard: guard }
    }

    fn gen(&self) -> Arc<Gen> {
        self.0.cur.read().clone()
    }

    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Value>> {
        Ok(self.gen().tree(tree).get(key)?.map(value))
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) -> Result<()> {
        let _w = self.writing();
        self.gen().tree(tree).insert(key, v)?;
        Ok(())
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) -> Result<()> {
        let _w = self.writing();
        self.gen().tree(tree).remove(key)?;
        Ok(())
    }

    pub(crate) fn scan_prefix(&self, tree: TreeId, prefix: &[u8]) -> Iter {
        Iter(self.gen().tree(tree).scan_prefix(prefix))
    }

    pub(crate) fn range(&self, tree: TreeId, from: &[u8], to: &[u8]) -> Iter {
        Iter(self.gen().tree(tree).range(from..=to))
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
        let _w = self.writing();
        self.gen().tree(tree).apply_batch(batch)?;
        Ok(())
    }

    pub(crate) fn generate_id(&self) -> Result<u64> {
        let _w = self.writing();
        let g = self.gen();
        Ok(g.id_base + g.db.generate_id()?)
    }

    pub(crate) fn transact<T>(&self, f: impl Fn(super::TxView<'_>) -> TxResult<T>) -> Result<T> {
        let _w = self.writing();
        let g = self.gen();
        let r = g.trees[..TreeId::TX].transaction(|v| {
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
        let g = self.gen();
        Ok(SledFlusher {
            backend: self.clone(),
            num: g.num,
            file: File::open(g.dir.join("db"))?,
            synced: HashSet::new(),
        })
    }

    pub(crate) fn close(&self) {
        let _ = self.gen().db.flush();
        let _ = std::fs::remove_file(self.0.path.join(PID_FILE));
    }

    /// Bounds sled's space (docs/architecture.md §5.4): once its files are over
    /// [`REWRITE_FLOOR`] and [`REWRITE_FACTOR`] × the bytes of its records, the records are
    /// copied into a fresh generation, which replaces the old one. Returns whether it did.
    pub(crate) fn maintain(&self) -> Result<bool> {
        self.reap();
        let g = self.gen();
        let size = g.db.size_on_disk()?;
        let mut check_at = self.0.check_at.lock();
        if size <= *check_at {
            return Ok(false);
        }
        let floor = self.0.floor.load(Ordering::Relaxed);
        let limit = floor.max(g.live_bytes()? * REWRITE_FACTOR);
        if size <= limit {
            // The records grew: look again once the files pass their new limit.
            *check_at = limit;
            return Ok(false);
        }
        drop(g);
        let started = std::time::Instant::now();
        self.rewrite()?;
        let took = started.elapsed();
        let after = self.gen().db.size_on_disk()?;
        // A fresh database over the limit (sled's fixed overhead) waits for real growth.
        *check_at = limit.max(after.saturating_mul(2));
        tracing::info!(
            "database rewritten in {} ms: {} MiB → {} MiB",
            took.as_millis(),
            size >> 20,
            after >> 20
        );
        Ok(true)
    }

    /// Copies every record into generation n + 1, makes it durable, points `sled.current` at
    /// it, then switches to it. A crash before the switch leaves the old generation in use
    /// (the new folder is removed at the next open); after it, the new one, complete.
    fn rewrite(&self) -> Result<()> {
        let _gate = self.0.gate.write();
        let old = self.gen();
        let num = old.num + 1;
        let name = format!("{GEN_PREFIX}{num}");
        let dir = self.0.path.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let new = Gen::open(&dir, num)?;
        for (from, to) in old.trees.iter().zip(&new.trees) {
            let mut batch = ::sled::Batch::default();
            let mut n = 0;
            for kv in from.iter() {
                let (k, v) = kv?;
                batch.insert(k, v);
                n += 1;
                if n == COPY_BATCH {
                    to.apply_batch(std::mem::take(&mut batch))?;
                    n = 0;
                }
            }
            to.apply_batch(batch)?;
        }
        // An id never handed out by the old generation: the new one counts up from it.
        let id_base = old.id_base + old.db.generate_id()?;
        new.db.insert(ID_BASE, &id_base.to_be_bytes())?;
        new.db.flush()?;
        sync_tree(&dir)?;
        let tmp = self.0.path.join(format!("{CURRENT}.tmp"));
        std::fs::write(&tmp, format!("{name}\n"))?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.0.path.join(CURRENT))?;
        File::open(&self.0.path)?.sync_all()?;
        *self.0.cur.write() = Arc::new(Gen { id_base, ..new });
        self.0.retired.lock().push(old);
        Ok(())
    }

    /// Removes the files of retired generations nothing refers to any more.
    fn reap(&self) {
        let mut retired = self.0.retired.lock();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *retired)
            .into_iter()
            .partition(|g| Arc::strong_count(g) == 1);
        *retired = kept;
        for g in gone {
            let (dir, num) = (g.dir.clone(), g.num);
            drop(g); // sled flushes on drop, into files about to go
            if let Err(e) = remove_generation(&dir, num) {
                tracing::warn!("removing {}: {e}", dir.display());
            }
        }
    }

    /// Test hook: rewrite whenever the files are over `floor` bytes and the factor.
    pub(crate) fn set_rewrite_floor(&self, floor: u64) {
        self.0.floor.store(floor, Ordering::Relaxed);
        *self.0.check_at.lock() = floor;
    }

    /// The generation in use (tests).
    pub(crate) fn generation(&self) -> u64 {
        self.gen().num
    }
}

thread_local! {
    /// Gate holds of this thread ([`SledBackend::writing`]).
    static WRITE_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// One hold of the write gate.
struct Writing<'a> {
    _guard: parking_lot::RwLockReadGuard<'a, ()>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        WRITE_DEPTH.set(WRITE_DEPTH.get().saturating_sub(1));
    }
}

/// Opens sled's files in `dir` with the store's settings.
fn open_db(dir: &Path) -> Result<::sled::Db> {
    let mut tries: u32 = 0;
    loop {
        // sled's default page cache is 1 GiB; 128 MiB keeps a server with 10,000 IDLE
        // clients small (`make bench` row 5) while the working set of large mailboxes still
        // fits.
        let r = ::sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            // Every write we acknowledge is flushed by the group commit; sled's own flush
            // every 500 ms would only wake an idle server twice a second.
            .flush_every_ms(None)
            .open();
        match r {
            // We hold `store.lock`: sled's own lock is still held only by the handles of a
            // store of this process dropped just now (sled's I/O threads let go of the file
            // a little after the last handle).
            Err(::sled::Error::Io(e)) if is_lock_error(&e) && tries * LOCK_RETRY < LOCK_WAIT => {
                tries += 1;
                std::thread::sleep(LOCK_RETRY);
            }
            r => return Ok(r?),
        }
    }
}

/// Takes `store.lock` in the data folder ([`Error::Locked`] naming the holder's PID).
fn lock_folder(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK_FILE))?;
    let mut tries: u32 = 0;
    loop {
        match fs2::FileExt::try_lock_exclusive(&file) {
            Ok(()) => return Ok(file),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                // A store of this process dropped just now may still hold the lock for a
                // moment (its last handles go with the threads that held them). The PID file
                // is gone then (the store removes it on close); a process holding the lock
                // has written its PID, and is reported at once.
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
    }
}

/// Whether a process holds the data folder `path` open (its `store.lock`), in any PID
/// namespace. A folder without the lock file (an older version's) is not known to be.
pub(crate) fn folder_in_use(path: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join(LOCK_FILE))
    else {
        return false;
    };
    match fs2::FileExt::try_lock_exclusive(&file) {
        Ok(()) => {
            let _ = fs2::FileExt::unlock(&file);
            false
        }
        Err(_) => true,
    }
}

/// `sled.<n>` → n.
fn gen_number(name: &str) -> Option<u64> {
    name.strip_prefix(GEN_PREFIX)?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// Removes every generation of the data folder but `keep` (0: sled's files in the folder).
fn remove_generations_except(path: &Path, keep: u64) -> Result<()> {
    if keep != 0 {
        remove_generation(path, 0)?;
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        match name.to_str().and_then(gen_number) {
            Some(n) if n != keep => remove_generation(&entry.path(), n)?,
            _ => {}
        }
    }
    Ok(())
}

/// Removes the files of one generation: its folder, or for generation 0 sled's files in the
/// data folder (`db`, `conf`, `blobs/`, `snap.*`), nothing else.
fn remove_generation(dir: &Path, num: u64) -> Result<()> {
    if num != 0 {
        return match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "blobs" {
            std::fs::remove_dir_all(entry.path())?;
        } else if name == "db" || name == "conf" || name.starts_with("snap.") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// fsyncs every file under `dir`, then the folders.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(())
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

/// What the group commit's thread flushes (see the module docs): the generation in use.
pub(crate) struct SledFlusher {
    backend: SledBackend,
    /// The generation `file` belongs to.
    num: u64,
    /// sled's database file, fdatasynced after its `flush`.
    file: File,
    /// Blob files already synced (sled never rewrites one; it deletes and makes new ones).
    synced: HashSet<OsString>,
}

impl SledFlusher {
    pub(crate) fn flush(&mut self) -> Result<()> {
        let g = self.backend.gen();
        if g.num != self.num {
            // A rewrite switched generations (and made the new one durable before it did).
            self.file = File::open(g.dir.join("db"))?;
            self.num = g.num;
            self.synced.clear();
        }
        g.db.flush()?;
        self.sync_blobs(&g.dir.join("blobs"))?;
        self.file.sync_data()?;
        Ok(())
    }

    /// fsyncs every blob file not synced yet, then the folder (their names).
    fn sync_blobs(&mut self, blobs: &Path) -> Result<()> {
        let entries = match std::fs::read_dir(blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced.contains(&name) {
                match File::open(blobs.join(&name)) {
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
            File::open(blobs)?.sync_all()?;
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
