//! APPEND, EXPUNGE, UID EXPUNGE, STORE, COPY, MOVE (RFC 3501 §6.3.11, §6.4.3, §6.4.6–7;
//! RFC 3502 MULTIAPPEND; RFC 4469 CATENATE, its parts put together by `cmd/catenate.rs`; RFC 4315
//! UIDPLUS; RFC 6851 MOVE).

use store::{AccountId, AppendRequest, Change, FlagOp, Flags, ModSeq, Uid};

use crate::command::{AppendMsg, SeqSet, StoreOp};
use crate::response::{self, Code};
use crate::selected::SeqNum;
use crate::session::{no, ok, CmdError, CmdResult, Selected, Session, State};

/// The selected mailbox, its account id, or BAD.
pub fn selected(s: &Session) -> Result<(AccountId, &Selected), CmdError> {
    match &s.state {
        State::Selected { account, sel } => Ok((account.id, sel)),
        _ => Err(CmdError::Bad("no mailbox selected".into())),
    }
}

/// Resolves a set to (seq, uid) pairs in sequence order. Message numbers beyond EXISTS are a
/// BAD (RFC 3501 §9 seq-number); UIDs that do not exist are skipped (RFC 3501 §6.4.8).
pub fn resolve(sel: &Selected, set: &SeqSet, uid: bool) -> Result<Vec<(SeqNum, Uid)>, CmdError> {
    let n = sel.max_seq();
    if uid {
        let max = sel.max_uid();
        return Ok(sel
            .uids
            .iter()
            .enumerate()
            .filter(|(_, &u)| set.contains(u, max))
            .map(|(i, &u)| (SeqNum::from_index(i), u))
            .collect());
    }
    for &(a, b) in &set.0 {
        for x in [a, b] {
            if let crate::command::Bound::Num(v) = x {
                if SeqNum::new(v) > n {
                    return Err(CmdError::Bad(format!(
                        "invalid message sequence number {v} (mailbox has {n})"
                    )));
                }
            }
        }
        if n.get() == 0 {
            return Err(CmdError::Bad(
                "mailbox is empty; no message numbers are valid".into(),
            ));
        }
    }
    Ok(sel
        .uids
        .iter()
        .enumerate()
        .map(|(i, &u)| (SeqNum::from_index(i), u))
        .filter(|&(q, _)| set.contains(q, n))
        .collect())
}

fn uid_set(uids: &[Uid]) -> String {
    response::sequence_set(uids)
}

fn writable(sel: &Selected) -> Result<(), CmdError> {
    if sel.read_only {
        return Err(no(Some(Code::ReadOnly), "mailbox is read-only (EXAMINE)"));
    }
    Ok(())
}

pub async fn expunge(s: &mut Session, uids: Option<&SeqSet>) -> CmdResult {
    let (account, sel) = selected(s)?;
    writable(sel)?;
    let store = s.store().clone();
    let limit: Option<Vec<Uid>> = match uids {
        // RFC 4315 §2.1: UID EXPUNGE only removes the given UIDs.
        Some(set) => Some(resolve(sel, set, true)?.into_iter().map(|p| p.1).collect()),
        None => None,
    };
    let deleted: Vec<Uid> = store
        .messages_shared(sel.mailbox.id)?
        .iter()
        .filter(|m| m.flags.has(Flags::DELETED) && sel.seq_of(m.uid).is_some())
        .filter(|m| limit.as_ref().is_none_or(|l| l.contains(&m.uid)))
        .map(|m| m.uid)
        .collect();
    let mbid = sel.mailbox.id;
    // The EXPUNGE responses come from the change feed like everyone else's (the ordering
    // rule, crate::selected): the store publishes our change before it returns, and the
    // session applies it before the tagged OK.
    store.expunge(account, mbid, &deleted).await?;
    // A message of ours may have been removed (or its \Deleted cleared) by a commit that is
    // not published yet: wait for it, so the EXPUNGE responses before our OK account for
    // every \Deleted message the client knew of (RFC 3501 §6.4.3, RFC 4315 §2.1).
    store.settle().await?;
    ok("EXPUNGE completed")
}

