//! Command-line verbs (clap). Names are fixed by the product: scripts depend on them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mailstack",
    version,
    about = "A small, real mail server: SMTP, POP3 and IMAP over one store"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "config/mailstack.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Run every configured listener in this process.
    Serve {
        /// Log every protocol line (passwords and AUTH data replaced by <redacted>).
        #[arg(long)]
        trace_protocol: bool,
        /// With the trace: show message bodies too (otherwise their first line and size).
        #[arg(long)]
        trace_bodies: bool,
        /// Temporary store deleted at exit, every listener on a free loopback port; prints one
        /// JSON line with the ports, the CA path and the admin token (for test harnesses).
        #[arg(long)]
        ephemeral: bool,
        /// Print the JSON line of --ephemeral (ports, CA, admin token, data dir, pid) as the
        /// last line on stdout once every listener is bound, after the usual lines (for test
        /// harnesses that need a config file).
        #[arg(long)]
        json: bool,
    },
    /// Accounts.
    #[command(subcommand)]
    User(UserVerb),
    /// Aliases (extra addresses that deliver to an account and may be used as sender).
    #[command(subcommand)]
    Alias(AliasVerb),
    /// Deliver a message read from standard input.
    Deliver {
        #[arg(long)]
        to: String,
        /// Mailbox to deliver into (default INBOX).
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxVerb),
    /// Print the DNS records (RFC 6186 SRV, autoconfig CNAMEs, MX) to publish for the domains.
    DnsRecords,
    /// Generate the development CA and server certificate (if missing) and print their paths.
    Certs,
    /// Play a narrated POP3-vs-IMAP scenario against a throwaway server (no config needed):
    /// real protocol sessions, every line shown, passwords redacted.
    Demo {
        /// Which scenario: `pop-vs-imap`, or `all` (adds the mailbox-full case).
        #[arg(value_enum, default_value_t = DemoScenario::All)]
        scenario: DemoScenario,
        /// `text` for a terminal, `markdown` for a page to hand out.
        #[arg(long, value_enum, default_value_t = DemoFormat::Text)]
        format: DemoFormat,
        /// Keep the temporary folder (store, certificates) and print its path.
        #[arg(long)]
        keep: bool,
    },
}

/// Scenarios of `mailstack demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoScenario {
    /// Submission, IMAP IDLE on two devices, POP3 with and without delete, the ports used.
    PopVsImap,
    /// `pop-vs-imap` plus the mailbox-full case (552 5.2.2 and [OVERQUOTA]).
    All,
}

/// Output formats of `mailstack demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoFormat {
    Text,
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum UserVerb {
    /// Create an account (with INBOX, Sent, Drafts, Trash, Junk, Archive).
    Add {
        address: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Quota in bytes.
        #[arg(long)]
        quota: Option<u64>,
    },
    /// Change an account's password (effective for IMAP, POP3 and SMTP at once).
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an account with its mailboxes and messages.
    Del { address: String },
    /// List accounts.
    List,
    /// Change account settings.
    Set {
        address: String,
        /// POP3 retrieval policy: keep, delete or mark-seen.
        #[arg(long)]
        pop3_policy: Option<store::Pop3Policy>,
        /// Quota in bytes (0 = unlimited).
        #[arg(long)]
        quota: Option<u64>,
        /// Keep a copy of submitted mail in Sent.
        #[arg(long)]
        save_sent: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasVerb {
    /// Add ALIAS delivering to ADDRESS.
    Add { alias: String, address: String },
    /// Remove an alias.
    Del { alias: String },
}

#[derive(Debug, Subcommand)]
pub enum MailboxVerb {
    /// Name, messages, unseen and bytes of each mailbox of ADDRESS.
    List { address: String },
}
