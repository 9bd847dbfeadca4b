//! Key encodings. All integers are big-endian so that sled's byte order is numeric order and a
//! prefix scan returns one account's mailboxes or one mailbox's messages in UID order.

use crate::model::{AccountId, BlobId, MailboxId, Uid};

pub fn id(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

/// `mailboxes` key: account id ‖ UTF-8 name.
pub fn mailbox(account: AccountId, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + name.len());
    k.extend_from_slice(&account.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

/// `messages` / `expunged` key: mailbox id ‖ uid.
pub fn message(mailbox: MailboxId, uid: Uid) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..].copy_from_slice(&uid.to_be_bytes());
    k
}

/// The uid part of a `messages` key.
pub fn message_uid(key: &[u8]) -> Uid {
    let mut a = [0u8; 4];
    if key.len() >= 12 {
        a.copy_from_slice(&key[8..12]);
    }
    u32::from_be_bytes(a)
}

/// `blobs` key: blob id ‖ chunk index.
pub fn chunk(blob: BlobId, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&blob.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// `expunge_log` key: mailbox id ‖ MODSEQ of the expunge ‖ uid, so one mailbox's expunges
/// after a MODSEQ are one range scan (RFC 7162 §3.2.5.2).
pub fn expunge(mailbox: MailboxId, modseq: u64, uid: Uid) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..16].copy_from_slice(&modseq.to_be_bytes());
    k[16..].copy_from_slice(&uid.to_be_bytes());
    k
}

/// (mailbox, modseq, uid) of an `expunge_log` key.
pub fn read_expunge(key: &[u8]) -> (MailboxId, u64, Uid) {
    let mut u = [0u8; 4];
    if key.len() >= 20 {
        u.copy_from_slice(&key[16..20]);
    }
    (
        read_u64(key),
        read_u64(key.get(8..).unwrap_or_default()),
        u32::from_be_bytes(u),
    )
}