/// APPEND of one message, or of several (RFC 3502 MULTIAPPEND): all or none.
pub async fn append(s: &mut Session, name: &str, messages: &[AppendMsg]) -> CmdResult {
    let account = crate::cmd::mailbox::account(s)?;
    let store = s.store().clone();
    // RFC 3501 §6.3.11: [TRYCREATE] when the target does not exist.
    let Some(mb) = store.mailbox(account.id, name)? else {
        return Err(no(
            Some(Code::TryCreate),
            format!("no mailbox named {name}"),
        ));
    };
    // RFC 4469 §5: a CATENATE message is put together first; a URL that cannot be resolved
    // refuses the whole command (NO [BADURL]) before anything is written.
    let assembled: Vec<AppendMsg>;
    let messages = if messages.iter().any(|m| m.catenate.is_some()) {
        assembled = messages
            .iter()
            .map(|m| {
                let Some(parts) = &m.catenate else {
                    return Ok(m.clone());
                };
                Ok(AppendMsg {
                    message: crate::cmd::catenate::assemble(s, parts)?,
                    catenate: None,
                    ..m.clone()
                })
            })
            .collect::<Result<_, CmdError>>()?;
        &assembled[..]
    } else {
        messages
    };
    // RFC 3502 §6.3.11: if any message cannot be appended, none is. What the store does not
    // check is checked before anything is written.
    for (i, m) in messages.iter().enumerate() {
        if m.message.is_empty() {
            // RFC 3501 §6.3.11 allows the command; a message must have a header (RFC 5322
            // §3.5), so it is refused as a user error, as Dovecot does.
            let which = if messages.len() > 1 {
                format!(" (message {})", i + 1)
            } else {
                String::new()
            };
            return Err(no(Some(Code::Cannot), format!("empty message{which}")));
        }
    }
    // RFC 3502 §6.3.11: all or none. The store appends the messages in one transaction, with
    // the quota checked for all of them together, and publishes them together: no other
    // session sees some of them, and nothing needs undoing when one cannot be appended.
    let reqs: Vec<AppendRequest> = messages
        .iter()
        .map(|m| AppendRequest {
            bytes: &m.message,
            flags: Flags::from_names(m.flags.iter().map(String::as_str)),
            internaldate: m.date,
        })
        .collect();
    let appended = store.append_many(account.id, mb.id, &reqs).await?;
    let Some(&(validity, _)) = appended.first() else {
        return Err(CmdError::Bad("APPEND without a message".into()));
    };
    let uids: Vec<Uid> = appended.iter().map(|&(_, uid)| uid).collect();
    // RFC 4315 §3 APPENDUID; for MULTIAPPEND a uid-set in the order of the messages.
    Ok((
        Some(Code::Other(format!(
            "APPENDUID {validity} {}",
            uid_set(&uids)
        ))),
        "APPEND completed".into(),
    ))
}

