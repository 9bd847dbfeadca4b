//! LIST and LSUB with LIST-EXTENDED (RFC 3501 §6.3.8–9, RFC 5258 §3, RFC 3348 CHILDREN,
//! RFC 6154 §3 SPECIAL-USE, RFC 5819 LIST-STATUS; XLIST is LIST) and STATUS (RFC 3501
//! §6.3.10, RFC 8438 SIZE, RFC 7162 §3.1.7 HIGHESTMODSEQ, RFC 9051 §6.3.11 DELETED, RFC 9208
//! §4.1.4 DELETED-STORAGE, RFC 7889 §3 APPENDLIMIT).
//!
//! The names a listing looks at: every mailbox and the parents its name implies (shown
//! `\Noselect` by plain LIST), and, when subscriptions select (LSUB, `LIST (SUBSCRIBED)`),
//! every subscribed name and its parents, mailboxes or not (RFC 3501 §6.3.6: a subscription
//! outlives its mailbox).

use std::collections::{BTreeMap, BTreeSet};

use store::{Flags, Mailbox};

use crate::cmd::mailbox::{account, find, matches, SEPARATOR};
use crate::command::{ListOpts, STATUS_ITEMS};
use crate::response;
use crate::session::{ok, CmdError, CmdResult, Session};

/// What one candidate name is.
struct Name<'a> {
    /// The mailbox of that name; `None` for a parent only implied by a mailbox's name or a
    /// name that is only subscribed.
    mailbox: Option<&'a Mailbox>,
    /// A mailbox or an implied parent of one (plain LIST shows it).
    in_hierarchy: bool,
    subscribed: bool,
    /// Subscribed names below this one.
    subscribed_below: Vec<&'a str>,
    /// Mailboxes (or their implied parents) below this one (RFC 3348).
    has_children: bool,
}

pub fn list(
    s: &mut Session,
    reference: &str,
    patterns: &[String],
    lsub: bool,
    opts: &ListOpts,
) -> CmdResult {
    let account = account(s)?;
    let verb = if lsub { "LSUB" } else { "LIST" };
    if patterns.is_empty() {
        // Only patterns that are not modified UTF-7 were given: they match no name.
        return ok(format!("{verb} completed"));
    }
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
    let matched = |name: &str| fulls.iter().any(|f| matches(f, name));
    let store = s.store().clone();
    let boxes = store.mailboxes(account.id)?;
    let by_subscription = lsub || opts.select_subscribed;
    let subs: BTreeSet<String> = if by_subscription || opts.return_subscribed {
        store.subscriptions(account.id)?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    // Every mailbox name, plus missing parents (\Noselect, RFC 3501 §6.3.8).
    let mut hierarchy: BTreeMap<String, Option<&Mailbox>> = BTreeMap::new();
    for mb in &boxes {
        for parent in parents(&mb.name) {
            hierarchy.entry(parent.to_string()).or_insert(None);
        }
        hierarchy.insert(mb.name.clone(), Some(mb));
    }
    let mut names: BTreeSet<&str> = hierarchy.keys().map(String::as_str).collect();
    if by_subscription {
        for sub in &subs {
            names.extend(parents(sub));
            names.insert(sub);
        }
    }
    let mut out = Vec::new();
    for name in names {
        if !matched(name) {
            continue;
        }
        let prefix = format!("{name}{SEPARATOR}");
        let n = Name {
            mailbox: hierarchy.get(name).copied().flatten(),
            in_hierarchy: hierarchy.contains_key(name),
            subscribed: subs.contains(name),
            subscribed_below: subs
                .range(prefix.clone()..)
                .take_while(|n| n.starts_with(&prefix))
                .map(String::as_str)
                .collect(),
            has_children: hierarchy
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&prefix)),
        };
        // A subscribed name below that no pattern matches (what `%` hides).
        let hidden_below = || n.subscribed_below.iter().any(|d| !matched(d));
        let mut attrs: Vec<&str> = Vec::new();
        // RFC 3348 CHILDREN, always (RFC 5258 §3.2 RETURN (CHILDREN) asks for it).
        attrs.push(if n.has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        let mut childinfo = false;
        if lsub {
            // RFC 3501 §6.3.9: subscribed names, existing or not; a name that is not
            // subscribed but hides subscribed names below it from "%" is listed \Noselect.
            if !n.subscribed {
                if !hidden_below() {
                    continue;
                }
                attrs.push("\\Noselect");
            }
        } else if opts.select_subscribed {
            // RFC 5258 §3.1 SUBSCRIBED: exactly the subscribed names, a name that is no
            // mailbox marked \NonExistent. RFC 5258 §3.5 RECURSIVEMATCH: also a name with
            // subscribed names below, with CHILDINFO; one that is no mailbox only when some of
            // them does not match the pattern (RFC 5258 §3 on \NonExistent).
            let recursive = opts.recursive_match && !n.subscribed_below.is_empty();
            childinfo = recursive;
            if !n.subscribed && !(recursive && (n.mailbox.is_some() || hidden_below())) {
                continue;
            }
            if n.mailbox.is_none() {
                attrs.push("\\NonExistent");
            }
        } else {
            // Plain LIST: mailboxes and the parents their names imply.
            if !n.in_hierarchy {
                continue;
            }
            if n.mailbox.is_none() {
                attrs.push("\\Noselect");
            }
        }
        // RFC 6154 §3: the SPECIAL-USE selection option lists only special-use mailboxes.
        let special_use = n.mailbox.and_then(|m| m.special_use);
        if opts.select_special_use && special_use.is_none() {
            continue;
        }
        if let Some(su) = special_use {
            // RFC 6154 §2.
            attrs.push(su.attribute());
        }
        if n.subscribed && (opts.return_subscribed || opts.select_subscribed) {
            // RFC 5258 §3.2 / §3.1 SUBSCRIBED.
            attrs.push("\\Subscribed");
        }
        out.extend_from_slice(format!("* {verb} ({}) \"/\" ", attrs.join(" ")).as_bytes());
        response::mailbox(&mut out, name);
        if childinfo {
            // RFC 5258 §3.5.
            out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        out.extend_from_slice(b"\r\n");
        if let (Some(items), Some(m)) = (&opts.return_status, n.mailbox) {
            // RFC 5819 §2: STATUS right after the LIST line, only for selectable mailboxes.
            out.extend_from_slice(&status_line(s, m, items)?);
        }
    }
    s.conn.write(&out);
    ok(format!("{verb} completed"))
}

/// The names of the parents of `name`: "a/b/c" → "a", "a/b".
fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(SEPARATOR).map(move |(i, _)| &name[..i])
}

