//! DELE, RSET, NOOP (RFC 1939 §5) and QUIT in the TRANSACTION state (RFC 1939 §6, the UPDATE
//! state): deletions are only marks until QUIT commits them in one durable transaction.

use crate::maildrop::Maildrop;
use crate::reply::{count, CmdError, Reply, RespCode};

/// RFC 1939 §5 DELE: marks the message; it stays until QUIT.
pub fn dele(md: &mut Maildrop, n: u32) -> Result<Reply, CmdError> {
    md.get_mut(n)?.deleted = true;
    Ok(Reply::Ok(format!("message {n} deleted")))
}

/// RFC 1939 §5 RSET: unmarks every message. The retrieval marks of `pop3_policy = delete` are
/// cleared too: RSET is the client's "undo everything".
pub fn rset(md: &mut Maildrop) -> Reply {
    for e in &mut md.messages {
        e.deleted = false;
        e.retrieved = false;
    }
    let (n, size) = md.stat();
    Reply::Ok(format!(
        "maildrop has {} ({size} octets)",
        count(n, "message")
    ))
}

/// RFC 1939 §5 NOOP.
pub fn noop() -> Reply {
    Reply::Ok(String::new())
}

/// RFC 1939 §6: removes all marked messages (and, with `pop3_policy = delete`, the retrieved
/// ones) in one durable store transaction, then answers. The store publishes the expunge, so
/// IMAP sessions of the account see it.
pub async fn quit(store: &store::Store, md: Maildrop) -> Result<Reply, CmdError> {
    let uids = md.to_expunge();
    let removed = if uids.is_empty() {
        0
    } else {
        match store.expunge(md.account.id, md.mailbox, &uids).await {
            Ok(r) => r.len(),
            Err(e) => {
                tracing::error!("POP3 QUIT commit failed: {e}");
                // RFC 1939 §6: "-ERR some deleted messages not removed"; RFC 3206 §4 code.
                return Err(CmdError::code(
                    RespCode::SysTemp,
                    "some deleted messages not removed",
                ));
            }
        }
    };
    // `md` (and with it the maildrop lock) is dropped here, after the commit.
    let left = md.messages.len().saturating_sub(uids.len());
    Ok(Reply::Ok(format!(
        "mailstack POP3 server signing off ({} deleted, {left} left)",
        count(removed, "message")
    )))
}
