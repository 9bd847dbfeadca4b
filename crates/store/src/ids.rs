//! The numbers of the mail model as types of their own, so one cannot be passed where another
//! belongs (a UID where a MODSEQ is wanted, a mailbox id where an account id is wanted).
//! docs/conventions.md §6.
//!
//! Each is `#[serde(transparent)]`: postcard encodes it exactly as the bare integer it wraps,
//! so records written before these types existed decode unchanged (a test below checks it).
//! `Display` prints the bare number, as the wire protocols write it. `From<T> for` the inner
//! integer exists for the encoding edge (key encoders, wire formatting); there is no
//! conversion the other way except the explicit `new`.

use serde::{Deserialize, Serialize};

macro_rules! number {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            /// Wraps a number read from the wire, a key or the command line.
            pub const fn new(n: $inner) -> Self {
                Self(n)
            }

            /// The bare number (for the wire and the key encodings).
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for $inner {
            fn from(n: $name) -> $inner {
                n.0
            }
        }
    };
}

/// `MAX`, `next` and `prev` of a number that counts up (UIDs, MODSEQs).
macro_rules! counter {
    ($name:ident($inner:ty), $what:literal) => {
        impl $name {
            #[doc = concat!("The highest ", $what, ": the upper end of a range.")]
            pub const MAX: $name = $name(<$inner>::MAX);

            #[doc = concat!("The ", $what, " after this one (saturating at the highest).")]
            #[must_use]
            pub const fn next(self) -> $name {
                $name(self.0.saturating_add(1))
            }

            #[doc = concat!("The ", $what, " before this one (saturating at zero).")]
            #[must_use]
            pub const fn prev(self) -> $name {
                $name(self.0.saturating_sub(1))
            }
        }
    };
}

number! {
    /// An account (from the backend's id generator), never reused.
    AccountId(u64)
}

number! {
    /// A mailbox, unique across accounts and never reused; it survives renames.
    MailboxId(u64)
}

number! {
    /// IMAP UID (RFC 3501 §2.3.1.1): non-zero and strictly ascending within a mailbox of one
    /// UIDVALIDITY. The store gives the first message UID 1; zero only appears as "none" in
    /// arithmetic (`Uid::prev` of the first UID).
    Uid(u32)
}

number! {
    /// UIDVALIDITY (RFC 3501 §2.3.1.1): a mailbox's UIDs mean the same messages for as long
    /// as it is unchanged.
    UidValidity(u32)
}

number! {
    /// A mod-sequence (RFC 7162 §2; `mod-sequence-value`, §7): the place of a change in its
    /// mailbox's change sequence. Every change to a mailbox gets the next one
    /// (docs/architecture.md §3.2); a message's MODSEQ is its last change's.
    ModSeq(u64)
}

// UIDNEXT − 1 (`Uid::prev`) is the highest UID given, zero when none was.
counter!(Uid(u32), "UID");
counter!(ModSeq(u64), "MODSEQ");

impl ModSeq {
    /// Before every change: the cursor of a session that has seen nothing.
    pub const ZERO: ModSeq = ModSeq(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The on-disk encoding does not change: a record written with bare integers (as every
    /// version before these types wrote them) decodes into the typed record, and the typed
    /// record encodes to the same bytes.
    #[test]
    fn encoding_is_the_bare_integer() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Before {
            account: u64,
            mailbox: u64,
            uid: u32,
            validity: u32,
            modseq: u64,
            uids: Vec<u32>,
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct After {
            account: AccountId,
            mailbox: MailboxId,
            uid: Uid,
            validity: UidValidity,
            modseq: ModSeq,
            uids: Vec<Uid>,
        }
        let before = Before {
            account: 7,
            mailbox: 1 << 40,
            uid: 300,
            validity: 1_700_000_000,
            modseq: u64::MAX - 1,
            uids: vec![1, 128, u32::MAX],
        };
        let after = After {
            account: AccountId::new(7),
            mailbox: MailboxId::new(1 << 40),
            uid: Uid::new(300),
            validity: UidValidity::new(1_700_000_000),
            modseq: ModSeq::new(u64::MAX - 1),
            uids: vec![Uid::new(1), Uid::new(128), Uid::MAX],
        };
        let old = postcard::to_allocvec(&before).expect("encodes");
        let decoded: After = postcard::from_bytes(&old).expect("decodes");
        assert_eq!(decoded, after);
        assert_eq!(postcard::to_allocvec(&after).expect("encodes"), old);
    }

    #[test]
    fn display_is_the_bare_number() {
        assert_eq!(Uid::new(42).to_string(), "42");
        assert_eq!(ModSeq::new(9).to_string(), "9");
        assert_eq!(format!("{:>4}", UidValidity::new(5)), "   5");
    }

    #[test]
    fn next_and_prev_saturate() {
        assert_eq!(Uid::MAX.next(), Uid::MAX);
        assert_eq!(Uid::new(1).prev(), Uid::new(0));
        assert_eq!(Uid::new(0).prev(), Uid::new(0));
        assert_eq!(ModSeq::ZERO.prev(), ModSeq::ZERO);
        assert_eq!(ModSeq::new(1).next(), ModSeq::new(2));
    }
}
