//! Backup and cleanup (docs/spec.md §7.8): export a mailbox or a whole account as mbox
//! (mboxrd) or Maildir / Maildir++, import what export writes, and purge messages by age and
//! size. The REST routes (`routes`) and the CLI (`mailstack mailbox export|import|purge`,
//! offline over the store, live through these routes) share this code, so both write the same
//! bytes.
//!
//! # Layout
//! - this file: the store's side of export and import (what it reads, what it adds and
//!   skips) and the line-ending conversion every format shares.
//! - `purge`: which messages a purge removes (age, size), and removing them.
//! - `mbox`: mboxrd files: From_ lines, quoting, `Status`/`X-Status`/`X-Keywords`.
//! - `maildir`: Maildir file names and info flags, `dovecot-keywords`, folder and file names
//!   of mailboxes (Maildir++ and the mbox tree).
//! - `tar`: the archive of a multi-file export (ustar with pax path records).
//! - `routes`: `GET …/export`, `POST …/import`, `POST …/purge`.
//!
//! # Invariants
//! - Files hold LF line ends (as Dovecot, mutt and Python write mbox and Maildir); the store
//!   holds the message as received, CRLF. Export turns CRLF into LF, import turns a bare LF
//!   into CRLF: a message whose lines all end in CRLF (everything SMTP accepts) comes back
//!   byte for byte.
//! - `Status`, `X-Status` and `X-Keywords` are mailbox metadata: import reads the flags from
//!   them and never stores them; mbox export writes them from the flags.
//! - Import identity: the stored bytes. A message is skipped when the target mailbox already
//!   holds a message with the same bytes (BLAKE2b digest, only read for messages of the same
//!   size), counted as a multiset, so a second import of the same file adds nothing and two
//!   identical copies in one file are both imported once. Imports in one process run one at
//!   a time, so two concurrent imports of one file cannot both add it.
//! - Purge expunges through `Store::expunge`, like IMAP EXPUNGE: sessions are told, quota
//!   usage drops, POP3 sessions answer -ERR for what went (docs/spec.md §5.7).

pub mod maildir;
pub mod mbox;
mod purge;
pub(crate) mod routes;
pub mod tar;

pub use purge::{parse_age, parse_larger_than, parse_size, purge, Criteria, Removed, SizeError};

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Deserialize;
use store::{Account, AppendRequest, Flags, Mailbox, Store};

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Input that is not what export writes (not an mbox, a bad folder name).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// mboxrd: one file per mailbox.
    Mbox,
    /// Maildir: one file per message; a whole account as Maildir++.
    Maildir,
}

/// One message on its way into or out of a file: the bytes as the store keeps them (CRLF,
/// without the metadata headers) and what the file says about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub bytes: Vec<u8>,
    pub flags: Flags,
    /// INTERNALDATE, unix seconds; `None` when the file does not say (import: now).
    pub internaldate: Option<i64>,
    /// RFC 3501 §2.3.2 \Recent (mbox: no `O` in `Status`). Import ignores it: every imported
    /// message is new to its mailbox.
    pub recent: bool,
}

/// Where a multi-file export goes: a folder on disk, or an archive. Paths are relative,
/// `/`-separated, and never contain `..` (they come from [`maildir`]'s name encoding).
pub trait Sink {
    /// A folder (so empty mailboxes are kept too).
    fn folder(&mut self, path: &str) -> Result<()>;
    /// A file whose content `fill` writes; `mtime` is unix seconds.
    fn file(
        &mut self,
        path: &str,
        mtime: i64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
    ) -> Result<()>;
}

/// What an export wrote: messages per mailbox, and the keywords Maildir could not keep
/// (Dovecot's `dovecot-keywords` names at most 26 per folder).
#[derive(Debug, Default)]
pub struct Exported {
    pub mailboxes: Vec<(String, usize)>,
    pub dropped_keywords: usize,
}

/// The messages `metas` of `mb`, read one at a time; a message expunged meanwhile is left
/// out (its bytes are gone or about to go).
fn each_item(
    store: &Store,
    mb: &Mailbox,
    metas: &[store::MessageMeta],
    mut each: impl FnMut(&store::MessageMeta, Item) -> Result<()>,
) -> Result<usize> {
    let mut n = 0;
    for m in metas.iter() {
        let bytes = store.read_blob(m.blob)?;
        if bytes.len() as u64 != m.size {
            continue;
        }
        let item = Item {
            bytes,
            flags: m.flags.clone(),
            internaldate: Some(m.internaldate),
            recent: m.uid >= mb.recent_from,
        };
        each(m, item)?;
        n += 1;
    }
    Ok(n)
}

/// One mailbox as an mbox file (RFC 4155 `application/mbox`, mboxrd); the message count.
pub fn write_mbox(store: &Store, mb: &Mailbox, out: &mut dyn Write) -> Result<usize> {
    let metas = store.messages_shared(mb.id)?;
    each_item(store, mb, &metas, |_, item| Ok(mbox::write(out, &item)?))
}

