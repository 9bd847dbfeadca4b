//! SELECT and EXAMINE with CONDSTORE / QRESYNC (RFC 3501 §6.3.1–2, RFC 7162 §3.1.8, §3.2.5,
//! §3.2.11), CLOSE and UNSELECT (RFC 3501 §6.4.2, RFC 3691).

use std::collections::BTreeSet;

use store::Flags;

use crate::cmd::mailbox::{account, find};
use crate::command::SelectParams;
use crate::response::{self, Code};
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
    // RFC 3501 §6.3.1: a failed SELECT leaves the session unselected.
    s.state = State::Authenticated {
        account: account.clone(),
    };
    if params.condstore || params.qresync.is_some() {
        // RFC 7162 §3.1.8: SELECT (CONDSTORE) is a CONDSTORE enabling command.
        s.condstore = true;
    }
    let mb = find(s, &account, name)?;
    let store = s.store().clone();
    // Drop events that predate our snapshot.
    if let Some(rx) = s.rx.as_mut() {
        *rx = rx.resubscribe();
    }
    let metas = store.messages(mb.id)?;
    let recent_from = if read_only {
        mb.uidnext
    } else {
        store.claim_recent(mb.id)?
    };
    let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    let recent: BTreeSet<u32> = uids.iter().copied().filter(|&u| u >= recent_from).collect();
    let mut out = String::new();
    // RFC 3501 §6.3.1 required untagged responses.
    let mut keywords: BTreeSet<&str> = BTreeSet::new();
    for m in &metas {
        keywords.extend(m.flags.keywords.iter().map(String::as_str));
    }
    let kw: String = keywords.iter().map(|k| format!(" {k}")).collect();
    out.push_str(&format!(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})\r\n"
    ));
    out.push_str(&format!(
        "* {} EXISTS\r\n* {} RECENT\r\n",
        uids.len(),
        recent.len()
    ));
    if let Some(pos) = metas.iter().position(|m| !m.flags.has(Flags::SEEN)) {
        out.push_str(&format!(
            "* OK [UNSEEN {}] first unseen message\r\n",
            pos + 1
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
    if read_only {
        out.push_str("* OK [PERMANENTFLAGS ()] read-only mailbox\r\n");
    } else {
        out.push_str(&format!(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] flags permitted\r\n"
        ));
    }
    if let Some(q) = params
        .qresync
        .as_ref()
        .filter(|q| q.uidvalidity == mb.uidvalidity)
    {
        // RFC 7162 §3.2.5.1: with a matching UIDVALIDITY, report what changed since the
        // client's MODSEQ: expunged UIDs as VANISHED (EARLIER), then FETCH for every message
        // whose MODSEQ is higher, both limited to the known UIDs when given. We remember every
        // expunge with its MODSEQ, so the seq-match data (§3.2.5.2) is not needed.
        let max_uid = mb.uidnext.saturating_sub(1);
        let known = |u: u32| q.known_uids.as_ref().is_none_or(|k| k.contains(u, max_uid));
        let mut gone: Vec<u32> = store
            .expunged_since(mb.id, q.modseq)?
            .into_iter()
            .filter(|&u| known(u))
            .collect();
        gone.sort_unstable();
        if !gone.is_empty() {
            out.push_str(&format!(
                "* VANISHED (EARLIER) {}\r\n",
                response::sequence_set(&gone)
            ));
        }
        for (i, m) in metas.iter().enumerate() {
            if m.modseq > q.modseq && known(m.uid) {
                out.push_str(&format!(
                    "* {} FETCH (UID {} FLAGS {} MODSEQ ({}))\r\n",
                    i + 1,
                    m.uid,
                    response::flags(&m.flags, recent.contains(&m.uid)),
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
        sel: Selected {
            mailbox: mb,
            read_only,
            uids,
            recent,
            pending_expunge: vec![],
        },
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
        let deleted: Vec<u32> = store
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