fn check_status_items(items: &[String]) -> Result<(), CmdError> {
    match items.iter().find(|i| !STATUS_ITEMS.contains(&i.as_str())) {
        Some(bad) => Err(CmdError::Bad(format!("unknown STATUS item {bad}"))),
        None if items.is_empty() => Err(CmdError::Bad("STATUS needs at least one item".into())),
        None => Ok(()),
    }
}

/// `* STATUS name (item value ...)` for one mailbox.
fn status_line(s: &mut Session, mb: &Mailbox, items: &[String]) -> Result<Vec<u8>, CmdError> {
    let needs_scan = items
        .iter()
        .any(|i| matches!(i.as_str(), "RECENT" | "DELETED" | "DELETED-STORAGE"));
    let metas = if needs_scan {
        s.store().messages(mb.id)?
    } else {
        vec![]
    };
    let mut parts = Vec::new();
    for item in items {
        let v = match item.as_str() {
            "MESSAGES" => u64::from(mb.exists),
            "RECENT" => metas.iter().filter(|m| m.uid >= mb.recent_from).count() as u64,
            "UIDNEXT" => u64::from(mb.uidnext.get()),
            "UIDVALIDITY" => u64::from(mb.uidvalidity.get()),
            "UNSEEN" => u64::from(mb.unseen),
            // RFC 8438 §3: total RFC822.SIZE of the mailbox.
            "SIZE" => mb.size,
            "HIGHESTMODSEQ" => {
                // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command.
                s.condstore = true;
                mb.highestmodseq.get()
            }
            // RFC 9051 §6.3.11 / RFC 9208 §4.1.4: messages with \Deleted.
            "DELETED" => metas.iter().filter(|m| m.flags.has(Flags::DELETED)).count() as u64,
            // RFC 9208 §4.1.4: what EXPUNGE would free, in the STORAGE resource's units of
            // 1024 octets (RFC 9208 §5.1), rounded up.
            "DELETED-STORAGE" => metas
                .iter()
                .filter(|m| m.flags.has(Flags::DELETED))
                .map(|m| m.size)
                .sum::<u64>()
                .div_ceil(1024),
            // RFC 7889 §3: one limit for every mailbox, the one advertised.
            "APPENDLIMIT" => s.ctx.max_literal,
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
