//! The operation mix: the weights, how the mailbox is kept between its low and high marks,
//! one step of a session's loop, and choosing the messages a command addresses (by number or
//! by UID). The operations are in [`super::reads`] (FETCH, SEARCH, IDLE), [`super::store`]
//! (STORE) and [`super::writes`] (APPEND, COPY/MOVE, EXPUNGE).

use super::errors::{violation, Kind};
use super::model::MsgKey;
use super::parse::fmt_set;
use super::session::{Flavor, Session};

/// One operation of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    FetchFlags,
    FetchHeaders,
    FetchBody,
    FetchStructure,
    FetchChanged,
    Store,
    StoreReplace,
    MarkDeleted,
    Search,
    Append,
    Copy,
    Move,
    Expunge,
    UidExpunge,
    Idle,
    Noop,
    Check,
    Reselect,
    Relogin,
}

/// Base weights of the mix (per 100 operations, roughly).
const MIX: [(Op, u32); 19] = [
    (Op::FetchFlags, 12),
    (Op::FetchHeaders, 10),
    (Op::FetchBody, 8),
    (Op::FetchStructure, 5),
    (Op::FetchChanged, 3),
    (Op::Store, 16),
    (Op::StoreReplace, 3),
    (Op::MarkDeleted, 5),
    (Op::Search, 8),
    (Op::Append, 7),
    (Op::Copy, 4),
    (Op::Move, 4),
    (Op::Expunge, 3),
    (Op::UidExpunge, 3),
    (Op::Idle, 3),
    (Op::Noop, 3),
    (Op::Check, 1),
    (Op::Reselect, 1),
    (Op::Relogin, 1),
];

/// Words in the subjects of appended messages (SEARCH SUBJECT).
pub const WORDS: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];

impl Session {
    /// Picks the next operation: the base mix, steered to keep the mailbox between the low
    /// and high marks, without what the session's extensions do not allow.
    pub fn pick(&mut self) -> Op {
        let count = self.view.as_ref().map_or(0, |v| v.count());
        let (low, high) = (self.env.cfg.low, self.env.cfg.high);
        let weights: Vec<(Op, u32)> = MIX
            .iter()
            .map(|&(op, w)| {
                let w = match op {
                    Op::FetchChanged | Op::StoreReplace if self.flavor == Flavor::Plain => 0,
                    Op::Append | Op::Copy if count > high => 0,
                    Op::Append if count < low => w * 4,
                    Op::Copy if count < low => w * 2,
                    Op::MarkDeleted | Op::Move | Op::Expunge | Op::UidExpunge if count < low => 0,
                    Op::MarkDeleted | Op::Expunge | Op::UidExpunge | Op::Move if count > high => {
                        w * 3
                    }
                    _ if count == 0
                        && !matches!(op, Op::Append | Op::Idle | Op::Noop | Op::Relogin) =>
                    {
                        0
                    }
                    _ => w,
                };
                (op, w)
            })
            .collect();
        let total: u32 = weights.iter().map(|x| x.1).sum();
        let mut r = (self.rng.next() % total.max(1) as u64) as u32;
        for (op, w) in weights {
            if r < w {
                return op;
            }
            r -= w;
        }
        Op::Noop
    }

