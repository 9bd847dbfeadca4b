//! SELECT and EXAMINE with CONDSTORE / QRESYNC (RFC 3501 §6.3.1–2, RFC 7162 §3.1.8, §3.2.5,
//! §3.2.11), CLOSE and UNSELECT (RFC 3501 §6.4.2, RFC 3691).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use store::{Flags, ModSeq, Uid};

use crate::cmd::mailbox::{account, find};
use crate::command::SelectParams;
use crate::response::{self, Code};
use crate::selected::SeqNum;
use crate::session::{ok, CmdError, CmdResult, Selected, Session, State};

pub async fn select(
    s: &mut Session,
    name: &str,
    read_only: bool,
    params: &SelectParams,
) -> CmdResult {
    let account = account(s)?;
    // RFC 7162 §3.2.5: the QRESYNC parameter is only valid after ENABLE QRESYNC.
    if params.qresync.is_some() && !s.qresync {
        return Err(CmdError::Bad(
            "QRESYNC parameter needs ENABLE QRESYNC first".into(),
        ));
    }
    if matches!(s.state, State::Selected { .. }) {
        // RFC 7162 §3.2.11: a server that supports QRESYNC marks the implicit close; responses
        // before this belong to the mailbox being closed (clients ignore codes they do not know).
        s.conn.write(b"* OK [CLOSED] previous mailbox closed\r\n");
    }
    // RFC 3501 §6.3.1: a failed SELECT leaves the session unselected. The previous selection
    // goes only when this function returns: its view keeps the mailbox's index alive, so
    // selecting the same mailbox again (clients do, often) does not rebuild the index from
    // the backend (docs/architecture.md §3.6).
    let _previous = std::mem::replace(
        &mut s.state,
        State::Authenticated {
            account: account.clone(),
        },
    );
    if params.condstore || params.qresync.is_some() {
        // RFC 7162 §3.1.8: SELECT (CONDSTORE) is a CONDSTORE enabling command; its
        // HIGHESTMODSEQ is in the SELECT answer itself.
        s.condstore = true;
    }
    let found = find(s, &account, name)?;
    let store = s.store().clone();
    // The view first (expunges from now on stay readable for us, RFC 2180 §4.1.1), then a
    // fresh channel (changes before it are in the snapshot), then the snapshot: the mailbox
    // record and its messages as of one commit (`Store::snapshot`), so every change at or
    // below its HIGHESTMODSEQ is in the message list and every later one comes by channel.
    let view = store.open_view(account.id, found.id)?;
    if let Some(rx) = s.rx.as_mut() {
        *rx = rx.resubscribe();
    }
    s.pending.clear();
    s.lagged = false;
    let (mb, metas) = store
        .snapshot(account.id, found.id)?
        .ok_or_else(|| CmdError::No(Some(Code::NonExistent), "no such mailbox".into()))?;
    // RFC 3501 §6.3.2: EXAMINE reports the same RECENT count but claims nothing.
    let recent_from = if read_only {
        mb.recent_from
    } else {
        store.claim_recent(mb.id)?
    };
    let uids: Vec<Uid> = metas.iter().map(|m| m.uid).collect();
    let recent: BTreeSet<Uid> = uids.iter().copied().filter(|&u| u >= recent_from).collect();
    let mut keywords: BTreeSet<String> = BTreeSet::new();
    for m in &metas {
        for k in &m.flags.keywords {
            if !keywords.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                keywords.insert(k.clone());
            }
        }
    }
    let sort_fields = s.ctx.sort_cache.attach(mb.id);
    let mut sel = Selected {
        mailbox: mb,
        read_only,
        announced: uids.len(),
        uids,
        recent,
        view,
        cursor: ModSeq::ZERO,
        ahead: HashMap::new(),
        keywords,
        pending_expunge: BTreeMap::new(),
        // RFC 5182 §2.1: a new selection starts with an empty saved result.
        saved: Vec::new(),
        contexts: Vec::new(),
        sort_fields,
    };
    sel.cursor = sel.mailbox.highestmodseq;
    sel.view.advance(sel.cursor);
    let mb = &sel.mailbox;
    let mut out = String::new();
    // RFC 3501 §6.3.1 required untagged responses: FLAGS (and PERMANENTFLAGS below).
    let flags_lines = sel.flags_lines();
    let (flags_line, permanent) = flags_lines.split_at(flags_lines.find("* OK").unwrap_or(0));
    out.push_str(flags_line);
    out.push_str(&format!(
        "* {} EXISTS\r\n* {} RECENT\r\n",
        sel.uids.len(),
        sel.recent.len()
    ));
    if let Some(pos) = metas.iter().position(|m| !m.flags.has(Flags::SEEN)) {
        out.push_str(&format!(
            "* OK [UNSEEN {}] first unseen message\r\n",
            SeqNum::from_index(pos)
        ));
    }
    out.push_str(&format!(
        "* OK [UIDVALIDITY {}] UIDs valid\r\n",
        mb.uidvalidity
    ));
    out.push_str(&format!(
        "* OK [UIDNEXT {}] predicted next UID\r\n",
        mb.uidnext
    ));
    // RFC 7162 §3.1.2.1: every mailbox keeps MODSEQs, so HIGHESTMODSEQ is always sent and
    // NOMODSEQ (§3.1.2.2) never is.
    out.push_str(&format!(
        "* OK [HIGHESTMODSEQ {}] modseq\r\n",
        mb.highestmodseq
    ));
    out.push_str(permanent);
    if let Some(q) = params
        .qresync
        .as_ref()
        .filter(|q| q.uidvalidity == mb.uidvalidity)
    {
        // RFC 7162 §3.2.5.1: with a matching UIDVALIDITY, report what changed since the
        // client's MODSEQ: expunged UIDs as VANISHED (EARLIER), then FETCH for every message
        // whose MODSEQ is higher, both limited to the known UIDs when given. We remember every
        // expunge with its MODSEQ, so the seq-match data (§3.2.5.2) is not needed.
        let max_uid = mb.uidnext.prev();
        let known = |u: Uid| q.known_uids.as_ref().is_none_or(|k| k.contains(u, max_uid));
        let vanished = store.expunged_since(mb.id, q.modseq)?;
        let gone = match &q.known_uids {
            Some(k) => k.intersect(&vanished, max_uid),
            None => vanished,
        };
        if !gone.is_empty() {
            out.push_str(&format!(
                "* VANISHED (EARLIER) {}\r\n",
                response::ranges_set(&gone)
            ));
        }
        for (i, m) in metas.iter().enumerate() {
            if m.modseq > q.modseq && known(m.uid) {
                out.push_str(&format!(
                    "* {} FETCH (UID {} FLAGS {} MODSEQ ({}))\r\n",
                    SeqNum::from_index(i),
                    m.uid,
                    response::flags(&m.flags, sel.recent.contains(&m.uid)),
                    m.modseq
                ));
            }
        }
    }
    s.conn.write(out.as_bytes());
    let code = if read_only {
        Code::ReadOnly
    } else {
        Code::ReadWrite
    };
    let verb = if read_only { "EXAMINE" } else { "SELECT" };
    s.state = State::Selected {
        account,
        sel: Box::new(sel),
    };
    Ok((Some(code), format!("{verb} completed")))
}

/// CLOSE (RFC 3501 §6.4.2: silently expunges \Deleted unless read-only; RFC 7162 §3.2.8: no
/// VANISHED either) and UNSELECT (RFC 3691).
pub async fn close(s: &mut Session, expunge: bool) -> CmdResult {
    let State::Selected { account, sel } = &s.state else {
        return Err(CmdError::Bad("no mailbox selected".into()));
    };
    let account = account.clone();
    if expunge && !sel.read_only {
        let store = s.store().clone();
        let deleted: Vec<Uid> = store
            .messages(sel.mailbox.id)?
            .into_iter()
            .filter(|m| m.flags.has(Flags::DELETED) && sel.uids.binary_search(&m.uid).is_ok())
            .map(|m| m.uid)
            .collect();
        store.expunge(account.id, sel.mailbox.id, &deleted).await?;
    }
    s.state = State::Authenticated { account };
    ok(if expunge {
        "CLOSE completed"
    } else {
        "UNSELECT completed"
    })
}
