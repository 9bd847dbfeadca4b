//! The writing operations of the mix: STORE (+FLAGS/-FLAGS/FLAGS, .SILENT, UNCHANGEDSINCE),
//! \Deleted marks, APPEND, COPY and MOVE (by number and by UID), EXPUNGE and UID EXPUNGE.
//!
//! Every flag change is logged in the registry before it is sent and marked answered after,
//! so a flag state that goes back can be told apart from one changed by another session.
//! `\Deleted` is only ever added (FLAGS replacements keep it, under UNCHANGEDSINCE), so a
//! message a session knows to be `\Deleted` must be gone after its EXPUNGE.
//!
//! Checks when a command completes:
//! - STORE: MODIFIED only names messages of the set (RFC 7162 §3.1.3). A non-silent STORE's
//!   reply consistent with the change anchors the named flags (see [`super::model::Anchor`]).
//! - APPEND: APPENDUID has the mailbox's UIDVALIDITY and a UID above every UID reported before
//!   the APPEND was sent (UIDs are assigned in ascending order, RFC 3501 §2.3.1.1); the bytes
//!   become the expected content of that UID.
//! - COPY/MOVE: COPYUID's source UIDs were requested, both sets have the same size, the new
//!   UIDs are above every UID reported before; the new UID's content is the source's. MOVE:
//!   every moved message left the view before the tagged OK (RFC 6851 §3.3).
//! - EXPUNGE/UID EXPUNGE: no known `\Deleted` message of the set left in the view.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::model::{Anchor, MsgKey};
use super::ops::WORDS;
use super::parse::{fmt_set, Code, Status};
use super::session::{Flavor, Session};
use super::shared::{violation, Change, Expected, Kind};

/// System flags the mix sets and clears (`\Deleted` only through [`Session::mark_deleted`]).
const SYSTEM: [&str; 4] = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft"];

