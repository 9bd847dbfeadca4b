//! The one test kit every Rust integration test uses: a server on port 0 — the daemons
//! in-process over a temporary store, or the real `mailstack` binary — with its accounts, the
//! CA its certificates chain to, clients for every protocol, and [`eventually`] instead of
//! sleeping (docs/conventions.md §11).
//!
//! # Layout
//! - [`inproc`]: [`Stack`] — the daemons (IMAP, POP3, SMTP in its three roles, HTTP) in this
//!   process on `127.0.0.1:0` over one temporary store, built by [`StackBuilder`] with the
//!   knobs the binary does not expose (limits, timeouts, plaintext from loopback, maximum
//!   literal, …). Every daemon's `Ctx` gets the same `net::ServiceConfig`, as in
//!   `mailstack serve`.
//! - [`accounts`]: accounts (cheap argon2: `auth::AuthConfig::for_tests()`), delivery straight
//!   into the store and reading mailboxes back, on a [`Stack`] (an account by address or as
//!   `store::Account`: [`accounts::AccountRef`]); a bare temporary store or `Auth` for the
//!   store's and auth's own tests.
//! - [`process`]: [`Mailstack`] — the real binary (`mailstack serve --ephemeral`, or `serve
//!   --json` on a generated config when a test needs config options, a restart or CLI verbs on
//!   the same store); ports, CA, admin token and data dir come from its JSON line; SIGTERM,
//!   SIGKILL, restart; CLI verbs.
//! - [`tls`]: the generated CA / trust store: certificates for in-process servers, rustls
//!   client configuration and connectors for tests that speak TLS.
//! - [`client`]: [`Line`] (one line client: raw bytes, deadlines, STARTTLS, a chosen source
//!   address, floods), its protocol faces [`Pop3`] and [`Smtp`], the literal-aware scripted
//!   [`Imap`] client, and the SMTP-send / POP3 DELE+QUIT helpers.
//! - [`http`]: one response type for requests through a `web` router in memory and over TCP to
//!   a running server (admin API with the bearer token).
//! - [`mail`]: test messages ([`message`], [`Message`], the dated IMAP one, the REST API's
//!   remote one) and `strip_trace` for what SMTP stored.
//! - [`wait`]: [`eventually`] — poll a condition until a deadline and report what it last saw.
//!
//! # Invariants
//! - Never a fixed port: every listener is bound to `127.0.0.1:0` (in-process) or asked for
//!   port 0 (the binary, whose ports are read from its JSON line, never from its log).
//! - Every server has its own temporary folder (store, certificates, config) and is stopped
//!   when dropped: a [`Stack`] triggers its shutdown, a [`Mailstack`] gets SIGTERM (SIGKILL
//!   after 30 s). Tests run in parallel and leave nothing behind.
//! - Every client read has a deadline ([`client::READ_LIMIT`]): a server that hangs fails the
//!   test instead of hanging it.
//! - Used only from integration tests (`tests/*.rs`), never from a crate's unit tests: the kit
//!   depends on every daemon, so a daemon's `#[cfg(test)]` code would see a second copy of its
//!   own crate.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod client;
pub mod http;
pub mod inproc;
pub mod mail;
pub mod postgres;
pub mod process;
pub mod tls;
pub mod wait;

pub use client::{Imap, Line, Pop3, Smtp};

/// The seven mail listeners of every shipped configuration.
pub const MAIL_SERVICES: [&str; 7] = [
    "smtp",
    "submission",
    "submissions",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
];
pub use inproc::{Daemon, Stack, StackBuilder};
pub use mail::{message, Message};
pub use process::Mailstack;
pub use wait::{
    eventually, eventually_blocking, pending_for, try_eventually, try_eventually_blocking,
};

/// The password of every account a test adds with [`Stack::add_user`] or
/// [`StackBuilder::user`].
pub const PASSWORD: &str = "long password 123";
/// Demo account of [`Mailstack`] servers (their generated config) and of
/// [`StackBuilder::demo_accounts`]: (address, password).
pub const ALICE: (&str, &str) = ("alice@example.test", "rabbit-hole-2026");
/// The second demo account.
pub const BOB: (&str, &str) = ("bob@example.test", "builder-of-things");
/// The local domain of every test server.
pub const DOMAIN: &str = "example.test";
/// The admin token (`Authorization: Bearer …`) of in-process stacks.
pub const TOKEN: &str = "test-admin-token";

/// Whether an external program is installed (tests of third-party clients print `SKIPPED: …`
/// otherwise; `.ci/run` installs them all).
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a Python 3 snippet with `input` on stdin; returns its stdout (panics on failure).
pub fn python(script: &str, input: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
