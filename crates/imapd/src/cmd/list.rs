//! LIST and LSUB with the LIST-EXTENDED basics (RFC 3501 §6.3.8–9, RFC 5258 §3, RFC 3348
//! CHILDREN, RFC 6154 §3 SPECIAL-USE, RFC 5819 LIST-STATUS) and STATUS (RFC 3501 §6.3.10,
//! RFC 8438 SIZE, RFC 7162 §3.1.7 HIGHESTMODSEQ, RFC 9051 §6.3.11 DELETED).

use std::collections::BTreeMap;

use store::{Flags, Mailbox};

use crate::cmd::mailbox::{account, find, matches, SEPARATOR};
use crate::command::ListOpts;
use crate::response;
use crate::session::{ok, CmdError, CmdResult, Session};

pub fn list(
    s: &mut Session,
    reference: &str,
    patterns: &[String],
    lsub: bool,
    opts: &ListOpts,
) -> CmdResult {
    let account = account(s)?;
    let verb = if lsub { "LSUB" } else { "LIST" };
    if !lsub && patterns.iter().all(String::is_empty) {
        // RFC 3501 §6.3.8: empty pattern → hierarchy delimiter and root.
        s.conn.write(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        return ok("LIST completed");
    }
    if let Some(items) = &opts.return_status {
        // Reject bad STATUS items before any output (RFC 5819 §2).
        check_status_items(items)?;
    }
    let fulls: Vec<String> = patterns.iter().map(|p| format!("{reference}{p}")).collect();
    let store = s.store().clone();
    let boxes = store.mailboxes(account.id)?;
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
    let show_subscribed = opts.return_subscribed || opts.select_subscribed;
    let mut out = Vec::new();
    for (name, mb) in &all {
        if !fulls.iter().any(|f| matches(f, name)) {
            continue;
        }
        let subscribed = mb.is_some_and(|m| m.subscribed);
        if lsub && !subscribed {
            continue;
        }
        let child_prefix = format!("{name}{SEPARATOR}");
        let mut childinfo = false;
        if opts.select_subscribed && !subscribed {
            // RFC 5258 §3.5: with RECURSIVEMATCH a parent of subscribed mailboxes is listed
            // with CHILDINFO; otherwise only subscribed names match.
            let sub_child = boxes
                .iter()
                .any(|b| b.subscribed && b.name.starts_with(&child_prefix));
            if !(opts.recursive_match && sub_child) {
                continue;
            }
            childinfo = true;
        }
        // RFC 6154 §3: the SPECIAL-USE selection option lists only special-use mailboxes.
        if opts.select_special_use && !mb.is_some_and(|m| m.special_use.is_some()) {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        // RFC 3348 CHILDREN, always (RFC 5258 §3.2 RETURN (CHILDREN) asks for it).
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
        if subscribed && show_subscribed {
            // RFC 5258 §3.2 / §3.1 SUBSCRIBED.
            attrs.push("\\Subscribed");
        }
        out.extend_from_slice(format!("* {verb} ({}) \"/\" ", attrs.join(" ")).as_bytes());
        response::mailbox(&mut out, name);
        if childinfo {
            out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        out.extend_from_slice(b"\r\n");
        if let (Some(items), Some(m)) = (&opts.return_status, mb) {
            // RFC 5819 §2: STATUS right after the LIST line, only for selectable mailboxes.
            out.extend_from_slice(&status_line(s, m, items)?);
        }
    }
    s.conn.write(&out);
    ok(format!("{verb} completed"))
}

/// The STATUS items we know (RFC 3501 §6.3.10, RFC 8438 §3, RFC 7162 §3.1.7, RFC 9051).
const STATUS_ITEMS: &[&str] = &[
    "MESSAGES",
    "RECENT",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "SIZE",
    "HIGHESTMODSEQ",
    "DELETED",
];

fn check_status_items(items: &[String]) -> Result<(), CmdError> {
    match items.iter().find(|i| !STATUS_ITEMS.contains(&i.as_str())) {
        Some(bad) => Err(CmdError::Bad(format!("unknown STATUS item {bad}"))),
        None if items.is_empty() => Err(CmdError::Bad("STATUS needs at least one item".into())),
        None => Ok(()),
    }
}

/// `* STATUS name (item value ...)` for one mailbox.
fn status_line(s: &mut Session, mb: &Mailbox, items: &[String]) -> Result<Vec<u8>, CmdError> {
    let needs_scan = items.iter().any(|i| i == "RECENT" || i == "DELETED");
    let metas = if needs_scan {
        s.store().messages(mb.id)?
    } else {
        vec![]
    };
    let mut parts = Vec::new();
    for item in items {
        let v = match item.as_str() {
            "MESSAGES" => mb.exists as u64,
            "RECENT" => metas.iter().filter(|m| m.uid >= mb.recent_from).count() as u64,
            "UIDNEXT" => mb.uidnext as u64,
            "UIDVALIDITY" => mb.uidvalidity as u64,
            "UNSEEN" => mb.unseen as u64,
            // RFC 8438 §3: total RFC822.SIZE of the mailbox.
            "SIZE" => mb.size,
            "HIGHESTMODSEQ" => {
                // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command.
                s.condstore = true;
                mb.highestmodseq
            }
            // RFC 9051 §6.3.11 / RFC 9208 §4.3: messages with \Deleted.
            "DELETED" => metas.iter().filter(|m| m.flags.has(Flags::DELETED)).count() as u64,
            other => return Err(CmdError::Bad(format!("unknown STATUS item {other}"))),
        };
        parts.push(format!("{item} {v}"));
    }
    let mut out = b"* STATUS ".to_vec();
    response::mailbox(&mut out, &mb.name);
    out.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    Ok(out)
}

pub fn status(s: &mut Session, name: &str, items: &[String]) -> CmdResult {
    let account = account(s)?;
    check_status_items(items)?;
    let mb = find(s, &account, name)?;
    let out = status_line(s, &mb, items)?;
    s.conn.write(&out);
    ok("STATUS completed")
}