/// A multi-file export into `sink`: `mailbox` alone (Maildir: at the root; mbox: one file),
/// or every mailbox of `account` (Maildir++: INBOX at the root, `.Sent`, `.Archive.2024`;
/// mbox: one file per mailbox, children in `NAME.sbd/` as Thunderbird lays them out).
pub fn export(
    store: &Store,
    account: &Account,
    mailbox: Option<&Mailbox>,
    format: Format,
    sink: &mut dyn Sink,
) -> Result<Exported> {
    let all = match mailbox {
        Some(mb) => vec![mb.clone()],
        None => store.mailboxes(account.id)?,
    };
    let mut done = Exported::default();
    for mb in &all {
        let count = match format {
            Format::Mbox => {
                let mut count = 0;
                let path = maildir::mbox_path(&mb.name);
                sink.file(&path, now(), &mut |w| {
                    count = write_mbox(store, mb, w)?;
                    Ok(())
                })?;
                count
            }
            Format::Maildir => {
                let root = match mailbox {
                    Some(_) => String::new(),
                    None => maildir::folder_of(&mb.name),
                };
                let (count, dropped) = export_maildir(store, mb, &root, sink)?;
                done.dropped_keywords += dropped;
                count
            }
        };
        done.mailboxes.push((mb.name.clone(), count));
    }
    Ok(done)
}

/// One mailbox as a maildir at `root` (maildir(5): `cur/` `new/` `tmp/`; Maildir++ marks a
/// subfolder with `maildirfolder`): (messages, keywords dropped).
fn export_maildir(
    store: &Store,
    mb: &Mailbox,
    root: &str,
    sink: &mut dyn Sink,
) -> Result<(usize, usize)> {
    let at = |p: &str| {
        if root.is_empty() {
            p.to_string()
        } else {
            format!("{root}/{p}")
        }
    };
    for sub in ["cur", "new", "tmp"] {
        sink.folder(&at(sub))?;
    }
    if !root.is_empty() {
        sink.file(&at("maildirfolder"), now(), &mut |_| Ok(()))?;
    }
    let metas = store.messages_shared(mb.id)?;
    let (keywords, dropped) = maildir::Keywords::of(metas.iter().map(|m| &m.flags));
    if !keywords.is_empty() {
        let text = keywords.render();
        sink.file(&at("dovecot-keywords"), now(), &mut |w| {
            Ok(w.write_all(text.as_bytes())?)
        })?;
    }
    let count = each_item(store, mb, &metas, |m, item| {
        let lf = to_lf(&item.bytes);
        let name = maildir::file_name(m, mb.uidvalidity, lf.len(), &keywords);
        sink.file(&at(&format!("cur/{name}")), m.internaldate, &mut |w| {
            Ok(w.write_all(&lf)?)
        })
    })?;
    Ok((count, dropped))
}

/// What an import did in one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    pub mailbox: String,
    pub imported: usize,
    pub skipped: usize,
}

/// An import that stopped part-way (over quota, a disk error): what it did before, and why.
#[derive(Debug, thiserror::Error)]
#[error("{error} (imported {} into {} before that)", done.imported, done.mailbox)]
pub struct ImportFailed {
    pub done: Imported,
    pub error: Error,
}

impl From<Error> for ImportFailed {
    fn from(error: Error) -> Self {
        ImportFailed {
            done: Imported::default(),
            error,
        }
    }
}

impl From<store::Error> for ImportFailed {
    fn from(e: store::Error) -> Self {
        Error::Store(e).into()
    }
}

/// At most this many messages, or bytes, per append transaction of an import (and per
/// request of a live import from the CLI, which so knows how many went in before a refusal).
pub const CHUNK_MESSAGES: usize = 1000;
pub const CHUNK_BYTES: usize = 32 << 20;

/// The refusal of an import over quota, naming how many messages went in before.
pub fn over_quota(address: &str, imported: usize, mailbox: &str) -> String {
    format!(
        "{address}'s mailbox is full (quota exceeded) after importing {imported} messages \
         into {mailbox}"
    )
}

