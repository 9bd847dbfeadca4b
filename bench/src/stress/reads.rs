//! The reading operations of the mix: FETCH of flags, headers, ENVELOPE, body parts and
//! BODYSTRUCTURE (by number and by UID), FETCH CHANGEDSINCE, SEARCH and ESEARCH, IDLE, and the
//! SEARCH of a checkpoint.
//!
//! Checks made when a command completes (the per-response checks are in [`super::model`]):
//! - FETCH answered OK: every message of the set the session knew (and was not told expunged
//!   during the command) got every requested item. A NO is allowed (RFC 2180 §4.1.2) and
//!   counted as a race.
//! - CHANGEDSINCE m: every message the session knows with a MODSEQ above m is answered
//!   (RFC 7162 §3.1.4.1).
//! - SEARCH: numbers within the view; for keys on immutable data (SUBJECT, LARGER) every result
//!   must match the bytes the checker appended. Flag keys can race with flag changes whose
//!   FETCH arrives later, so they are only compared exactly at a checkpoint.
//! - ESEARCH: COUNT, MIN and MAX agree with ALL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::errors::{violation, Kind};
use super::model::{item_key, MsgKey};
use super::ops::WORDS;
use super::parse::fmt_set;
use super::response::Resp;
use super::session::{Flavor, Session};

impl Session {
    pub(super) async fn fetch_flags(&mut self) -> anyhow::Result<()> {
        let items = if self.flavor == Flavor::Plain {
            "UID FLAGS"
        } else {
            "UID FLAGS MODSEQ"
        };
        if self.rng.pick(5) == 1 {
            // The whole mailbox: every message the session knows must be answered.
            let keys: Vec<MsgKey> = self.view.as_ref().map_or(Vec::new(), |v| {
                (1..=v.count())
                    .map(|n| {
                        v.msgs[n as usize - 1]
                            .uid
                            .map_or(MsgKey::Seq(n), MsgKey::Uid)
                    })
                    .collect()
            });
            return self
                .fetch_checked(
                    &format!("UID FETCH 1:* ({items})"),
                    items,
                    keys,
                    false,
                    "FETCH flags",
                    false,
                )
                .await;
        }
        let seqs = self.pick_seqs();
        let (set, uid, keys) = self.address(&seqs);
        self.fetch_checked(
            &format!("{uid}FETCH {set} ({items})"),
            items,
            keys,
            uid.is_empty(),
            "FETCH flags",
            false,
        )
        .await
    }

    pub(super) async fn fetch_items(
        &mut self,
        item: &str,
        label: &'static str,
    ) -> anyhow::Result<()> {
        let seqs = self.pick_seqs();
        let (set, uid, keys) = self.address(&seqs);
        let items = format!("UID {item}");
        if !item.contains(".PEEK") && item.starts_with("BODY[") {
            // A non-PEEK body fetch sets \Seen (RFC 3501 §6.4.5): a flag change like a STORE.
            let uids: Vec<Option<u32>> = keys
                .iter()
                .map(|k| match k {
                    MsgKey::Uid(u) => Some(*u),
                    MsgKey::Seq(_) => None,
                })
                .collect();
            let done = self.env.reg.flag_op(
                &self.mailbox,
                &uids,
                super::history::Change::Add(vec!["\\seen".into()]),
            );
            let r = self
                .fetch_checked(
                    &format!("{uid}FETCH {set} ({items})"),
                    &items,
                    keys,
                    uid.is_empty(),
                    label,
                    true,
                )
                .await;
            done.store(
                self.env.reg.ms_since_start(Instant::now()),
                std::sync::atomic::Ordering::Relaxed,
            );
            return r;
        }
        self.fetch_checked(
            &format!("{uid}FETCH {set} ({items})"),
            &items,
            keys,
            uid.is_empty(),
            label,
            false,
        )
        .await
    }

