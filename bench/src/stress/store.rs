//! STORE in the mix: +FLAGS/-FLAGS of system flags and keywords on 1–5 messages (by number or
//! UID, .SILENT a quarter of the time, UNCHANGEDSINCE for a third of the CONDSTORE sessions'
//! STOREs), FLAGS replacements of one message under UNCHANGEDSINCE its known MODSEQ, and
//! `\Deleted` marks. `\Deleted` is only ever added (replacements keep it), so a message known
//! to be `\Deleted` stays so.
//!
//! Every flag change is logged in the [`super::history`] before it is sent and marked answered
//! after, so a flag state that goes back can be told apart from one changed by another session.
//! Checks when a STORE completes: MODIFIED only names messages of the set (RFC 7162 §3.1.3); a
//! non-silent STORE's reply consistent with the change anchors the named flags (see
//! [`super::model::Anchor`]); after a silent STORE the flags of the set are unknown (no FETCH
//! tells them, and other sessions' changes may be folded in).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::errors::{violation, Kind};
use super::history::Change;
use super::model::{Anchor, MsgKey};
use super::parse::fmt_set;
use super::response::{Code, Status};
use super::session::{Flavor, Session};

/// System flags the mix sets and clears (`\Deleted` only through [`Session::mark_deleted`]).
const SYSTEM: [&str; 4] = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft"];

impl Session {
    pub(super) fn flag_name(&mut self) -> String {
        if self.rng.pick(2) == 1 {
            SYSTEM[self.rng.pick(SYSTEM.len()) - 1].to_string()
        } else {
            self.keyword()
        }
    }

    /// STORE of 1–2 flags on 1–5 messages, or (`replace`) a FLAGS replacement of one message
    /// under UNCHANGEDSINCE its known MODSEQ.
    pub async fn store(&mut self, replace: bool) -> anyhow::Result<()> {
        let seqs = self.pick_seqs();
        if seqs.is_empty() {
            return Ok(());
        }
        if replace {
            let n = seqs[0];
            let known = self.view.as_ref().and_then(|v| {
                let m = &v.msgs[n as usize - 1];
                Some((m.flags.clone()?, m.modseq?))
            });
            if let Some((mut flags, modseq)) = known {
                let f = self.flag_name();
                let lf = f.to_ascii_lowercase();
                if !flags.remove(&lf) {
                    flags.insert(lf);
                }
                // Written as the server spells them; keywords keep their case.
                let list: Vec<String> = flags.iter().map(|x| self.spelled(x)).collect();
                let change = Change::Replace(flags.iter().cloned().collect());
                return self
                    .store_run(&[n], change, &list, "", false, Some(modseq))
                    .await;
            }
        }
        let k = self.rng.pick(2);
        let names: Vec<String> = (0..k).map(|_| self.flag_name()).collect();
        let lower: Vec<String> = names.iter().map(|f| f.to_ascii_lowercase()).collect();
        let add = self.rng.pick(2) == 1;
        let change = if add {
            Change::Add(lower)
        } else {
            Change::Remove(lower)
        };
        let silent = self.rng.pick(4) == 1;
        let unchanged = if self.flavor != Flavor::Plain && self.rng.pick(3) == 1 {
            self.view.as_ref().and_then(|v| {
                seqs.iter()
                    .map(|&n| v.msgs[n as usize - 1].modseq)
                    .collect::<Option<Vec<u64>>>()
                    .and_then(|m| m.into_iter().min())
            })
        } else {
            None
        };
        let sign = if add { "+" } else { "-" };
        self.store_run(&seqs, change, &names, sign, silent, unchanged)
            .await
    }

    /// `\Deleted` on 1–5 messages (mostly silent, as clients do before EXPUNGE).
    pub async fn mark_deleted(&mut self) -> anyhow::Result<()> {
        let seqs = self.pick_seqs();
        if seqs.is_empty() {
            return Ok(());
        }
        let silent = self.rng.pick(3) != 1;
        let change = Change::Add(vec!["\\deleted".into()]);
        self.store_run(&seqs, change, &["\\Deleted".into()], "+", silent, None)
            .await
    }

    /// A lowercase flag as the run spells it (`\seen` → `\Seen`, `$label1` → `$Label1`).
    pub(super) fn spelled(&self, lower: &str) -> String {
        SYSTEM
            .iter()
            .map(|s| s.to_string())
            .chain(["\\Deleted".to_string()])
            .chain(self.env.cfg.keywords.iter().cloned())
            .find(|s| s.eq_ignore_ascii_case(lower))
            .unwrap_or_else(|| lower.to_string())
    }

