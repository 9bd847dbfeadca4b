//! Records kept in the store's trees (encoded with postcard) and the small validated types around
//! them.

use serde::{Deserialize, Serialize};

pub use crate::ids::{AccountId, MailboxId, ModSeq, Uid, UidValidity};

/// Blob id: one stored copy of raw message bytes, shared by COPY. Internal to the store (no
/// daemon holds one for long), so a bare number.
pub type BlobId = u64;

/// The POP3 retrieval policy of an account (docs/spec.md §5, a teaching aid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Pop3Policy {
    /// RFC 1939 behaviour: only DELE deletes.
    #[default]
    Keep,
    /// Every message retrieved in the session is deleted at QUIT.
    Delete,
    /// RETR sets \Seen, visible to IMAP clients.
    MarkSeen,
}

impl Pop3Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Pop3Policy::Keep => "keep",
            Pop3Policy::Delete => "delete",
            Pop3Policy::MarkSeen => "mark-seen",
        }
    }
}

impl std::str::FromStr for Pop3Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(Pop3Policy::Keep),
            "delete" => Ok(Pop3Policy::Delete),
            "mark-seen" => Ok(Pop3Policy::MarkSeen),
            _ => Err(format!(
                "unknown pop3 policy {s:?} (keep, delete, mark-seen)"
            )),
        }
    }
}

/// An account, keyed by its normalized address in the `accounts` tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    /// Normalized address (domain lower-cased).
    pub address: String,
    /// argon2id PHC string.
    pub password: String,
    /// Quota in bytes (`None`: unlimited).
    pub quota_bytes: Option<u64>,
    /// Quota in messages (`None`: unlimited).
    pub quota_messages: Option<u64>,
    pub pop3_policy: Pop3Policy,
    /// Copy submitted mail into Sent.
    pub save_sent: bool,
    /// Unix seconds.
    pub created: i64,
    /// Aliases that deliver to this account (normalized), at most [`MAX_ALIASES`].
    pub aliases: Vec<String>,
}

/// docs/spec.md §4: up to 10 aliases per account.
pub const MAX_ALIASES: usize = 10;

/// Quota usage of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
}

/// SPECIAL-USE attributes (RFC 6154 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

impl SpecialUse {
    /// The attribute as written in LIST responses.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::All => "\\All",
            SpecialUse::Flagged => "\\Flagged",
        }
    }
}

/// Mailboxes every account is created with (docs/spec.md §5).
pub const DEFAULT_MAILBOXES: &[(&str, Option<SpecialUse>)] = &[
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
];

/// A mailbox record, keyed by (account id, name) in the `mailboxes` tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    /// UTF-8 name with "/" as hierarchy separator; "INBOX" always spelled so.
    pub name: String,
    /// RFC 3501 §2.3.1.1.
    pub uidvalidity: UidValidity,
    pub uidnext: Uid,
    /// RFC 7162 §3.1.2.1 HIGHESTMODSEQ: the MODSEQ of the mailbox's last change.
    pub highestmodseq: ModSeq,
    pub special_use: Option<SpecialUse>,
    /// Where stores before the `subscriptions` tree kept the subscription. Read once, by the
    /// migration at open; kept so those records still decode. Use `Store::subscriptions`.
    pub subscribed: bool,
    /// Number of messages (kept in step with the `messages` tree).
    pub exists: u32,
    /// Messages without \Seen.
    pub unseen: u32,
    /// Sum of message sizes (RFC 8438 STATUS SIZE).
    pub size: u64,
    /// UIDs at or above this are \Recent for the next session that claims them (RFC 3501 §2.3.2).
    pub recent_from: Uid,
}

/// System flags (RFC 3501 §2.3.2) as bits; keywords as strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flags {
    pub system: u8,
    pub keywords: Vec<String>,
}

impl Flags {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;

