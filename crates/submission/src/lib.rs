//! The SMTP server: inbound mail (MX role, port 25), message submission (587, STARTTLS) and
//! submission over implicit TLS (465), delivering into the shared store.
//!
//! The crate keeps the design's name (the three daemon crates are `pop3d`, `imapd` and
//! `submission`), but it is the whole SMTP server: the inbound MX role and both submission
//! roles run on this code, each listener choosing its [`Role`].
//!
//! Command parsing and the EHLO response come from `smtp-proto`; the session state machine,
//! the DATA reader (with the SMTP smuggling defence), policy and delivery are ours.
//!
//! | RFC | what | status |
//! |---|---|---|
//! | RFC 5321 | SMTP | Yes (no relaying by design; EXPN/ETRN not offered) |
//! | RFC 6409 | message submission (AUTH required, sender ownership) | Yes |
//! | RFC 8314 | implicit TLS for submission (465) | Yes |
//! | RFC 3207 | STARTTLS | Yes |
//! | RFC 4954 | AUTH PLAIN and LOGIN, initial response | Yes |
//! | RFC 1870 | SIZE | Yes |
//! | RFC 6152 | 8BITMIME | Yes (content stored as received) |
//! | RFC 2920 | PIPELINING | Yes |
//! | RFC 2034 / RFC 3463 | ENHANCEDSTATUSCODES | Yes |
//! | RFC 6531 | SMTPUTF8 | Yes (addresses accepted and stored; no downgrade needed) |
//! | RFC 3030 | CHUNKING (BDAT), BINARYMIME (content stored as received; DATA refused with it) | Yes |
//! | RFC 3461, RFC 3464 | DSN: RET, ENVID, NOTIFY, ORCPT; reports as multipart/report into a local sender's INBOX | Yes (no DELAY reports: nothing is ever queued) |
//! | RFC 3848 | `with` keywords in `Received:` | Yes |
//!
//! # Layout
//! - `lib.rs`: [`Ctx`], [`Role`], [`Outbound`], [`serve`], the trace [`redact`]or.
//! - [`codes`]: every reply as a named constant with its RFC.
//! - `dsn`: DSN parameters (RFC 3461) and the delivery status reports (RFC 3464).
//! - `session`: state enum (`Connected`/`Greeted`/`Mail{from}`/`Rcpt{from,to}`), the
//!   read–dispatch loop, EHLO/HELO/STARTTLS/AUTH/RSET/NOOP/VRFY/HELP/QUIT, and which command is
//!   allowed in which state (one function).
//! - `transaction`: MAIL, RCPT, DATA, BDAT with the sender and recipient policy.
//! - `data`: the DATA reader (CRLF.CRLF only, bare LF/CR rejected) and BDAT chunk discard.
//! - `deliver`: `Return-Path:` + `Received:`, one shared copy per message in every local
//!   INBOX, outbound capture, the Sent copy.
//! - `auth`: the AUTH exchange over the shared `auth::sasl` decoder.
//!
//! # Invariants
//! - A `250` after DATA/BDAT LAST is sent only once the message is durable in the store.
//! - Only `CRLF . CRLF` ends DATA; a message with a bare LF or CR is rejected (`550 5.6.0`),
//!   so no other server can be made to see a different message boundary (SMTP smuggling).
//! - The server never relays: a non-local recipient is refused, or — on an authenticated
//!   session with `Outbound::Capture` — stored in the capture account, never sent. With
//!   `Outbound::AcceptAny` every recipient is local (an account is made for it).
//! - Commands pipelined behind STARTTLS are discarded, never executed (net does it).
//! - AUTH is offered and accepted only over TLS, or from loopback when
//!   [`Ctx::allow_plaintext_from_loopback`] is set; AUTH payloads never reach the trace.
//! - An authenticated session may only use the account's own addresses as sender.
#![forbid(unsafe_code)]

mod auth;
pub mod codes;
mod data;
mod deliver;
mod dsn;
pub mod filter;
mod session;
mod transaction;

use std::time::Duration;

/// Which listener a session belongs to (docs/spec.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// MX role (25 / 3025): local recipients only, no AUTH, never relays.
    Inbound,
    /// Submission (587 / 3587, RFC 6409): STARTTLS, AUTH required.
    Submission,
    /// Submission over implicit TLS (465 / 3465, RFC 8314 §3.3): AUTH required.
    Submissions,
}

impl Role {
    fn service(self) -> &'static str {
        match self {
            Role::Inbound => "smtp",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
        }
    }
}

