//! The storage seam: what the mail model needs from a record store, and the backends that
//! provide it (docs/architecture.md §12, docs/conventions.md §13).
//!
//! The mail model (`accounts`, `mailbox`, `message`, `expunge`, …) sees named ordered trees
//! of byte keys and values ([`TreeId`]), point reads, ordered scans ([`Scan`]), single-tree
//! batches ([`Batch`]), a multi-tree atomic transaction ([`Backend::transact`], a re-runnable
//! closure over [`TxView`]), id generation and a flush hook for the group commit
//! ([`Flusher`]). Message bodies are a separate role, [`blobs::BlobStore`].
//!
//! # Why an enum, not a trait
//! Each role is an enum of backends with one dispatch function per operation, as
//! conventions §13 asks: the transaction takes a generic closure (`Fn(TxView) -> …`), which
//! a trait object cannot offer, and a generic `Store<B: Backend>` would spread a type
//! parameter through every daemon. A `match` per call is static dispatch: no boxing, no
//! virtual call, and sled's values ([`Value`]) and iterators ([`Scan`]) are wrapped, not
//! copied. A new backend is one more variant in [`Backend`], [`Value`], [`Scan`], [`TxView`]
//! and [`Flusher`], and one more arm in each dispatch function here.
//!
//! # Backends
//! - `sled` (`sled.rs`): sled 0.34 on disk; the only file that names sled's types.
//! - `memory` (`memory.rs`): `BTreeMap`s behind locks, nothing on disk; transactions are
//!   serialised and apply their write set at once. For ephemeral servers and tests.
//!
//! # What a backend must guarantee
//! - Keys are compared as bytes; scans return keys in ascending byte order.
//! - A transaction sees its own writes; on `Ok` all its writes become visible at once, on
//!   `Err` none do. The closure may run more than once ([`TxError::Conflict`] asks for a
//!   re-run); callers keep it free of side effects outside the transaction, and never read
//!   the backend outside the transaction from inside it (sled would deadlock).
//! - Ids from [`Backend::generate_id`] are never handed out twice by one store.
//! - After [`Flusher::flush`] returns `Ok`, every committed write is on disk (or, for a
//!   backend that keeps nothing, there is nothing to do).

pub(crate) mod blobs;
mod memory;
pub(crate) mod pg;
pub(crate) mod pg_cluster;
mod pg_conn;
mod sled;
pub(crate) use self::sled::folder_in_use;
#[cfg(test)]
mod sled_gen_tests;

use std::sync::Arc;

use crate::{Error, Result};

/// The store's trees. The first [`TreeId::TX`] of them take part in transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeId {
    Accounts,
    AccountIds,
    Aliases,
    Mailboxes,
    MailboxIds,
    Messages,
    /// Message bytes of earlier versions, in 32 KiB chunks (`blob`).
    Blobs,
    Structure,
    Refs,
    Usage,
    ExpungeLog,
    Pinned,
    BlobLocs,
    Subscriptions,
    /// Sieve scripts, the active script's name and vacation reply records (`scripts`).
    Sieve,
    Domains,
    /// The expunge log of earlier versions (mailbox ‖ uid → modseq); migrated at open.
    Expunged,
    ExpungeFloor,
}

impl TreeId {
    /// Every tree, in index order.
    pub(crate) const ALL: [TreeId; 18] = [
        TreeId::Accounts,
        TreeId::AccountIds,
        TreeId::Aliases,
        TreeId::Mailboxes,
        TreeId::MailboxIds,
        TreeId::Messages,
        TreeId::Blobs,
        TreeId::Structure,
        TreeId::Refs,
        TreeId::Usage,
        TreeId::ExpungeLog,
        TreeId::Pinned,
        TreeId::BlobLocs,
        TreeId::Subscriptions,
        TreeId::Sieve,
        TreeId::Domains,
        TreeId::Expunged,
        TreeId::ExpungeFloor,
    ];
    /// Trees `0..TX` are the ones a transaction covers.
    pub(crate) const TX: usize = 15;

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The tree's name on disk (sled's tree names, which earlier versions wrote).
    pub(crate) fn name(self) -> &'static str {
        match self {
            TreeId::Accounts => "accounts",
            TreeId::AccountIds => "account_ids",
            TreeId::Aliases => "aliases",
            TreeId::Mailboxes => "mailboxes",
            TreeId::MailboxIds => "mailbox_ids",
            TreeId::Messages => "messages",
            TreeId::Blobs => "blobs",
            TreeId::Structure => "structure",
            TreeId::Refs => "refs",
            TreeId::Usage => "usage",
            TreeId::ExpungeLog => "expunge_log",
            TreeId::Pinned => "pinned",
            TreeId::BlobLocs => "blob_locs",
            TreeId::Subscriptions => "subscriptions",
            TreeId::Sieve => "sieve",
            TreeId::Domains => "domains",
            TreeId::Expunged => "expunged",
            TreeId::ExpungeFloor => "expunge_floor",
        }
    }
}

