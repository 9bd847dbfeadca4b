//! CREATE (with RFC 6154 §3 USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 §6.3.3–7)
//! and the name helpers LIST uses (RFC 3501 §6.3.8 wildcards, INBOX spelling).

use store::{Account, Mailbox, SpecialUse};

/// Hierarchy separator (docs/spec.md §8).
pub const SEPARATOR: char = '/';

use crate::response::Code;
use crate::session::{no, ok, CmdError, CmdResult, Session, State};

/// The account of an authenticated or selected session.
pub fn account(s: &Session) -> Result<Account, CmdError> {
    match &s.state {
        State::Authenticated { account } | State::Selected { account, .. } => Ok(account.clone()),
        _ => Err(CmdError::Bad("not authenticated".into())),
    }
}

pub fn find(s: &Session, account: &Account, name: &str) -> Result<Mailbox, CmdError> {
    s.store()
        .mailbox(account.id, name)?
        .ok_or_else(|| no(Some(Code::NonExistent), format!("no mailbox named {name}")))
}

pub async fn create(s: &mut Session, name: &str, use_attrs: &[String]) -> CmdResult {
    let account = account(s)?;
    // RFC 3501 §6.3.3: a trailing separator only says "will have children".
    let name = name.strip_suffix(SEPARATOR).unwrap_or(name);
    // RFC 6154 §3: CREATE (USE (attr)); one attribute per mailbox in our store.
    let mut special_use = None;
    for a in use_attrs {
        let Some(su) = special_use_of(a) else {
            return Err(no(
                Some(Code::UseAttr),
                format!("unsupported special-use attribute {a}"),
            ));
        };
        if special_use.is_some_and(|x| x != su) {
            return Err(no(
                Some(Code::UseAttr),
                "only one special-use attribute per mailbox",
            ));
        }
        special_use = Some(su);
    }
    s.store()
        .create_mailbox(account.id, name, special_use)
        .await?;
    ok("CREATE completed")
}

/// RFC 6154 §2 attribute name → [`SpecialUse`].
fn special_use_of(attr: &str) -> Option<SpecialUse> {
    [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ]
    .into_iter()
    .find(|su| su.attribute().eq_ignore_ascii_case(attr))
}

pub async fn delete(s: &mut Session, name: &str) -> CmdResult {
    let account = account(s)?;
    if let State::Selected { sel, .. } = &s.state {
        if canon(name) == sel.mailbox.name {
            // Deleting the selected mailbox: leave it first.
            s.state = State::Authenticated {
                account: account.clone(),
            };
        }
    }
    s.store().delete_mailbox(account.id, name).await?;
    ok("DELETE completed")
}

pub async fn rename(s: &mut Session, from: &str, to: &str) -> CmdResult {
    let account = account(s)?;
    s.store().rename_mailbox(account.id, from, to).await?;
    ok("RENAME completed")
}

pub async fn subscribe(s: &mut Session, name: &str, on: bool) -> CmdResult {
    let account = account(s)?;
    // RFC 3501 §6.3.6: a subscription is to a name, which need not (or no longer) exist.
    s.store().set_subscribed(account.id, name, on).await?;
    ok(if on {
        "SUBSCRIBE completed"
    } else {
        "UNSUBSCRIBE completed"
    })
}

/// RFC 3501 §6.3.8 wildcard match: `*` anything, `%` anything but the separator.
pub fn wildcard(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some(('%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != SEPARATOR)
            .any(|i| wildcard(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

/// INBOX is case-insensitive (RFC 3501 §5.1): the canonical spelling of a name.
pub fn canon(n: &str) -> String {
    let (first, rest) = n
        .split_once(SEPARATOR)
        .map_or((n, None), |(a, b)| (a, Some(b)));
    if first.eq_ignore_ascii_case("INBOX") {
        rest.map_or("INBOX".to_string(), |r| format!("INBOX{SEPARATOR}{r}"))
    } else {
        n.to_string()
    }
}

pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = canon(pattern).chars().collect();
    let n: Vec<char> = name.chars().collect();
    wildcard(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, n, want) in [
            ("*", "a/b/c", true),
            ("%", "a/b", false),
            ("%", "a", true),
            ("a/%", "a/b", true),
            ("a/%", "a/b/c", false),
            ("a/*", "a/b/c", true),
            ("inbox", "INBOX", true),
            ("Inbox/%", "INBOX/x", true),
            ("S%t", "Sent", true),
            ("x", "y", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }
}
