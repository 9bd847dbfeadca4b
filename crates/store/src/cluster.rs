//! Several mailstack processes ("nodes") on one PostgreSQL database (docs/architecture.md
//! §12.3): how a change committed on one node reaches the sessions of every node.
//!
//! - A write's change events travel as notifications on the `mailstack` channel, sent
//!   *inside* the writing transaction (`backend::pg_cluster`): PostgreSQL delivers them only
//!   if it commits, and to every listener in commit order. Each node's listener thread is
//!   the one publisher of its hub: its own changes come back the same way as everyone
//!   else's, so a session sees every mailbox's changes in commit order whichever node made
//!   them (UID 8 is never told before UID 7, a MODSEQ never goes backwards).
//! - A writer returns once its changes are published on its node ([`Cluster::settle`]): it
//!   sends a token notification after its commit and waits for the listener to hear it;
//!   what was committed before the token has been heard before it.
//! - A change from another node first updates this node's in-memory mailbox indexes
//!   (records read again from the database under the account's writer lock, so a local
//!   commit and a remote one cannot interleave wrongly), then goes to the sessions.
//! - When the listening connection drops, notifications sent meanwhile are lost: on
//!   reconnection every mailbox index is dropped (rebuilt from the database on next use)
//!   and every subscribed account gets [`Change::Resync`], so sessions read their mailbox
//!   again. A change too large for one notification (8000 bytes) is sent as `Resync` too.
//! - Other state that must hold across nodes rides on the same channel as *topics* (the
//!   login throttle's failures, `auth`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::backend::pg::PgBackend;
use crate::backend::pg_cluster::Heard;
use crate::model::AccountId;
use crate::notify::Change;
use crate::tx::IndexOp;
use crate::{Inner, Store};

/// Bytes of one notification before hex encoding (PostgreSQL refuses payloads of 8000
/// bytes or more).
const MAX_NOTE: usize = 3_900;
/// The longest a writer waits for its changes to come back (a listener reconnecting).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a node releases the bodies that dead nodes' sessions had pinned.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Note {
    node: u64,
    /// The session of the sending node that made the change (`notify::Activity::origin`).
    origin: u64,
    body: Body,
}

#[derive(Serialize, Deserialize)]
enum Body {
    Changes(Vec<(AccountId, Change)>),
    /// A writer's token ([`Cluster::settle`]).
    Sync(u64),
    /// A message of another subsystem ([`Store::cluster_send`]).
    Topic(String, Vec<u8>),
}

/// This node's part in the cluster (only on a shared backend).
pub(crate) struct Cluster {
    pg: PgBackend,
    node: u64,
    next_token: AtomicU64,
    heard: Mutex<Heard_>,
    woken: Condvar,
    topics: broadcast::Sender<(String, Vec<u8>)>,
}

#[derive(Default)]
struct Heard_ {
    tokens: HashSet<u64>,
    /// Bumped at every reconnection: a token sent before it may never come.
    epoch: u64,
}

impl Cluster {
    pub(crate) fn new(pg: PgBackend) -> Cluster {
        Cluster {
            node: pg.node().id(),
            pg,
            next_token: AtomicU64::new(1),
            heard: Mutex::default(),
            woken: Condvar::new(),
            topics: broadcast::channel(1024).0,
        }
    }

    /// The notifications that carry one write's changes.
    pub(crate) fn encode(&self, origin: u64, events: &[(AccountId, Change)]) -> Vec<String> {
        let mut notes = Vec::new();
        let mut batch: Vec<(AccountId, Change)> = Vec::new();
        let mut size = 0;
        for (account, change) in events {
            let mut one = (*account, change.clone());
            let mut n = postcard::to_allocvec(&one).map_or(usize::MAX, |b| b.len());
            if n > MAX_NOTE - 32 {
                // Too large to send (an EXPUNGE of thousands of messages): the other nodes'
                // sessions read the mailbox again instead.
                one = (*account, Change::Resync);
                n = 16;
            }
            if size + n > MAX_NOTE - 32 && !batch.is_empty() {
                notes.push(self.note(origin, Body::Changes(std::mem::take(&mut batch))));
                size = 0;
            }
            size += n;
            batch.push(one);
        }
        if !batch.is_empty() {
            notes.push(self.note(origin, Body::Changes(batch)));
        }
        notes
    }

    fn note(&self, origin: u64, body: Body) -> String {
        let bytes = postcard::to_allocvec(&Note {
            node: self.node,
            origin,
            body,
        })
        .unwrap_or_default();
        hex(&bytes)
    }