/// A key or value read from a backend: the backend's own shared buffer, not a copy.
#[derive(Clone)]
pub(crate) struct Value(ValueRepr);

#[derive(Clone)]
enum ValueRepr {
    Sled(self::sled::Bytes),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            ValueRepr::Sled(b) => b.as_ref(),
            ValueRepr::Shared(b) => b,
        }
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &**self)
    }
}

/// An ordered scan: (key, value) pairs in ascending key order.
pub(crate) struct Scan(ScanRepr);

// Scans live briefly on the stack; boxing sled's iterator would cost an allocation per scan.
#[allow(clippy::large_enum_variant)]
enum ScanRepr {
    Sled(self::sled::Iter),
    /// The memory backend copies the range's handles out under its lock (PostgreSQL reads
    /// the rows at once, too).
    Memory(std::vec::IntoIter<(Value, Value)>),
    /// A scan that could not start (a PostgreSQL error): the error once, then nothing.
    Failed(Option<Error>),
}

impl Iterator for Scan {
    type Item = Result<(Value, Value)>;
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            ScanRepr::Sled(i) => i.next(),
            ScanRepr::Memory(i) => i.next().map(Ok),
            ScanRepr::Failed(e) => e.take().map(Err),
        }
    }
}

impl Scan {
    pub(crate) fn keys(self) -> impl Iterator<Item = Result<Value>> {
        self.map(|kv| kv.map(|(k, _)| k))
    }

    pub(crate) fn values(self) -> impl Iterator<Item = Result<Value>> {
        self.map(|kv| kv.map(|(_, v)| v))
    }
}

fn pg_scan(rows: Result<std::vec::IntoIter<(Value, Value)>>) -> Scan {
    match rows {
        Ok(rows) => Scan(ScanRepr::Memory(rows)),
        Err(e) => Scan(ScanRepr::Failed(Some(e))),
    }
}

/// Writes to one tree applied atomically ([`Backend::apply_batch`]): `None` removes.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub(crate) fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.ops
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub(crate) fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.ops.push((key.as_ref().to_vec(), None));
    }
}

/// Why a transaction's closure stopped.
#[derive(Debug)]
pub(crate) enum TxError {
    /// The model refused (a user error, a corrupt record): nothing is written.
    Abort(Error),
    /// The backend saw a conflicting write: the closure runs again.
    Conflict,
    /// The backend failed.
    Storage(Error),
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Abort(e)
    }
}

pub(crate) type TxResult<T> = std::result::Result<T, TxError>;

/// The trees of one transaction attempt (cheap to copy).
#[derive(Clone, Copy)]
pub(crate) enum TxView<'a> {
    Sled(self::sled::TxTrees<'a>),
    Memory(&'a memory::TxState<'a>),
    Postgres(&'a pg::PgTx<'a>),
}

impl<'a> TxView<'a> {
    /// One tree of the transaction; `id` must be one of the first [`TreeId::TX`].
    pub(crate) fn tree(self, id: TreeId) -> TxTree<'a> {
        debug_assert!(id.index() < TreeId::TX, "{id:?} is not transactional");
        TxTree { id, view: self }
    }

    /// Notification payloads to send to every node if (and when) this attempt commits; only
    /// a shared backend (PostgreSQL) has other nodes to tell.
    pub(crate) fn notify(self, notes: Vec<String>) {
        if let TxView::Postgres(t) = self {
            t.notify(notes);
        }
    }
}