/// What happens to mail for non-local recipients from authenticated users (docs/spec.md §6).
#[derive(Clone, Debug)]
pub enum Outbound {
    /// `550 5.7.1 relaying denied`.
    Reject,
    /// Stored in the INBOX of this account, with `X-Mailstack-Captured-For:`; never sent.
    Capture(String),
    /// `serve --ephemeral --accept-any` (docs/spec.md §7.2), capture-all for tests: every
    /// domain is local, on every role, and a recipient without an account gets one (random
    /// password) at its first `RCPT TO`. Nothing is relayed or sent anywhere.
    AcceptAny,
}

/// Everything a listener needs; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub auth: ::auth::Auth,
    /// What every daemon's listener shares: certificate (STARTTLS, and the implicit TLS of
    /// [`Role::Submissions`], which sets `implicit_tls` itself), hostname (greeting, EHLO,
    /// `Received:`), limits, trace (AUTH payloads redacted), plaintext rule, registry.
    pub service: net::ServiceConfig,
    /// RFC 1870 SIZE; default 50 MiB.
    pub max_message_size: u64,
    pub outbound: Outbound,
}

/// Default SIZE (docs/spec.md §8).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 50 * 1024 * 1024;
/// docs/spec.md §8: idle SMTP sessions get 421 after 5 minutes (RFC 5321 §4.5.3.2.7 says 5 too).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl Ctx {
    /// A context with the defaults: no TLS, 50 MiB, outbound rejected, loopback plaintext on.
    pub fn new(auth: ::auth::Auth, hostname: impl Into<String>) -> Ctx {
        Ctx {
            auth,
            service: net::ServiceConfig::new(hostname),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            outbound: Outbound::Reject,
        }
    }
}

/// Knobs that are not configuration but tests need.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Serves `role` on a bound listener until `shutdown`; sessions then get
/// `421 4.3.2 shutting down`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    role: Role,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    serve_with(listener, ctx, role, shutdown, Options::default()).await
}

/// [`serve`] with explicit [`Options`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    role: Role,
    shutdown: net::Shutdown,
    opts: Options,
) -> std::io::Result<()> {
    let protocol = net::Protocol {
        plain: role.service(),
        implicit: Role::Submissions.service(),
        busy_reply: codes::BUSY,
        redactor: redact,
    };
    let mut service = ctx.service.clone();
    // RFC 8314 §3.3: the submissions port is TLS from the first byte; the others never are.
    service.implicit_tls = role == Role::Submissions;
    net::serve_service(
        listener,
        &service,
        protocol,
        shutdown,
        move |s: net::Session| {
            let ctx = ctx.clone();
            // Store changes made by this session carry its id (dashboard event feed).
            store::with_origin(s.id, async move {
                session::Session::new(s.conn, ctx, role, s.id, opts)
                    .run(s.shutdown)
                    .await
            })
        },
    )
    .await
}

/// Fuzzing entry point (`fuzz/`): one command line through the parser and the reply mapping
/// the session uses. Not an API.
#[doc(hidden)]
pub fn fuzz_parse(line: &[u8]) -> u16 {
    match smtp_proto::Request::parse(&mut line.iter()) {
        Ok(req) => {
            let _ = req.into_owned();
            250
        }
        Err(e) => session::parse_error(e).code.code,
    }
}

/// Fuzzing entry point (`fuzz/`): a whole session on an in-memory connection, until the
/// client side closes or the session ends. Not an API.
#[doc(hidden)]
pub async fn fuzz_session(conn: net::Connection, ctx: Ctx, role: Role, opts: Options) {
    session::Session::new(conn, ctx, role, 0, opts)
        .run(net::Shutdown::never())
        .await
}

/// Trace redactor: `AUTH <mech> <initial-response>` → `AUTH <mech> <redacted>`. SASL
/// continuation lines are marked secret by the session itself.
pub fn redact(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(net::trim_eol(line));
    let mut parts = text.split_ascii_whitespace();
    let verb = parts.next()?;
    if !verb.eq_ignore_ascii_case("AUTH") {
        return None;
    }
    let mech = parts.next()?;
    parts.next()?;
    Some(format!("{verb} {mech} <redacted>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact(b"AUTH PLAIN AGFAYgBj\r\n").as_deref(),
            Some("AUTH PLAIN <redacted>")
        );
        assert_eq!(
            redact(b"auth login dXNlcg==\r\n").as_deref(),
            Some("auth login <redacted>")
        );
        assert_eq!(redact(b"AUTH LOGIN\r\n"), None);
        assert_eq!(redact(b"MAIL FROM:<a@b>\r\n"), None);
    }
}
