//! Error kinds of a stress run (each with the first failing exchange), violations as the
//! checks produce them, and the operation counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

macro_rules! kinds {
    ($($name:ident = $label:literal : $what:literal,)*) => {
        /// One kind of violation; the report groups errors by kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Kind { $($name,)* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$name,)*];

            pub fn label(self) -> &'static str {
                match self { $(Kind::$name => $label,)* }
            }
            /// What the check is and which requirement it enforces.
            pub fn what(self) -> &'static str {
                match self { $(Kind::$name => $what,)* }
            }
        }
    };
}

kinds! {
    FlagsRegressed = "flags-regressed":
        "a FETCH carried a flag state older than one this session was already given in reply to its own STORE, and no STORE by any session could have undone it (ARCHITECTURE: nothing a session is told goes back in time)",
    ModseqBackwards = "modseq-backwards":
        "MODSEQ of a UID lower than one already reported to the session (RFC 7162 §3.1: mod-sequences only grow)",
    ModseqFlagsDiffer = "modseq-flags-differ":
        "the same MODSEQ reported twice for a UID with different FLAGS (RFC 7162 §3.1.1: every flag change gets a new mod-sequence)",
    CondstoreIncomplete = "condstore-fetch-incomplete":
        "after CONDSTORE was enabled, a FETCH carrying FLAGS without MODSEQ, or without UID (RFC 7162 §3.1)",
    FetchMissing = "fetch-ok-missing-items":
        "tagged OK but a message of the set did not get every requested item (RFC 3501 §6.4.5; RFC 2180 §4.1.1 says return the data, §4.1.2 allows a tagged NO); with CHANGEDSINCE m, a message the session knows with a MODSEQ above m was not answered (RFC 7162 §3.1.4.1)",
    CondstoreInvalid = "condstore-invalid":
        "MODIFIED naming a message outside the STORE's set (RFC 7162 §3.1.3)",
    UnannouncedFlag = "flag-not-announced":
        "a FETCH carried a flag or keyword not in the session's last FLAGS response (RFC 3501 §7.2.6)",
    ImmutableChanged = "immutable-changed":
        "a UID's ENVELOPE, BODYSTRUCTURE, BODY[...], RFC822.SIZE or INTERNALDATE differs from what the server reported before (RFC 3501 §2.3.1.1: a UID names one message; its content never changes)",
    ContentMismatch = "content-mismatch":
        "BODY[]/HEADER/TEXT/RFC822.SIZE differs from the bytes that were APPENDed or from the COPY source, or RFC822.SIZE differs from the length of BODY[] (RFC 3501 §6.3.11, §6.4.7, §7.4.2)",
    SeqOutOfRange = "seq-out-of-range":
        "EXPUNGE, FETCH or SEARCH named a message number beyond the messages the session was told about (RFC 3501 §7.4.1, §7.4.2)",
    ExistsDecreased = "exists-decreased":
        "EXISTS reported fewer messages than the session knows of; only EXPUNGE/VANISHED remove messages (RFC 3501 §7.3.1, §7.4.1)",
    UidInconsistent = "uid-inconsistent":
        "a message number's UID changed, UIDs not ascending with message numbers, a new message with a UID below UIDNEXT, or an expunged UID back in a later SELECT (RFC 3501 §2.3.1.1)",
    ExpungeInFetch = "expunge-during-fetch-store-search":
        "EXPUNGE/VANISHED sent while responding to FETCH, STORE or SEARCH (RFC 3501 §7.4.1, RFC 7162 §3.2.10)",
    AppendUid = "appenduid-invalid":
        "APPENDUID with another UIDVALIDITY or a UID below the UIDNEXT seen before the APPEND (RFC 4315 §3)",
    CopyUid = "copyuid-invalid":
        "COPYUID whose source UIDs were not requested, whose sets differ in size, or whose new UIDs are not new (RFC 4315 §3)",
    MoveNotExpunged = "move-not-expunged":
        "a message MOVE reported as moved (COPYUID) still in the session's view at the tagged OK (RFC 6851 §3.3)",
    ExpungeLeftDeleted = "expunge-left-deleted":
        "after EXPUNGE / UID EXPUNGE answered OK, a message the session knew to be \\Deleted (in the set) is still in its view while no other expunging command ran, or a SELECT sent later still lists it (RFC 3501 §6.4.3, RFC 4315 §2.1)",
    SelectInconsistent = "select-inconsistent":
        "UIDVALIDITY changed, UIDNEXT not above a UID already seen, or HIGHESTMODSEQ below a MODSEQ already seen (RFC 3501 §2.3.1.1, RFC 7162 §3.1.2.1)",
    SearchMismatch = "search-mismatch":
        "a SEARCH result contradicts the message's immutable data (SUBJECT, LARGER against the APPENDed bytes), or ESEARCH COUNT/MIN/MAX disagree with ALL (RFC 3501 §6.4.4, RFC 4731 §3.1)",
    CheckpointMessages = "checkpoint-messages":
        "at a checkpoint (no writes in flight, pending notifications drained with NOOP) a session's message list (count, UIDs in order) differs from a fresh SELECT",
    CheckpointFlags = "checkpoint-flags":
        "at a checkpoint a session's flags of a UID differ from a fresh SELECT's",
    CheckpointModseq = "checkpoint-modseq":
        "at a checkpoint a CONDSTORE session's MODSEQ of a UID differs from a fresh SELECT's",
    CheckpointKeywords = "checkpoint-keywords":
        "at a checkpoint a keyword in use is missing from a session's FLAGS (RFC 3501 §7.2.6)",
    CheckpointSearch = "checkpoint-search":
        "at a checkpoint a SEARCH answer differs from the session's own view of flags and content",
    CheckpointTimeout = "checkpoint-timeout":
        "sessions did not all pause (or report) within the time limit",
    ServerFailure = "server-failure":
        "the server failed: tagged NO [SERVERBUG]/[UNAVAILABLE]/[LIMIT] (RFC 5530), or it closed the connection",
    UnexpectedNo = "unexpected-no":
        "tagged NO to a command that cannot fail by a race",
    UnexpectedBad = "unexpected-bad":
        "tagged BAD to a well-formed command",
    Protocol = "protocol-error":
        "unparsable response, unexpected continuation or tag, or a response timeout",
    Pop3 = "pop3-error":
        "a POP3 reply that is wrong (not a race): bad status, or RETR content differing from what IMAP reported for that UID",
    Smtp = "smtp-error":
        "an SMTP delivery refused",
}