#[allow(clippy::too_many_arguments)]
pub async fn store(
    s: &mut Session,
    uid: bool,
    set: &SeqSet,
    op: StoreOp,
    silent: bool,
    flags: &[String],
    unchanged_since: Option<ModSeq>,
) -> CmdResult {
    if unchanged_since.is_some() {
        // RFC 7162 §3.1: STORE UNCHANGEDSINCE is a CONDSTORE enabling command.
        s.enable_condstore();
    }
    let condstore = s.condstore;
    let (account, sel) = selected(s)?;
    writable(sel)?;
    let pairs = resolve(sel, set, uid)?;
    let uids: Vec<Uid> = pairs.iter().map(|p| p.1).collect();
    let flags = Flags::from_names(flags.iter().map(String::as_str));
    let op = match op {
        StoreOp::Set => FlagOp::Set,
        StoreOp::Add => FlagOp::Add,
        StoreOp::Remove => FlagOp::Remove,
    };
    let mbid = sel.mailbox.id;
    let store = s.store().clone();
    let res = store
        .store_flags(account, mbid, &uids, op, &flags, unchanged_since)
        .await?;
    // Every change up to ours is published now: look at what the session has not applied.
    s.pull_changes();
    let State::Selected { sel, .. } = &mut s.state else {
        return Err(CmdError::Bad("no mailbox selected".into()));
    };
    let mut out = Vec::new();
    for up in &res.updated {
        let u = up.uid;
        let Some(seq) = sel.seq_of(u) else { continue };
        if silent {
            // .SILENT: the client computes the new flags itself (RFC 3501 §6.4.6), unless
            // another session changed this message since it was last told: then the echo
            // of our change (the newest state) is told by the change feed as usual.
            if !up.changed {
                // Nothing changed by us; whatever changed before is told by the feed.
                continue;
            }
            // RFC 3501 §7.2.6: a keyword new to the session is announced even when the
            // FETCH is not sent (the stress client's checkpoint caught it missing).
            sel.announce(&up.flags, &mut out);
            let told = sel.told(u);
            let others = s.pending.iter().any(|c| {
                matches!(c, Change::FlagsChanged { mailbox, uid, modseq, .. }
                    if *mailbox == mbid && *uid == u && *modseq > told && *modseq < up.modseq)
            });
            if others {
                continue;
            }
            if condstore && up.changed {
                // RFC 7162 §3.1.3: with CONDSTORE, .SILENT still reports the new MODSEQ.
                out.extend_from_slice(
                    format!("* {seq} FETCH (UID {u} MODSEQ ({}))\r\n", up.modseq).as_bytes(),
                );
            }
            sel.mark_told(u, up.modseq);
            continue;
        }
        // RFC 3501 §6.4.6: untagged FETCH with the new flags (UID too for UID STORE, §6.4.8;
        // RFC 7162 §3.1.3: MODSEQ with CONDSTORE); keywords announced first (§7.2.6).
        sel.announce(&up.flags, &mut out);
        let mut items = Vec::new();
        if uid || condstore {
            items.push(format!("UID {u}"));
        }
        items.push(format!(
            "FLAGS {}",
            response::flags(&up.flags, sel.recent.contains(&u))
        ));
        if condstore {
            items.push(format!("MODSEQ ({})", up.modseq));
        }
        out.extend_from_slice(format!("* {seq} FETCH ({})\r\n", items.join(" ")).as_bytes());
        sel.mark_told(u, up.modseq);
    }
    // RFC 7162 §3.1.3: UIDs for UID STORE, sequence numbers for STORE.
    let modified: Vec<u32> = if uid {
        res.modified.iter().map(|u| u.get()).collect()
    } else {
        res.modified
            .iter()
            .filter_map(|u| sel.seq_of(*u))
            .map(SeqNum::get)
            .collect()
    };
    s.conn.write(&out);
    if !modified.is_empty() {
        let mut modified = modified;
        modified.sort_unstable();
        // RFC 7162 §3.1.3: the messages that failed the UNCHANGEDSINCE test.
        return Ok((
            Some(Code::Other(format!(
                "MODIFIED {}",
                response::sequence_set(&modified)
            ))),
            "conditional STORE failed for some messages".into(),
        ));
    }
    ok("STORE completed")
}

pub async fn copy(
    s: &mut Session,
    uid: bool,
    set: &SeqSet,
    name: &str,
    is_move: bool,
) -> CmdResult {
    let (account, sel) = selected(s)?;
    if is_move {
        writable(sel)?;
    }
    let pairs = resolve(sel, set, uid)?;
    let from = sel.mailbox.id;
    let store = s.store().clone();
    let Some(dst) = store.mailbox(account, name)? else {
        // RFC 3501 §6.4.7.
        return Err(no(
            Some(Code::TryCreate),
            format!("no mailbox named {name}"),
        ));
    };
    let uids: Vec<Uid> = pairs.iter().map(|p| p.1).collect();
    let (validity, mapped) = if is_move {
        store.move_messages(account, from, &uids, dst.id).await?
    } else {
        store.copy_messages(account, from, &uids, dst.id).await?
    };
    let verb = if is_move { "MOVE" } else { "COPY" };
    if mapped.is_empty() {
        return ok(format!("{verb} completed; no messages"));
    }
    let src: Vec<Uid> = mapped.iter().map(|p| p.0).collect();
    let dstu: Vec<Uid> = mapped.iter().map(|p| p.1).collect();
    // RFC 4315 §3 COPYUID; RFC 6851 §4.3: for MOVE as an untagged OK before the EXPUNGEs.
    let code = format!("COPYUID {validity} {} {}", uid_set(&src), uid_set(&dstu));
    if is_move {
        s.conn.write(format!("* OK [{code}] moved\r\n").as_bytes());
        // RFC 6851 §3.3: EXPUNGE responses are part of MOVE (from the change feed, as for
        // EXPUNGE).
        s.sync_events(true);
        return ok("MOVE completed");
    }
    Ok((Some(Code::Other(code)), "COPY completed".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_sets() {
        let uids = [1, 2, 3, 5, 7, 8].map(store::Uid::new);
        assert_eq!(super::uid_set(&uids), "1:3,5,7:8");
        assert_eq!(super::uid_set(&[store::Uid::new(4)]), "4");
    }
}
