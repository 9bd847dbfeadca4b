//! Connection plumbing shared by the POP3, IMAP and SMTP servers.
//!
//! # Layout
//! - [`tls`]: rustls server config from PEM files; generation of a local CA + server
//!   certificate with rcgen when the files are missing, renewal when they expire soon.
//! - `validity`: the validity dates of a DER certificate (for the renewal).
//! - [`conn`]: [`Connection`], a buffered stream with a bounded line reader, exact-length reads
//!   (literals, BDAT), idle timeouts, the STARTTLS upgrade, and the per-session protocol trace.
//! - [`compress`]: raw deflate over a connection (IMAP COMPRESS=DEFLATE, RFC 4978).
//! - [`listen`]: the accept loop with connection limits, implicit TLS and one tracing span per
//!   session; [`Shutdown`] to stop it.
//! - [`service`]: the skeleton every daemon runs on: [`ServiceConfig`] (certificate,
//!   implicit TLS, hostname, limits, trace, plaintext rule, registry), [`serve_service`]
//!   (refuses an implicit-TLS port without a certificate), the TLS upgrade
//!   (`Connection::upgrade_tls`) and the one SASL exchange driver ([`sasl_exchange`]).
//! - [`faults`]: fault injection rules (reply, delay, drop, blackhole) that every daemon
//!   consults at its stages through `Connection::inject` (docs/spec.md §7.7).
//! - [`registry`]: the live session registry (protocol, port, TLS, user, mailbox, IDLE) and
//!   each session's redacted trace, for the dashboard.
//!
//! # Invariants
//! - A STARTTLS upgrade discards every byte the client sent before the handshake (pipelined
//!   commands after STARTTLS are never executed: CVE-2011-0411 class).
//! - A line longer than the limit is never buffered whole: the reader drops it up to the next
//!   LF and reports [`LineError::TooLong`].
//! - The idle timeout bounds each whole command line, not each read, so a client trickling a
//!   byte at a time (slowloris) is cut at the timeout like a silent one.
//! - The protocol trace never prints secrets: protocols mark secret input, and a redactor
//!   rewrites command lines that carry passwords.
#![forbid(unsafe_code)]

pub mod compress;
pub mod conn;
pub mod faults;
pub mod listen;
pub mod registry;
pub mod service;
pub mod tls;
mod validity;

pub use conn::{trim_eol, Redactor};
pub use conn::{Connection, LineError, Stream};
pub use listen::{
    serve_listener, ConnLimits, Limiter, ListenerConfig, Session, Shutdown, ShutdownTrigger,
};
pub use registry::{Registry, SessionHandle, SessionInfo};
pub use service::{
    sasl_exchange, sasl_exchange_framed, serve_service, Protocol, Responses, SaslOutcome,
    ServiceConfig, MAX_SASL_LINE,
};
pub use tls::{load_or_generate, TlsAcceptor, TlsError, TlsSetup, Validity};
pub use validity::date;
