//! The PostgreSQL backend (docs/architecture.md §12): the store's trees as rows of one table,
//! message bodies in another, ids from a sequence, so every write is on the database server
//! and any process with the URL reads the same mail.
//!
//! - Schema: versioned migrations embedded here ([`MIGRATIONS`]), applied at open under an
//!   advisory transaction lock; a database whose schema is newer than this binary is refused.
//! - `kv(tree, k, v)`: one row per key of a tree (bytea keys compare bytewise, so ordered
//!   scans are the sled order); `blobs(id, data)`: bodies; sequence `ids`.
//! - Transactions: `SERIALIZABLE`, reads through the connection, writes buffered and sent
//!   at commit; a serialization failure or deadlock runs the closure again.
//! - Connections: a small pool of threads, each owning a synchronous client (which runs
//!   tokio-postgres on its own runtime, so a call works from any thread, async or not).
//!   A call blocks its thread for one round trip.
//! - Several processes ("nodes") share one database: each takes a node number from the
//!   sequence `nodes` and holds a session advisory lock on it for its life (so another node
//!   can tell a dead node's leftovers, `pg_cluster`); committed changes reach every node
//!   through `NOTIFY mailstack` sent inside the writing transaction (`crate::cluster`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use postgres::Client;

pub(crate) use super::pg_conn::{db, prepared, Conn, Tls};
use super::{TreeId, TxError, TxResult, TxView, Value, ValueRepr};
use crate::{Error, Result};

/// Schema migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
pub(crate) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE kv (tree smallint NOT NULL, k bytea NOT NULL, v bytea NOT NULL,
                     PRIMARY KEY (tree, k));
    CREATE TABLE blobs (id bigint PRIMARY KEY, data bytea NOT NULL);
    CREATE SEQUENCE ids MINVALUE 0 START 0;
",
    "
    CREATE SEQUENCE nodes;
",
];

/// The advisory lock key of a mailstack store's migrations.
const LOCK_KEY: i64 = 0x006d_6169_6c73_746b;
/// Connections per store.
const POOL: usize = 4;

/// A row to write: tree, key, value (`None`: delete).
type Write = (i16, Vec<u8>, Option<Vec<u8>>);
/// A transaction's writes per tree: key → value (`None`: delete).
type WriteSet = Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

fn value(b: Vec<u8>) -> Value {
    Value(ValueRepr::Shared(b.into()))
}

/// `(k, v)` rows of a scan, as the seam's values.
fn pairs(
    rows: std::result::Result<Vec<postgres::Row>, postgres::Error>,
) -> Result<std::vec::IntoIter<(Value, Value)>> {
    Ok(rows
        .map_err(db)?
        .into_iter()
        .map(|r| (value(r.get(0)), value(r.get(1))))
        .collect::<Vec<_>>()
        .into_iter())
}

fn tree_id(t: TreeId) -> i16 {
    i16::try_from(t.index()).unwrap_or(i16::MAX)
}

struct Pool {
    idle: Mutex<Vec<Conn>>,
    returned: Condvar,
    /// This node's number, its lock and the maildrop locks (`pg_cluster`).
    node: super::pg_cluster::Node,
    config: postgres::Config,
    tls: Tls,
}

/// A checked-out connection, given back on drop.
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Lease<'_> {
    /// The connection's reconnection counter (see [`Conn`]).
    fn generation(&self) -> Arc<AtomicU64> {
        self.conn
            .as_ref()
            .map_or_else(|| Arc::new(AtomicU64::new(u64::MAX)), Conn::generation)
    }

    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> R + Send + 'static,
    ) -> Result<R> {
        match &self.conn {
            Some(c) => c.run(f),
            None => Err(Error::Db("no PostgreSQL connection".into())),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            crate::lock(&self.pool.idle).push(c);
            self.pool.returned.notify_one();
        }
    }
}

#[derive(Clone)]
pub(crate) struct PgBackend {
    pool: Arc<Pool>,
}

