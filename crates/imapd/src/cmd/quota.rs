//! GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208 §4.2). One quota root, `""`, per account, with
//! the STORAGE and MESSAGE resources of the account's quota (docs/spec.md §5).

use store::{Account, Usage};

use crate::cmd::mailbox::{account, find};
use crate::response::{self, Code};
use crate::session::{no, ok, CmdResult, Session};

/// The account's one quota root (RFC 9208 §3.2: a server may use a single root).
pub const ROOT: &str = "";

/// `(STORAGE used limit MESSAGE used limit)` for the limits that are set; empty when the
/// account is unlimited.
fn resources(account: &Account, usage: Usage) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(limit) = account.quota_bytes {
        // RFC 9208 §5.1: STORAGE counts RFC822.SIZE in units of 1024 octets (rounded up).
        out.push(format!(
            "STORAGE {} {}",
            usage.bytes.div_ceil(1024),
            limit / 1024
        ));
    }
    if let Some(limit) = account.quota_messages {
        // RFC 9208 §5.2: MESSAGE counts messages.
        out.push(format!("MESSAGE {} {limit}", usage.messages));
    }
    out
}

/// Fresh quota settings (the session's copy dates from login) and usage.
fn current(s: &Session) -> Result<(Account, Usage), crate::session::CmdError> {
    let account = account(s)?;
    let store = s.store();
    let fresh = store.account_by_id(account.id)?.unwrap_or(account);
    let usage = store.usage(fresh.id)?;
    Ok((fresh, usage))
}

fn quota_line(res: &[String]) -> String {
    // RFC 9208 §4.3.1 QUOTA response.
    format!("* QUOTA \"{ROOT}\" ({})\r\n", res.join(" "))
}

pub fn getquota(s: &mut Session, root: &str) -> CmdResult {
    let (acct, usage) = current(s)?;
    let res = resources(&acct, usage);
    if root != ROOT || res.is_empty() {
        // RFC 9208 §4.2.1: a root that does not exist → NO.
        return Err(no(
            Some(Code::NonExistent),
            format!("no quota root {root:?} (use GETQUOTAROOT)"),
        ));
    }
    s.conn.write(quota_line(&res).as_bytes());
    ok("GETQUOTA completed")
}

pub fn getquotaroot(s: &mut Session, mailbox: &str) -> CmdResult {
    let account = account(s)?;
    let mb = find(s, &account, mailbox)?;
    let (acct, usage) = current(s)?;
    let res = resources(&acct, usage);
    // RFC 9208 §4.3.2 QUOTAROOT: the mailbox name, then its roots (none when unlimited).
    let mut out = b"* QUOTAROOT ".to_vec();
    response::mailbox(&mut out, &mb.name);
    if !res.is_empty() {
        out.extend_from_slice(format!(" \"{ROOT}\"\r\n").as_bytes());
        out.extend_from_slice(quota_line(&res).as_bytes());
    } else {
        out.extend_from_slice(b"\r\n");
    }
    s.conn.write(&out);
    ok("GETQUOTAROOT completed")
}

pub fn setquota(_s: &mut Session, _root: &str) -> CmdResult {
    // RFC 9208 §4.2.3: SETQUOTA may be refused; we do not advertise QUOTASET.
    Err(no(
        Some(Code::NoPerm),
        "quotas are set by the administrator (mailstack user set ADDRESS --quota BYTES)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kib_rounding() {
        let mut a = Account {
            id: store::AccountId::new(1),
            address: "a@b".into(),
            password: String::new(),
            quota_bytes: Some(10 * 1024 + 5),
            quota_messages: None,
            pop3_policy: Default::default(),
            save_sent: false,
            created: 0,
            aliases: vec![],
        };
        let u = Usage {
            bytes: 1025,
            messages: 2,
        };
        assert_eq!(resources(&a, u), vec!["STORAGE 2 10".to_string()]);
        a.quota_messages = Some(5);
        assert_eq!(resources(&a, u)[1], "MESSAGE 2 5");
        a.quota_bytes = None;
        a.quota_messages = None;
        assert!(resources(&a, u).is_empty());
    }
}
