//! What several processes on one PostgreSQL database need from it (docs/architecture.md
//! §12.3): a node number, a way to tell whether a node is still alive, locks that hold
//! across nodes (the POP3 maildrop), and the `mailstack` notification channel (sending and
//! listening). What the notifications say is `crate::cluster`'s business.
//!
//! Liveness is PostgreSQL's own: a node holds a session advisory lock on its number on a
//! connection of its own, and the server drops it when that connection goes (the process
//! died, the machine died, the network went). Maildrop locks are session advisory locks on
//! the same connection, so they go with the node too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::pg::{db, Conn, PgBackend};
use crate::{Error, Result};

/// The notification channel every node listens on.
pub(crate) const CHANNEL: &str = "mailstack";

/// Advisory lock keys: a class in the high 16 bits, the number in the rest.
const NODE_CLASS: i64 = 0x6d6e << 48;
const MAILDROP_CLASS: i64 = 0x6d64 << 48;
const NUMBER_MASK: i64 = (1 << 48) - 1;

fn key(class: i64, n: u64) -> i64 {
    class | (i64::try_from(n).unwrap_or(i64::MAX) & NUMBER_MASK)
}

/// This process as a node: its number and the connection that holds its locks.
pub(crate) struct Node {
    id: u64,
    locks: Conn,
    /// The maildrop lock keys held now: taken again, with the node's own, when the lock
    /// connection is made again (the database released them with the old session).
    held: Arc<Mutex<HashSet<i64>>>,
}

impl Node {
    /// Takes a new node number and locks it for the life of `locks`.
    pub(crate) fn join(locks: Conn) -> Result<Node> {
        let id = locks.run(|c| {
            let id: i64 = c.query_one("SELECT nextval('nodes')", &[])?.get(0);
            c.execute(
                "SELECT pg_advisory_lock($1)",
                &[&(NODE_CLASS | (id & NUMBER_MASK))],
            )?;
            Ok::<_, postgres::Error>(id)
        })?;
        let id = u64::try_from(id.map_err(db)?).map_err(|_| Error::Db("node number".into()))?;
        let held: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let keys = held.clone();
        locks.on_reconnect(move |c| {
            let mine = key(NODE_CLASS, id);
            if let Err(e) = c.execute("SELECT pg_advisory_lock($1)", &[&mine]) {
                tracing::warn!("taking the node lock again: {e}");
            }
            for k in crate::lock(&keys).iter() {
                let got = c
                    .query_one("SELECT pg_try_advisory_lock($1)", &[k])
                    .map(|r| r.get::<_, bool>(0));
                if !matches!(got, Ok(true)) {
                    // Another node's POP3 session took the maildrop meanwhile.
                    tracing::warn!("a maildrop lock could not be taken again after a reconnection");
                }
            }
        });
        Ok(Node { id, locks, held })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether node `id` is running (holds its lock). This node is alive; a node that never
    /// existed is not.
    pub(crate) fn alive(&self, id: u64) -> Result<bool> {
        if id == self.id {
            return Ok(true);
        }
        let k = key(NODE_CLASS, id);
        let free = self.locks.run(move |c| {
            let got: bool = c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&k])?
                .get(0);
            if got {
                c.execute("SELECT pg_advisory_unlock($1)", &[&k])?;
            }
            Ok::<_, postgres::Error>(got)
        })?;
        Ok(!free.map_err(db)?)
    }

    /// Takes account `account`'s maildrop lock unless another session (of any node) has it.
    pub(crate) fn lock_maildrop(&self, account: u64) -> Result<bool> {
        let k = key(MAILDROP_CLASS, account);
        let got = self.locks.run(move |c| {
            c.query_one("SELECT pg_try_advisory_lock($1)", &[&k])
                .map(|r| r.get::<_, bool>(0))
        })?;
        let got = got.map_err(db)?;
        if got {
            crate::lock(&self.held).insert(k);
        }
        Ok(got)
    }

    /// Makes sure the lock connection is alive, connecting again (and taking the node's and
    /// the held maildrops' locks again) when the database dropped it: a connection learns it
    /// was closed only when used, and this one is used rarely.
    pub(crate) fn heal(&self) {
        for _ in 0..2 {
            match self.locks.run(|c| c.batch_execute("SELECT 1")) {
                Ok(Ok(())) => return,
                // Closed: the next job connects again first.
                Ok(Err(e)) if e.is_closed() => continue,
                Ok(Err(e)) => {
                    tracing::warn!("PostgreSQL lock connection: {e}");
                    return;
                }
                Err(e) => {
                    tracing::warn!("PostgreSQL lock connection: {e}");
                    return;
                }
            }
        }
    }

    /// Lets go of every lock of this node, as its death would (tests).
    pub(crate) fn unlock_all(&self) -> Result<()> {
        self.locks
            .run(|c| c.execute("SELECT pg_advisory_unlock_all()", &[]))?
            .map(|_| ())
            .map_err(db)
    }

    pub(crate) fn unlock_maildrop(&self, account: u64) -> Result<()> {
        let k = key(MAILDROP_CLASS, account);
        crate::lock(&self.held).remove(&k);
        self.locks
            .run(move |c| c.execute("SELECT pg_advisory_unlock($1)", &[&k]))?
            .map(|_| ())
            .map_err(db)
    }
}