impl PgBackend {
    /// Connects, brings the schema up to date and joins as a new node.
    pub(crate) fn open(url: &str, options: &crate::PgOptions) -> Result<PgBackend> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Db(format!("PostgreSQL URL: {e}")))?;
        if let Some(p) = &options.password {
            config.password(p);
        }
        let tls = Tls::for_config(&config, options.ca_pem.as_deref())?;
        let lock = Conn::open(&config, &tls)?;
        lock.run(migrate)?.map_err(|e| match e {
            Migrate::Db(e) => db(e),
            Migrate::Newer(v) => Error::Db(format!(
                "the database's schema is version {v}, newer than this mailstack knows ({}); \
                 use a newer mailstack",
                MIGRATIONS.len()
            )),
        })?;
        let node = super::pg_cluster::Node::join(lock)?;
        let mut idle = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            idle.push(Conn::open(&config, &tls)?);
        }
        Ok(PgBackend {
            pool: Arc::new(Pool {
                idle: Mutex::new(idle),
                returned: Condvar::new(),
                node,
                config,
                tls,
            }),
        })
    }

    /// This process's node (number, liveness lock, maildrop locks).
    pub(crate) fn node(&self) -> &super::pg_cluster::Node {
        &self.pool.node
    }

    /// The connection settings and connector, for the listener's own connection.
    pub(crate) fn config(&self) -> (&postgres::Config, &Tls) {
        (&self.pool.config, &self.pool.tls)
    }

    fn lease(&self) -> Lease<'_> {
        let mut idle = crate::lock(&self.pool.idle);
        loop {
            if let Some(c) = idle.pop() {
                return Lease {
                    pool: &self.pool,
                    conn: Some(c),
                };
            }
            idle = self
                .pool
                .returned
                .wait(idle)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> R + Send + 'static,
    ) -> Result<R> {
        self.lease().run(f)
    }

    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Value>> {
        let (t, k) = (tree_id(tree), key.to_vec());
        let row = self.run(move |c| {
            let st = prepared(c, "SELECT v FROM kv WHERE tree = $1 AND k = $2")?;
            c.query_opt(&st, &[&t, &k])
        })?;
        Ok(row.map_err(db)?.map(|r| value(r.get(0))))
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) -> Result<()> {
        self.apply_batch(tree, vec![(key.to_vec(), Some(v.to_vec()))])
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) -> Result<()> {
        self.apply_batch(tree, vec![(key.to_vec(), None)])
    }

    /// Keys from `from` (included) up to `to` (included, or every key when `None`), in order.
    pub(crate) fn range(
        &self,
        tree: TreeId,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> Result<std::vec::IntoIter<(Value, Value)>> {
        let (t, from, to) = (tree_id(tree), from.to_vec(), to.map(<[u8]>::to_vec));
        let rows = self.run(move |c| match &to {
            Some(to) => {
                let st = prepared(
                    c,
                    "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 AND k <= $3 ORDER BY k",
                )?;
                c.query(&st, &[&t, &from, to])
            }
            None => {
                let st = prepared(
                    c,
                    "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 ORDER BY k",
                )?;
                c.query(&st, &[&t, &from])
            }
        })?;
        pairs(rows)
    }

    /// Keys starting with `prefix`: the range from `prefix` up to (not including) the first
    /// key past every key with that prefix, so the database reads only those rows.
    pub(crate) fn scan_prefix(
        &self,
        tree: TreeId,
        prefix: &[u8],
    ) -> Result<std::vec::IntoIter<(Value, Value)>> {
        let Some(end) = prefix_end(prefix) else {
            return self.range(tree, prefix, None);
        };
        let (t, from) = (tree_id(tree), prefix.to_vec());
        let rows = self.run(move |c| {
            let st = prepared(
                c,
                "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 AND k < $3 ORDER BY k",
            )?;
            c.query(&st, &[&t, &from, &end])
        })?;
        pairs(rows)
    }

    pub(crate) fn apply_batch(
        &self,
        tree: TreeId,
        ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let t = tree_id(tree);
        let writes: Vec<Write> = ops.into_iter().map(|(k, v)| (t, k, v)).collect();
        self.run(move |c| write_all(c, &writes))?.map_err(db)
    }

    pub(crate) fn generate_id(&self) -> Result<u64> {
        let n = self.run(|c| {
            c.query_one("SELECT nextval('ids')", &[])
                .map(|r| r.get::<_, i64>(0))
        })?;
        u64::try_from(n.map_err(db)?).map_err(|_| Error::Db("negative id".into()))
    }

    /// The next id is above `n` (and never below what was handed out).
    pub(crate) fn ids_above(&self, n: u64) -> Result<()> {
        let n = i64::try_from(n).map_err(|_| Error::Db("id out of range".into()))?;
        self.run(move |c| {
            c.execute(
                "SELECT setval('ids', GREATEST($1::bigint + 1, (SELECT last_value FROM ids) + 1), false)",
                &[&n],
            )
        })?
        .map(|_| ())
        .map_err(db)
    }

    /// Runs `f` in a SERIALIZABLE transaction; again after a serialization failure.
    pub(crate) fn transact<T>(&self, f: impl Fn(TxView<'_>) -> TxResult<T>) -> Result<T> {
        let lease = self.lease();
        let rollback = |lease: &Lease<'_>| lease.run(|c| c.batch_execute("ROLLBACK")).map(|_| ());
        let generation = lease.generation();
        loop {
            lease
                .run(|c| c.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE"))?
                .map_err(db)?;
            let began = generation.load(Ordering::Acquire);
            let state = PgTx {
                lease: &lease,
                writes: RefCell::new(vec![BTreeMap::new(); TreeId::TX]),
                failed: RefCell::new(None),
                notes: RefCell::new(Vec::new()),
            };
            let outcome = f(TxView::Postgres(&state));
            if let Some(e) = state.failed.borrow_mut().take() {
                rollback(&lease)?;
                if retryable(&e) {
                    continue;
                }
                return Err(db(e));
            }
            let t = match outcome {
                Ok(t) => t,
                Err(TxError::Conflict) => {
                    rollback(&lease)?;
                    continue;
                }
                Err(TxError::Abort(e) | TxError::Storage(e)) => {
                    rollback(&lease)?;
                    return Err(e);
                }
            };
            let writes: Vec<Write> = state
                .writes
                .into_inner()
                .into_iter()
                .enumerate()
                .flat_map(|(i, w)| {
                    let tree = i16::try_from(i).unwrap_or(i16::MAX);
                    w.into_iter().map(move |(k, v)| (tree, k, v))
                })
                .collect();
            let notes = state.notes.into_inner();
            let gen = generation.clone();
            let committed = lease.run(move |c| {
                if gen.load(Ordering::Acquire) != began {
                    // The connection was made again since BEGIN: these writes would run
                    // outside any transaction. Run the whole attempt again.
                    return Ok(false);
                }
                write_all(c, &writes)?;
                if !notes.is_empty() {
                    // Delivered to every listening node when (and only if) the transaction
                    // commits, in commit order (`crate::cluster`).
                    let notify =
                        prepared(c, "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x")?;
                    c.execute(&notify, &[&super::pg_cluster::CHANNEL, &notes])?;
                }
                c.batch_execute("COMMIT").map(|()| true)
            })?;
            match committed {
                Ok(true) => return Ok(t),
                Ok(false) => {}
                Err(e) => {
                    rollback(&lease)?;
                    if !retryable(&e) {
                        return Err(db(e));
                    }
                }
            }
        }
    }

    /// Blob role: stores a body.
    pub(crate) fn put_blob(&self, id: u64, bytes: &[u8]) -> Result<()> {
        let id = i64::try_from(id).map_err(|_| Error::Db("blob id out of range".into()))?;
        let data = bytes.to_vec();
        self.run(move |c| {
            let st = prepared(
                c,
                "INSERT INTO blobs (id, data) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )?;
            c.execute(&st, &[&id, &data])
        })?
        .map(|_| ())
        .map_err(db)
    }

    /// Blob role: `len` bytes from `start` (fewer at the end); `None` when the body is gone.
    pub(crate) fn read_blob(&self, id: u64, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let id = i64::try_from(id).map_err(|_| Error::Db("blob id out of range".into()))?;
        // substring() counts from 1 and takes int4 lengths.
        let from = i32::try_from(start.saturating_add(1)).unwrap_or(i32::MAX);
        let n = i32::try_from(len).unwrap_or(i32::MAX);
        let row = self.run(move |c| {
            let st = prepared(
                c,
                "SELECT substring(data FROM $2 FOR $3) FROM blobs WHERE id = $1",
            )?;
            c.query_opt(&st, &[&id, &from, &n])
        })?;
        Ok(row.map_err(db)?.map(|r| r.get(0)))
    }

    /// Blob role: removes bodies.
    pub(crate) fn release_blobs(&self, ids: &[u64]) -> Result<()> {
        let ids: Vec<i64> = ids.iter().filter_map(|i| i64::try_from(*i).ok()).collect();
        self.run(move |c| c.execute("DELETE FROM blobs WHERE id = ANY($1)", &[&ids]))?
            .map(|_| ())
            .map_err(db)
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: every key from
/// `prefix` on has it, i.e. it is empty or all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Serialization failure (40001) or deadlock (40P01): the transaction may simply run again.
fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    // A closed connection too: the next statement connects again (`Conn`), and an attempt
    // that fails to is not retried (its BEGIN fails).
    e.is_closed()
        || matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Writes in two statements (one upsert, one delete, each over arrays), not one round trip
/// per row. A key written more than once (a batch may) keeps its last write, as applying
/// them in order would; one statement must not touch a row twice (`ON CONFLICT DO UPDATE`).
fn write_all(c: &mut Client, writes: &[Write]) -> std::result::Result<(), postgres::Error> {
    let mut last: BTreeMap<(i16, &[u8]), Option<&[u8]>> = BTreeMap::new();
    for (t, k, v) in writes {
        last.insert((*t, k.as_slice()), v.as_deref());
    }
    let (mut ut, mut uk, mut uv) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dt, mut dk) = (Vec::new(), Vec::new());
    for ((t, k), v) in last {
        match v {
            Some(v) => {
                ut.push(t);
                uk.push(k);
                uv.push(v);
            }
            None => {
                dt.push(t);
                dk.push(k);
            }
        }
    }
    if !ut.is_empty() {
        let st = prepared(
            c,
            "INSERT INTO kv (tree, k, v) SELECT * FROM unnest($1::int2[], $2::bytea[], $3::bytea[]) \
             ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v",
        )?;
        c.execute(&st, &[&ut, &uk, &uv])?;
    }
    if !dt.is_empty() {
        let st = prepared(
            c,
            "DELETE FROM kv WHERE (tree, k) IN (SELECT * FROM unnest($1::int2[], $2::bytea[]))",
        )?;
        c.execute(&st, &[&dt, &dk])?;
    }
    Ok(())
}

enum Migrate {
    Db(postgres::Error),
    Newer(i32),
}

/// Applies the migrations the database lacks, one transaction each, under an advisory
/// transaction lock (two processes starting at once migrate once).
fn migrate(c: &mut Client) -> std::result::Result<(), Migrate> {
    let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    let mut tx = c.transaction().map_err(Migrate::Db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(LOCK_KEY + 1)])
        .map_err(Migrate::Db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS mailstack_schema (version integer NOT NULL)")
        .map_err(Migrate::Db)?;
    let current: i32 = tx
        .query_opt("SELECT max(version) FROM mailstack_schema", &[])
        .map_err(Migrate::Db)?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if current > latest {
        return Err(Migrate::Newer(current));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.batch_execute(sql).map_err(Migrate::Db)?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO mailstack_schema (version) VALUES ($1)", &[&v])
            .map_err(Migrate::Db)?;
        tracing::info!(version = v, "PostgreSQL schema migrated");
    }
    tx.commit().map_err(Migrate::Db)
}

/// One attempt of a transaction: reads through the connection (inside its `BEGIN`), writes
/// kept here until commit.
pub(crate) struct PgTx<'a> {
    lease: &'a Lease<'a>,
    writes: RefCell<WriteSet>,
    /// The first database error of the attempt (the closure sees a conflict and stops).
    failed: RefCell<Option<postgres::Error>>,
    /// Notification payloads sent with the commit (`crate::cluster`).
    notes: RefCell<Vec<String>>,
}

impl PgTx<'_> {
    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> TxResult<Option<Value>> {
        if let Some(w) = self.writes.borrow()[tree.index()].get(key) {
            return Ok(w.clone().map(value));
        }
        let (t, k) = (tree_id(tree), key.to_vec());
        let row = self
            .lease
            .run(move |c| {
                let st = prepared(c, "SELECT v FROM kv WHERE tree = $1 AND k = $2")?;
                c.query_opt(&st, &[&t, &k])
            })
            .map_err(TxError::Storage)?;
        match row {
            Ok(r) => Ok(r.map(|r| value(r.get(0)))),
            Err(e) => {
                *self.failed.borrow_mut() = Some(e);
                Err(TxError::Conflict)
            }
        }
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) {
        self.writes.borrow_mut()[tree.index()].insert(key.to_vec(), Some(v.to_vec()));
    }

    pub(crate) fn notify(&self, notes: Vec<String>) {
        self.notes.borrow_mut().extend(notes);
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) -> TxResult<Option<Value>> {
        let old = self.get(tree, key)?;
        self.writes.borrow_mut()[tree.index()].insert(key.to_vec(), None);
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(super::prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(super::prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(super::prefix_end(&[0xff, 0xff]), None);
        assert_eq!(super::prefix_end(b""), None);
    }
}
