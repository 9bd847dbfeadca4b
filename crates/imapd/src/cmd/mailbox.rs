//! SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, CLOSE,
//! UNSELECT (RFC 3501 §6.3, §6.4.2; RFC 3691; RFC 3348 CHILDREN; RFC 6154 SPECIAL-USE).

use std::collections::{BTreeMap, BTreeSet};

use store::{Account, Flags, Mailbox};

/// Hierarchy separator (SPEC.md §8).
pub const SEPARATOR: char = '/';

use crate::response::{self, Code};
use crate::session::{no, ok, CmdError, CmdResult, Selected, Session, State};

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

pub async fn select(s: &mut Session, name: &str, read_only: bool) -> CmdResult {
    let account = account(s)?;
    // RFC 3501 §6.3.1: a failed SELECT leaves the session unselected.
    s.state = State::Authenticated {
        account: account.clone(),
    };
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

pub async fn create(s: &mut Session, name: &str) -> CmdResult {
    let account = account(s)?;
    // RFC 3501 §6.3.3: a trailing separator only says "will have children".
    let name = name.strip_suffix(SEPARATOR).unwrap_or(name);
    s.store().create_mailbox(account.id, name, None).await?;
    ok("CREATE completed")
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

fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = canon(pattern).chars().collect();
    let n: Vec<char> = name.chars().collect();
    wildcard(&p, &n)
}

pub fn list(s: &mut Session, reference: &str, pattern: &str, lsub: bool) -> CmdResult {
    let account = account(s)?;
    let verb = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        // RFC 3501 §6.3.8: empty pattern → hierarchy delimiter and root.
        s.conn.write(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        return ok("LIST completed");
    }
    let full = format!("{reference}{pattern}");
    let boxes = s.store().mailboxes(account.id)?;
    // Every existing name, plus missing parents (\Noselect, RFC 3501 §6.3.8).
    let mut all: BTreeMap<String, Option<&Mailbox>> = BTreeMap::new();
    for mb in &boxes {
        let mut prefix = String::new();
        for level in mb.name.split(SEPARATOR) {
            if !prefix.is_empty() {
                prefix.push(SEPARATOR);
            }
            prefix.push_str(level);
            all.entry(prefix.clone()).or_insert(None);
        }
        all.insert(mb.name.clone(), Some(mb));
    }
    let names: Vec<String> = all.keys().cloned().collect();
    let mut out = Vec::new();
    for (name, mb) in &all {
        if !matches(&full, name) {
            continue;
        }
        if lsub && !mb.is_some_and(|m| m.subscribed) {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        let child_prefix = format!("{name}{SEPARATOR}");
        // RFC 3348 CHILDREN.
        if names.iter().any(|n| n.starts_with(&child_prefix)) {
            attrs.push("\\HasChildren");
        } else {
            attrs.push("\\HasNoChildren");
        }
        match mb {
            None => attrs.push("\\Noselect"),
            Some(m) => {
                if let Some(su) = m.special_use {
                    // RFC 6154 §2.
                    attrs.push(su.attribute());
                }
            }
        }
        out.extend_from_slice(format!("* {verb} ({}) \"/\" ", attrs.join(" ")).as_bytes());
        response::mailbox(&mut out, name);
        out.extend_from_slice(b"\r\n");
    }
    s.conn.write(&out);
    ok(format!("{verb} completed"))
}

pub fn status(s: &mut Session, name: &str, items: &[String]) -> CmdResult {
    let account = account(s)?;
    let mb = find(s, &account, name)?;
    let mut parts = Vec::new();
    for item in items {
        // RFC 3501 §6.3.10; SIZE RFC 8438; HIGHESTMODSEQ RFC 7162.
        let v = match item.as_str() {
            "MESSAGES" => mb.exists as u64,
            "RECENT" => s
                .store()
                .messages(mb.id)?
                .iter()
                .filter(|m| m.uid >= mb.recent_from)
                .count() as u64,
            "UIDNEXT" => mb.uidnext as u64,
            "UIDVALIDITY" => mb.uidvalidity as u64,
            "UNSEEN" => mb.unseen as u64,
            "SIZE" => mb.size,
            "HIGHESTMODSEQ" => mb.highestmodseq,
            other => return Err(CmdError::Bad(format!("unknown STATUS item {other}"))),
        };
        parts.push(format!("{item} {v}"));
    }
    let mut out = b"* STATUS ".to_vec();
    response::mailbox(&mut out, &mb.name);
    out.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    s.conn.write(&out);
    ok("STATUS completed")
}

/// CLOSE (RFC 3501 §6.4.2: silently expunges \Deleted unless read-only) and UNSELECT (RFC 3691).
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