impl Session {
    fn flag_name(&mut self) -> String {
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
    fn spelled(&self, lower: &str) -> String {
        SYSTEM
            .iter()
            .map(|s| s.to_string())
            .chain(["\\Deleted".to_string()])
            .chain(self.env.cfg.keywords.iter().cloned())
            .find(|s| s.eq_ignore_ascii_case(lower))
            .unwrap_or_else(|| lower.to_string())
    }

    async fn store_run(
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

    /// A new message, unique in the run (number `n`): 1–12 KiB, a third multipart.
    pub fn new_message(&mut self) -> Vec<u8> {
        self.appended += 1;
        let n = (self.id as u64 + 1) * 1_000_000 + self.appended;
        let word = WORDS[self.rng.pick(WORDS.len()) - 1];
        let size = 1024 * self.rng.pick(12);
        let multipart = self.rng.pick(3) == 1;
        crate::corpus::message(
            n as usize,
            "stress",
            &format!("stress {word} {n}"),
            size,
            multipart,
        )
    }

    pub async fn append(&mut self) -> anyhow::Result<()> {
        let msg = self.new_message();
        let dest = if self.rng.pick(6) == 1 {
            self.env.cfg.other_mailbox(&self.mailbox, &mut self.rng)
        } else {
            self.mailbox.clone()
        };
        let mut flags = Vec::new();
        if self.rng.pick(2) == 1 {
            flags.push("\\Seen".to_string());
        }
        if self.rng.pick(5) == 1 {
            flags.push("\\Flagged".to_string());
        }
        if self.rng.pick(3) == 1 {
            flags.push(self.keyword());
        }
        let highest = self.env.reg.highest(&dest).0;
        let cmd = format!("APPEND \"{dest}\" ({}) {{{}}}", flags.join(" "), msg.len());
        let d = self
            .exec(&cmd, Some(&msg), self.pending(&cmd, false))
            .await?;
        self.count("APPEND");
        if !d.ok() {
            self.report(vec![violation(
                Kind::UnexpectedNo,
                format!("APPEND: {}", d.text),
            )]);
            return Ok(());
        }
        let Some(Code::AppendUid { validity, uids }) = d.code else {
            return Ok(());
        };
        let uid = uids.0.first().map_or(0, |r| r.0);
        let mut v = Vec::new();
        if let Some(x) = self.env.reg.uidvalidity(&dest, validity) {
            v.push(violation(Kind::AppendUid, x.detail));
        }
        if uid <= highest {
            v.push(violation(
                Kind::AppendUid,
                format!(
                    "APPENDUID {uid} but UID {highest} of {dest} was reported before the APPEND"
                ),
            ));
        }
        let e = Arc::new(Expected::of(&msg, d.p.origin.to_string()));
        v.extend(self.env.reg.expect(&dest, uid, e));
        self.report(v);
        Ok(())
    }

    pub async fn copy_move(&mut self, mv: bool) -> anyhow::Result<()> {
        let seqs = self.pick_seqs();
        if seqs.is_empty() {
            return Ok(());
        }
        let dest = if mv || self.rng.pick(2) == 1 {
            self.env.cfg.other_mailbox(&self.mailbox, &mut self.rng)
        } else {
            self.mailbox.clone()
        };
        let (set, uid, keys) = self.address(&seqs);
        let highest = self.env.reg.highest(&dest).0;
        let verb = if mv { "MOVE" } else { "COPY" };
        let cmd = format!("{uid}{verb} {set} \"{dest}\"");
        let e = mv.then(|| self.env.reg.expunger(&self.mailbox));
        let r = self.exec(&cmd, None, self.pending(&cmd, false)).await;
        if let Some(e) = &e {
            self.env.reg.expunger_done(e);
        }
        let d = r?;
        self.count(verb);
        if d.status == Status::No {
            self.env
                .counters
                .race("COPY/MOVE answered NO (RFC 2180 §4.4.1)");
            return Ok(());
        }
        let code = if mv {
            d.p.copyuid.clone().or(d.code.clone())
        } else {
            d.code.clone()
        };
        let Some(Code::CopyUid { validity, src, dst }) = code else {
            return Ok(());
        };
        let (Some(src), Some(dst)) = (src.expand(10_000), dst.expand(10_000)) else {
            return Ok(());
        };
        let mut v = Vec::new();
        if let Some(x) = self.env.reg.uidvalidity(&dest, validity) {
            v.push(violation(Kind::CopyUid, x.detail));
        }
        let requested: Option<Vec<u32>> = keys
            .iter()
            .map(|k| match k {
                MsgKey::Uid(u) => Some(*u),
                MsgKey::Seq(_) => None,
            })
            .collect();
        if let Some(req) = requested {
            let outside: Vec<u32> = src.iter().copied().filter(|s| !req.contains(s)).collect();
            if !outside.is_empty() {
                v.push(violation(
                    Kind::CopyUid,
                    format!("COPYUID source {} was not requested", fmt_set(&outside)),
                ));
            }
        }
        if src.len() != dst.len() {
            v.push(violation(
                Kind::CopyUid,
                format!("COPYUID sets of {} and {} UIDs", src.len(), dst.len()),
            ));
        }
        if let Some(&low) = dst.iter().min() {
            if low <= highest {
                v.push(violation(
                    Kind::CopyUid,
                    format!(
                        "COPYUID new UID {low} but UID {highest} of {dest} was reported before"
                    ),
                ));
            }
        }
        for (&s, &t) in src.iter().zip(&dst) {
            v.extend(self.env.reg.copied(&self.mailbox, s, &dest, t));
        }
        if mv && !d.lost {
            if let Some(view) = self.view.as_ref() {
                let left: Vec<u32> = src
                    .iter()
                    .copied()
                    .filter(|&s| view.seq_of(s).is_some())
                    .collect();
                if !left.is_empty() {
                    v.push(violation(
                        Kind::MoveNotExpunged,
                        format!("moved UIDs {} still in the view", fmt_set(&left)),
                    ));
                }
            }
        }
        self.report(v);
        Ok(())
    }

    pub async fn expunge(&mut self, by_uid: bool) -> anyhow::Result<()> {
        let Some(view) = self.view.as_ref() else {
            return Ok(());
        };
        let deleted: Vec<u32> = view
            .msgs
            .iter()
            .filter(|m| m.deleted || m.flags.as_ref().is_some_and(|f| f.contains("\\deleted")))
            .filter_map(|m| m.uid)
            .collect();
        let (cmd, watch) = if by_uid {
            let set: Vec<u32> = if deleted.is_empty() || self.rng.pick(3) == 1 {
                let seqs = self.pick_seqs();
                self.uids_of(&seqs).unwrap_or_default()
            } else {
                deleted
                    .iter()
                    .copied()
                    .filter(|_| self.rng.pick(3) != 1)
                    .collect()
            };
            if set.is_empty() {
                return Ok(());
            }
            let watch: Vec<u32> = deleted
                .iter()
                .copied()
                .filter(|u| set.contains(u))
                .collect();
            (format!("UID EXPUNGE {}", fmt_set(&set)), watch)
        } else {
            ("EXPUNGE".to_string(), deleted)
        };
        let e = self.env.reg.expunger(&self.mailbox);
        let r = self.exec_ok(&cmd, self.pending(&cmd, false)).await;
        self.env.reg.expunger_done(&e);
        let d = r?;
        self.count(if by_uid { "UID EXPUNGE" } else { "EXPUNGE" });
        if let Some(view) = self.view.as_ref().filter(|_| d.checkable()) {
            // A message removed by another session's EXPUNGE/MOVE/POP3 QUIT may be reported
            // later (RFC 3501 §6.4.3 asks only for the messages this EXPUNGE removed): only
            // when no other expunging command ran at the same time, and no session had been
            // told of the message's expunge, must every known \Deleted message be gone.
            let now = Instant::now();
            let left: Vec<u32> = watch
                .iter()
                .copied()
                .filter(|&u| view.seq_of(u).is_some())
                .filter(|&u| !self.env.reg.expunged_before(&self.mailbox, u, now))
                .collect();
            let overlap = !left.is_empty() && self.env.reg.others_expunging(&e);
            if overlap {
                self.env.counters.race(
                    "EXPUNGE left known \\Deleted messages while another expunging command ran",
                );
            }
            if !left.is_empty() && !overlap {
                self.report(vec![violation(
                    Kind::ExpungeLeftDeleted,
                    format!(
                        "UIDs {} known \\Deleted are still in the view",
                        fmt_set(&left)
                    ),
                )]);
            }
            // Whoever removed them, they are gone once this EXPUNGE is answered (the mix
            // never clears \Deleted): no SELECT sent from now on may list them.
            let what = format!("{} `{cmd}` answered OK", self.name);
            for u in left {
                self.env.reg.must_be_gone(&self.mailbox, u, now, &what);
            }
        }
        Ok(())
    }
}