    /// Runs a FETCH and checks that every expected message got every item.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_checked(
        &mut self,
        cmd: &str,
        items: &str,
        keys: Vec<MsgKey>,
        by_seq: bool,
        label: &'static str,
        seen: bool,
    ) -> anyhow::Result<()> {
        let mut p = self.pending(cmd, by_seq);
        p.implicit_seen = seen;
        let d = self.exec(cmd, None, p).await?;
        self.count(label);
        if !d.ok() {
            if d.status == super::response::Status::No {
                self.env
                    .counters
                    .race("FETCH answered NO (RFC 2180 §4.1.2)");
            }
            return Ok(());
        }
        if d.lost {
            return Ok(());
        }
        let names: Vec<String> = split_items(items).iter().map(|i| answer_name(i)).collect();
        let gone: HashSet<u32> = d.p.expunged.iter().copied().collect();
        let mut missing = Vec::new();
        for k in &keys {
            if let MsgKey::Uid(u) = k {
                if gone.contains(u) {
                    continue;
                }
            }
            let got = d.p.got.get(k);
            let lack: Vec<&String> = names
                .iter()
                .filter(|n| got.is_none_or(|g| !g.contains(&item_key(n))))
                .collect();
            if !lack.is_empty() {
                missing.push(format!("{k:?} lacks {lack:?}"));
            }
        }
        if !missing.is_empty() {
            self.report(vec![violation(
                Kind::FetchMissing,
                format!("tagged OK, but {}", missing.join("; ")),
            )]);
        }
        Ok(())
    }

    /// `UID FETCH 1:* (...) (CHANGEDSINCE m)` (RFC 7162 §3.1.4.1): every message the session
    /// knows with a MODSEQ above m must be answered. (The answer may also carry unsolicited
    /// updates with a lower MODSEQ, so nothing is concluded from extra messages.)
    pub(super) async fn fetch_changed(&mut self) -> anyhow::Result<()> {
        let Some(v) = self.view.as_ref() else {
            return Ok(());
        };
        let top = v
            .msgs
            .iter()
            .filter_map(|m| m.modseq)
            .max()
            .or(v.highestmodseq)
            .unwrap_or(1);
        let since = top.saturating_sub(self.rng.pick(20) as u64);
        let keys: Vec<MsgKey> = v
            .msgs
            .iter()
            .filter(|m| m.modseq.is_some_and(|x| x > since))
            .filter_map(|m| m.uid.map(MsgKey::Uid))
            .collect();
        let items = "UID FLAGS MODSEQ";
        let cmd = format!("UID FETCH 1:* ({items}) (CHANGEDSINCE {since})");
        self.fetch_checked(&cmd, items, keys, false, "FETCH CHANGEDSINCE", false)
            .await
    }

    /// Learns the UIDs (and flags) of the messages whose UID the session does not know.
    pub async fn learn_unknown(&mut self) -> anyhow::Result<()> {
        if self.view.as_ref().is_some_and(|v| v.lost) {
            return self.select().await;
        }
        let unknown = self.view.as_ref().map_or(Vec::new(), |v| v.unknown());
        if unknown.is_empty() {
            return Ok(());
        }
        let items = if self.flavor == Flavor::Plain {
            "UID FLAGS"
        } else {
            "UID FLAGS MODSEQ"
        };
        let keys = unknown.iter().map(|&n| MsgKey::Seq(n)).collect();
        self.fetch_checked(
            &format!("FETCH {} ({items})", fmt_set(&unknown)),
            items,
            keys,
            true,
            "FETCH flags",
            false,
        )
        .await
    }

    pub(super) async fn search(&mut self) -> anyhow::Result<()> {
        let word = WORDS[self.rng.pick(WORDS.len()) - 1];
        let size = 1000 + self.rng.pick(8000);
        let (key, immutable) = match self.rng.pick(7) {
            1 => (format!("SUBJECT {word}"), true),
            2 => (format!("LARGER {size}"), true),
            3 => ("UNSEEN".to_string(), false),
            4 => ("FLAGGED".to_string(), false),
            5 => (format!("KEYWORD {}", self.keyword()), false),
            6 if self.flavor != Flavor::Plain => ("MODSEQ 1".to_string(), false),
            _ => ("DELETED".to_string(), false),
        };
        let esearch = self.rng.pick(4) == 1;
        let uid = self.rng.pick(2) == 1;
        let cmd = format!(
            "{}SEARCH {}{key}",
            if uid { "UID " } else { "" },
            if esearch {
                "RETURN (MIN MAX COUNT ALL) "
            } else {
                ""
            }
        );
        let d = self.exec_ok(&cmd, self.pending(&cmd, !uid)).await?;
        self.count("SEARCH");
        let Some(v) = self.view.as_ref().filter(|_| d.checkable()) else {
            return Ok(());
        };
        let mut bad = Vec::new();
        let nums: Vec<u32> = match &d.p.esearch {
            Some(Resp::Esearch {
                count,
                min,
                max,
                all,
                ..
            }) => {
                let all = all
                    .as_ref()
                    .and_then(|a| a.expand(1_000_000))
                    .unwrap_or_default();
                if count.unwrap_or(0) as usize != all.len()
                    || *min != all.iter().min().copied()
                    || *max != all.iter().max().copied()
                {
                    bad.push(format!(
                        "ESEARCH COUNT {count:?} MIN {min:?} MAX {max:?} but ALL has {} numbers",
                        all.len()
                    ));
                }
                all
            }
            _ => d.p.search.clone().unwrap_or_default(),
        };
        let uids: Vec<Option<u32>> = if uid {
            nums.iter().map(|&u| Some(u)).collect()
        } else {
            for &n in &nums {
                if n == 0 || n > v.count() {
                    self.report(vec![violation(
                        Kind::SeqOutOfRange,
                        format!("SEARCH result {n} with {} messages", v.count()),
                    )]);
                    return Ok(());
                }
            }
            nums.iter().map(|&n| v.msgs[n as usize - 1].uid).collect()
        };
        if immutable {
            for u in uids.into_iter().flatten() {
                let Some(e) = self.env.reg.expected(&self.mailbox, u) else {
                    continue;
                };
                let ok = if key.starts_with("SUBJECT") {
                    e.subject.to_ascii_lowercase().contains(word)
                } else {
                    e.len > size as u64
                };
                if !ok {
                    bad.push(format!(
                        "UID {u} (subject {:?}, {} bytes, from {}) does not match {key}",
                        e.subject, e.len, e.origin
                    ));
                }
            }
        }
        if !bad.is_empty() {
            self.report(vec![violation(Kind::SearchMismatch, bad.join("; "))]);
        }
        Ok(())
    }

    /// IDLE for 50–400 ms (RFC 2177), applying whatever arrives.
    pub(super) async fn idle(&mut self) -> anyhow::Result<()> {
        let Some(w) = self.wire.as_mut() else {
            return Ok(());
        };
        let tag = w.send("IDLE").await?;
        let mut p = self.pending("IDLE", false);
        let until = Instant::now() + Duration::from_millis(50 + self.rng.pick(350) as u64);
        let mut done_sent = false;
        loop {
            let Some(w) = self.wire.as_mut() else {
                anyhow::bail!("not connected")
            };
            if !done_sent {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() || !w.readable(left).await? {
                    w.send_raw(b"DONE\r\n", "DONE").await?;
                    done_sent = true;
                    continue;
                }
            }
            let r = w.read().await?;
            match r {
                Resp::Tagged {
                    tag: t,
                    status,
                    text,
                    ..
                } if t == tag => {
                    if status != super::response::Status::Ok {
                        self.report(vec![violation(Kind::UnexpectedNo, format!("IDLE: {text}"))]);
                    }
                    break;
                }
                Resp::Cont => {}
                r => {
                    if let Some(v) = self.view.as_mut() {
                        v.apply(&r, &mut p, &self.env.reg);
                    }
                    self.settle(&mut p);
                }
            }
        }
        self.count("IDLE");
        Ok(())
    }

    /// At a checkpoint, after NOOP: one UID SEARCH whose answer must equal the session's view.
    pub async fn checkpoint_search(&mut self) -> anyhow::Result<()> {
        let kw = self.keyword();
        let Some(v) = self.view.as_ref() else {
            return Ok(());
        };
        if v.msgs.iter().any(|m| m.uid.is_none() || m.flags.is_none()) {
            return Ok(());
        }
        let (key, flag, want): (String, String, bool) = match self.rng.pick(5) {
            1 => ("UNSEEN".into(), "\\seen".into(), false),
            2 => ("FLAGGED".into(), "\\flagged".into(), true),
            3 => ("DELETED".into(), "\\deleted".into(), true),
            4 => ("ANSWERED".into(), "\\answered".into(), true),
            _ => (format!("KEYWORD {kw}"), kw.to_ascii_lowercase(), true),
        };
        let expect: Vec<u32> = v
            .msgs
            .iter()
            .filter(|m| m.flags.as_ref().is_some_and(|f| f.contains(&flag) == want))
            .filter_map(|m| m.uid)
            .collect();
        let cmd = format!("UID SEARCH {key}");
        let d = self.exec_ok(&cmd, self.pending(&cmd, false)).await?;
        let lost = !d.checkable();
        let mut got = d.p.search.unwrap_or_default();
        got.sort_unstable();
        if got != expect && !lost {
            self.report(vec![violation(
                Kind::CheckpointSearch,
                format!(
                    "UID SEARCH {key} = {} but the session's view says {}",
                    fmt_set(&got),
                    fmt_set(&expect)
                ),
            )]);
        }
        Ok(())
    }
}

