//! Clients for every protocol: one line client ([`Line`]) and its protocol faces.
//!
//! # Invariants
//! - Every read waits at most [`READ_LIMIT`]; a hang fails the test instead of blocking CI.
//! - TLS trusts only the test server's CA and verifies the name `localhost`
//!   ([`crate::tls`]).

mod imap;
mod line;
mod pop3;
mod smtp;

use std::time::Duration;

pub use imap::{code_value, Imap, PUSH_LIMIT};
pub use line::{tcp_from, Line};
pub use pop3::{pop3_dele_quit, Pop3};
pub use smtp::{smtp_send, Smtp};

/// How long one read waits before the test fails.
pub const READ_LIMIT: Duration = Duration::from_secs(60);
