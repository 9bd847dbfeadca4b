//! FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2): every data item, BODY[section]
//! with partials, \Seen set by non-PEEK body fetches; MODSEQ, CHANGEDSINCE and VANISHED
//! (RFC 7162 §3.1.4, §3.2.6); PREVIEW (RFC 8970 §3, text from `crate::preview`).

use std::collections::HashMap;
use std::io::Write as _;

use store::mime::ParsedMessage;
use store::{FlagOp, Flags, MessageMeta, ModSeq, Uid};

use crate::cmd::message::{resolve, selected};
use crate::cmd::sections::{binary_bytes, part_name, section_bytes, section_name, Undecodable};
use crate::command::{FetchAtt, SeqSet};
use crate::response::{self, format_date_time, Code};
use crate::selected::SeqNum;
use crate::session::{no, ok, CmdError, CmdResult, Session, State};
use crate::{bodystructure, preview};

pub async fn fetch(
    s: &mut Session,
    uid: bool,
    set: &SeqSet,
    items: &[FetchAtt],
    changed_since: Option<ModSeq>,
    vanished: bool,
) -> CmdResult {
    if vanished && !(uid && s.qresync) {
        // RFC 7162 §3.2.6: only UID FETCH, only after ENABLE QRESYNC.
        return Err(CmdError::Bad(
            "VANISHED needs UID FETCH and ENABLE QRESYNC".into(),
        ));
    }
    if changed_since.is_some() || items.contains(&FetchAtt::ModSeq) {
        // RFC 7162 §3.1: FETCH MODSEQ / CHANGEDSINCE are CONDSTORE enabling commands.
        s.enable_condstore();
    }
    let mut items = items.to_vec();
    let flags_asked = items.contains(&FetchAtt::Flags);
    if (changed_since.is_some() || (s.condstore && flags_asked))
        && !items.contains(&FetchAtt::ModSeq)
    {
        // RFC 7162 §3.1.4.1: CHANGEDSINCE implies the MODSEQ item; with CONDSTORE on, FLAGS
        // come with their MODSEQ so the client's cache stays exact (§3.1).
        items.push(FetchAtt::ModSeq);
    }
    let items = &items[..];
    let (condstore, qresync) = (s.condstore, s.qresync);
    let (_, sel) = selected(s)?;
    let pairs = resolve(sel, set, uid)?;
    let store = s.store().clone();
    let mbid = sel.mailbox.id;
    if let (Some(since), true) = (changed_since, vanished) {
        // RFC 7162 §3.2.6: UIDs of the set expunged after `since`, before the FETCHes.
        let max = store
            .mailbox_by_id(mbid)?
            .map_or(Uid::new(0), |m| m.uidnext.prev());
        let gone = set.intersect(&store.expunged_since(mbid, since)?, max);
        if !gone.is_empty() {
            s.conn.write(
                format!("* VANISHED (EARLIER) {}\r\n", response::ranges_set(&gone)).as_bytes(),
            );
        }
    }
    let (account, sel) = selected(s)?;
    let read_only = sel.read_only;
    // RFC 2180 §4.1.1: a message expunged elsewhere but not yet announced is still served
    // with its real data (the view keeps it).
    // Each requested (seq, uid) with its record. Many messages: one pass over the mailbox's
    // records (in memory while it is selected) merged with the UIDs, both in UID order.
    let mut rows: Vec<(SeqNum, Uid, Option<MessageMeta>)> = Vec::with_capacity(pairs.len());
    if pairs.len() > 16 {
        let records = store.messages_shared(mbid)?;
        let mut all = records.iter().peekable();
        for &(seq, u) in &pairs {
            while all.next_if(|m| m.uid < u).is_some() {}
            let meta = match all.next_if(|m| m.uid == u) {
                Some(m) => Some(m.clone()),
                None => sel.view.expunged(u),
            };
            rows.push((seq, u, meta));
        }
    } else {
        for &(seq, u) in &pairs {
            rows.push((seq, u, sel.message(u)?));
        }
    }
    let needs_raw = items.iter().any(|i| {
        matches!(
            i,
            FetchAtt::Rfc822
                | FetchAtt::Rfc822Header
                | FetchAtt::Rfc822Text
                | FetchAtt::Section { .. }
                | FetchAtt::Binary { .. }
                | FetchAtt::BinarySize { .. }
                | FetchAtt::Preview { .. }
        )
    });
    let needs_structure = needs_raw
        || items.iter().any(|i| {
            matches!(
                i,
                FetchAtt::Envelope | FetchAtt::Body | FetchAtt::BodyStructure
            )
        });
    // RFC 3501 §6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set \Seen.
    let sets_seen = !read_only
        && items.iter().any(|i| {
            matches!(
                i,
                FetchAtt::Rfc822
                    | FetchAtt::Rfc822Text
                    | FetchAtt::Section { peek: false, .. }
                    | FetchAtt::Binary { peek: false, .. }
            )
        });
    if let Some(since) = changed_since {
        // RFC 7162 §3.1.4.1: only messages whose MODSEQ is above the value.
        // A message gone without a trace stays, to be answered NO below, never silently left
        // out of an OK.
        rows.retain(|(_, _, m)| m.as_ref().is_none_or(|m| m.modseq > since));
    }
    let mut missing: Vec<Uid> = Vec::new();
    let mut undecodable: Vec<(Uid, Undecodable)> = Vec::new();
    // One transaction (one durable flush) sets \Seen on every unseen message fetched.
    let mut now_seen: HashMap<Uid, (Flags, ModSeq)> = HashMap::new();
    if sets_seen {
        let unseen: Vec<Uid> = rows
            .iter()
            .filter(|(_, _, m)| m.as_ref().is_some_and(|m| !m.flags.has(Flags::SEEN)))
            .map(|&(_, u, _)| u)
            .collect();
        if !unseen.is_empty() {
            let seen = Flags::from_names(["\\Seen"]);
            let r = store
                .store_flags(account, mbid, &unseen, FlagOp::Add, &seen, None)
                .await?;
            now_seen.extend(r.updated.into_iter().map(|u| (u.uid, (u.flags, u.modseq))));
        }
    }
    let has_flags = items.contains(&FetchAtt::Flags);
    let has_modseq = items.contains(&FetchAtt::ModSeq);
    // RFC 3501 §6.4.8: UID FETCH always includes UID; RFC 7162 §3.2.4: so does every FETCH
    // once QRESYNC is on.
    let add_uid = (uid || qresync) && !items.contains(&FetchAtt::Uid);
    let mut out = Vec::with_capacity(256);
    let mut batch = Vec::new();
    for (seq, u, meta) in rows {
        let Some(mut meta) = meta else {
            // Expunged and no longer kept (only after a lost change feed): RFC 2180 §4.1.2.
            missing.push(u);
            continue;
        };
        let mut flags_changed = false;
        if let Some((f, m)) = now_seen.remove(&u) {
            meta.flags = f;
            meta.modseq = m;
            flags_changed = true;
        }
        let raw = if needs_raw {
            Some(store.read_blob(meta.blob)?)
        } else {
            None
        };
        let parsed = if needs_structure {
            Some(store.structure(meta.blob)?)
        } else {
            None
        };
        // RFC 3516 §4.2: BINARY items decoded up front, so a part we cannot decode leaves
        // this message out and the command ends NO [UNKNOWN-CTE] (§4.3).
        let mut binaries: Vec<(Vec<u8>, bool)> = Vec::new();
        for item in items {
            if let FetchAtt::Binary { part, .. } | FetchAtt::BinarySize { part } = item {
                match parsed
                    .as_ref()
                    .map(|p| binary_bytes(raw.as_deref().unwrap_or_default(), p, part))
                {
                    Some(Ok(b)) => binaries.push(b),
                    Some(Err(why)) => {
                        undecodable.push((u, why));
                        break;
                    }
                    None => {
                        undecodable.push((u, Undecodable::Corrupt));
                        break;
                    }
                }
            }
        }
        if undecodable.last().is_some_and(|(x, _)| *x == u) {
            continue;
        }
        let mut binaries = binaries.into_iter();
        let State::Selected { sel, .. } = &mut s.state else {
            return Err(CmdError::Bad("no mailbox selected".into()));
        };
        // The ordering rule (crate::selected): a FETCH that shows this message's state
        // (FLAGS or MODSEQ) newer than what the session was told shows all of it, FLAGS
        // included, so a pending older change is never told after it.
        let fresh = meta.modseq > sel.told(u);
        let tells_state = has_flags || has_modseq || flags_changed;
        let extra_flags = !has_flags && (flags_changed || (has_modseq && fresh));
        out.clear();
        if has_flags || extra_flags {
            // RFC 3501 §7.2.6: keywords are announced before a FETCH carries them.
            sel.announce(&meta.flags, &mut out);
        }
        if tells_state {
            sel.mark_told(u, meta.modseq);
        }
        let recent = sel.recent.contains(&u);
        let _ = write!(out, "* {seq} FETCH (");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b' ');
            }
            first = false;
        };
        if add_uid {
            sep(&mut out);
            let _ = write!(out, "UID {u}");
        }
        for item in items {
            sep(&mut out);
            item_data(
                &mut out,
                item,
                &meta,
                recent,
                raw.as_deref(),
                parsed.as_ref(),
                &mut binaries,
            );
        }
        if extra_flags {
            sep(&mut out);
            out.extend_from_slice(b"FLAGS ");
            response::write_flags(&mut out, &meta.flags, recent);
        }
        if (flags_changed || extra_flags) && condstore && !has_modseq {
            // RFC 7162 §3.1: a flag change told carries its MODSEQ.
            sep(&mut out);
            let _ = write!(out, "MODSEQ ({})", meta.modseq);
        }
        out.extend_from_slice(b")\r\n");
        // Bodies are not traced (write_data); flag-only answers are batched, so a FETCH of
        // 100,000 messages is a few large writes, not 100,000 small ones.
        if s.conn.tracing() || needs_raw {
            s.conn.write_data(&out);
        } else {
            batch.extend_from_slice(&out);
            if batch.len() >= 64 * 1024 {
                s.conn.write_data(&batch);
                batch.clear();
            }
        }
        if s.conn.buffered_out() > 256 * 1024 {
            s.conn.flush().await?;
        }
    }
    if !batch.is_empty() {
        s.conn.write_data(&batch);
    }
    if undecodable
        .iter()
        .any(|(_, w)| *w == Undecodable::UnknownEncoding)
    {
        // RFC 3516 §4.3.
        return Err(no(
            Some(Code::Other("UNKNOWN-CTE".into())),
            "a requested part has a Content-Transfer-Encoding this server cannot decode",
        ));
    }
    if !undecodable.is_empty() {
        return Err(no(
            Some(Code::Other("PARSE".into())),
            "a requested part's encoded content is corrupt",
        ));
    }
    if !missing.is_empty() {
        // RFC 2180 §4.1.2: the data of an expunged message can no longer be returned.
        return Err(no(
            Some(Code::ExpungeIssued),
            "some of the requested messages were expunged",
        ));
    }
    ok("FETCH completed")
}

