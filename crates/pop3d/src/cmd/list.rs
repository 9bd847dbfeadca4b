//! STAT, LIST, UIDL (RFC 1939 §5, §7): answered from the session's snapshot, so the numbering
//! and sizes stay fixed even when IMAP expunges meanwhile.

use crate::maildrop::Maildrop;
use crate::reply::{count, CmdError, Reply};

/// RFC 1939 §5 STAT: "+OK nn mm", messages marked deleted not counted.
pub fn stat(md: &Maildrop) -> Reply {
    let (n, size) = md.stat();
    Reply::Ok(format!("{n} {size}"))
}

/// RFC 1939 §5 LIST [msg].
pub fn list(md: &Maildrop, msg: Option<u32>) -> Result<Reply, CmdError> {
    match msg {
        Some(n) => Ok(Reply::Ok(format!("{n} {}", md.get(n)?.size))),
        None => {
            let (n, size) = md.stat();
            let lines = md.live().map(|(n, e)| format!("{n} {}", e.size)).collect();
            Ok(Reply::Multi(
                format!("{} ({size} octets)", count(n, "message")),
                lines,
            ))
        }
    }
}

/// RFC 1939 §7 UIDL [msg]: `<uidvalidity>.<uid>` (docs/spec.md §6: stable for the message's life).
pub fn uidl(md: &Maildrop, msg: Option<u32>) -> Result<Reply, CmdError> {
    match msg {
        Some(n) => Ok(Reply::Ok(format!("{n} {}", md.unique_id(md.get(n)?)))),
        None => {
            let lines = md
                .live()
                .map(|(n, e)| format!("{n} {}", md.unique_id(e)))
                .collect();
            Ok(Reply::Multi("unique-id listing follows".into(), lines))
        }
    }
}
