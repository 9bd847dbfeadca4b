//! Sieve mail filtering (RFC 5228) for mailstack: a parser that validates a script once
//! (at upload, RFC 5804 CHECKSCRIPT/PUTSCRIPT) and an interpreter that runs it at delivery
//! for one recipient, returning the actions the delivery side carries out. No I/O: the
//! caller passes the message, the envelope, the clock and a mailbox-existence callback.
//! What users can write and how the delivery side uses the results: docs/sieve.md.
//!
//! ```
//! let script = sieve::parse(r#"require "fileinto";
//!     if header :contains "subject" "[list]" { fileinto "Lists"; }"#).unwrap();
//! let exists = |_: &str| true;
//! let ctx = sieve::Context { now_unix: 0, zone_minutes: 0, mailbox_exists: &exists, max_actions: 32 };
//! let env = sieve::Envelope { from: "a@example.org", to: "b@example.org" };
//! let out = sieve::execute(&script, &env, b"Subject: [list] hi\r\n\r\nbody\r\n", &ctx);
//! assert_eq!(out.actions, [sieve::Action::FileInto { mailbox: "Lists".into(), flags: vec![], create: false }]);
//! ```
//!
//! # Standards
//!
//! | RFC | what | status |
//! |---|---|---|
//! | 5228 | Sieve core: if/elsif/else, require, stop, keep, discard, redirect, fileinto; address, allof, anyof, envelope, exists, false, header, not, size, true; :is/:contains/:matches; "encoded-character" | Yes |
//! | 4790 | comparators i;octet, i;ascii-casemap, i;ascii-numeric | Yes |
//! | 3894 | copy (`:copy`) | Yes |
//! | 5229 | variables (set, modifiers, `${name}`, `${0}`..`${9}`, string) | Yes (no namespaces) |
//! | 5230 | vacation | Yes |
//! | 6131 | vacation-seconds | Yes |
//! | 5231 | relational (`:value`, `:count`) | Yes |
//! | 5232 | imap4flags | Yes |
//! | 5260 | date, currentdate | Yes (no "index") |
//! | 5173 | body (`:raw`, `:content`, `:text`) | Yes |
//! | 5490 | mailbox (`mailboxexists`, `fileinto :create`) | Partial: no metadata tests |
//! | 3834 | auto-reply rules for vacation ([`vacation`]) | Yes |
//!
//! # Layout
//! - `lexer`: tokens with positions (RFC 5228 §8.1).
//! - `parse`: the grammar (§8.2) in `parse/mod.rs`; argument handling and the match-type /
//!   comparator tags in `parse/args.rs`; one validator per command (`parse/actions.rs`)
//!   and per test (`parse/conditions.rs`) that checks arguments and `require`s and builds
//!   the typed tree of `ast`.
//! - `strings`: string arguments at parse time (encoded-character, variable references).
//! - `interp`: running a script (`interp/mod.rs`: commands, actions, implicit keep,
//!   variables, flags), evaluating tests (`interp/eval.rs`), comparing
//!   (`interp/matching.rs`).
//! - `message`: header fields, decoded values, addresses; `body`: the MIME walk of the body
//!   test; `date`: date-parts and calendar arithmetic.
//! - [`vacation`]: the delivery side's helpers for a vacation action.
//!
//! # Invariants
//! - [`parse`] never panics and runs in time linear in the script (nesting of blocks and
//!   tests is limited to [`MAX_NESTING`]); every argument error is found at parse time, with
//!   a 1-based line and column.
//! - [`execute`] never panics and never fails: a runtime error yields a plain keep and the
//!   message (RFC 5228 §2.10.6). Its cost is bounded by the script and the message (no
//!   loops; variable values and expansions are capped).
//! - A [`Script`] is immutable, `Send + Sync`, and can run concurrently for many messages.

#![forbid(unsafe_code)]

mod ast;
mod body;
mod date;
mod interp;
mod lexer;
mod message;
mod parse;
mod strings;
pub mod vacation;

use std::fmt;

pub use interp::{MAX_EXPANSION, MAX_VARIABLE_LEN};
pub use parse::MAX_NESTING;

/// The decoded, unfolded values of every `name` header field of `message` (case-insensitive,
/// in message order): what the `header` test sees, for the delivery side's own checks
/// (`Delivered-To`, `Received` loop detection).
pub fn header_values(message: &[u8], name: &str) -> Vec<String> {
    let headers = message::parse_headers(message);
    headers.get(name).map(|f| message::decode(f.raw)).collect()
}