    /// One step of the loop: learn unknown UIDs first when the session needs them (QRESYNC
    /// sessions always: VANISHED names UIDs), else one operation of the mix.
    pub async fn step(&mut self) -> anyhow::Result<()> {
        if self.view.as_ref().is_some_and(|v| v.lost) {
            return self.select().await;
        }
        let unknown = self.view.as_ref().map_or(0, |v| v.unknown().len());
        if unknown > 0 && (self.flavor == Flavor::Qresync || self.rng.pick(3) == 1) {
            return self.learn_unknown().await;
        }
        match self.pick() {
            Op::FetchFlags => self.fetch_flags().await,
            Op::FetchHeaders => {
                let items = [
                    "ENVELOPE",
                    "BODY.PEEK[HEADER]",
                    "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM MESSAGE-ID)]",
                    "RFC822.SIZE INTERNALDATE",
                ];
                let i = self.rng.pick(items.len()) - 1;
                self.fetch_items(items[i], "FETCH headers").await
            }
            Op::FetchBody => {
                let items = [
                    "BODY.PEEK[]",
                    "BODY.PEEK[TEXT]",
                    "BODY.PEEK[1]",
                    "BODY.PEEK[]<0.200>",
                    "BODY[TEXT]",
                ];
                let i = self.rng.pick(items.len()) - 1;
                self.fetch_items(items[i], "FETCH body").await
            }
            Op::FetchStructure => {
                let item = if self.rng.pick(3) == 1 {
                    "BODY"
                } else {
                    "BODYSTRUCTURE"
                };
                self.fetch_items(item, "FETCH BODYSTRUCTURE").await
            }
            Op::FetchChanged => self.fetch_changed().await,
            Op::Store => self.store(false).await,
            Op::StoreReplace => self.store(true).await,
            Op::MarkDeleted => self.mark_deleted().await,
            Op::Search => self.search().await,
            Op::Append => self.append().await,
            Op::Copy => self.copy_move(false).await,
            Op::Move => self.copy_move(true).await,
            Op::Expunge => self.expunge(false).await,
            Op::UidExpunge => self.expunge(true).await,
            Op::Idle => self.idle().await,
            Op::Noop => self.simple("NOOP").await,
            Op::Check => self.simple("CHECK").await,
            Op::Reselect => {
                self.select().await?;
                Ok(())
            }
            Op::Relogin => {
                let d = self
                    .exec("LOGOUT", None, self.pending("LOGOUT", false))
                    .await?;
                if !d.p.bye {
                    self.report(vec![violation(
                        Kind::Protocol,
                        "LOGOUT without * BYE (RFC 3501 §6.1.3)",
                    )]);
                }
                self.count("LOGOUT");
                self.wire = None;
                self.view = None;
                self.connect().await
            }
        }
    }

    async fn simple(&mut self, cmd: &'static str) -> anyhow::Result<()> {
        self.exec_ok(cmd, self.pending(cmd, false)).await?;
        self.count(cmd);
        Ok(())
    }

    /// 1–5 message numbers: a run or scattered ones.
    pub fn pick_seqs(&mut self) -> Vec<u32> {
        let count = self.view.as_ref().map_or(0, |v| v.count());
        if count == 0 {
            return Vec::new();
        }
        let n = self.rng.pick(5.min(count as usize)) as u32;
        if self.rng.pick(2) == 1 {
            let start = self.rng.pick((count - n + 1) as usize) as u32;
            (start..start + n).collect()
        } else {
            let mut v: Vec<u32> = (0..n)
                .map(|_| self.rng.pick(count as usize) as u32)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        }
    }

    /// The UIDs of `seqs` when the session knows all of them.
    pub fn uids_of(&self, seqs: &[u32]) -> Option<Vec<u32>> {
        let v = self.view.as_ref()?;
        seqs.iter()
            .map(|&n| v.msgs.get(n as usize - 1)?.uid)
            .collect()
    }

    /// The set to address: `(set text, "UID " or "", expected messages)`; by UID half the
    /// time when every UID is known.
    pub fn address(&mut self, seqs: &[u32]) -> (String, &'static str, Vec<MsgKey>) {
        match self.uids_of(seqs) {
            Some(uids) if self.rng.pick(2) == 1 => (
                fmt_set(&uids),
                "UID ",
                uids.into_iter().map(MsgKey::Uid).collect(),
            ),
            _ => {
                let keys = seqs
                    .iter()
                    .map(
                        |&n| match self.view.as_ref().and_then(|v| v.msgs[n as usize - 1].uid) {
                            Some(u) => MsgKey::Uid(u),
                            None => MsgKey::Seq(n),
                        },
                    )
                    .collect();
                (fmt_set(seqs), "", keys)
            }
        }
    }

    /// A keyword of the run's vocabulary, among those already introduced.
    pub fn keyword(&mut self) -> String {
        let k = self.env.keywords_now();
        self.env.cfg.keywords[self.rng.pick(k) - 1].clone()
    }
}
