//! Applying `* n FETCH` to a session's view ([`View::fetch`]), with the checks of every FETCH
//! response: the message number is in the view; its UID is the one reported before and
//! ascending with message numbers, at or above the SELECT's UIDNEXT for a message announced
//! later, and not one reported expunged (or left by an EXPUNGE) before the SELECT; immutable
//! items equal what was reported before (through the [`Registry`]); flags were announced by
//! FLAGS; MODSEQ never goes back and never changes without the flags changing; a flag given in
//! reply to this session's own STORE changes only if some session sent a STORE that could
//! change it (see [`super::history`]).

use std::time::Instant;

use super::errors::{violation, Kind};
use super::history::ANCHOR_MAX_AGE;
use super::model::{item_key, norm_flags, show_flags, MsgKey, Pending, View};
use super::parse::Val;
use super::registry::{hollow, is_immutable, Registry};

impl View {
    pub(super) fn fetch(
        &mut self,
        seq: u32,
        items: &[(String, Val)],
        p: &mut Pending,
        reg: &Registry,
        now: Instant,
    ) {
        let i = seq as usize;
        if i == 0 || i > self.msgs.len() {
            p.bad(
                Kind::SeqOutOfRange,
                format!("* {seq} FETCH with {} messages", self.msgs.len()),
            );
            return;
        }
        let get = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        // UID (RFC 3501 §2.3.1.1): fixed per message number, ascending.
        if let Some(u) = get("UID").and_then(Val::num) {
            let u = u as u32;
            self.learn_uid(i - 1, u, p, reg);
        } else if self.condstore && get("FLAGS").is_some() {
            // RFC 7162 §3.1 asks for UID too, but Dovecot 2.3 leaves it out of the FETCH
            // responses of a STORE by message number: counted, not an error.
            p.notes.push(
                "FETCH FLAGS without UID after CONDSTORE (RFC 7162 §3.1; Dovecot 2.3 does this)",
            );
        }
        let uid = self.msgs[i - 1].uid;
        let mbox = self.mailbox.clone();
        let keys: Vec<u64> = items.iter().map(|(name, _)| item_key(name)).collect();
        p.got
            .entry(MsgKey::Seq(seq))
            .or_default()
            .extend(keys.iter().copied());
        if let Some(u) = uid {
            p.got.entry(MsgKey::Uid(u)).or_default().extend(keys);
        }
        if let Some(u) = uid {
            for (name, v) in items {
                if !is_immutable(name) {
                    continue;
                }
                if hollow(name, v) {
                    // RFC 2180 §4.1.3: data of a message expunged elsewhere may come back NIL
                    // (Dovecot also answers RFC822.SIZE 0, an empty BODYSTRUCTURE): that the
                    // message was indeed expunged is checked later.
                    p.nils.push((u, name.clone()));
                } else {
                    p.violations
                        .extend(reg.observe(&mbox, u, name, v, &p.origin));
                }
            }
        }
        let modseq = get("MODSEQ").and_then(|v| v.list()?.first()?.num());
        if let Some(m) = modseq {
            reg.note_modseq(&mbox, m);
            if let Some(u) = uid {
                p.modseq_seen.insert(u, m);
            }
        }
        let flags = get("FLAGS").map(|v| {
            let names: Vec<String> = v
                .list()
                .unwrap_or_default()
                .iter()
                .filter_map(Val::text)
                .collect();
            norm_flags(&names)
        });
        if let Some(f) = &flags {
            if self.condstore && modseq.is_none() {
                if p.implicit_seen {
                    // RFC 7162 §3.1 asks for MODSEQ after an implicit \Seen too; Dovecot 2.3
                    // leaves it out: counted, not an error.
                    p.notes.push("FETCH FLAGS without MODSEQ after an implicit \\Seen (RFC 7162 §3.1; Dovecot 2.3 does this)");
                } else {
                    p.bad(
                        Kind::CondstoreIncomplete,
                        format!("* {seq} FETCH with FLAGS but without MODSEQ after CONDSTORE was enabled"),
                    );
                }
            }
            let unknown: Vec<&String> = f.iter().filter(|x| !self.announced.contains(*x)).collect();
            if !unknown.is_empty() {
                p.bad(
                    Kind::UnannouncedFlag,
                    format!(
                        "* {seq} FETCH (UID {}) carries {unknown:?}; last FLAGS: {:?}",
                        uid.unwrap_or(0),
                        self.announced
                    ),
                );
            }
        }
        let m = &mut self.msgs[i - 1];
        let uid_s = uid.map_or_else(|| format!("message {seq}"), |u| format!("UID {u}"));
        if let (Some(new), Some(old)) = (modseq, m.modseq) {
            let origin = m.origin.as_deref().unwrap_or("?");
            if new < old {
                p.violations.push(violation(
                    Kind::ModseqBackwards,
                    format!(
                        "{uid_s}: MODSEQ {new} {} after MODSEQ {old} {} (from {origin})",
                        flags.as_ref().map(show_flags).unwrap_or_default(),
                        m.flags.as_ref().map(show_flags).unwrap_or_default()
                    ),
                ));
                return;
            }
            if new == old {
                if let (Some(f), Some(of)) = (&flags, &m.flags) {
                    if f != of {
                        p.violations.push(violation(
                            Kind::ModseqFlagsDiffer,
                            format!(
                                "{uid_s}: MODSEQ {new} with FLAGS {} but FLAGS {} with the same \
                                 MODSEQ from {origin}",
                                show_flags(f),
                                show_flags(of)
                            ),
                        ));
                    }
                }
            }
        }
        if let (Some(f), Some(u)) = (&flags, uid) {
            // Anchors: flags given in reply to this session's STOREs.
            let mut keep = Vec::new();
            for a in m.anchors.drain(..) {
                if now.saturating_duration_since(a.since) > ANCHOR_MAX_AGE {
                    continue;
                }
                if f.contains(&a.flag) == a.present {
                    keep.push(a);
                    continue;
                }
                if !reg.flag_change_explained(&mbox, u, &a.flag, !a.present, a.since, now) {
                    p.violations.push(violation(
                        Kind::FlagsRegressed,
                        format!(
                            "UID {u}: FLAGS {} {} {} although {} reported it {} and no session \
                             sent a STORE that could change it since",
                            show_flags(f),
                            if a.present { "lack" } else { "carry" },
                            a.flag,
                            a.origin,
                            if a.present { "set" } else { "clear" },
                        ),
                    ));
                }
            }
            m.anchors = keep;
            p.flags_seen.insert(u, f.clone());
        }
        if flags.is_some() || modseq.is_some() {
            if flags.is_some() {
                if modseq.is_none() && self.condstore {
                    // Flags without their MODSEQ: the old MODSEQ no longer goes with them.
                    m.modseq = None;
                }
                m.flags = flags;
            } else if modseq != m.modseq {
                // A new MODSEQ without its flags: the flags are no longer known.
                m.flags = None;
            }
            if modseq.is_some() {
                m.modseq = modseq;
            }
            m.origin = Some(p.origin.clone());
        }
    }

