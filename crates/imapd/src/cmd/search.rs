//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8); RFC 4731 ESEARCH when RETURN is given;
//! RFC 7162 §3.1.5 / §3.1.6 MODSEQ in the answer when the MODSEQ key is used. SORT and THREAD
//! (RFC 5256), which search the same way and then order (`sort.rs`) or thread (`thread.rs`).

use std::sync::Arc;

use store::{MessageMeta, ModSeq, Uid};

use crate::cmd::message::selected;
use crate::command::SearchReturn;
use crate::response;
use crate::search::{Candidate, SearchKey};
use crate::selected::SeqNum;
use crate::session::{ok, CmdError, CmdResult, Session};
use crate::sort::{self, Fields, Key};
use crate::thread::{self, Algorithm};

/// A message the search matched.
pub struct Hit {
    pub seq: SeqNum,
    pub uid: Uid,
    pub meta: MessageMeta,
}

/// The messages of the selected mailbox that `key` matches, in mailbox order. One pass over
/// the mailbox's records (in memory while it is selected) merged with the session's UIDs,
/// both in UID order.
pub(crate) fn matching(s: &Session, key: &SearchKey) -> Result<Vec<Hit>, CmdError> {
    let (_, sel) = selected(s)?;
    let store = s.store();
    let mbid = sel.mailbox.id;
    // Shared, not copied: only the hits are cloned (a 100k-message UNSEEN copied every record).
    let records = store.messages_shared(mbid)?;
    let mut all = records.iter().peekable();
    let max_seq = sel.max_seq();
    let max_uid = sel.max_uid();
    let mut hits = Vec::new();
    for (i, u) in sel.uids.iter().enumerate() {
        while all.next_if(|m| m.uid < *u).is_some() {}
        // Expunged by another session but not yet announced: the client still sees it, so it
        // is searched as it was (RFC 2180 §4.1.1, as FETCH serves it).
        let grave;
        let meta = match all.next_if(|m| m.uid == *u) {
            Some(m) => m,
            None => match sel.view.expunged(*u) {
                Some(m) => {
                    grave = m;
                    &grave
                }
                None => continue,
            },
        };
        let m = meta;
        let mut cache: Option<Option<Arc<Vec<u8>>>> = None;
        let mut raw = || {
            cache
                .get_or_insert_with(|| store.read_blob(m.blob).ok().map(Arc::new))
                .clone()
        };
        let mut hcache: Option<Option<Arc<Vec<u8>>>> = None;
        let mut header = || {
            hcache
                .get_or_insert_with(|| store.message_header(mbid, m).ok())
                .clone()
        };
        let seq = SeqNum::from_index(i);
        let mut c = Candidate {
            seq,
            meta: m,
            recent: sel.recent.contains(u),
            max_seq,
            max_uid,
            raw: &mut raw,
            header: &mut header,
        };
        if key.matches(&mut c) {
            hits.push(Hit {
                seq,
                uid: *u,
                meta: meta.clone(),
            });
        }
    }
    Ok(hits)
}