    /// The system flag bit for a flag name such as `\Seen` (case-insensitive), if it is one.
    pub fn system_bit(name: &str) -> Option<u8> {
        match name.to_ascii_lowercase().as_str() {
            "\\seen" => Some(Self::SEEN),
            "\\answered" => Some(Self::ANSWERED),
            "\\flagged" => Some(Self::FLAGGED),
            "\\deleted" => Some(Self::DELETED),
            "\\draft" => Some(Self::DRAFT),
            _ => None,
        }
    }

    /// Builds flags from names (`\Seen`, keywords). Unknown backslash flags are ignored.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Flags {
        let mut f = Flags::default();
        for n in names {
            f.insert(n);
        }
        f
    }

    pub fn insert(&mut self, name: &str) {
        if let Some(bit) = Self::system_bit(name) {
            self.system |= bit;
        } else if !name.starts_with('\\')
            && !self.keywords.iter().any(|k| k.eq_ignore_ascii_case(name))
        {
            self.keywords.push(name.to_string());
        }
    }

    pub fn remove(&mut self, name: &str) {
        if let Some(bit) = Self::system_bit(name) {
            self.system &= !bit;
        } else {
            self.keywords.retain(|k| !k.eq_ignore_ascii_case(name));
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match Self::system_bit(name) {
            Some(bit) => self.system & bit != 0,
            None => self.keywords.iter().any(|k| k.eq_ignore_ascii_case(name)),
        }
    }

    pub fn has(&self, bit: u8) -> bool {
        self.system & bit != 0
    }

    pub fn union(&mut self, other: &Flags) {
        self.system |= other.system;
        for k in &other.keywords {
            self.insert(k);
        }
    }

    pub fn subtract(&mut self, other: &Flags) {
        self.system &= !other.system;
        for k in &other.keywords {
            self.remove(k);
        }
    }

    /// Flag names in a stable order: system flags, then keywords.
    pub fn names(&self) -> Vec<&str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::SEEN, "\\Seen"),
            (Self::ANSWERED, "\\Answered"),
            (Self::FLAGGED, "\\Flagged"),
            (Self::DELETED, "\\Deleted"),
            (Self::DRAFT, "\\Draft"),
        ] {
            if self.system & bit != 0 {
                v.push(name);
            }
        }
        v.extend(self.keywords.iter().map(String::as_str));
        v
    }
}

/// Per-message metadata, keyed by (mailbox id, uid) in the `messages` tree. Small on purpose:
/// `FETCH 1:* (FLAGS)` on a large mailbox decodes only these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageMeta {
    pub uid: Uid,
    pub blob: BlobId,
    pub flags: Flags,
    /// INTERNALDATE as unix seconds.
    pub internaldate: i64,
    /// INTERNALDATE's zone offset in minutes east of UTC.
    pub tz_minutes: i16,
    /// RFC822.SIZE in octets.
    pub size: u64,
    /// RFC 7162 MODSEQ.
    pub modseq: ModSeq,
    /// RFC 8514 save date as unix seconds (UTC): when the message was put into this mailbox
    /// by delivery, APPEND, COPY or MOVE. Records written before it existed read as their
    /// INTERNALDATE (what it was for every delivery and for an APPEND without a date).
    pub saved: i64,
}

const META_FIELDS: &[&str] = &[
    "uid",
    "blob",
    "flags",
    "internaldate",
    "tz_minutes",
    "size",
    "modseq",
    "saved",
];

/// By hand for the one field added at the end (`saved`): postcard has no field names, so
/// a record written without it simply ends after `modseq`.
impl<'de> Deserialize<'de> for MessageMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = MessageMeta;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a message record")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<MessageMeta, A::Error> {
                fn next<'de, T: Deserialize<'de>, A: serde::de::SeqAccess<'de>>(
                    s: &mut A,
                    i: usize,
                ) -> Result<T, A::Error> {
                    s.next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &"8 fields"))
                }
                let uid = next(&mut s, 0)?;
                let blob = next(&mut s, 1)?;
                let flags = next(&mut s, 2)?;
                let internaldate: i64 = next(&mut s, 3)?;
                let tz_minutes = next(&mut s, 4)?;
                let size = next(&mut s, 5)?;
                let modseq = next(&mut s, 6)?;
                // The record ends here when it was written before `saved` existed.
                let saved = s.next_element::<i64>().ok().flatten();
                Ok(MessageMeta {
                    uid,
                    blob,
                    flags,
                    internaldate,
                    tz_minutes,
                    size,
                    modseq,
                    saved: saved.unwrap_or(internaldate),
                })
            }
        }
        d.deserialize_struct("MessageMeta", META_FIELDS, Fields)
    }
}

