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
    /// Configuration file [default: config/mailstack.toml; `serve --ephemeral` reads none
    /// unless given].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub verb: Verb,
}

/// The configuration file when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "config/mailstack.toml";

impl Cli {
    /// `--config`, or [`DEFAULT_CONFIG`].
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
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
        /// Reads no configuration unless --config is given; takes any non-empty password;
        /// exits (and deletes the store) when its parent process dies or a piped stdin closes.
        #[arg(long)]
        ephemeral: bool,
        /// With --ephemeral: capture-all. Every domain is local and a recipient without an
        /// account gets one at its first RCPT TO; nothing is relayed or sent anywhere.
        #[arg(long, requires = "ephemeral")]
        accept_any: bool,
        /// With --ephemeral: the real password policy (`[auth] min_password_length`, not
        /// containing the user name) instead of "any non-empty password".
        #[arg(long, requires = "ephemeral")]
        real_passwords: bool,
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
        /// Store straight into this mailbox. Without it: final delivery as SMTP does it,
        /// through the account's active Sieve script (INBOX when it has none).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxVerb),
    /// Forward an account's mail to another address, with or without a copy kept (a Sieve
    /// `redirect` in the account's script "mailstack", docs/spec.md §6.5). Without --to or
    /// --off: show the current setting.
    Forward {
        address: String,
        /// Where to forward (a local account gets it delivered; other domains go the outbound
        /// path: captured unless a relay is configured).
        #[arg(long)]
        to: Option<String>,
        /// Keep a copy in the account's INBOX too (`redirect :copy`, RFC 3894).
        #[arg(long, requires = "to")]
        keep_copy: bool,
        /// Stop forwarding.
        #[arg(long, conflicts_with_all = ["to", "keep_copy"])]
        off: bool,
    },
    /// Automatic replies while away (a Sieve `vacation`, RFC 5230: once per sender per
    /// --days, never to lists, automatic mail or <>), optionally between two dates and with
    /// another text for senders in the local domains. Without --message or --off: show the
    /// current setting.
    Vacation {
        address: String,
        /// First day (YYYY-MM-DD, UTC).
        #[arg(long, requires = "message")]
        from: Option<String>,
        /// Last day (YYYY-MM-DD, UTC).
        #[arg(long, requires = "message")]
        until: Option<String>,
        /// Subject of the reply (default "Auto: " and the original subject).
        #[arg(long, requires = "message")]
        subject: Option<String>,
        /// The reply's text.
        #[arg(long)]
        message: Option<String>,
        /// The text for senders in the local domains (colleagues).
        #[arg(long, requires = "message")]
        internal_message: Option<String>,
        /// One reply per sender per this many days.
        #[arg(long, default_value_t = 1, requires = "message")]
        days: u32,
        /// Stop replying.
        #[arg(long, conflicts_with = "message")]
        off: bool,
    },
    /// The store itself: schema migration, moving it between backends.
    #[command(subcommand)]
    Store(StoreVerb),
    /// Fault injection rules of the running server (docs/spec.md §7.7): make SMTP, IMAP or
    /// POP3 answer errors, wait, or drop connections on purpose, for testing applications.
    #[command(subcommand)]
    Fault(FaultVerb),
    /// Print the DNS records (RFC 6186 SRV, autoconfig CNAMEs, MX) to publish for the domains.
    DnsRecords,
    /// Generate the development CA and server certificate (if missing, or renew them when they
    /// expire within 30 days) and print their paths; with `[tls] generate = false`, only check
    /// the configured certificate.
    Certs,
    /// Print the HTTP admin token (REST API, dashboard actions), kept in the data folder
    /// (`admin-token`, mode 0600); made on first use.
    AdminToken {
        /// Replace it with a new one (the old one stops working when the server restarts).
        #[arg(long)]
        rotate: bool,
    },
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
        #[arg(long, value_parser = parse_quota, help = QUOTA_HELP)]
        quota: Option<u64>,
        /// When the address's domain is not local (not in `domains`), make it local: it is
        /// kept in the store, which the server merges with `domains`. Without this flag such
        /// an address is refused.
        #[arg(long)]
        add_domain: bool,
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
    List {
        /// As JSON (the fields of `GET /api/accounts`).
        #[arg(long)]
        json: bool,
    },
    /// Change account settings.
    Set {
        address: String,
        /// POP3 retrieval policy: keep, delete or mark-seen.
        #[arg(long)]
        pop3_policy: Option<store::Pop3Policy>,
        #[arg(long, value_parser = parse_quota, help = QUOTA_HELP)]
        quota: Option<u64>,
        /// Keep a copy of submitted mail in Sent.
        #[arg(long)]
        save_sent: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasVerb {
    /// Add ALIAS delivering to ADDRESS.
    Add {
        alias: String,
        address: String,
        /// When the alias's domain is not local, make it local (as `user add --add-domain`).
        #[arg(long)]
        add_domain: bool,
    },
    /// Remove an alias.
    Del { alias: String },
}

#[derive(Debug, Subcommand)]
pub enum MailboxVerb {
    /// Name, messages, unseen and bytes of each mailbox of ADDRESS.
    List {
        address: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write mail to files (docs/spec.md §7.8): one mailbox as an mbox file (standard output
    /// without --out), or every mailbox, or Maildir, into the folder --out.
    Export {
        address: String,
        /// Only this mailbox [default: every mailbox].
        #[arg(long)]
        mailbox: Option<String>,
        /// mbox (mboxrd, flags in Status/X-Status/X-Keywords) or maildir (Maildir++ for
        /// every mailbox).
        #[arg(long, value_enum, default_value_t = ExportFormat::Mbox)]
        format: ExportFormat,
        /// The mbox file of one mailbox, or a new (or empty) folder for the rest.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read what export writes (an mbox file, a folder of mbox files, a maildir or a
    /// Maildir++ tree) into ADDRESS, with flags, keywords and dates; messages a mailbox
    /// already holds are skipped.
    Import {
        address: String,
        path: PathBuf,
        /// The mailbox to import into (an mbox file, the maildir root; default INBOX), or
        /// under which to create the tree's mailboxes (default: at the top).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Remove the messages of one mailbox that match every criterion given (all of them
    /// without one); IMAP sessions see them go.
    Purge {
        address: String,
        /// The mailbox (required: every mailbox is purged one at a time).
        #[arg(long)]
        mailbox: String,
        /// Only messages received (INTERNALDATE) longer ago: 90d, 12h, 2w.
        #[arg(long, value_parser = web::backup::parse_age)]
        older_than: Option<u64>,
        /// Only messages larger than this: 5MiB, 500KB, bytes (as --quota counts).
        #[arg(long, value_parser = web::backup::parse_larger_than)]
        larger_than: Option<u64>,
        /// List what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Formats of `mailbox export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Mbox,
    Maildir,
}

impl From<ExportFormat> for web::backup::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Mbox => web::backup::Format::Mbox,
            ExportFormat::Maildir => web::backup::Format::Maildir,
        }
    }
}

const QUOTA_HELP: &str = "Mailbox size limit: bytes, or a number with a unit (500MB, 2GiB, \
     1.5GB; KB/MB/GB count in 1000s, KiB/MiB/GiB in 1024s); 0 or `unlimited` for no limit";

/// `--quota`: bytes, or a number with a unit a person would type; `0`/`unlimited`/`none` mean
/// no limit (returned as 0).
pub fn parse_quota(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if ["unlimited", "none"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Ok(0);
    }
    web::backup::parse_size(t).map_err(|e| match e {
        web::backup::SizeError::Invalid => quota_error(text),
        web::backup::SizeError::TooLarge => format!("quota {text:?} is too large"),
    })
}

fn quota_error(text: &str) -> String {
    format!(
        "invalid quota {text:?}: give bytes or a number with a unit, like 500MB or 2GiB \
         (KB/MB/GB = 1000-based, KiB/MiB/GiB = 1024-based); 0 or unlimited for no limit"
    )
}

/// A quota for people: `unlimited`, or the bytes and, when they are a round number of a
/// unit, that too (`10485760 bytes (10 MiB)`).
pub fn show_quota(bytes: Option<u64>) -> String {
    let Some(b) = bytes.filter(|b| *b > 0) else {
        return "unlimited".into();
    };
    let units = [
        (1u64 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    match units.iter().find(|(size, _)| b % size == 0) {
        Some((size, unit)) => format!("{b} bytes ({} {unit})", b / size),
        None => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_people_type() {
        for (text, bytes) in [
            ("1024", 1024),
            ("10MB", 10_000_000),
            ("10 MB", 10_000_000),
            ("10mb", 10_000_000),
            ("10MiB", 10 << 20),
            ("1KiB", 1024),
            ("500KB", 500_000),
            ("2GiB", 2 << 30),
            ("1.5GB", 1_500_000_000),
            ("0.5 MiB", 1 << 19),
            ("3G", 3_000_000_000),
            ("0", 0),
            ("unlimited", 0),
            ("None", 0),
        ] {
            assert_eq!(parse_quota(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "MB",
            "10XB",
            "-5",
            "1.2.3MB",
            "ten",
            "99999999999TB",
            ".",
        ] {
            let e = parse_quota(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn quotas_shown() {
        assert_eq!(show_quota(None), "unlimited");
        assert_eq!(show_quota(Some(0)), "unlimited");
        assert_eq!(show_quota(Some(10 << 20)), "10485760 bytes (10 MiB)");
        assert_eq!(show_quota(Some(10_000_000)), "10000000 bytes (10 MB)");
        assert_eq!(show_quota(Some(1234)), "1234 bytes");
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreVerb {
    /// Open the configured store, bringing a PostgreSQL schema up to date (`serve` does the
    /// same at start), and print where it is.
    Migrate,
    /// Copy a whole store to an empty one on another backend, keeping UIDs, UIDVALIDITY,
    /// MODSEQs and flags: `--from sled:PATH --to postgres://user@host/db`, or back. The
    /// PostgreSQL password comes from MAILSTACK_STORE_PASSWORD. Stop the server first.
    Copy {
        /// `sled:PATH` (a data folder) or `postgres://…` / `postgres:host=… dbname=…`.
        #[arg(long)]
        from: String,
        /// An empty store, in the same forms.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FaultVerb {
    /// Add a rule: e.g. `fault add --protocol smtp --stage RCPT --reply "452 4.2.2 Mailbox
    /// full" --times 1`, or `fault add --protocol smtp --stage DATA --action drop`.
    Add {
        /// smtp, imap or pop3 (may be left out with --listener).
        #[arg(long)]
        protocol: Option<String>,
        /// One listener only: smtp, submission, submissions, imap, imaps, pop3, pop3s.
        #[arg(long)]
        listener: Option<String>,
        /// One account only (the logged-in user; in SMTP also sender and recipients).
        #[arg(long)]
        account: Option<String>,
        /// CONNECT; SMTP EHLO, MAIL, RCPT, DATA, END-OF-DATA, …; an IMAP or POP3 command; *.
        #[arg(long)]
        stage: String,
        /// reply, delay, drop or blackhole [default: reply, or delay with --delay-ms].
        #[arg(long)]
        action: Option<String>,
        /// The reply, in the protocol's form ("452 4.2.2 …", "NO [UNAVAILABLE] …", "-ERR …").
        #[arg(long)]
        reply: Option<String>,
        /// Wait this long, then go on normally.
        #[arg(long)]
        delay_ms: Option<u64>,
        /// Chance in (0, 1] that a matching event fires the rule [default: 1].
        #[arg(long)]
        probability: Option<f64>,
        /// Fire this many times, then remove the rule [default: until removed].
        #[arg(long)]
        times: Option<u32>,
        /// Print the rule as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the rules in force.
    List {
        /// As JSON (the `GET /api/faults` document).
        #[arg(long)]
        json: bool,
    },
    /// Remove one rule by id.
    Del { id: u64 },
    /// Remove every rule.
    Clear,
}
