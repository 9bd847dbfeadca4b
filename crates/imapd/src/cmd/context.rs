//! CONTEXT=SEARCH (RFC 5267 §4): a `SEARCH RETURN (UPDATE …)` is kept with the selected
//! mailbox and, whenever the session applies changes from the store's feed (the same place
//! that makes EXISTS, EXPUNGE and FETCH, `events.rs`), searched again; what left or joined
//! the result is told as `* ESEARCH (TAG "t") [UID] REMOVEFROM (0 set)` / `ADDTO (0 set)`.
//! CANCELUPDATE ends it; so does leaving the mailbox. As Dovecot: a message that leaves by
//! expunge is told before the EXPUNGE, by the number the client still knows it by; the rest
//! after the other untagged responses, by the numbers they give. SORT with UPDATE is kept the
//! same way, with position 0 (CONTEXT=SORT's positions in the sort order are not built, and
//! not advertised).

use std::collections::BTreeSet;

use store::Uid;

use crate::response;
use crate::search::SearchKey;
use crate::session::{no, ok, CmdResult, Session, State};

/// One kept search.
pub struct SearchContext {
    /// The tag of the command that made it (RFC 5267 §4.2: the updates name it).
    pub tag: String,
    /// UID SEARCH: updates carry UIDs.
    pub uid: bool,
    pub key: SearchKey,
    /// The result as last told, in UID order.
    pub result: BTreeSet<Uid>,
}

/// Keeps the search `tag` made (a later one with the same tag replaces it).
pub fn keep(s: &mut Session, tag: &str, uid: bool, key: &SearchKey, result: Vec<Uid>) {
    if let State::Selected { sel, .. } = &mut s.state {
        sel.contexts.retain(|c| c.tag != tag);
        sel.contexts.push(SearchContext {
            tag: tag.to_string(),
            uid,
            key: key.clone(),
            result: result.into_iter().collect(),
        });
    }
}

/// RFC 5267 §4.3 CANCELUPDATE: every tag must name a kept search (else NO, as Dovecot).
pub fn cancel(s: &mut Session, tags: &[String]) -> CmdResult {
    let State::Selected { sel, .. } = &mut s.state else {
        return Err(crate::session::CmdError::Bad("no mailbox selected".into()));
    };
    if let Some(t) = tags
        .iter()
        .find(|t| !sel.contexts.iter().any(|c| &c.tag == *t))
    {
        return Err(no(None, format!("unknown tag {t}")));
    }
    sel.contexts.retain(|c| !tags.contains(&c.tag));
    ok("CANCELUPDATE completed")
}

/// `out` (the untagged responses of changes just applied) with the kept searches' updates
/// around it: removals by expunge before, the rest after. `before` is the session's UID list
/// before the changes.
pub fn around(s: &mut Session, before: &[Uid], out: Vec<u8>) -> Vec<u8> {
    let contexts = match &mut s.state {
        State::Selected { sel, .. } => std::mem::take(&mut sel.contexts),
        _ => return out,
    };
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let mut kept = Vec::with_capacity(contexts.len());
    for mut c in contexts {
        let Ok(hits) = crate::cmd::search::matching(s, &c.key) else {
            // The search cannot run now (a store error, logged by the store): try next time.
            kept.push(c);
            continue;
        };
        let State::Selected { sel, .. } = &s.state else {
            return out;
        };
        let now: BTreeSet<Uid> = hits.iter().map(|h| h.uid).collect();
        let gone: Vec<Uid> = c.result.difference(&now).copied().collect();
        let (expunged, left): (Vec<Uid>, Vec<Uid>) =
            gone.into_iter().partition(|u| sel.seq_of(*u).is_none());
        let old_number = |u: Uid| {
            before
                .iter()
                .position(|x| *x == u)
                .and_then(|i| u32::try_from(i + 1).ok())
        };
        let new_number = |u: Uid| sel.seq_of(u).map(u32::from);
        let added: Vec<Uid> = now.difference(&c.result).copied().collect();
        line(&mut head, &c, "REMOVEFROM", &expunged, old_number);
        line(&mut tail, &c, "REMOVEFROM", &left, new_number);
        line(&mut tail, &c, "ADDTO", &added, new_number);
        c.result = now;
        kept.push(c);
    }
    if let State::Selected { sel, .. } = &mut s.state {
        sel.contexts = kept;
    }
    head.extend_from_slice(&out);
    head.extend_from_slice(&tail);
    head
}

/// `* ESEARCH (TAG "t") [UID] WHAT (0 set)` for `uids` (RFC 5267 §4.3; position 0: the
/// result of a SEARCH has no order).
fn line(
    out: &mut Vec<u8>,
    c: &SearchContext,
    what: &str,
    uids: &[Uid],
    number: impl Fn(Uid) -> Option<u32>,
) {
    let mut numbers: Vec<u32> = if c.uid {
        uids.iter().map(|u| u.get()).collect()
    } else {
        uids.iter().filter_map(|&u| number(u)).collect()
    };
    if numbers.is_empty() {
        return;
    }
    numbers.sort_unstable();
    let uid = if c.uid { " UID" } else { "" };
    out.extend_from_slice(
        format!(
            "* ESEARCH (TAG \"{}\"){uid} {what} (0 {})\r\n",
            c.tag,
            response::sequence_set(&numbers)
        )
        .as_bytes(),
    );
}