/// One line of `mailbox list` / IMAP STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    pub name: String,
    pub messages: u32,
    pub unseen: u32,
    pub bytes: u64,
    pub uidnext: Uid,
    pub uidvalidity: UidValidity,
    pub highestmodseq: ModSeq,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records as every version before the typed ids wrote them (bare integers): they
    /// decode into today's records, and today's records encode to the same bytes.
    #[test]
    fn records_written_with_bare_integers_decode() {
        #[derive(Serialize)]
        struct MessageMetaV0 {
            uid: u32,
            blob: u64,
            flags: Flags,
            internaldate: i64,
            tz_minutes: i16,
            size: u64,
            modseq: u64,
        }
        #[derive(Serialize)]
        struct MailboxV0 {
            id: u64,
            name: String,
            uidvalidity: u32,
            uidnext: u32,
            highestmodseq: u64,
            special_use: Option<SpecialUse>,
            subscribed: bool,
            exists: u32,
            unseen: u32,
            size: u64,
            recent_from: u32,
        }
        let flags = Flags::from_names(["\\Seen", "$Work"]);
        let old = postcard::to_allocvec(&MessageMetaV0 {
            uid: 4_000_000,
            blob: 77,
            flags: flags.clone(),
            internaldate: 1_700_000_000,
            tz_minutes: -300,
            size: 1234,
            modseq: 1 << 40,
        })
        .expect("encodes");
        let meta: MessageMeta = postcard::from_bytes(&old).expect("decodes");
        assert_eq!(
            meta,
            MessageMeta {
                uid: Uid::new(4_000_000),
                blob: 77,
                flags,
                internaldate: 1_700_000_000,
                tz_minutes: -300,
                size: 1234,
                modseq: ModSeq::new(1 << 40),
                saved: 1_700_000_000,
            }
        );
        // Written again, it carries its save date at the end and reads back the same.
        let again = postcard::to_allocvec(&meta).expect("encodes");
        assert_eq!(again[..old.len()], old[..]);
        assert_eq!(
            postcard::from_bytes::<MessageMeta>(&again).expect("decodes"),
            meta
        );
        let moved = MessageMeta {
            saved: 1_800_000_000,
            ..meta.clone()
        };
        let bytes = postcard::to_allocvec(&moved).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<MessageMeta>(&bytes).expect("decodes"),
            moved
        );
        // A record cut inside the fields every version writes is an error, not a default.
        assert!(postcard::from_bytes::<MessageMeta>(&old[..old.len() - 1]).is_err());

        let old = postcard::to_allocvec(&MailboxV0 {
            id: 9,
            name: "INBOX".into(),
            uidvalidity: 1_700_000_123,
            uidnext: 300,
            highestmodseq: 5000,
            special_use: Some(SpecialUse::Sent),
            subscribed: true,
            exists: 299,
            unseen: 3,
            size: 99,
            recent_from: 290,
        })
        .expect("encodes");
        let mb: Mailbox = postcard::from_bytes(&old).expect("decodes");
        assert_eq!(
            (
                mb.id,
                mb.uidvalidity,
                mb.uidnext,
                mb.highestmodseq,
                mb.recent_from
            ),
            (
                MailboxId::new(9),
                UidValidity::new(1_700_000_123),
                Uid::new(300),
                ModSeq::new(5000),
                Uid::new(290)
            )
        );
        assert_eq!(postcard::to_allocvec(&mb).expect("encodes"), old);
    }
}