/// Space-separated capability list for ManageSieve's SIEVE capability (RFC 5804 §1.7): every
/// string `require` accepts besides the implicit "comparator-i;octet" and
/// "comparator-i;ascii-casemap".
pub const EXTENSIONS: &str = "fileinto envelope copy imap4flags vacation vacation-seconds date relational body variables mailbox comparator-i;ascii-numeric encoded-character";

/// A script that failed to parse or validate: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// A parsed and validated script.
#[derive(Debug, Clone)]
pub struct Script {
    commands: Vec<ast::Command>,
    caps: ast::Caps,
}

impl Script {
    /// The extensions the script requires, as capability names (for logs and tools).
    pub fn requires(&self) -> Vec<&'static str> {
        ast::Ext::ALL
            .into_iter()
            .filter(|e| self.caps.has(*e))
            .map(ast::Ext::name)
            .collect()
    }
}

/// Parses and validates a script (RFC 5228 §8). Size limits are the caller's.
pub fn parse(src: &str) -> Result<Script, ParseError> {
    let toks = lexer::tokenize(src)?;
    let mut p = parse::Parser::new(toks);
    let commands = p.script()?;
    Ok(Script {
        commands,
        caps: p.caps,
    })
}

/// The SMTP envelope of the message for this recipient.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The reverse-path; "" for the null reverse-path `<>`.
    pub from: &'a str,
    /// This recipient.
    pub to: &'a str,
}

/// What the interpreter asks of its caller.
pub struct Context<'a> {
    /// Current time for currentdate, UTC seconds.
    pub now_unix: i64,
    /// Local zone offset in minutes east of UTC, for currentdate and date without `:zone`.
    pub zone_minutes: i32,
    /// Whether a mailbox exists (mailboxexists; fileinto without `:create`).
    pub mailbox_exists: &'a dyn Fn(&str) -> bool,
    /// Most fileinto + redirect actions; exceeding it is a runtime error.
    pub max_actions: usize,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now_unix", &self.now_unix)
            .field("zone_minutes", &self.zone_minutes)
            .field("max_actions", &self.max_actions)
            .finish_non_exhaustive()
    }
}

/// The result of running a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub actions: Vec<Action>,
    /// A runtime error (RFC 5228 §2.10.6); `actions` is then a plain keep.
    pub error: Option<String>,
}

/// One thing the delivery side does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Explicit or implicit keep into INBOX (also `fileinto "INBOX"`, and fileinto a
    /// mailbox that does not exist, without `:create`).
    Keep { flags: Vec<String> },
    /// Store into `mailbox`, creating it first when `create` (RFC 5490 §3.2).
    FileInto {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
    },
    /// Forward to `address` (an addr-spec), unchanged (RFC 5228 §4.2).
    Redirect { address: String },
    /// Nothing stores or forwards the message (informational; always last).
    Discard,
    /// Send a vacation response if [`vacation::reply_to`] agrees and the sender was not
    /// answered within `period_secs` under this handle. At most one per outcome: a script
    /// that executes vacation twice for a message gets a runtime error (RFC 5230 §4.7).
    Vacation(Vacation),
}

/// A vacation action with its arguments evaluated (RFC 5230 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// `:handle`, or one computed from subject, from, mime and reason (RFC 5230 §4.2).
    pub handle: String,
    /// How long to wait before answering the same sender again: `:days` × 86400 (7 days by
    /// default, at least 1) or `:seconds` as given (RFC 6131).
    pub period_secs: u64,
    pub subject: Option<String>,
    /// `:from`, when given and a valid address (or name-addr).
    pub from: Option<String>,
    /// `:addresses`: more addresses of the user (RFC 5230 §4.5).
    pub addresses: Vec<String>,
    /// `:mime`: `reason` is a MIME entity (RFC 5230 §4.4).
    pub mime: bool,
    pub reason: String,
}

/// Runs `script` on `message` (the raw RFC 5322 bytes) for one recipient. Never fails: a
/// runtime error gives `Outcome { actions: [Keep], error: Some(..) }`.
pub fn execute(
    script: &Script,
    envelope: &Envelope<'_>,
    message: &[u8],
    ctx: &Context<'_>,
) -> Outcome {
    interp::run(script, envelope, message, ctx)
}