/// What the listener reports.
pub(crate) enum Heard {
    /// A notification's payload, in the order the transactions that sent them committed.
    Note(String),
    /// The listening connection was (re)established: notifications sent while it was down
    /// are lost.
    Connected,
    /// Nothing for a while (or the connection is down): a chance to stop.
    Tick,
}

impl PgBackend {
    /// Sends one notification now (its own transaction).
    pub(crate) fn notify_now(&self, payload: String) -> Result<()> {
        self.run(move |c| c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]))?
            .map(|_| ())
            .map_err(db)
    }

    /// Starts the listener thread: `on` gets every notification of the channel, and
    /// [`Heard::Connected`] after every (re)connection; the thread ends when `on` returns
    /// `false` (checked at least twice a second).
    pub(crate) fn listen(&self, mut on: impl FnMut(Heard) -> bool + Send + 'static) -> Result<()> {
        let (config, tls) = self.config();
        let (config, tls) = (config.clone(), tls.clone());
        // The first connection is made before this returns, so a store that opens is
        // listening; on the thread, because the client runs its own runtime and the caller
        // may be async.
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("mailstack-pg-listen".into())
            .spawn(move || {
                let mut client = match listener(&config, &tls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut backoff = Duration::from_millis(50);
                loop {
                    let Some(c) = client.as_mut() else {
                        if !on(Heard::Tick) {
                            return;
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        client = listener(&config, &tls).ok();
                        if client.is_some() {
                            backoff = Duration::from_millis(50);
                            if !on(Heard::Connected) {
                                return;
                            }
                        }
                        continue;
                    };
                    let mut lost = false;
                    {
                        let mut notes = c.notifications();
                        let mut it = notes.timeout_iter(Duration::from_millis(500));
                        loop {
                            match it.next() {
                                Ok(Some(n)) => {
                                    if !on(Heard::Note(n.payload().to_string())) {
                                        return;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!("PostgreSQL listener: {e}");
                                    lost = true;
                                    break;
                                }
                            }
                        }
                    }
                    if lost || c.is_closed() {
                        tracing::warn!("PostgreSQL listener lost its connection; reconnecting");
                        client = None;
                    } else if !on(Heard::Tick) {
                        return;
                    }
                }
            })
            .map_err(Error::Io)?;
        ready
            .recv()
            .map_err(|_| Error::Db("PostgreSQL listener thread ended".into()))?
    }
}

fn listener(config: &postgres::Config, tls: &super::pg::Tls) -> Result<postgres::Client> {
    let mut c = tls.connect(config)?;
    c.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(db)?;
    Ok(c)
}
