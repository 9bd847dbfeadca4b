//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8); RFC 4731 ESEARCH when RETURN is given.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cmd::message::selected;
use crate::search::{Candidate, SearchKey};
use crate::session::{ok, CmdResult, Session};

pub fn search(s: &mut Session, uid: bool, key: &SearchKey, esearch: bool) -> CmdResult {
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
    for (i, u) in sel.uids.iter().enumerate() {
        // Expunged by another session but not yet announced: cannot match (RFC 3501 §7.4.1).
        let Some(meta) = metas.get(u) else { continue };
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
        }
    }
    let list: Vec<String> = hits.iter().map(u32::to_string).collect();
    if esearch {
        // RFC 4731 §3.1: RETURN () = ALL.
        let tag_uid = if uid { " UID" } else { "" };
        let all = if hits.is_empty() {
            String::new()
        } else {
            format!(" ALL {}", list.join(","))
        };
        s.conn
            .write(format!("* ESEARCH{tag_uid}{all}\r\n").as_bytes());
    } else {
        let sp = if list.is_empty() { "" } else { " " };
        s.conn
            .write(format!("* SEARCH{sp}{}\r\n", list.join(" ")).as_bytes());
    }
    ok("SEARCH completed")
}