    pub(super) async fn store_run(
        &mut self,
        seqs: &[u32],
        change: Change,
        names: &[String],
        sign: &str,
        silent: bool,
        unchanged: Option<u64>,
    ) -> anyhow::Result<()> {
        let (set, uid, keys) = self.address(seqs);
        let modifier = unchanged.map_or(String::new(), |m| format!("(UNCHANGEDSINCE {m}) "));
        let cmd = format!(
            "{uid}STORE {set} {modifier}{sign}FLAGS{} ({})",
            if silent { ".SILENT" } else { "" },
            names.join(" ")
        );
        let uids: Vec<Option<u32>> = keys
            .iter()
            .map(|k| match k {
                MsgKey::Uid(u) => Some(*u),
                MsgKey::Seq(_) => None,
            })
            .collect();
        let done = self.env.reg.flag_op(&self.mailbox, &uids, change.clone());
        let r = self
            .exec(&cmd, None, self.pending(&cmd, uid.is_empty()))
            .await;
        done.store(
            self.env.reg.ms_since_start(Instant::now()),
            Ordering::Relaxed,
        );
        let d = r?;
        self.count(if unchanged.is_some() {
            "STORE UNCHANGEDSINCE"
        } else {
            "STORE"
        });
        if silent {
            // No FETCH tells the new flags, and other sessions' changes may be folded into
            // them: the flags of the set are unknown until the server reports them again.
            let known_deleted = d.ok()
                && unchanged.is_none()
                && matches!(&change, Change::Add(x) if x.iter().any(|f| f == "\\deleted"));
            if let Some(view) = self.view.as_mut() {
                for (i, k) in keys.iter().enumerate() {
                    let n = match *k {
                        MsgKey::Uid(u) => view.seq_of(u),
                        MsgKey::Seq(_) if d.p.expunged.is_empty() => Some(seqs[i] as usize - 1),
                        MsgKey::Seq(_) => None,
                    };
                    if let Some(m) = n.and_then(|n| view.msgs.get_mut(n)) {
                        m.flags = None;
                        m.anchors.clear();
                        m.deleted |= known_deleted;
                    }
                }
            }
        }
        if d.status == Status::No {
            self.env
                .counters
                .race("STORE answered NO (RFC 2180 §4.2.1)");
            return Ok(());
        }
        if !d.checkable() {
            return Ok(());
        }
        let mut modified = Vec::new();
        if let Some(Code::Modified(m)) = &d.code {
            modified = m.expand(100_000).unwrap_or_default();
            let requested: Vec<u32> = if uid.is_empty() {
                seqs.to_vec()
            } else {
                uids.iter().flatten().copied().collect()
            };
            let outside: Vec<u32> = modified
                .iter()
                .copied()
                .filter(|x| !requested.contains(x))
                .collect();
            if !outside.is_empty() {
                self.report(vec![violation(
                    Kind::CondstoreInvalid,
                    format!(
                        "MODIFIED {} names messages outside the set {set}",
                        fmt_set(&outside)
                    ),
                )]);
            }
        }
        if silent {
            return Ok(());
        }
        let since = d.p.sent.unwrap_or_else(Instant::now);
        let Some(view) = self.view.as_mut() else {
            return Ok(());
        };
        for (i, k) in keys.iter().enumerate() {
            let MsgKey::Uid(u) = *k else { continue };
            let in_modified = if uid.is_empty() {
                modified.contains(&seqs[i])
            } else {
                modified.contains(&u)
            };
            let Some(f) = d.p.flags_seen.get(&u) else {
                continue;
            };
            if in_modified || d.p.expunged.contains(&u) {
                continue;
            }
            let (present, absent): (Vec<String>, Vec<String>) = match &change {
                Change::Add(x) => (x.clone(), Vec::new()),
                Change::Remove(x) => (Vec::new(), x.clone()),
                Change::Replace(x) => (x.clone(), Vec::new()),
            };
            let consistent = present.iter().all(|x| f.contains(x))
                && absent.iter().all(|x| !f.contains(x))
                && match &change {
                    Change::Replace(x) => f.len() == x.len(),
                    _ => true,
                };
            if !consistent {
                continue;
            }
            let Some(n) = view.seq_of(u) else { continue };
            let m = &mut view.msgs[n];
            for (flag, is_present) in present
                .into_iter()
                .map(|x| (x, true))
                .chain(absent.into_iter().map(|x| (x, false)))
            {
                m.anchors.retain(|a| a.flag != flag);
                m.anchors.push(Anchor {
                    flag,
                    present: is_present,
                    since,
                    origin: d.p.origin.clone(),
                });
            }
        }
        Ok(())
    }
}