    pub(super) fn learn_uid(&mut self, i: usize, u: u32, p: &mut Pending, reg: &Registry) {
        let mbox = self.mailbox.clone();
        match self.msgs[i].uid {
            Some(old) if old != u => {
                p.bad(
                    Kind::UidInconsistent,
                    format!("message {} was UID {old}, now UID {u}", i + 1),
                );
                return;
            }
            Some(_) => return,
            None => {}
        }
        let lower = self.msgs[..i].iter().rev().find_map(|m| m.uid);
        let higher = self.msgs[i + 1..].iter().find_map(|m| m.uid);
        if lower.is_some_and(|l| l >= u) || higher.is_some_and(|h| h <= u) {
            p.bad(
                Kind::UidInconsistent,
                format!(
                    "message {} has UID {u} but its neighbours have UIDs {lower:?} and {higher:?}",
                    i + 1
                ),
            );
            return;
        }
        if self.msgs[i].arrived {
            if let Some(next) = self.uidnext {
                if u < next {
                    p.bad(
                        Kind::UidInconsistent,
                        format!(
                            "message {} announced after the SELECT has UID {u} < UIDNEXT {next}",
                            i + 1
                        ),
                    );
                }
            }
        } else if reg.expunged_before(&mbox, u, self.select_sent) {
            p.bad(
                Kind::UidInconsistent,
                format!("UID {u} was reported expunged before this SELECT, yet it is listed"),
            );
        } else if let Some(what) = reg.gone_before(&mbox, u, self.select_sent) {
            p.bad(
                Kind::ExpungeLeftDeleted,
                format!("UID {u} was \\Deleted when {what} before this SELECT, yet it is listed"),
            );
        }
        reg.note_uid(&mbox, u);
        self.msgs[i].uid = Some(u);
    }
}
