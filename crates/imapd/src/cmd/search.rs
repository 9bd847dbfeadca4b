//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8); RFC 4731 ESEARCH when RETURN is given;
//! RFC 7162 §3.1.5 / §3.1.6 MODSEQ in the answer when the MODSEQ key is used.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cmd::message::selected;
use crate::command::SearchReturn;
use crate::response;
use crate::search::{Candidate, SearchKey};
use crate::session::{ok, CmdResult, Session};

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
    let (_, sel) = selected(s)?;
    let store = s.store().clone();
    let metas: HashMap<u32, store::MessageMeta> = store
        .messages(sel.mailbox.id)?
        .into_iter()
        .map(|m| (m.uid, m))
        .collect();
    let max_seq = sel.uids.len() as u32;
    let max_uid = sel.uids.last().copied().unwrap_or(0);
    let mut hits = Vec::new();
    let mut highest = 0u64;
    for (i, u) in sel.uids.iter().enumerate() {
        // Expunged by another session but not yet announced: the client still sees it, so it
        // is searched as it was (RFC 2180 §4.1.1, as FETCH serves it).
        let grave;
        let meta = match metas.get(u) {
            Some(m) => m,
            None => match sel.view.expunged(*u) {
                Some(g) => {
                    grave = g;
                    &grave
                }
                None => continue,
            },
        };
        let mut cache: Option<Option<Arc<Vec<u8>>>> = None;
        let blob = meta.blob;
        let st = &store;
        let mut raw = move || {
            cache
                .get_or_insert_with(|| st.read_blob(blob).ok().map(Arc::new))
                .clone()
        };
        let mut c = Candidate {
            seq: i as u32 + 1,
            meta,
            recent: sel.recent.contains(u),
            max_seq,
            max_uid,
            raw: &mut raw,
        };
        if key.matches(&mut c) {
            hits.push(if uid { *u } else { i as u32 + 1 });
            highest = highest.max(meta.modseq);
        }
    }
    let line = match ret {
        Some(r) => esearch(tag, uid, &hits, r, with_modseq.then_some(highest)),
        None => {
            let list: Vec<String> = hits.iter().map(u32::to_string).collect();
            let sp = if list.is_empty() { "" } else { " " };
            // RFC 7162 §3.1.5: "(MODSEQ n)" with the highest MODSEQ of the matches.
            let m = if with_modseq && !hits.is_empty() {
                format!(" (MODSEQ {highest})")
            } else {
                String::new()
            };
            format!("* SEARCH{sp}{}{m}\r\n", list.join(" "))
        }
    };
    s.conn.write(line.as_bytes());
    ok("SEARCH completed")
}

/// RFC 4731 §3.2 ESEARCH response: `* ESEARCH (TAG "t") [UID] MIN n MAX n ALL set COUNT n`.
/// `hits` is ascending. MIN, MAX and ALL are left out when nothing matched; COUNT never is.
fn esearch(tag: &str, uid: bool, hits: &[u32], r: &SearchReturn, modseq: Option<u64>) -> String {
    // RFC 4731 §3.1: RETURN () means RETURN (ALL).
    let all = r.all || !(r.min || r.max || r.count);
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
    if r.count {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    if let Some(m) = modseq.filter(|_| !hits.is_empty()) {
        // RFC 7162 §3.1.6.
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
            esearch("a1", false, &[1, 2, 3, 7], &all, None),
            "* ESEARCH (TAG \"a1\") ALL 1:3,7\r\n"
        );
        let r = SearchReturn {
            min: true,
            max: true,
            count: true,
            all: false,
        };
        assert_eq!(
            esearch("b", true, &[4, 9], &r, Some(12)),
            "* ESEARCH (TAG \"b\") UID MIN 4 MAX 9 COUNT 2 MODSEQ 12\r\n"
        );
        assert_eq!(
            esearch("c", false, &[], &r, Some(12)),
            "* ESEARCH (TAG \"c\") COUNT 0\r\n"
        );
    }
}
