//! The writing operations of the mix besides STORE ([`super::store`]): APPEND, COPY and MOVE
//! (by number and by UID), EXPUNGE and UID EXPUNGE. `\Deleted` is only ever added by the
//! mix, so a message a session knows to be `\Deleted` must be gone after its EXPUNGE.
//!
//! Checks when a command completes:
//! - APPEND: APPENDUID has the mailbox's UIDVALIDITY and a UID above every UID reported before
//!   the APPEND was sent (UIDs are assigned in ascending order, RFC 3501 §2.3.1.1); the bytes
//!   become the expected content of that UID.
//! - COPY/MOVE: COPYUID's source UIDs were requested, both sets have the same size, the new
//!   UIDs are above every UID reported before; the new UID's content is the source's. MOVE:
//!   every moved message left the view before the tagged OK (RFC 6851 §3.3).
//! - EXPUNGE/UID EXPUNGE: no known `\Deleted` message of the set left in the view while no
//!   other expunging command ran, and none listed by a SELECT sent afterwards.

use std::sync::Arc;
use std::time::Instant;

use super::errors::{violation, Kind};
use super::model::MsgKey;
use super::ops::WORDS;
use super::parse::fmt_set;
use super::registry::Expected;
use super::response::{Code, Status};
use super::session::Session;

impl Session {
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
            self.refused(&cmd, &d);
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