pub fn search(
    s: &mut Session,
    tag: &str,
    uid: bool,
    key: &SearchKey,
    ret: Option<&SearchReturn>,
) -> CmdResult {
    let with_modseq = key.uses_modseq();
    if with_modseq {
        // RFC 7162 §3.1: SEARCH MODSEQ is a CONDSTORE enabling command.
        s.enable_condstore();
    }
    let saving = ret.is_some_and(|r| r.save);
    if saving {
        // RFC 5182 §2.1: a SEARCH with SAVE that fails leaves `$` empty, not the old result.
        set_saved(s, Vec::new());
    }
    let found = matching(s, key)?;
    let hits: Vec<u32> = found.iter().map(|h| number(h, uid)).collect();
    if ret.is_some_and(|r| r.update) {
        // RFC 5267 §4.2: the search is kept; its changes follow as ADDTO / REMOVEFROM.
        let uids = found.iter().map(|h| h.uid).collect();
        crate::cmd::context::keep(s, tag, uid, key, uids);
    }
    if let Some(r) = ret.filter(|r| r.save) {
        let uids: Vec<Uid> = found.iter().map(|h| h.uid).collect();
        set_saved(s, crate::searchres::to_save(r, &uids));
        if !r.returns_any() && !r.update {
            // RFC 5182 §2.1: SAVE alone returns no ESEARCH response.
            return ok("SEARCH completed, result saved");
        }
    }
    // The MODSEQ of each hit, in step with `hits`.
    let modseqs: Vec<ModSeq> = found.iter().map(|h| h.meta.modseq).collect();
    let line = match ret {
        Some(r) => esearch(tag, uid, &hits, with_modseq.then_some(&modseqs[..]), r),
        None => {
            let list: Vec<String> = hits.iter().map(u32::to_string).collect();
            let sp = if list.is_empty() { "" } else { " " };
            // RFC 7162 §3.1.5: "(MODSEQ n)" with the highest MODSEQ of the matches.
            let m = match modseqs.iter().max() {
                Some(highest) if with_modseq => format!(" (MODSEQ {highest})"),
                _ => String::new(),
            };
            format!("* SEARCH{sp}{}{m}\r\n", list.join(" "))
        }
    };
    s.conn.write(line.as_bytes());
    ok("SEARCH completed")
}

/// Sets the saved search result of the selected mailbox (RFC 5182 §2.1).
pub fn set_saved(s: &mut Session, uids: Vec<Uid>) {
    if let crate::session::State::Selected { sel, .. } = &mut s.state {
        sel.saved = uids;
    }
}

/// What a hit is called in the answer: its UID for the UID form, else its sequence number.
fn number(h: &Hit, uid: bool) -> u32 {
    if uid {
        h.uid.get()
    } else {
        h.seq.get()
    }
}

/// The sort and thread fields of each hit, read from its header (cached by the store while
/// the mailbox is open; docs/architecture.md §3.6).
fn fields(s: &Session, hits: &[Hit]) -> Result<Vec<Arc<Fields>>, CmdError> {
    let (_, sel) = selected(s)?;
    let store = s.store();
    let uids: Vec<Uid> = hits.iter().map(|h| h.uid).collect();
    // Read once per message while the mailbox is selected by anyone (`sort_cache`).
    Ok(sel.sort_fields.get_all(&uids, |i| {
        let h = &hits[i];
        let header = store
            .message_header(sel.mailbox.id, &h.meta)
            .unwrap_or_default();
        Fields::from_header(&header, h.meta.internaldate, h.meta.size)
    }))
}

/// The order of `hits` under `keys`: equal messages stay in mailbox order (RFC 5256 §3). The
/// last SORT of the mailbox is remembered (`sort_cache`), so the same SORT of an unchanged
/// result reuses its order.
fn sort_order(s: &Session, hits: &[Hit], keys: &[Key]) -> Result<Arc<Vec<usize>>, CmdError> {
    let (_, sel) = selected(s)?;
    let uids: Vec<Uid> = hits.iter().map(|h| h.uid).collect();
    if let Some(order) = sel.sort_fields.sorted(keys, &uids) {
        return Ok(order);
    }
    let fields = fields(s, hits)?;
    let mut order: Vec<usize> = (0..hits.len()).collect();
    // The index breaks ties, so the faster unstable sort gives the stable order.
    order.sort_unstable_by(|&a, &b| sort::compare(&fields[a], &fields[b], keys).then(a.cmp(&b)));
    let order = Arc::new(order);
    sel.sort_fields.remember_sort(keys, uids, order.clone());
    Ok(order)
}

