//! Shared counters of a soak run: operations by kind (one per command sent and answered as
//! expected), expected race answers, and the protocol errors with the command and reply that
//! caused them (the first [`KEEP_ERRORS`] kept in full).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// How many protocol errors are kept with their command and reply.
pub const KEEP_ERRORS: usize = 20;

macro_rules! ops {
    ($($name:ident = $label:literal,)*) => {
        /// One kind of operation (a command and its expected answer).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Op { $($name,)* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            pub fn label(self) -> &'static str {
                match self { $(Op::$name => $label,)* }
            }
        }
    };
}

ops! {
    SmtpConnect = "smtp connect+greeting",
    SmtpEhlo = "smtp EHLO",
    SmtpStarttls = "smtp STARTTLS",
    SmtpAuth = "smtp AUTH",
    SmtpMail = "smtp MAIL",
    SmtpRcpt = "smtp RCPT",
    SmtpData = "smtp DATA message",
    SmtpBdat = "smtp BDAT message",
    SmtpRset = "smtp RSET",
    SmtpNoop = "smtp NOOP",
    SmtpQuit = "smtp QUIT",
    ImapConnect = "imap connect+greeting",
    ImapStarttls = "imap STARTTLS",
    ImapLogin = "imap LOGIN/AUTHENTICATE",
    ImapSelect = "imap SELECT/EXAMINE",
    ImapFetch = "imap FETCH",
    ImapStore = "imap STORE",
    ImapSearch = "imap SEARCH",
    ImapAppend = "imap APPEND",
    ImapExpunge = "imap EXPUNGE",
    ImapIdle = "imap IDLE+DONE",
    ImapStatus = "imap STATUS",
    ImapNoop = "imap NOOP",
    ImapClose = "imap CLOSE/UNSELECT",
    ImapLogout = "imap LOGOUT",
    PopConnect = "pop3 connect+greeting",
    PopStls = "pop3 STLS",
    PopLogin = "pop3 USER+PASS/AUTH",
    PopStat = "pop3 STAT",
    PopList = "pop3 LIST",
    PopUidl = "pop3 UIDL",
    PopRetr = "pop3 RETR",
    PopTop = "pop3 TOP",
    PopDele = "pop3 DELE",
    PopRset = "pop3 RSET",
    PopQuit = "pop3 QUIT",
}

/// Answers that are correct but report a legitimate race (not errors, not counted as ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Race {
    /// POP3 login while the other POP3 session of the account holds the maildrop:
    /// `-ERR [IN-USE]` (RFC 2449 §8.1.2).
    PopInUse,
    /// IMAP UID FETCH of a message another session expunged meanwhile: tagged OK without the
    /// FETCH response (RFC 3501 §6.4.8: non-existent UIDs are ignored).
    ImapGone,
}

/// One unexpected answer.
#[derive(Debug, Clone)]
pub struct ProtoError {
    pub at_s: f64,
    pub session: usize,
    pub role: &'static str,
    pub command: String,
    pub reply: String,
}

/// Why an iteration of a session stopped: the command (secrets redacted) and what came back
/// (a reply line, or `<...>` for a transport failure).
#[derive(Debug, Clone)]
pub struct Fail {
    pub command: String,
    pub reply: String,
}

impl Fail {
    pub fn new(command: &str, reply: impl Into<String>) -> Fail {
        Fail {
            command: redact(command),
            reply: reply.into(),
        }
    }

    /// A transport failure (closed connection, timeout, TLS error) during `command`.
    pub fn io(command: &str, e: anyhow::Error) -> Fail {
        Fail::new(command, format!("<{e:#}>"))
    }
}

/// Hides credentials in a command line (LOGIN, PASS, AUTH payloads).
pub fn redact(command: &str) -> String {
    let upper = command.to_ascii_uppercase();
    let words: Vec<&str> = command.split(' ').collect();
    let keep = if upper.starts_with("PASS ") {
        1
    } else if upper.contains(" LOGIN ") && words.len() > 3 {
        // `tag LOGIN "user" "pass"`: keep tag, verb, user.
        3
    } else if upper.contains("AUTHENTICATE PLAIN ") || upper.starts_with("AUTH PLAIN ") {
        // `tag AUTHENTICATE PLAIN <b64>` / `AUTH PLAIN <b64>`.
        if upper.starts_with("AUTH ") {
            2
        } else {
            3
        }
    } else {
        return command.to_string();
    };
    let mut out: Vec<&str> = words.iter().take(keep).copied().collect();
    out.push("<redacted>");
    out.join(" ")
}

/// Counters shared by every session and the sampler.
pub struct Stats {
    start: Instant,
    counts: Vec<AtomicU64>,
    in_use: AtomicU64,
    gone: AtomicU64,
    errors: AtomicU64,
    first: Mutex<Vec<ProtoError>>,
}

impl Stats {
    pub fn new(start: Instant) -> Stats {
        Stats {
            start,
            counts: Op::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            in_use: AtomicU64::new(0),
            gone: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first: Mutex::new(Vec::new()),
        }
    }

    pub fn op(&self, op: Op) {
        self.counts[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn race(&self, race: Race) {
        match race {
            Race::PopInUse => &self.in_use,
            Race::ImapGone => &self.gone,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, session: usize, role: &'static str, fail: Fail) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let e = ProtoError {
            at_s: self.start.elapsed().as_secs_f64(),
            session,
            role,
            command: fail.command,
            reply: fail.reply,
        };
        if let Ok(mut first) = self.first.lock() {
            if first.len() < KEEP_ERRORS {
                eprintln!(
                    "soak: protocol error at {:.1} s, session {} ({}): {} → {}",
                    e.at_s, e.session, e.role, e.command, e.reply
                );
                first.push(e);
            }
        }
    }

    /// Operations so far, all kinds.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// (kind, count) for every kind.
    pub fn by_kind(&self) -> Vec<(Op, u64)> {
        Op::ALL
            .iter()
            .map(|&op| (op, self.counts[op as usize].load(Ordering::Relaxed)))
            .collect()
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn races(&self) -> (u64, u64) {
        (
            self.in_use.load(Ordering::Relaxed),
            self.gone.load(Ordering::Relaxed),
        )
    }

    pub fn first_errors(&self) -> Vec<ProtoError> {
        self.first.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("s1 LOGIN \"imap01@example.test\" \"pw\""),
            "s1 LOGIN \"imap01@example.test\" <redacted>"
        );
        assert_eq!(redact("PASS secret"), "PASS <redacted>");
        assert_eq!(redact("AUTH PLAIN AGFAYg=="), "AUTH PLAIN <redacted>");
        assert_eq!(
            redact("s2 AUTHENTICATE PLAIN AGFAYg=="),
            "s2 AUTHENTICATE PLAIN <redacted>"
        );
        assert_eq!(redact("s3 SELECT INBOX"), "s3 SELECT INBOX");
    }
}