    /// Returns once every change committed before the call (by any node) has been published
    /// on this node, or after [`SETTLE_TIMEOUT`] (then the listener is reconnecting, and
    /// sessions get [`Change::Resync`] instead).
    pub(crate) fn settle(&self) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let epoch = crate::lock(&self.heard).epoch;
        if let Err(e) = self.pg.notify_now(self.note(0, Body::Sync(token))) {
            tracing::warn!("notifying the other nodes: {e}");
            return;
        }
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut heard = crate::lock(&self.heard);
        loop {
            if heard.tokens.remove(&token) || heard.epoch != epoch {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!("changes not heard back from PostgreSQL in time");
                return;
            }
            heard = self
                .woken
                .wait_timeout(heard, deadline - now)
                .map_or_else(|p| p.into_inner().0, |r| r.0);
        }
    }

    fn send_topic(&self, topic: &str, body: &[u8]) -> crate::Result<()> {
        let note = self.note(0, Body::Topic(topic.to_string(), body.to_vec()));
        if note.len() >= 2 * MAX_NOTE {
            return Err(crate::Error::Db("cluster message too large".into()));
        }
        self.pg.notify_now(note)
    }
}

impl Store {
    /// Starts following the other nodes (a shared backend only).
    pub(crate) fn start_cluster(&self) -> crate::Result<()> {
        let Some(c) = &self.inner.cluster else {
            return Ok(());
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut swept = Instant::now();
        c.pg.listen(move |heard| {
            let Some(inner) = weak.upgrade() else {
                return false;
            };
            let store = Store { inner };
            match heard {
                Heard::Note(payload) => store.hear(&payload),
                Heard::Connected => store.reconnected(),
                Heard::Tick => {}
            }
            if swept.elapsed() >= SWEEP_EVERY {
                swept = Instant::now();
                store.heal_cluster_connections();
                if let Err(e) = store.release_dead_nodes_pins() {
                    tracing::warn!("releasing what dead nodes pinned: {e}");
                }
            }
            true
        })
    }

    /// On a shared backend, waits until every change committed so far by any node has been
    /// published to this node's subscribers (one round trip through the database): a
    /// session that answers NOOP or starts IDLE after it reports what another node's client
    /// already saw acknowledged. Nothing to wait for otherwise.
    pub async fn catch_up(&self) {
        if self.inner.cluster.is_none() {
            return;
        }
        let store = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(c) = &store.inner.cluster {
                c.settle();
            }
        })
        .await;
    }

    /// This process's node number on a shared backend (`None`: the store is not shared).
    pub fn node(&self) -> Option<u64> {
        self.inner.cluster.as_ref().map(|c| c.node)
    }

    /// Releases what the sessions of nodes that are gone had pinned (expunged messages they
    /// could still read): every node does it at start and every minute (`SWEEP_EVERY`), so a
    /// node that dies for good does not keep bodies on disk. Nothing to do on a store that is
    /// not shared (its pins go at the next start).
    #[doc(hidden)]
    pub fn release_dead_nodes_pins(&self) -> crate::Result<()> {
        if self.inner.cluster.is_none() {
            return Ok(());
        }
        self.release_all_pinned()
    }

    /// Checks the node's lock connection and, when the database dropped it, connects again
    /// and takes the node's lock and its held maildrop locks again. Run after the listener
    /// reconnected and every minute.
    #[doc(hidden)]
    pub fn heal_cluster_connections(&self) {
        if let crate::backend::Backend::Postgres(pg) = &self.inner.db {
            pg.node().heal();
        }
    }

    /// Drops this node's liveness and maildrop locks, as if the process had died (tests of
    /// what the other nodes do then).
    #[doc(hidden)]
    pub fn simulate_node_death(&self) -> crate::Result<()> {
        match &self.inner.db {
            crate::backend::Backend::Postgres(pg) => pg.node().unlock_all(),
            _ => Ok(()),
        }
    }

    /// Sends `body` to the other nodes' subscribers of `topic` (nothing when the store is
    /// not shared). For state that must hold across nodes, such as login failures.
    pub fn cluster_send(&self, topic: &str, body: &[u8]) -> crate::Result<()> {
        match &self.inner.cluster {
            Some(c) => c.send_topic(topic, body),
            None => Ok(()),
        }
    }

    /// What the other nodes send with [`Store::cluster_send`], as (topic, body); `None`
    /// when the store is not shared.
    pub fn cluster_subscribe(&self) -> Option<broadcast::Receiver<(String, Vec<u8>)>> {
        self.inner.cluster.as_ref().map(|c| c.topics.subscribe())
    }

    fn hear(&self, payload: &str) {
        let Some(c) = &self.inner.cluster else { return };
        let note: Note = match unhex(payload).and_then(|b| postcard::from_bytes(&b).ok()) {
            Some(n) => n,
            None => {
                tracing::warn!("ignoring a notification that is not mailstack's");
                return;
            }
        };
        let own = note.node == c.node;
        match note.body {
            Body::Sync(token) if own => {
                let mut heard = crate::lock(&c.heard);
                // A token heard after its writer gave up waiting is never taken: keep the set
                // bounded (a writer whose token went waits out SETTLE_TIMEOUT at worst).
                if heard.tokens.len() >= 4096 {
                    heard.tokens.clear();
                }
                heard.tokens.insert(token);
                drop(heard);
                c.woken.notify_all();
            }
            Body::Sync(_) => {}
            Body::Topic(topic, body) if !own => {
                let _ = c.topics.send((topic, body));
            }
            Body::Topic(..) => {}
            Body::Changes(changes) => {
                if own {
                    // The writer applies its index changes right after COMMIT, under the
                    // account's writer lock: let it finish, so a session told of the change
                    // finds the message in the index.
                    let mut accounts: Vec<AccountId> = changes.iter().map(|(a, _)| *a).collect();
                    accounts.sort_unstable();
                    accounts.dedup();
                    for a in accounts {
                        drop(crate::lock(&self.writer(a)));
                    }
                } else {
                    self.follow(&changes);
                }
                let origin = if own { note.origin } else { 0 };
                for (account, change) in changes {
                    self.inner.notify.announce(account, change, origin);
                }
            }
        }
    }

    /// Brings this node's mailbox indexes up to another node's committed changes.
    fn follow(&self, changes: &[(AccountId, Change)]) {
        let mut accounts: Vec<AccountId> = changes.iter().map(|(a, _)| *a).collect();
        accounts.sort_unstable();
        accounts.dedup();
        for account in accounts {
            let w = self.writer(account);
            let _g = crate::lock(&w);
            let mut ops = Vec::new();
            for (_, change) in changes.iter().filter(|(a, _)| *a == account) {
                match change {
                    // The change carries the new flags and MODSEQ: the index entry is patched
                    // without reading the record (a STORE of 1,000 messages is 1,000 changes).
                    Change::FlagsChanged {
                        mailbox,
                        uid,
                        flags,
                        modseq,
                    } => {
                        // An earlier change of this batch to the same message (an append, an
                        // expunge, a flag change just before) goes to the index first; the
                        // others wait for the one `apply_index` at the end.
                        let same = |op: &IndexOp| match op {
                            IndexOp::Put(m, meta) => *m == *mailbox && meta.uid == *uid,
                            IndexOp::Remove(m, u) => *m == *mailbox && *u == *uid,
                            IndexOp::Drop(m) => *m == *mailbox,
                        };
                        if ops.iter().rev().any(same) {
                            self.apply_index(std::mem::take(&mut ops));
                        }
                        if let Some(mut m) = self.indexed_message(*mailbox, *uid) {
                            if *modseq > m.modseq {
                                m.flags = flags.clone();
                                m.modseq = *modseq;
                                ops.push(IndexOp::Put(*mailbox, m));
                            }
                        }
                    }
                    Change::Appended { mailbox, uid, .. } => {
                        if self.index(*mailbox).is_none() {
                            continue;
                        }
                        match self.stored_message(*mailbox, *uid) {
                            Ok(Some(m)) => ops.push(IndexOp::Put(*mailbox, m)),
                            Ok(None) => ops.push(IndexOp::Remove(*mailbox, *uid)),
                            Err(e) => {
                                tracing::warn!("following another node: {e}");
                                ops.push(IndexOp::Drop(*mailbox));
                            }
                        }
                    }
                    Change::Expunged { mailbox, uids, .. } => {
                        ops.extend(uids.iter().map(|u| IndexOp::Remove(*mailbox, *u)));
                    }
                    Change::MailboxDeleted { mailbox, .. } => ops.push(IndexOp::Drop(*mailbox)),
                    Change::Resync => self.forget_indexes(Some(account)),
                    Change::MailboxCreated { .. } | Change::MailboxRenamed { .. } => {}
                }
            }
            self.apply_index(ops);
        }
    }

    /// The listener is back after a gap: whatever it missed is read again.
    fn reconnected(&self) {
        let Some(c) = &self.inner.cluster else { return };
        // The database probably dropped the node's other connections too.
        self.heal_cluster_connections();
        self.forget_indexes(None);
        for account in self.inner.notify.subscribed_accounts() {
            self.inner.notify.announce(account, Change::Resync, 0);
        }
        crate::lock(&c.heard).epoch += 1;
        c.woken.notify_all();
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    s.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(""), Some(vec![]));
    }
}
