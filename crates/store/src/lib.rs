//! The mailbox store: accounts, mailboxes, messages, flags, UIDs, quota usage and the POP3
//! maildrop locks, shared by every protocol server of one process. The mail model is written
//! against a backend seam (`backend`): records in sled on disk ([`Store::open`], the default)
//! or in memory ([`Store::open_in_memory`]), bodies in segment files or in memory.
//!
//! # Layout
//! - [`model`]: the records kept in the trees (`Account`, `Mailbox`, `MessageMeta`, `Flags`, …)
//!   and, from `ids`, the typed numbers they are made of (`AccountId`, `MailboxId`, `Uid`,
//!   `UidValidity`, `ModSeq`).
//! - `keys` (private): big-endian key encodings so range scans return mailboxes and UIDs in
//!   order.
//! - `backend`: the seam. `TreeId` names the trees; `Backend` (an enum, one dispatch function
//!   per operation: get, scans, batches, a multi-tree transaction, ids, the flush hook) with
//!   `backend/sled.rs` (the only file naming sled's types) and `backend/memory.rs`;
//!   `backend::blobs::BlobStore`, the body role (put, read a range, release, sync): segment
//!   files or memory.
//! - `tx`: a transaction over every tree with named views (`Tx`), through the seam.
//! - `accounts`, `mailbox`, `message` (append, deliver to several mailboxes, `append_many`
//!   of several messages to one mailbox, read, flags), `expunge` (expunge, copy, move): the
//!   operations, grouped by what they change;
//!   `subscriptions`: subscribed names, kept apart from mailboxes (RFC 3501 §6.3.6);
//!   [`scripts`]: an account's Sieve scripts, the active one, vacation reply records.
//! - [`mime`]: the MIME structure parsed once at delivery (ENVELOPE, BODYSTRUCTURE, offsets).
//! - `segments`: message bytes in append-only segment files (records with a CRC; the
//!   `blob_locs` tree keeps each blob's location); `compact`: the thread that gives the space
//!   of deleted messages back (and prunes the expunge log, on every backend); `blob`: reading
//!   bytes (and messages stored by earlier versions as chunks in the `blobs` tree), recovery
//!   of the last segment at open.
//! - `expunge_log`: expunges by MODSEQ for QRESYNC, pruned above a floor.
//! - `durable`: group commit (bodies synced, then the backend's flush hook).
//! - [`notify`]: per-account change channels that drive IMAP untagged responses, and one
//!   channel of every account's changes tagged with the session that made them (dashboard).
//! - `maildrop`: the POP3 exclusive lock per account.
//! - `views`: sessions' views of a mailbox; expunged messages stay readable until every view
//!   that may address them has been told (RFC 2180 §4.1.1), then their blobs are released.
//!
//! The public surface is the mail model only: key layouts, file formats and the backends'
//! types stay inside (errors are [`Error`]; [`Error::Db`] carries a backend's text).
//!
//! # Invariants
//! - Every write method returns only after the change is on disk: the segment files written
//!   and sled's log are fdatasynced (sled's own `flush` uses `sync_file_range`, so the database
//!   file is fdatasynced after it). Concurrent writers share one flush (group commit). After a
//!   failed flush the store refuses every write ([`Error::Unavailable`]). (A store in memory
//!   has no disk: its writes count as durable once committed.)
//! - Message bytes reach the page cache before the transaction that records where they are,
//!   and the disk before the backend's flush; at open, records of the last segment are
//!   verified.
//! - Multi-tree updates (deliver, expunge, copy, move, rename, account delete) run in one
//!   backend transaction: a crash leaves the old or the new state, never half. Several
//!   messages appended together ([`Store::append_many`], IMAP MULTIAPPEND) are one
//!   transaction too: all of them or none, the quota checked for their total, their changes
//!   published together.
//! - Writers to one account are serialised by an in-process mutex, so transactions never
//!   conflict and retry in practice; readers never block on sled.
//! - Changes are published on the account's channel only after they are durable, and in commit
//!   order per account (a queue keyed by write sequence number): a session never sees UID 8
//!   appear before UID 7, whichever writer's flush finished first.
//! - A message's bytes are released only when no mailbox and no session's view can address
//!   it (`views`): reference counts live in the model (`refs`, `pinned`), and a blob store is
//!   told to release a body only after the transaction dropping its last reference committed,
//!   or after a transaction that was to link it was refused or failed (nothing leaks).
#![forbid(unsafe_code)]
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