/// One tree inside a transaction.
#[derive(Clone, Copy)]
pub(crate) struct TxTree<'a> {
    id: TreeId,
    view: TxView<'a>,
}

impl TxTree<'_> {
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<Value>> {
        match self.view {
            TxView::Sled(t) => t.get(self.id, key.as_ref()),
            TxView::Memory(t) => Ok(t.get(self.id, key.as_ref())),
            TxView::Postgres(t) => t.get(self.id, key.as_ref()),
        }
    }

    pub(crate) fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> TxResult<()> {
        match self.view {
            TxView::Sled(t) => t.insert(self.id, key.as_ref(), value.as_ref()),
            TxView::Memory(t) => {
                t.insert(self.id, key.as_ref(), value.as_ref());
                Ok(())
            }
            TxView::Postgres(t) => {
                t.insert(self.id, key.as_ref(), value.as_ref());
                Ok(())
            }
        }
    }

    /// Removes a key; returns the value it had.
    pub(crate) fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<Option<Value>> {
        match self.view {
            TxView::Sled(t) => t.remove(self.id, key.as_ref()),
            TxView::Memory(t) => Ok(t.remove(self.id, key.as_ref())),
            TxView::Postgres(t) => t.remove(self.id, key.as_ref()),
        }
    }
}

/// The record store of one [`crate::Store`] (cheap to clone: handles inside).
#[derive(Clone)]
pub(crate) enum Backend {
    Sled(self::sled::SledBackend),
    Memory(memory::MemoryBackend),
    Postgres(pg::PgBackend),
}

/// Flushes a backend's committed writes to disk; owned by the group commit's thread.
pub(crate) enum Flusher {
    Sled(self::sled::SledFlusher),
    Memory,
}

impl Flusher {
    pub(crate) fn flush(&mut self) -> Result<()> {
        match self {
            Flusher::Sled(f) => f.flush(),
            Flusher::Memory => Ok(()),
        }
    }
}

impl Backend {
    /// Opens (or creates) the sled database in `dir` ([`Error::Locked`] when another process
    /// holds it).
    pub(crate) fn open_sled(dir: &std::path::Path) -> Result<Backend> {
        Ok(Backend::Sled(self::sled::SledBackend::open(dir)?))
    }

    /// Connects to the PostgreSQL database at `url` (schema migrated, advisory lock taken).
    pub(crate) fn open_postgres(url: &str, options: &crate::PgOptions) -> Result<Backend> {
        Ok(Backend::Postgres(pg::PgBackend::open(url, options)?))
    }

    /// An empty in-memory backend.
    pub(crate) fn memory() -> Backend {
        Backend::Memory(memory::MemoryBackend::default())
    }

    pub(crate) fn get(&self, tree: TreeId, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        match self {
            Backend::Sled(b) => b.get(tree, key.as_ref()),
            Backend::Memory(b) => Ok(b.get(tree, key.as_ref())),
            Backend::Postgres(b) => b.get(tree, key.as_ref()),
        }
    }

