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

impl crate::Stack {
    /// A POP3 client logged in as `address` with [`crate::PASSWORD`] (USER/PASS on `pop3`).
    pub async fn pop3_login(&self, address: &str) -> Pop3 {
        Pop3::login_to(self.port("pop3"), address, crate::PASSWORD).await
    }

    /// An IMAP client logged in as `address` with [`crate::PASSWORD`] (LOGIN on `imap`).
    pub async fn imap_login(&self, address: &str) -> Imap {
        Imap::login_to(self.port("imap"), address, crate::PASSWORD).await
    }

    /// An SMTP client on `service` (`smtp`, `submission`, or `submissions` with TLS) after
    /// the `220` greeting.
    pub async fn smtp(&self, service: &str) -> Smtp {
        if service == "submissions" {
            Smtp::greeted_tls(self.port(service), &self.ca).await
        } else {
            Smtp::greeted(self.port(service)).await
        }
    }
}
