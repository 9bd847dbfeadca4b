//! mailstack's POP3 server (RFC 1939) with CAPA, STLS, SASL and response codes. The maildrop
//! is the account's INBOX in the shared store; IMAP sessions see what POP3 deletes.
//!
//! `serve(listener, ctx, shutdown)` runs one listener (plain port 110/3110 with STLS, or pop3s
//! 995/3995 with `implicit_tls`); the binary does config, binding, TLS and signals.
//!
//! # RFCs
//!
//! | RFC | what | status |
//! |---|---|---|
//! | 1939 | POP3: USER, PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL | Yes (APOP: No) |
//! | 2449 | CAPA, RESP-CODES, PIPELINING, EXPIRE, IMPLEMENTATION, [IN-USE], LOGIN-DELAY (when set), [LOGIN-DELAY] | Yes |
//! | 2595 | STLS | Yes |
//! | 3206 | [SYS/TEMP], [SYS/PERM], [AUTH], AUTH-RESP-CODE | Yes |
//! | 5034 | AUTH with initial response, continuations, "*" cancel | Yes (PLAIN, LOGIN) |
//!
//! # Layout
//! - `command`: bytes → [`command::Command`] (no I/O), with table tests.
//! - `session`: the state enum (Authorization / Transaction{maildrop} / Update), the one
//!   state-by-command dispatch, the limits, and the only code that writes replies.
//! - `maildrop`: the locked INBOX snapshot of a session and its DELE marks.
//! - `reply`: [`reply::Reply`], [`reply::CmdError`], [`reply::RespCode`].
//! - `cmd/`: handlers — `auth` (USER, PASS, AUTH), `capa`, `list` (STAT, LIST, UIDL),
//!   `retr` (RETR, TOP, dot-stuffing writer), `update` (DELE, RSET, NOOP, QUIT).
//!
//! # Invariants
//! - Message numbers, sizes and UIDLs are those of the snapshot taken at login, for the whole
//!   session (RFC 1939 §8); a message another session expunged answers `-ERR` on RETR/TOP.
//! - Nothing is deleted before QUIT in TRANSACTION; QUIT removes the marked messages in one
//!   durable store transaction before it answers `+OK` (RFC 1939 §6, docs/spec.md §5).
//! - The maildrop lock is owned by the session state, so QUIT, disconnect, timeout, shutdown
//!   and panics all release it.
//! - Plaintext passwords are accepted only over TLS or (if allowed) from loopback (docs/spec.md §4).
//! - Input pipelined behind STLS is never executed (`net::Connection::start_tls`).
//! - Passwords and SASL responses never reach the trace ([`redact`], `expect_secret`).
#![forbid(unsafe_code)]
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

pub mod cmd;
pub mod command;
pub mod login_delay;
pub mod maildrop;
pub mod reply;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

/// What a POP3 listener needs.
#[derive(Clone)]
pub struct Ctx {
    pub auth: auth::Auth,
    /// What every daemon's listener shares: certificate (STLS, and pop3s on 995 when
    /// `implicit_tls`), hostname (greeting), limits, trace, plaintext rule, registry.
    pub service: net::ServiceConfig,
}

impl Ctx {
    /// A context with the defaults: no TLS, loopback plaintext on.
    pub fn new(auth: auth::Auth, hostname: impl Into<String>) -> Ctx {
        Ctx {
            auth,
            service: net::ServiceConfig::new(hostname),
        }
    }
}

/// Session limits (docs/spec.md §8). [`serve`] uses the defaults; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command line, terminator included (docs/spec.md §8: 512).
    pub max_line: usize,
    /// Unknown / bad commands before the connection is closed.
    pub max_errors: u32,
    /// Idle limit before login.
    pub authorization_timeout: Duration,
    /// Idle limit after login (RFC 1939 §3: at least 10 minutes).
    pub transaction_timeout: Duration,
    /// Least time between two logins of one account (RFC 2449 §6.5 LOGIN-DELAY); zero: off,
    /// and not advertised (`[limits] pop3_login_delay`, docs/spec.md §6.1).
    pub login_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 512,
            max_errors: 10,
            authorization_timeout: session::AUTHORIZATION_TIMEOUT,
            transaction_timeout: session::TRANSACTION_TIMEOUT,
            login_delay: Duration::ZERO,
        }
    }
}

/// Reply sent when the connection limits are reached.
const BUSY: &[u8] = b"-ERR [SYS/TEMP] too many connections; try again later\r\n";

/// Serves POP3 on `listener` until `shutdown`; sessions then get
/// `-ERR [SYS/TEMP] server shutting down`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    serve_with_limits(listener, ctx, Limits::default(), shutdown).await
}

/// [`serve`] with explicit [`Limits`].
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    limits: Limits,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    let protocol = net::Protocol {
        plain: "pop3",
        implicit: "pop3s",
        busy_reply: BUSY,
        redactor: redact,
    };
    let service = ctx.service.clone();
    let shared = Arc::new(session::Shared::new(ctx, limits));
    net::serve_service(listener, &service, protocol, shutdown, move |s| {
        // Store changes made by this session carry its id (dashboard event feed).
        store::with_origin(s.id, session::run(shared.clone(), s))
    })
    .await
}

/// The trace form of a command line carrying a secret: `PASS <redacted>`,
/// `AUTH PLAIN <redacted>` (initial response). `None` for every other line.
pub fn redact(line: &[u8]) -> Option<String> {
    let line = net::trim_eol(line);
    let mut words = line.splitn(3, |&b| b == b' ');
    let keyword = words.next()?;
    if keyword.eq_ignore_ascii_case(b"PASS") {
        return Some("PASS <redacted>".into());
    }
    if keyword.eq_ignore_ascii_case(b"AUTH") {
        let mech = words.next()?;
        words.next()?;
        return Some(format!("AUTH {} <redacted>", String::from_utf8_lossy(mech)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redaction() {
        assert_eq!(
            redact(b"PASS hunter2 hunter2\r\n").as_deref(),
            Some("PASS <redacted>")
        );
        assert_eq!(redact(b"pass x").as_deref(), Some("PASS <redacted>"));
        assert_eq!(
            redact(b"AUTH PLAIN AGFAYgBj\r\n").as_deref(),
            Some("AUTH PLAIN <redacted>")
        );
        assert_eq!(redact(b"AUTH PLAIN\r\n"), None);
        assert_eq!(redact(b"USER alice@example.test\r\n"), None);
        assert_eq!(redact(b"RETR 1\r\n"), None);
    }
}