mod accounts;
mod backend;
mod blob;
mod cluster;
mod compact;
mod copy;
mod durable;
mod expunge;
mod expunge_log;
mod ids;
mod keys;
mod mailbox;
mod maildrop;
mod message;
pub mod mime;
pub mod model;
pub mod notify;
pub mod scripts;
mod segments;
mod subscriptions;
mod tx;
mod views;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use compact::Stats as CompactStats;
pub use copy::CopyStats;

/// The PostgreSQL schema version this binary writes (its embedded migrations).
pub const POSTGRES_SCHEMA_VERSION: usize = backend::pg::MIGRATIONS.len();
pub use expunge_log::MAX_PER_MAILBOX as MAX_EXPUNGES_REMEMBERED;
pub use maildrop::MaildropLock;
pub use message::{AppendRequest, FlagOp, StoreResult, Updated};
pub use model::*;
pub use notify::{current_origin, with_origin, Activity, Change};
pub use views::View;

/// Errors of the store. User errors (a name that exists, a quota that is full) are distinct
/// variants so protocol servers can map each one to its wire code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such account")]
    NoSuchAccount,
    #[error("account already exists")]
    AccountExists,
    #[error("no such mailbox")]
    NoSuchMailbox,
    #[error("mailbox already exists")]
    MailboxExists,
    #[error("invalid mailbox name: {0}")]
    InvalidName(&'static str),
    #[error("operation not permitted: {0}")]
    NotPermitted(&'static str),
    #[error("mailbox is full: quota exceeded")]
    OverQuota,
    #[error("no such message")]
    NoSuchMessage,
    #[error("maildrop is locked by another POP3 session")]
    MaildropInUse,
    #[error("alias error: {0}")]
    Alias(&'static str),
    /// A Sieve script operation was refused (`sieve`, RFC 5804 response codes).
    #[error("{0}")]
    Script(#[from] scripts::ScriptError),
    #[error("the store is in use by another process (pid {pid}); stop it first")]
    Locked { pid: String },
    /// The embedded database failed (the backend's own error, as text: its types stay
    /// private to the store).
    #[error("database error: {0}")]
    Db(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Writing to disk failed (fsync, full disk): the store refuses writes until restarted.
    /// Daemons answer with a temporary error (SMTP 451, IMAP `NO [UNAVAILABLE]`, POP3
    /// `-ERR [SYS/TEMP]`).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to reach a PostgreSQL store beyond its URL ([`Store::open_postgres_opts`]).
#[derive(Default, Clone)]
pub struct PgOptions {
    /// The password, kept out of the URL (so out of logs).
    pub password: Option<String>,
    /// PEM of the CA for TLS (`sslmode=require` in the URL); required then.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// Cheap-clone handle on the store (Arc inside). One per process; see the crate docs.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The record store (`backend`): every tree of docs/architecture.md §3.1.
    pub(crate) db: backend::Backend,
    /// Where the store lives on disk (empty for [`Store::open_in_memory`]).
    pub(crate) path: PathBuf,
    /// Message bodies (`backend::blobs`): segment files, or memory.
    pub(crate) blobs: backend::blobs::BlobStore,
    /// Blob releases so far (wakes the compactor).
    pub(crate) deletes: Arc<std::sync::atomic::AtomicU64>,
    compactor: Mutex<
        Option<(
            std::sync::mpsc::Sender<compact::Wake>,
            std::thread::JoinHandle<()>,
        )>,
    >,
    pub(crate) durable: Arc<durable::GroupCommit>,
    pub(crate) notify: notify::Hub,
    pub(crate) maildrops: Mutex<std::collections::HashSet<AccountId>>,
    pub(crate) views: Mutex<views::Registry>,
    writers: Mutex<HashMap<AccountId, Arc<Mutex<()>>>>,
    /// This node among the others on a shared backend (`cluster`); `None` for sled/memory.
    pub(crate) cluster: Option<cluster::Cluster>,
}

impl Store {
    /// Opens (or creates) the store in `dir`: sled for the records, segment files for the
    /// bodies. Fails with [`Error::Locked`] naming the PID when another process holds it,
    /// instead of hanging.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let path = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)?;
        let db = backend::Backend::open_sled(&path)?;
        let (segments, last_segment) = segments::Segments::open(&path.join("segments"))?;
        let blobs = backend::blobs::BlobStore::Segments(Arc::new(segments));
        let store = Store::start(db, blobs, path)?;
        if let Some(seg) = last_segment {
            store.recover_segment(seg)?;
        }
        store.release_all_pinned()?;
        store.migrate_expunge_log()?;
        store.migrate_subscriptions()?;
        Ok(store)
    }

    /// Whether another store (of any process, in any PID namespace) has the data folder
    /// `dir` open; false for a folder no store of this version has opened.
    pub fn folder_in_use(dir: impl AsRef<Path>) -> bool {
        backend::folder_in_use(dir.as_ref())
    }

    /// A store that keeps everything in memory (the `memory` backend, bodies in memory too):
    /// nothing is written to disk and everything is gone when the last handle drops. For
    /// ephemeral test servers; every write is "durable" at once.
    pub fn open_in_memory() -> Result<Store> {
        let store = Store::start(
            backend::Backend::memory(),
            backend::blobs::BlobStore::memory(),
            PathBuf::new(),
        )?;
        store.migrate_subscriptions()?;
        Ok(store)
    }

    /// A store in the PostgreSQL database at `url` (`postgres://user@host/db`, or
    /// `host=/run/postgresql dbname=mail` for a socket): records and bodies in the database,
    /// the schema migrated on open (docs/architecture.md §12). Several processes may open
    /// the same database: each is a node, and changes reach all of them (`cluster`).
    pub fn open_postgres(url: &str) -> Result<Store> {
        Store::open_postgres_opts(url, &PgOptions::default())
    }

    /// [`Store::open_postgres`] with the password and, for a URL with `sslmode=require`, the
    /// CA certificate (PEM) the database server's certificate must chain to (TLS by rustls;
    /// the server's name or IP address in the URL must be in its certificate).
    pub fn open_postgres_opts(url: &str, options: &PgOptions) -> Result<Store> {
        let db = backend::Backend::open_postgres(url, options)?;
        let blobs = match &db {
            backend::Backend::Postgres(p) => backend::blobs::BlobStore::Postgres(p.clone()),
            _ => backend::blobs::BlobStore::memory(),
        };
        let store = Store::start(db, blobs, PathBuf::new())?;
        store.start_cluster()?;
        store.release_all_pinned()?;
        store.migrate_subscriptions()?;
        Ok(store)
    }

    /// The threads (group commit, compactor) and the handle around a backend.
    fn start(
        db: backend::Backend,
        blobs: backend::blobs::BlobStore,
        path: PathBuf,
    ) -> Result<Store> {
        let durable = Arc::new(durable::GroupCommit::new(db.flusher()?, blobs.clone())?);
        let deletes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (wake, woken) = std::sync::mpsc::channel();
        let worker = compact::Compactor {
            segments: blobs.segments().cloned(),
            db: db.clone(),
            durable: durable.clone(),
            deletes: deletes.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("store-compact".into())
            .spawn(move || worker.run(woken))?;
        let cluster = match &db {
            backend::Backend::Postgres(p) => Some(cluster::Cluster::new(p.clone())),
            _ => None,
        };
        let inner = Inner {
            db,
            path,
            blobs,
            deletes,
            compactor: Mutex::new(Some((wake, thread))),
            durable,
            notify: notify::Hub::default(),
            maildrops: Mutex::default(),
            views: Mutex::default(),
            writers: Mutex::default(),
            cluster,
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The folder the database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Waits until every write made before this call is on disk (shares flushes with others).
    pub async fn sync(&self) -> Result<()> {
        self.inner.durable.sync().await
    }

    /// Waits until every change committed so far (by anyone) is durable and published: a
    /// session that read the store's state can then be told everything it saw before it
    /// answers (IMAP EXPUNGE reports messages another session's commit removed first).
    pub async fn settle(&self) -> Result<()> {
        self.sync().await?;
        self.publish_durable();
        Ok(())
    }

    /// Subscribes to the account's changes (only durable changes are published).
    pub fn subscribe(&self, account: AccountId) -> tokio::sync::broadcast::Receiver<Change> {
        self.inner.notify.subscribe(account)
    }

    /// How many subscriptions to the account's changes are open now (a long poll or an IDLE
    /// waiting on them): tests wait for this instead of sleeping.
    pub fn subscribers(&self, account: AccountId) -> usize {
        self.inner.notify.subscribers(account)
    }

    /// Subscribes to every account's changes, with the session that made each (dashboard).
    pub fn subscribe_all(&self) -> tokio::sync::broadcast::Receiver<Activity> {
        self.inner.notify.subscribe_all()
    }

    /// Runs the segment compactor now (it also runs by itself every few seconds after
    /// deletions) and returns what it did.
    pub fn compact_now(&self) -> Result<compact::Stats> {
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = lock(&self.inner.compactor).as_ref().map(|(w, _)| w.clone());
        let gone = || Error::Unavailable("the compactor is gone".into());
        wake.ok_or_else(gone)?
            .send(compact::Wake::Now(tx))
            .map_err(|_| gone())?;
        blocking(|| rx.recv().map_err(|_| gone()))?
    }

    /// Test hook: the compactor rewrites sled's files into a fresh generation once they are
    /// over `floor` bytes (and 3 × the records; production: 24 MiB). Returns the generation
    /// in use (0 before any rewrite, and for other backends).
    #[doc(hidden)]
    pub fn set_db_rewrite_floor(&self, floor: u64) -> u64 {
        self.inner.db.set_rewrite_floor(floor)
    }

    /// Fault injection for tests: from now on every flush fails as a failing disk would, so
    /// the store refuses writes ([`Error::Unavailable`]). Not for production use.
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.inner.durable.inject_failure();
    }

    /// Bytes of the store's files on disk (sled's database and the message segments); 0 for
    /// a store in memory.
    pub fn disk_usage(&self) -> Result<u64> {
        if self.inner.path.as_os_str().is_empty() {
            return Ok(0);
        }
        fn du(p: &Path) -> std::io::Result<u64> {
            let mut total = 0;
            for e in std::fs::read_dir(p)? {
                let e = e?;
                let m = e.metadata()?;
                total += if m.is_dir() { du(&e.path())? } else { m.len() };
            }
            Ok(total)
        }
        Ok(du(&self.inner.path)?)
    }

    /// Serialises writers of one account: held only around synchronous store work, never across
    /// an `.await`.
    pub(crate) fn writer(&self, account: AccountId) -> Arc<Mutex<()>> {
        let mut map = lock(&self.inner.writers);
        map.entry(account).or_default().clone()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The compactor ends when its channel closes; it holds no store handle.
        if let Some((wake, thread)) = lock(&self.compactor).take() {
            drop(wake);
            let _ = thread.join();
        }
        let _ = self.blobs.sync();
        self.db.close();
    }
}

/// Locks a std mutex, recovering the data from a poisoned lock (a panicking writer cannot leave
/// the backend half-written: its transaction simply did not commit).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking work (large parses, file writes, transactions) without stalling the other
/// tasks of a tokio worker: on a multi-thread runtime the worker hands its tasks to another
/// thread for the duration (`block_in_place`); elsewhere (tests on a current-thread runtime,
/// the command line) it simply runs.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