/// `BODY.PEEK[x]<o.l>` → the name the server answers with (`BODY[X]<o>`, RFC 3501 §7.4.2).
pub fn answer_name(item: &str) -> String {
    let s = item.to_ascii_uppercase().replacen("BODY.PEEK[", "BODY[", 1);
    match (s.find(']'), s.rfind('.')) {
        (Some(close), Some(dot)) if s[close..].starts_with("]<") && dot > close => {
            format!("{}>", &s[..dot])
        }
        _ => s,
    }
}

/// `UID BODY.PEEK[HEADER.FIELDS (A B)] FLAGS` → the items, brackets kept whole.
pub fn split_items(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{answer_name, split_items};

    #[test]
    pub(super) fn item_names() {
        assert_eq!(answer_name("BODY.PEEK[]<0.200>"), "BODY[]<0>");
        assert_eq!(
            answer_name("BODY.PEEK[header.fields (SUBJECT)]"),
            "BODY[HEADER.FIELDS (SUBJECT)]"
        );
        assert_eq!(answer_name("BODY[TEXT]"), "BODY[TEXT]");
        assert_eq!(answer_name("RFC822.SIZE"), "RFC822.SIZE");
        assert_eq!(
            split_items("UID BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] FLAGS"),
            vec!["UID", "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", "FLAGS"]
        );
    }
}