fn item_data(
    out: &mut Vec<u8>,
    item: &FetchAtt,
    meta: &MessageMeta,
    recent: bool,
    raw: Option<&[u8]>,
    parsed: Option<&ParsedMessage>,
    binaries: &mut std::vec::IntoIter<(Vec<u8>, bool)>,
) {
    let raw = raw.unwrap_or_default();
    let hl = parsed.map_or(0, |p| p.header_len as usize).min(raw.len());
    match item {
        FetchAtt::Flags => {
            out.extend_from_slice(b"FLAGS ");
            response::write_flags(out, &meta.flags, recent);
        }
        FetchAtt::Uid => {
            let _ = write!(out, "UID {}", meta.uid);
        }
        FetchAtt::ModSeq => {
            let _ = write!(out, "MODSEQ ({})", meta.modseq);
        }
        FetchAtt::InternalDate => out.extend_from_slice(
            format!(
                "INTERNALDATE {}",
                format_date_time(meta.internaldate, meta.tz_minutes)
            )
            .as_bytes(),
        ),
        // RFC 8514 §4.2: every mailbox here keeps save dates, so never NIL.
        FetchAtt::SaveDate => out
            .extend_from_slice(format!("SAVEDATE {}", format_date_time(meta.saved, 0)).as_bytes()),
        FetchAtt::Rfc822Size => {
            let _ = write!(out, "RFC822.SIZE {}", meta.size);
        }
        FetchAtt::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            response::literal(out, raw);
        }
        FetchAtt::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            response::literal(out, &raw[..hl]);
        }
        FetchAtt::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            response::literal(out, &raw[hl..]);
        }
        FetchAtt::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            match parsed {
                Some(p) => bodystructure::envelope(out, &p.envelope),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAtt::Body | FetchAtt::BodyStructure => {
            let ext = *item == FetchAtt::BodyStructure;
            out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
            match parsed {
                Some(p) => bodystructure::body(out, &p.root, ext),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAtt::Section {
            section, partial, ..
        } => {
            let data = parsed
                .and_then(|p| section_bytes(raw, p, section))
                .unwrap_or_default();
            out.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
            let slice = partial_slice(out, &data, *partial);
            out.push(b' ');
            response::literal(out, slice);
        }
        FetchAtt::Binary { part, partial, .. } => {
            let (data, decoded) = binaries.next().unwrap_or_default();
            out.extend_from_slice(format!("BINARY[{}]", part_name(part)).as_bytes());
            let slice = partial_slice(out, &data, *partial);
            out.push(b' ');
            // RFC 3516 §4.2: literal8 (~{n}) for content we decoded (it may hold any octet,
            // NUL included), as Dovecot does; a part sent as it is stored stays a literal.
            if (decoded && !slice.is_empty()) || slice.contains(&0) {
                out.push(b'~');
            }
            response::literal(out, slice);
        }
        FetchAtt::BinarySize { part } => {
            let n = binaries.next().map_or(0, |(b, _)| b.len());
            let _ = write!(out, "BINARY.SIZE[{}] {n}", part_name(part));
        }
        FetchAtt::Preview { .. } => {
            // RFC 8970 §3.2: PREVIEW nstring; "" when the message has no text to show.
            out.extend_from_slice(b"PREVIEW ");
            let text = parsed.map(|p| preview::preview(raw, p)).unwrap_or_default();
            response::string(out, text.as_bytes());
        }
    }
}

/// RFC 3501 §6.4.5 (and RFC 3516 §4.2) `<start.len>`: the octets asked for, with the origin
/// octet echoed after the item name (the length is not).
fn partial_slice<'a>(out: &mut Vec<u8>, data: &'a [u8], partial: Option<(u32, u32)>) -> &'a [u8] {
    let Some((start, len)) = partial else {
        return data;
    };
    out.extend_from_slice(format!("<{start}>").as_bytes());
    let a = (start as usize).min(data.len());
    let b = a.saturating_add(len as usize).min(data.len());
    &data[a..b]
}