/// SORT and UID SORT (RFC 5256 §3; RFC 5957 DISPLAYFROM/DISPLAYTO): `* SORT n n …`; with
/// RETURN (RFC 5267 §3 ESORT) an ESEARCH answer in sort order.
pub fn sort(
    s: &mut Session,
    tag: &str,
    uid: bool,
    keys: &[Key],
    key: &SearchKey,
    ret: Option<&SearchReturn>,
) -> CmdResult {
    if ret.is_some_and(|r| r.save) {
        set_saved(s, Vec::new());
    }
    let hits = matching(s, key)?;
    let order = sort_order(s, &hits, keys)?;
    let sorted: Vec<u32> = order.iter().map(|&i| number(&hits[i], uid)).collect();
    if ret.is_some_and(|r| r.update) {
        // RFC 5267 §4.2 for SORT, as Dovecot does it (CONTEXT=SORT is not advertised: the
        // updates carry position 0, not the place in the sort order).
        let uids = hits.iter().map(|h| h.uid).collect();
        crate::cmd::context::keep(s, tag, uid, key, uids);
    }
    if let Some(r) = ret {
        if r.save {
            // RFC 5267 §3 with RFC 5182 §2.2: MIN / MAX are the first / last in sort order.
            let uids: Vec<Uid> = order.iter().map(|&i| hits[i].uid).collect();
            set_saved(s, crate::searchres::to_save(r, &uids));
        }
        if r.save && !r.returns_any() && !r.update {
            return ok("SORT completed, result saved");
        }
        // RFC 5267 §3: MIN, MAX, ALL and PARTIAL follow the sort order.
        s.conn.write(esearch(tag, uid, &sorted, None, r).as_bytes());
        return ok("SORT completed");
    }
    let mut line = String::with_capacity(8 + sorted.len() * 7);
    line.push_str("* SORT");
    for n in sorted {
        use std::fmt::Write;
        let _ = write!(line, " {n}");
    }
    line.push_str("\r\n");
    s.conn.write(line.as_bytes());
    ok("SORT completed")
}

/// THREAD and UID THREAD (RFC 5256 §3, §4): `* THREAD (…)(…)`.
pub fn thread(s: &mut Session, uid: bool, algorithm: Algorithm, key: &SearchKey) -> CmdResult {
    let hits = matching(s, key)?;
    let fields = fields(s, &hits)?;
    let msgs: Vec<(u32, Arc<Fields>)> = hits
        .iter()
        .zip(fields)
        .map(|(h, f)| (number(h, uid), f))
        .collect();
    let threads = thread::thread(algorithm, &msgs);
    let line = format!("* THREAD {}\r\n", thread::render(&threads));
    s.conn.write(line.as_bytes());
    ok("THREAD completed")
}