    pub(crate) fn contains(&self, tree: TreeId, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(tree, key)?.is_some())
    }

    /// A single write outside any transaction (atomic on its own).
    pub(crate) fn insert(
        &self,
        tree: TreeId,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        match self {
            Backend::Sled(b) => b.insert(tree, key.as_ref(), value.as_ref()),
            Backend::Memory(b) => {
                b.insert(tree, key.as_ref(), value.as_ref());
                Ok(())
            }
            Backend::Postgres(b) => b.insert(tree, key.as_ref(), value.as_ref()),
        }
    }

    pub(crate) fn remove(&self, tree: TreeId, key: impl AsRef<[u8]>) -> Result<()> {
        match self {
            Backend::Sled(b) => b.remove(tree, key.as_ref()),
            Backend::Memory(b) => {
                b.remove(tree, key.as_ref());
                Ok(())
            }
            Backend::Postgres(b) => b.remove(tree, key.as_ref()),
        }
    }

    /// Every key starting with `prefix`, in order.
    pub(crate) fn scan_prefix(&self, tree: TreeId, prefix: impl AsRef<[u8]>) -> Scan {
        match self {
            Backend::Sled(b) => Scan(ScanRepr::Sled(b.scan_prefix(tree, prefix.as_ref()))),
            Backend::Memory(b) => Scan(ScanRepr::Memory(b.scan_prefix(tree, prefix.as_ref()))),
            Backend::Postgres(b) => pg_scan(b.scan_prefix(tree, prefix.as_ref())),
        }
    }

    /// Keys from `from` to `to`, both included, in order.
    pub(crate) fn range(&self, tree: TreeId, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Scan {
        let (from, to) = (from.as_ref(), to.as_ref());
        match self {
            Backend::Sled(b) => Scan(ScanRepr::Sled(b.range(tree, from, to))),
            Backend::Memory(b) => Scan(ScanRepr::Memory(b.range(tree, from, to))),
            Backend::Postgres(_) if from > to => Scan(ScanRepr::Memory(Vec::new().into_iter())),
            Backend::Postgres(b) => pg_scan(b.range(tree, from, Some(to))),
        }
    }

    /// The whole tree, in order.
    pub(crate) fn iter(&self, tree: TreeId) -> Scan {
        self.scan_prefix(tree, [])
    }

    pub(crate) fn is_empty(&self, tree: TreeId) -> Result<bool> {
        match self.iter(tree).next() {
            None => Ok(true),
            Some(r) => r.map(|_| false),
        }
    }

    /// Applies every write of `batch` to `tree` at once.
    pub(crate) fn apply_batch(&self, tree: TreeId, batch: Batch) -> Result<()> {
        match self {
            Backend::Sled(b) => b.apply_batch(tree, batch.ops),
            Backend::Memory(b) => {
                b.apply_batch(tree, batch.ops);
                Ok(())
            }
            Backend::Postgres(b) => b.apply_batch(tree, batch.ops),
        }
    }

    /// A number never handed out before by this store (ids of accounts, mailboxes, blobs).
    pub(crate) fn generate_id(&self) -> Result<u64> {
        match self {
            Backend::Sled(b) => b.generate_id(),
            Backend::Memory(b) => Ok(b.generate_id()),
            Backend::Postgres(b) => b.generate_id(),
        }
    }

    /// Moves the id generator past `n`: the next id handed out is above it (a copied store).
    pub(crate) fn ids_above(&self, n: u64) -> Result<()> {
        match self {
            Backend::Sled(b) => {
                while b.generate_id()? <= n {}
                Ok(())
            }
            Backend::Memory(b) => {
                b.ids_above(n);
                Ok(())
            }
            Backend::Postgres(b) => b.ids_above(n),
        }
    }

    /// Runs `f` atomically over the transactional trees ([`TreeId::TX`]). `f` may run more
    /// than once; only the result of the attempt that commits is returned.
    pub(crate) fn transact<T>(&self, f: impl Fn(TxView<'_>) -> TxResult<T>) -> Result<T> {
        match self {
            Backend::Sled(b) => b.transact(f),
            Backend::Memory(b) => b.transact(f),
            Backend::Postgres(b) => b.transact(f),
        }
    }

    /// The flush hook of the group commit (`durable`), for its thread.
    pub(crate) fn flusher(&self) -> Result<Flusher> {
        match self {
            Backend::Sled(b) => Ok(Flusher::Sled(b.flusher()?)),
            // PostgreSQL's COMMIT is durable (synchronous_commit): nothing left to flush.
            Backend::Memory(_) | Backend::Postgres(_) => Ok(Flusher::Memory),
        }
    }

    /// Bounds the backend's own space use (sled: rewrites its files into a fresh generation
    /// when they outgrow the records, docs/architecture.md §5.4). Returns whether it did.
    pub(crate) fn maintain(&self) -> Result<bool> {
        match self {
            Backend::Sled(b) => b.maintain(),
            Backend::Memory(_) | Backend::Postgres(_) => Ok(false),
        }
    }

    /// Test hook: sled rewrites its files once they are over `floor` bytes (and over the
    /// factor of the records); returns the generation in use. 0 for other backends.
    pub(crate) fn set_rewrite_floor(&self, floor: u64) -> u64 {
        match self {
            Backend::Sled(b) => {
                b.set_rewrite_floor(floor);
                b.generation()
            }
            Backend::Memory(_) | Backend::Postgres(_) => 0,
        }
    }

    /// Best-effort flush when the store closes (errors are ignored: every acknowledged write
    /// was flushed already).
    pub(crate) fn close(&self) {
        if let Backend::Sled(b) = self {
            b.close();
        }
    }

    /// Empties a tree (tests that rebuild what an older version left).
    #[cfg(test)]
    pub(crate) fn clear(&self, tree: TreeId) -> Result<()> {
        let keys: Vec<Value> = self.iter(tree).keys().collect::<Result<_>>()?;
        let mut batch = Batch::default();
        for k in keys {
            batch.remove(k);
        }
        self.apply_batch(tree, batch)
    }
}

/// The seam's own suite, run against every backend: what the model relies on.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_keeps_the_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        contract(&Backend::open_sled(dir.path()).expect("sled"));
        contract(&Backend::memory());
    }

    /// On a private PostgreSQL (skipped where it is not installed, except under CI).
    #[test]
    fn postgres_keeps_the_contract() {
        let Some(cluster) = testkit::postgres::Cluster::get() else {
            return;
        };
        let url = cluster.database();
        contract(&Backend::open_postgres(&url, &crate::PgOptions::default()).expect("pg"));
    }

    fn keys(scan: Scan) -> Vec<Vec<u8>> {
        scan.keys().map(|k| k.expect("key").to_vec()).collect()
    }

    fn contract(b: &Backend) {
        let t = TreeId::Messages;
        b.transact(|tx| {
            tx.tree(t).insert(b"b", b"2")?;
            tx.tree(t).insert(b"a", b"1")?;
            // A transaction reads its own writes. (Reading the backend outside the
            // transaction from inside its closure deadlocks on sled: the model never does.)
            assert_eq!(tx.tree(t).get(b"a")?.as_deref(), Some(&b"1"[..]));
            Ok(())
        })
        .expect("commit");
        let r: Result<()> = b.transact(|tx| {
            assert!(tx.tree(t).remove(b"a")?.is_some());
            assert!(tx.tree(t).get(b"a")?.is_none());
            Err(Error::NoSuchMessage.into())
        });
        assert!(matches!(r, Err(Error::NoSuchMessage)));
        assert_eq!(
            keys(b.iter(t)),
            [b"a".to_vec(), b"b".to_vec()],
            "the abort wrote nothing"
        );
        let mut batch = Batch::default();
        batch.insert(b"ab", b"3");
        batch.remove(b"b");
        b.apply_batch(t, batch).expect("batch");
        assert_eq!(
            keys(b.scan_prefix(t, b"a")),
            [b"a".to_vec(), b"ab".to_vec()]
        );
        assert_eq!(keys(b.range(t, b"ab", b"zz")), [b"ab".to_vec()]);
        // A batch applies its operations in order: the last one on a key wins.
        let mut batch = Batch::default();
        batch.insert(b"d1", b"1");
        batch.remove(b"d1");
        batch.insert(b"d2", b"1");
        batch.insert(b"d2", b"2");
        b.apply_batch(t, batch).expect("batch with repeated keys");
        assert!(b.get(t, b"d1").expect("get").is_none());
        assert_eq!(b.get(t, b"d2").expect("get").as_deref(), Some(&b"2"[..]));
        assert!(keys(b.range(t, b"z", b"a")).is_empty());
        b.insert(TreeId::Domains, b"example.test", b"")
            .expect("insert");
        assert!(b
            .contains(TreeId::Domains, b"example.test")
            .expect("contains"));
        b.remove(TreeId::Domains, b"example.test").expect("remove");
        assert!(b.is_empty(TreeId::Domains).expect("empty"));
        assert!(b.generate_id().expect("id") < b.generate_id().expect("id"));
        b.flusher().expect("flusher").flush().expect("flush");
    }
}
