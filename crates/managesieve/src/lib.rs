//! mailstack's ManageSieve server (RFC 5804): users upload, check, activate and fetch the Sieve
//! scripts that run when mail is delivered to them (docs/spec.md §6.5). Port 4190, listener key
//! `managesieve`, with STARTTLS; SASL PLAIN and LOGIN through the same auth and SASL driver as
//! the other daemons.
//!
//! # RFCs
//!
//! | RFC | what | status |
//! |---|---|---|
//! | 5804 | AUTHENTICATE, STARTTLS, LOGOUT, CAPABILITY, HAVESPACE, PUTSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT, RENAMESCRIPT, CHECKSCRIPT, NOOP, UNAUTHENTICATE | Yes |
//! | 5804 §1.3 | response codes AUTH-TOO-WEAK, ENCRYPT-NEEDED, QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE, NONEXISTENT, ALREADYEXISTS, ACTIVE, TAG, TRYLATER | Yes (REFERRAL, SASL: No) |
//! | 4616, draft-murchison-sasl-login | PLAIN, LOGIN | Yes |
//!
//! # Layout
//! - `command`: line tokens and tokens → [`command::Command`] (no I/O), reply strings.
//! - `session`: reading a command with its literals, the state (not authenticated /
//!   authenticated), the dispatch, and the only code that writes replies.
//!
//! The Sieve language itself is not this crate's: [`Language`] (the capability list and the
//! check run by PUTSCRIPT/CHECKSCRIPT) comes from the binary, which wires in the `sieve` crate.
//!
//! # Invariants
//! - A script is stored only after the language check accepted it; the reply to a rejected
//!   one names the line (RFC 5804 §2.6).
//! - Plaintext passwords only over TLS or (if allowed) from loopback (docs/spec.md §4);
//!   input pipelined behind STARTTLS is never executed (`net::Connection::start_tls`).
//! - Passwords and SASL responses never reach the trace ([`redact`], `expect_secret`).
#![forbid(unsafe_code)]

pub mod command;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

/// The Sieve language the server checks scripts against.
#[derive(Clone, Copy)]
pub struct Language {
    /// RFC 5804 §1.7 `SIEVE` capability: the supported extensions, space-separated.
    pub extensions: &'static str,
    /// RFC 5804 §1.7 `MAXREDIRECTS`: redirects one script may do per message.
    pub max_redirects: usize,
    /// Parses a script: `Err` carries the text of the `NO` reply (with the line).
    pub check: fn(&str) -> Result<(), String>,
}

impl Default for Language {
    /// The `sieve` crate's language (what delivery runs).
    fn default() -> Self {
        Language {
            extensions: sieve::EXTENSIONS,
            max_redirects: MAX_REDIRECTS,
            check: |text| sieve::parse(text).map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// Redirects (and fileintos) one script may do per message: what delivery allows
/// (`submission::filter::MAX_ACTIONS`).
pub const MAX_REDIRECTS: usize = 32;

/// What a ManageSieve listener needs.
#[derive(Clone)]
pub struct Ctx {
    pub auth: auth::Auth,
    /// Certificate (STARTTLS), hostname, limits, trace, plaintext rule, registry.
    pub service: net::ServiceConfig,
    pub language: Language,
}

/// Session limits (docs/spec.md §8).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command line (literals excluded).
    pub max_line: usize,
    /// Bad commands before the connection is closed.
    pub max_errors: u32,
    /// Idle limit before login.
    pub login_timeout: Duration,
    /// Idle limit after login.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8 * 1024,
            max_errors: 10,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Reply sent when the connection limits are reached (RFC 5804 §1.3 TRYLATER).
const BUSY: &[u8] = b"BYE (TRYLATER) \"too many connections; try again later\"\r\n";

/// Serves ManageSieve on `listener` until `shutdown`.
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
        plain: "managesieve",
        // No implicit-TLS port is defined for ManageSieve (RFC 5804 §1.8: STARTTLS on 4190).
        implicit: "managesieve",
        busy_reply: BUSY,
        redactor: redact,
    };
    let service = ctx.service.clone();
    let shared = Arc::new((ctx, limits));
    net::serve_service(listener, &service, protocol, shutdown, move |s| {
        store::with_origin(s.id, session::run(shared.clone(), s))
    })
    .await
}

/// The trace form of `AUTHENTICATE "PLAIN" "<initial response>"`; `None` for other lines.
pub fn redact(line: &[u8]) -> Option<String> {
    let line = net::trim_eol(line);
    let mut words = line.splitn(3, |&b| b == b' ');
    if !words.next()?.eq_ignore_ascii_case(b"AUTHENTICATE") {
        return None;
    }
    let mech = words.next()?;
    words.next()?;
    Some(format!(
        "AUTHENTICATE {} <redacted>",
        String::from_utf8_lossy(mech)
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn redaction() {
        assert_eq!(
            super::redact(b"AUTHENTICATE \"PLAIN\" \"AGFAYgBj\"\r\n").as_deref(),
            Some("AUTHENTICATE \"PLAIN\" <redacted>")
        );
        assert_eq!(super::redact(b"authenticate \"LOGIN\"\r\n"), None);
        assert_eq!(super::redact(b"GETSCRIPT \"x\"\r\n"), None);
    }
}