/// RFC 4731 §3.2 ESEARCH response: `* ESEARCH (TAG "t") [UID] MIN n MAX n ALL set
/// PARTIAL (range set) COUNT n`, then RFC 7162 §3.1.6 `MODSEQ n` when the search used MODSEQ
/// (`modseqs`: one per hit). `hits` is in answer order: ascending for SEARCH, the sort order
/// for SORT (RFC 5267 §3: MIN and MAX are then the first and last, ALL and PARTIAL keep the
/// order). MIN, MAX, ALL and MODSEQ are left out when nothing matched; COUNT never is, and
/// PARTIAL says NIL.
fn esearch(
    tag: &str,
    uid: bool,
    hits: &[u32],
    modseqs: Option<&[ModSeq]>,
    r: &SearchReturn,
) -> String {
    // RFC 4731 §3.1: RETURN () means RETURN (ALL); RFC 5267 §4.2: UPDATE alone returns
    // nothing yet.
    let all = r.all || (!r.returns_any() && !r.update);
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    if let (Some(first), Some(last)) = (hits.first(), hits.last()) {
        if r.min {
            line.push_str(&format!(" MIN {first}"));
        }
        if r.max {
            line.push_str(&format!(" MAX {last}"));
        }
        if all {
            line.push_str(&format!(" ALL {}", response::sequence_set(hits)));
        }
    }
    if let Some((lo, hi)) = r.partial {
        // RFC 5267 §4.4: the messages at positions lo..=hi of the result.
        let from = usize::try_from(lo - 1)
            .unwrap_or(usize::MAX)
            .min(hits.len());
        let to = usize::try_from(hi).unwrap_or(usize::MAX).min(hits.len());
        let set = match &hits[from..to] {
            [] => "NIL".to_string(),
            some => response::sequence_set(some),
        };
        line.push_str(&format!(" PARTIAL ({lo}:{hi} {set})"));
    }
    if r.count {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    // RFC 7162 §3.1.6 / RFC 4731 §3.2: with ALL or COUNT the MODSEQ covers every match; with
    // only MIN and/or MAX, just the messages returned.
    let returned = |m: &[ModSeq]| -> Option<ModSeq> {
        if all || r.count {
            return m.iter().copied().max();
        }
        let min = m.first().filter(|_| r.min);
        let max = m.last().filter(|_| r.max);
        min.into_iter().chain(max).copied().max()
    };
    if let Some(m) = modseqs.and_then(returned) {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esearch_lines() {
        let all = SearchReturn::default();
        assert_eq!(
            esearch("a1", false, &[1, 2, 3, 7], None, &all),
            "* ESEARCH (TAG \"a1\") ALL 1:3,7\r\n"
        );
        let r = SearchReturn {
            min: true,
            max: true,
            count: true,
            all: false,
            save: false,
            partial: None,
            update: false,
        };
        assert_eq!(
            esearch("b", true, &[4, 9], Some(&[12, 3].map(ModSeq::new)), &r),
            "* ESEARCH (TAG \"b\") UID MIN 4 MAX 9 COUNT 2 MODSEQ 12\r\n"
        );
        assert_eq!(
            esearch("c", false, &[], Some(&[]), &r),
            "* ESEARCH (TAG \"c\") COUNT 0\r\n"
        );
    }

    /// RFC 4731 §3.2 / RFC 7162 §3.1.6: MODSEQ of the returned messages for MIN/MAX alone, of
    /// every match otherwise. The table is Dovecot 2.3's answers for four messages with
    /// MODSEQs 7, 6, 5, 5 (`SEARCH RETURN (...) MODSEQ 1`).
    #[test]
    fn esearch_modseq_per_return_option() {
        let opts = |s: &str| SearchReturn {
            min: s.contains("MIN"),
            max: s.contains("MAX"),
            all: s.contains("ALL"),
            count: s.contains("COUNT"),
            save: false,
            partial: None,
            update: false,
        };
        let hits = [1, 2, 3, 4];
        let modseqs = [7, 6, 5, 5].map(ModSeq::new);
        for (ret, want) in [
            ("MIN", "MIN 1 MODSEQ 7"),
            ("MAX", "MAX 4 MODSEQ 5"),
            ("MIN MAX", "MIN 1 MAX 4 MODSEQ 7"),
            ("COUNT", "COUNT 4 MODSEQ 7"),
            ("ALL", "ALL 1:4 MODSEQ 7"),
            ("", "ALL 1:4 MODSEQ 7"),
            ("MIN COUNT", "MIN 1 COUNT 4 MODSEQ 7"),
            ("MAX ALL", "MAX 4 ALL 1:4 MODSEQ 7"),
        ] {
            assert_eq!(
                esearch("t", false, &hits, Some(&modseqs), &opts(ret)),
                format!("* ESEARCH (TAG \"t\") {want}\r\n"),
                "RETURN ({ret})"
            );
        }
        // Messages 3:4 (MODSEQ 5, 5) and 2:3 (6, 5): MAX alone reports the last one's.
        assert_eq!(
            esearch(
                "t",
                false,
                &[2, 3],
                Some(&[6, 5].map(ModSeq::new)),
                &opts("MAX")
            ),
            "* ESEARCH (TAG \"t\") MAX 3 MODSEQ 5\r\n"
        );
        assert_eq!(
            esearch("t", false, &[], Some(&[]), &opts("MIN")),
            "* ESEARCH (TAG \"t\")\r\n"
        );
    }
}
