//! Key encodings. All integers are big-endian so that byte order (the order of every backend's
//! scans) is numeric order and a prefix scan returns one account's mailboxes or one mailbox's
//! messages in UID order.
//!
//! The encoders take the typed ids and write their bare numbers ([`crate::ids`]), so the
//! layout is the one every earlier version wrote; the readers give the types back.

use crate::model::{AccountId, BlobId, MailboxId, ModSeq, Uid};

/// A blob's key (`blobs`, `blob_locs`, `structure`, `refs`), or any bare 8-byte id.
pub fn id(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// An account's key (`account_ids`, `usage`) and the prefix of its `mailboxes` and
/// `subscriptions` keys.
pub fn account(account: AccountId) -> [u8; 8] {
    id(account.get())
}

/// A mailbox's key (`mailbox_ids`, `expunge_floor`) and the prefix of its `messages` and
/// `expunge_log` keys.
pub fn mailbox_id(mailbox: MailboxId) -> [u8; 8] {
    id(mailbox.get())
}

pub fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

/// The account a `mailboxes` or `subscriptions` key belongs to (its first 8 bytes).
pub fn read_account(key: &[u8]) -> AccountId {
    AccountId::new(read_u64(key))
}

/// The mailbox a `messages` or `expunge_log` key belongs to (its first 8 bytes).
pub fn read_mailbox_id(key: &[u8]) -> MailboxId {
    MailboxId::new(read_u64(key))
}

/// `mailboxes` key: account id ‖ UTF-8 name.
pub fn mailbox(account: AccountId, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + name.len());
    k.extend_from_slice(&self::account(account));
    k.extend_from_slice(name.as_bytes());
    k
}

/// `messages` / `expunged` / `pinned` key: mailbox id ‖ uid.
pub fn message(mailbox: MailboxId, uid: Uid) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&mailbox_id(mailbox));
    k[8..].copy_from_slice(&uid.get().to_be_bytes());
    k
}

/// The uid part of a `messages` key.
pub fn message_uid(key: &[u8]) -> Uid {
    let mut a = [0u8; 4];
    if key.len() >= 12 {
        a.copy_from_slice(&key[8..12]);
    }
    Uid::new(u32::from_be_bytes(a))
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
pub fn expunge(mailbox: MailboxId, modseq: ModSeq, uid: Uid) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&mailbox_id(mailbox));
    k[8..16].copy_from_slice(&modseq.get().to_be_bytes());
    k[16..].copy_from_slice(&uid.get().to_be_bytes());
    k
}

/// (mailbox, modseq, uid) of an `expunge_log` key.
pub fn read_expunge(key: &[u8]) -> (MailboxId, ModSeq, Uid) {
    let mut u = [0u8; 4];
    if key.len() >= 20 {
        u.copy_from_slice(&key[16..20]);
    }
    (
        read_mailbox_id(key),
        ModSeq::new(read_u64(key.get(8..).unwrap_or_default())),
        Uid::new(u32::from_be_bytes(u)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed encoders write exactly the bytes the untyped ones did.
    #[test]
    fn layout_unchanged() {
        let (mb, uid, ms) = (MailboxId::new(0x0102), Uid::new(0x0304), ModSeq::new(5));
        assert_eq!(message(mb, uid), [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4]);
        assert_eq!(message_uid(&message(mb, uid)), uid);
        let e = expunge(mb, ms, uid);
        assert_eq!(&e[8..16], &5u64.to_be_bytes());
        assert_eq!(read_expunge(&e), (mb, ms, uid));
        assert_eq!(mailbox(AccountId::new(9), "INBOX")[..8], 9u64.to_be_bytes());
        assert_eq!(
            read_account(&mailbox(AccountId::new(9), "x")),
            AccountId::new(9)
        );
    }
}
