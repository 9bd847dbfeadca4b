//! The history of what sessions sent that may change the mailbox under other sessions' feet:
//! flag changes (STORE, a FETCH setting \Seen, a POP3 RETR) and expunging commands (EXPUNGE,
//! UID EXPUNGE, MOVE, a POP3 session), each with when it was sent and when it was answered.
//! A check that sees a flag go back, or a message outlive an EXPUNGE, first asks whether one of
//! these could explain it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::registry::Registry;

/// A flag change some session sent: which flags it may add or remove, when it was sent and
/// when it was answered (`done`, in ms since the run started; 0 = still in flight).
#[derive(Debug, Clone)]
pub struct FlagOp {
    pub change: Change,
    pub sent: Instant,
    pub done: Arc<AtomicU64>,
}

/// A STORE's flag change (flags lowercase).
#[derive(Debug, Clone)]
pub enum Change {
    Add(Vec<String>),
    Remove(Vec<String>),
    Replace(Vec<String>),
}

impl Change {
    /// Whether this change can make `flag` present (`to_present`) or absent.
    fn can(&self, flag: &str, to_present: bool) -> bool {
        match (self, to_present) {
            (Change::Add(f), true) | (Change::Remove(f), false) => f.iter().any(|x| x == flag),
            (Change::Replace(f), p) => f.iter().any(|x| x == flag) == p,
            _ => false,
        }
    }
}

/// A registered expunging command (see [`Registry::expunger`]).
pub struct Expunger {
    id: u64,
    mbox: String,
    sent: Instant,
    done: Arc<AtomicU64>,
}

/// How long flag changes are remembered after their answer (anchors are younger).
pub const FLAG_OP_MEMORY: Duration = Duration::from_secs(20);
/// How long an anchor holds (a reply older than this no longer constrains later answers),
/// shorter than [`FLAG_OP_MEMORY`] so every change that could explain a contradiction is
/// still remembered.
pub const ANCHOR_MAX_AGE: Duration = Duration::from_secs(10);
/// How long an answered expunging command is remembered ([`Registry::others_expunging`] only
/// asks about commands overlapping one that was just answered).
const EXPUNGER_MEMORY: Duration = Duration::from_secs(10);
/// Lists are pruned when their length reaches a power of two from this on (amortised).
const PRUNE_AT: usize = 64;

impl Registry {
    /// Registers a command that may expunge messages of `mbox`, before it is sent.
    pub fn expunger(&self, mbox: &str) -> Expunger {
        let e = Expunger {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            mbox: mbox.to_string(),
            sent: Instant::now(),
            done: Arc::new(AtomicU64::new(0)),
        };
        let forget =
            self.ms_since_start(Instant::now()) as i64 - EXPUNGER_MEMORY.as_millis() as i64;
        self.with(mbox, |bf| {
            if bf.expungers.len() >= PRUNE_AT && bf.expungers.len().is_power_of_two() {
                bf.expungers.retain(|(_, _, d)| {
                    let d = d.load(Ordering::Relaxed);
                    d == 0 || d as i64 > forget
                });
            }
            bf.expungers.push((e.id, e.sent, e.done.clone()));
        });
        e
    }

    /// The expunging command was answered.
    pub fn expunger_done(&self, e: &Expunger) {
        e.done
            .store(self.ms_since_start(Instant::now()), Ordering::Relaxed);
    }

    /// Whether another expunging command overlapped `e` (sent before `e` was answered and
    /// answered after `e` was sent): it may have removed a message without `e`'s session
    /// being told yet.
    pub fn others_expunging(&self, e: &Expunger) -> bool {
        let sent_ms = self.ms_since_start(e.sent);
        let done_ms = e.done.load(Ordering::Relaxed);
        self.with(&e.mbox, |bf| {
            bf.expungers.iter().any(|(id, sent, d)| {
                let d = d.load(Ordering::Relaxed);
                *id != e.id
                    && (done_ms == 0 || self.ms_since_start(*sent) <= done_ms)
                    && (d == 0 || d >= sent_ms)
            })
        })
    }

    /// Logs a flag change before it is sent; the returned cell is set when it is answered.
    pub fn flag_op(&self, mbox: &str, uids: &[Option<u32>], change: Change) -> Arc<AtomicU64> {
        let done = Arc::new(AtomicU64::new(0));
        let op = Arc::new(FlagOp {
            change,
            sent: Instant::now(),
            done: done.clone(),
        });
        let forget = self.ms_since_start(Instant::now()) as i64 - FLAG_OP_MEMORY.as_millis() as i64;
        self.with(mbox, |bf| {
            for u in uids {
                let v = bf.flag_ops.entry(*u).or_default();
                if v.len() >= PRUNE_AT && v.len().is_power_of_two() {
                    v.retain(|o| {
                        let d = o.done.load(Ordering::Relaxed);
                        d == 0 || d as i64 > forget
                    });
                }
                v.push(op.clone());
            }
        });
        done
    }

    /// Whether some session sent a change that can move `flag` of `uid` to `to_present`, sent
    /// before `until` and not answered before `since` (so it may have taken effect between).
    pub fn flag_change_explained(
        &self,
        mbox: &str,
        uid: u32,
        flag: &str,
        to_present: bool,
        since: Instant,
        until: Instant,
    ) -> bool {
        let since_ms = self.ms_since_start(since);
        self.with(mbox, |bf| {
            [Some(uid), None].iter().any(|k| {
                bf.flag_ops.get(k).is_some_and(|ops| {
                    ops.iter().any(|o| {
                        let d = o.done.load(Ordering::Relaxed);
                        o.sent < until
                            && (d == 0 || d >= since_ms)
                            && o.change.can(flag, to_present)
                    })
                })
            })
        })
    }
}