/// The first occurrence of an error kind.
#[derive(Debug, Clone)]
pub struct FirstError {
    pub at_s: f64,
    pub session: String,
    pub detail: String,
    pub exchange: Vec<String>,
}

/// Errors by kind.
#[derive(Debug, Default)]
pub struct Errors {
    by_kind: Mutex<BTreeMap<Kind, (u64, FirstError)>>,
}

impl Errors {
    pub fn record(&self, kind: Kind, first: FirstError) {
        self.record_with(kind, || first);
    }

    /// Counts an error of `kind`; `first` (which may render a transcript) runs only for the
    /// first error of that kind.
    pub fn record_with(&self, kind: Kind, first: impl FnOnce() -> FirstError) {
        let mut m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(&kind) {
            Some(e) => e.0 += 1,
            None => {
                m.insert(kind, (1, first()));
            }
        }
    }

    pub fn total(&self) -> u64 {
        let m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        m.values().map(|(n, _)| n).sum()
    }

    pub fn snapshot(&self) -> Vec<(Kind, u64, FirstError)> {
        let m = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, (n, f))| (*k, *n, f.clone())).collect()
    }
}

/// Counters of commands by label (each tagged command answered = 1) and of legitimate races.
#[derive(Debug, Default)]
pub struct Counters {
    ops: Mutex<BTreeMap<&'static str, u64>>,
    races: Mutex<BTreeMap<&'static str, u64>>,
    pub total: AtomicU64,
}

impl Counters {
    pub fn op(&self, label: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *self
            .ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(label)
            .or_default() += 1;
    }

    pub fn race(&self, label: &'static str) {
        *self
            .races
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(label)
            .or_default() += 1;
    }

    pub fn ops(&self) -> Vec<(&'static str, u64)> {
        let m = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn races(&self) -> Vec<(&'static str, u64)> {
        let m = self.races.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// A check that failed: its kind and what exactly was seen.
#[derive(Debug, Clone)]
pub struct Violation {
    pub kind: Kind,
    pub detail: String,
}

pub fn violation(kind: Kind, detail: impl Into<String>) -> Violation {
    Violation {
        kind,
        detail: detail.into(),
    }
}