/// One import at a time in this process: the duplicate check and the appends that follow it
/// must not interleave with another import's.
static IMPORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Adds `items` to `mailbox` of `account` (created when missing), skipping those already
/// there (module doc: import identity), in order, with their flags and INTERNALDATE.
pub async fn import(
    store: &Store,
    account: &Account,
    mailbox: &str,
    items: Vec<Item>,
) -> Result<Imported, ImportFailed> {
    let _one_at_a_time = IMPORTS.lock().await;
    let mb = match store.mailbox(account.id, mailbox)? {
        Some(mb) => mb,
        None => match store.create_mailbox(account.id, mailbox, None).await {
            Err(store::Error::MailboxExists) => store
                .mailbox(account.id, mailbox)?
                .ok_or(store::Error::NoSuchMailbox)?,
            created => created?,
        },
    };
    let mut done = Imported {
        mailbox: mb.name.clone(),
        ..Default::default()
    };
    let digests: Vec<Digest> = items.iter().map(|i| digest(&i.bytes)).collect();
    let sizes: HashSet<u64> = items.iter().map(|i| i.bytes.len() as u64).collect();
    let (reader, target) = (store.clone(), mb.clone());
    let mut present =
        tokio::task::spawn_blocking(move || digests_present(&reader, &target, &sizes))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let mut fresh = Vec::with_capacity(items.len());
    for (item, d) in items.iter().zip(&digests) {
        match present.get_mut(d) {
            Some(n) if *n > 0 => {
                *n -= 1;
                done.skipped += 1;
            }
            _ => fresh.push(item),
        }
    }
    let mut rest = &fresh[..];
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take(CHUNK_MESSAGES)
            .take_while(|i| {
                bytes += i.bytes.len();
                bytes <= CHUNK_BYTES
            })
            .count()
            .max(1);
        let reqs: Vec<AppendRequest<'_>> = rest[..n]
            .iter()
            .map(|i| AppendRequest {
                bytes: &i.bytes,
                flags: i.flags.clone(),
                internaldate: i.internaldate.map(|d| (d, 0)),
            })
            .collect();
        if let Err(e) = store.append_many(account.id, mb.id, &reqs).await {
            return Err(ImportFailed {
                done,
                error: e.into(),
            });
        }
        done.imported += n;
        rest = &rest[n..];
    }
    Ok(done)
}

/// Splits `items` into runs of at most [`CHUNK_MESSAGES`] and about [`CHUNK_BYTES`] for the
/// requests of a live import, never between two copies of the same bytes: the server counts
/// copies within one request (module doc), so copies split over two requests would be taken
/// for duplicates.
pub fn batches(items: &[Item]) -> Vec<std::ops::Range<usize>> {
    batches_of(items, CHUNK_MESSAGES, CHUNK_BYTES)
}

fn batches_of(
    items: &[Item],
    max_messages: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    let digests: Vec<Digest> = items.iter().map(|i| digest(&i.bytes)).collect();
    let last: HashMap<Digest, usize> = digests.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut out = Vec::new();
    let (mut start, mut bytes, mut until) = (0, 0, 0);
    for (i, item) in items.iter().enumerate() {
        let full = i - start >= max_messages || bytes + item.bytes.len() > max_bytes;
        if i > start && i > until && full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += item.bytes.len();
        until = until.max(last.get(&digests[i]).copied().unwrap_or(i));
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

type Digest = [u8; 32];

fn digest(bytes: &[u8]) -> Digest {
    use blake2::Digest as _;
    let full = blake2::Blake2b512::digest(bytes);
    let mut d = [0u8; 32];
    d.copy_from_slice(&full[..32]);
    d
}

/// How many messages of each digest `mb` holds, among those of a size in `sizes` (no other
/// message can match, so no other is read).
fn digests_present(
    store: &Store,
    mb: &Mailbox,
    sizes: &HashSet<u64>,
) -> Result<HashMap<Digest, usize>> {
    let mut present = HashMap::new();
    for m in store.messages_shared(mb.id)?.iter() {
        if sizes.contains(&m.size) {
            *present
                .entry(digest(&store.read_blob(m.blob)?))
                .or_insert(0) += 1;
        }
    }
    Ok(present)
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// CRLF → LF (files): only CR LF pairs; a bare CR or LF stays.
pub fn to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// LF → CRLF (the store, RFC 5322 §2.2): a bare LF gets its CR; CR LF stays.
pub fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_round_trip() {
        let stored = b"Subject: x\r\n\r\nline\r\n\r\nend\r\n";
        assert_eq!(to_lf(stored), b"Subject: x\n\nline\n\nend\n");
        assert_eq!(to_crlf(&to_lf(stored)), stored);
        // A bare CR stays; CR LF in a file stays.
        assert_eq!(to_lf(b"a\rb\r\n"), b"a\rb\n");
        assert_eq!(to_crlf(b"a\r\nb\nc"), b"a\r\nb\r\nc");
        assert_eq!(to_crlf(b"\n"), b"\r\n");
    }

    #[test]
    fn batches_keep_copies_together() {
        let item = |b: &[u8]| Item {
            bytes: b.to_vec(),
            ..Default::default()
        };
        let items = [
            item(b"aaaa"),
            item(b"bbbb"),
            item(b"aaaa"),
            item(b"cccc"),
            item(b"dddd"),
        ];
        assert_eq!(batches_of(&items, 10, 8), [0..3, 3..5]);
        assert_eq!(batches_of(&items, 10, 4), [0..3, 3..4, 4..5]);
        assert_eq!(batches_of(&items, 2, 100), [0..3, 3..5]);
        assert_eq!(batches(&items), vec![0..items.len()]);
        assert!(batches(&[]).is_empty());
    }
}
