//! Fault injection for tests (docs/spec.md §7.7): rules that make a listener misbehave on
//! purpose — answer an error, wait, drop the connection, or (SMTP end of data) accept a message
//! and never deliver it — so an application can be tested against a failing mail server.
//!
//! Rules come from the configuration (`[[faults]]`), the CLI (`mailstack fault …`, through the
//! running server's HTTP admin API), `POST /api/faults` and the dashboard; all of them land in
//! one [`Faults`] handle shared by every listener of the process. Each daemon asks
//! [`Connection::inject`] at its stages (SMTP: `CONNECT`, `EHLO`, `MAIL`, `RCPT`, `DATA`,
//! `END-OF-DATA`, …; IMAP and POP3: `CONNECT` and every command name). A rule that fires is
//! written into the session's trace as `injected fault #id …`, so nobody takes it for a bug.
//!
//! Off by default (no rules). A rule never fires on a connection to a non-loopback address
//! unless the server allows it (`[faults] allow_non_loopback`).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::registry::Dir;
use crate::Connection;

/// SMTP stages a rule can name (RFC 5321 §4.1.1 commands, plus the connection and the end of
/// the message data).
pub const SMTP_STAGES: &[&str] = &[
    "CONNECT",
    "EHLO",
    "HELO",
    "STARTTLS",
    "AUTH",
    "MAIL",
    "RCPT",
    "DATA",
    "BDAT",
    "END-OF-DATA",
    "RSET",
    "NOOP",
    "QUIT",
];

/// Longest reply text a rule may carry.
pub const MAX_REPLY: usize = 512;
/// Longest delay a rule may ask for.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Rules kept at once.
pub const MAX_RULES: usize = 256;

/// What a rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Answer with `reply` instead of running the command.
    Reply,
    /// Wait `delay_ms`, then run the command normally.
    Delay,
    /// Close the connection without an answer.
    Drop,
    /// SMTP `END-OF-DATA` only: answer 250 and throw the message away.
    Blackhole,
}

/// A rule as given (config, REST, CLI). Matching is case-insensitive on names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// "smtp", "imap" or "pop3" (may be left out when `listener` names one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// One listener only: "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// One account only: the logged-in user (all protocols) or, in SMTP, also the envelope
    /// sender and the recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `CONNECT`, an SMTP stage of [`SMTP_STAGES`], an IMAP or POP3 command name (`FETCH`
    /// also matches `UID FETCH`), or `*` for every command.
    pub stage: String,
    pub action: ActionKind,
    /// The reply of a `reply` action, in the protocol's form: SMTP `452 4.2.2 Mailbox full`,
    /// IMAP `NO [UNAVAILABLE] …` / `BAD …` / `BYE …`, POP3 `-ERR …`. Default: a temporary
    /// failure saying "injected fault".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The wait of a `delay` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Chance that a matching event fires the rule, in (0, 1]; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire this many times, then remove the rule; default: until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// A rule in force: its spec, normalised, with an id and a count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// How often it fired so far.
    pub fired: u64,
}

/// What a daemon does after [`Connection::inject`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Go on as usual (no rule fired, or a delay was served).
    Proceed,
    /// Answer this instead (protocol form, without CRLF).
    Reply(String),
    /// Close the connection now, without an answer.
    Drop,
    /// SMTP end of data: answer 250, deliver nothing.
    Blackhole,
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

fn family_of(listener: &str) -> Option<&'static str> {
    match listener {
        "smtp" | "submission" | "submissions" => Some("smtp"),
        "imap" | "imaps" => Some("imap"),
        "pop3" | "pop3s" => Some("pop3"),
        _ => None,
    }
}

fn bad(msg: impl Into<String>) -> RuleError {
    RuleError(msg.into())
}

impl RuleSpec {
    /// Checks a rule and brings its names to one case. Errors name the field.
    pub fn normalised(mut self) -> Result<RuleSpec, RuleError> {
        let listener = self.listener.take().map(|l| l.trim().to_ascii_lowercase());
        let listener_family = match &listener {
            Some(l) => Some(family_of(l).ok_or_else(|| {
                bad(format!(
                    "listener: unknown listener {l:?} (smtp, submission, submissions, imap, \
                     imaps, pop3, pop3s)"
                ))
            })?),
            None => None,
        };
        let protocol = match self.protocol.take().map(|p| p.trim().to_ascii_lowercase()) {
            Some(p) if matches!(p.as_str(), "smtp" | "imap" | "pop3") => {
                if listener_family.is_some_and(|f| f != p) {
                    return Err(bad(format!(
                        "listener: {} is not a {p} listener",
                        listener.unwrap_or_default()
                    )));
                }
                p
            }
            Some(p) => return Err(bad(format!("protocol: {p:?} is not smtp, imap or pop3"))),
            None => listener_family
                .ok_or_else(|| {
                    bad("protocol: required (smtp, imap or pop3) unless listener is given")
                })?
                .to_string(),
        };
        let stage = self.stage.trim().to_ascii_uppercase();
        let stage_ok = match protocol.as_str() {
            "smtp" => stage == "*" || SMTP_STAGES.contains(&stage.as_str()),
            _ => {
                stage == "*"
                    || (!stage.is_empty()
                        && stage.len() <= 32
                        && stage
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' '))
            }
        };
        if !stage_ok {
            return Err(bad(match protocol.as_str() {
                "smtp" => format!("stage: {stage:?} is not one of {}", SMTP_STAGES.join(", ")),
                _ => format!("stage: {stage:?} is not CONNECT, a command name or *"),
            }));
        }
        match self.action {
            ActionKind::Reply => {
                let reply = match self.reply.take() {
                    Some(r) => r.trim().to_string(),
                    None => default_reply(&protocol, &stage).to_string(),
                };
                check_reply(&protocol, &stage, &reply)?;
                self.reply = Some(reply);
                self.delay_ms = None;
            }
            ActionKind::Delay => match self.delay_ms {
                Some(ms) if ms <= MAX_DELAY_MS => self.reply = None,
                Some(_) => return Err(bad(format!("delay_ms: at most {MAX_DELAY_MS}"))),
                None => return Err(bad("delay_ms: required for a delay")),
            },
            ActionKind::Drop => {
                self.reply = None;
                self.delay_ms = None;
            }
            ActionKind::Blackhole => {
                if protocol != "smtp" || stage != "END-OF-DATA" {
                    return Err(bad("action: blackhole is only for SMTP stage END-OF-DATA"));
                }
                self.reply = None;
                self.delay_ms = None;
            }
        }
        if let Some(p) = self.probability {
            if !(p > 0.0 && p <= 1.0) {
                return Err(bad("probability: must be in (0, 1]"));
            }
        }
        if self.times == Some(0) {
            return Err(bad("times: must be at least 1"));
        }
        let account = self.account.take().map(|a| a.trim().to_ascii_lowercase());
        if account.as_deref() == Some("") {
            return Err(bad("account: empty"));
        }
        Ok(RuleSpec {
            protocol: Some(protocol),
            listener,
            account,
            stage,
            ..self
        })
    }
}

fn default_reply(protocol: &str, stage: &str) -> &'static str {
    match (protocol, stage) {
        ("smtp", "CONNECT") => "554 5.3.2 Injected fault: not accepting connections",
        ("smtp", _) => "451 4.3.0 Injected fault",
        ("imap", "CONNECT") => "BYE [UNAVAILABLE] Injected fault",
        ("imap", _) => "NO [UNAVAILABLE] Injected fault",
        _ => "-ERR [SYS/TEMP] Injected fault",
    }
}

fn check_reply(protocol: &str, stage: &str, reply: &str) -> Result<(), RuleError> {
    if reply.len() > MAX_REPLY || reply.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(bad(format!(
            "reply: one line of printable text, at most {MAX_REPLY} bytes"
        )));
    }
    let ok = match protocol {
        // RFC 5321 §4.2: a three-digit code; only failures (4yz, 5yz) make sense here.
        "smtp" => {
            let b = reply.as_bytes();
            b.len() >= 3
                && matches!(b[0], b'4' | b'5')
                && b[1..3].iter().all(u8::is_ascii_digit)
                && b.get(3).is_none_or(|&c| c == b' ')
        }
        // RFC 3501 §7.1: NO, BAD, or BYE (which closes the connection).
        "imap" if stage == "CONNECT" => reply.starts_with("BYE"),
        "imap" => ["NO", "BAD", "BYE"]
            .iter()
            .any(|w| reply == *w || reply.starts_with(&format!("{w} "))),
        // RFC 1939 §3.
        _ => reply == "-ERR" || reply.starts_with("-ERR "),
    };
    if ok {
        Ok(())
    } else {
        Err(bad(match protocol {
            "smtp" => "reply: an SMTP failure, e.g. \"452 4.2.2 Mailbox full\"",
            "imap" if stage == "CONNECT" => "reply: an IMAP greeting failure, e.g. \"BYE …\"",
            "imap" => "reply: an IMAP failure, e.g. \"NO [UNAVAILABLE] …\", \"BAD …\" or \"BYE …\"",
            _ => "reply: a POP3 failure, e.g. \"-ERR [SYS/TEMP] …\"",
        }))
    }
}

/// The rules of one process; cloning shares them.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether any rule exists: the per-command check is one atomic load when none does.
    any: AtomicBool,
    allow_non_loopback: AtomicBool,
    next_id: AtomicU64,
    rolls: AtomicU64,
    rules: Mutex<Vec<Rule>>,
    seed: std::collections::hash_map::RandomState,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.rules())
            .finish()
    }
}

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Whether any rule is in force (one atomic load: daemons check it before building the
    /// names an event concerns).
    pub fn active(&self) -> bool {
        self.inner.any.load(Ordering::Acquire)
    }

    /// Lets rules fire on connections to non-loopback addresses too.
    pub fn set_allow_non_loopback(&self, allow: bool) {
        self.inner
            .allow_non_loopback
            .store(allow, Ordering::Release);
    }

    pub fn allow_non_loopback(&self) -> bool {
        self.inner.allow_non_loopback.load(Ordering::Acquire)
    }

    /// Adds a rule; returns it with its id.
    pub fn add(&self, spec: RuleSpec) -> Result<Rule, RuleError> {
        let spec = spec.normalised()?;
        let mut rules = lock(&self.inner.rules);
        if rules.len() >= MAX_RULES {
            return Err(bad(format!("at most {MAX_RULES} rules")));
        }
        let rule = Rule {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            spec,
            fired: 0,
        };
        rules.push(rule.clone());
        self.inner.any.store(true, Ordering::Release);
        Ok(rule)
    }

    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.inner.rules).clone()
    }

    /// Removes one rule; false if there was none with that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = lock(&self.inner.rules);
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.inner.any.store(!rules.is_empty(), Ordering::Release);
        rules.len() != before
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = lock(&self.inner.rules);
        let n = rules.len();
        rules.clear();
        self.inner.any.store(false, Ordering::Release);
        n
    }

    /// The first rule that fires for this event, counted (and removed when its `times` are
    /// used up). `accounts`: the names the event concerns (see [`RuleSpec::account`]).
    pub fn fire(
        &self,
        listener: &str,
        loopback: bool,
        stage: &str,
        accounts: &[&str],
    ) -> Option<Rule> {
        if !self.inner.any.load(Ordering::Acquire) || (!loopback && !self.allow_non_loopback()) {
            return None;
        }
        let family = family_of(listener)?;
        let mut rules = lock(&self.inner.rules);
        let i = rules.iter().position(|r| {
            let s = &r.spec;
            s.protocol.as_deref() == Some(family)
                && s.listener.as_deref().is_none_or(|l| l == listener)
                && stage_matches(&s.stage, stage)
                && s.account
                    .as_deref()
                    .is_none_or(|a| accounts.iter().any(|x| x.eq_ignore_ascii_case(a)))
                && s.probability.is_none_or(|p| self.roll() < p)
        })?;
        let r = &mut rules[i];
        r.fired += 1;
        let fired = r.clone();
        if r.spec.times.is_some_and(|t| u64::from(t) <= r.fired) {
            rules.remove(i);
            self.inner.any.store(!rules.is_empty(), Ordering::Release);
        }
        Some(fired)
    }

    /// A number in [0, 1).
    fn roll(&self) -> f64 {
        let mut h = self.inner.seed.build_hasher();
        h.write_u64(self.inner.rolls.fetch_add(1, Ordering::Relaxed));
        // 53 random bits as a fraction.
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `CONNECT` matches only itself; `*` every command; `FETCH` also `UID FETCH`.
fn stage_matches(rule: &str, stage: &str) -> bool {
    if rule == "*" {
        return stage != "CONNECT";
    }
    rule.eq_ignore_ascii_case(stage)
        || stage
            .strip_prefix("UID ")
            .is_some_and(|s| rule.eq_ignore_ascii_case(s))
}

impl Connection {
    /// Subjects the connection to the process's fault rules as `listener` ("smtp", "imaps", …).
    pub fn set_faults(&mut self, faults: Faults, listener: &'static str) {
        self.faults = Some((faults, listener));
    }

    fn faults(&self) -> Option<(Faults, &'static str)> {
        self.faults.clone()
    }

    /// A note in the trace (`-- …`), e.g. an injected fault.
    fn note(&self, dir: Dir, text: String) {
        if self.traced() {
            self.emit(dir, text);
        }
    }

    /// Asks the process's fault rules about this event (docs/spec.md §7.7). A delay is
    /// served here; anything else is for the daemon to carry out. A rule that fires is noted
    /// in the session's trace and the log.
    pub async fn inject(&mut self, stage: &str, accounts: &[&str]) -> Injected {
        let Some((faults, listener)) = self.faults().filter(|(f, _)| f.active()) else {
            return Injected::Proceed;
        };
        let Some(rule) = faults.fire(listener, self.local.ip().is_loopback(), stage, accounts)
        else {
            return Injected::Proceed;
        };
        let s = &rule.spec;
        let what = match s.action {
            ActionKind::Reply => format!("reply {}", s.reply.as_deref().unwrap_or_default()),
            ActionKind::Delay => format!("delay {} ms", s.delay_ms.unwrap_or(0)),
            ActionKind::Drop => "drop the connection".to_string(),
            ActionKind::Blackhole => "accept and discard the message".to_string(),
        };
        let note = format!("injected fault #{} at {stage}: {what}", rule.id);
        tracing::info!(rule = rule.id, stage, "{note}");
        self.note(Dir::Note, note);
        match s.action {
            ActionKind::Reply => Injected::Reply(s.reply.clone().unwrap_or_default()),
            ActionKind::Delay => {
                let ms = s.delay_ms.unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Injected::Proceed
            }
            ActionKind::Drop => Injected::Drop,
            ActionKind::Blackhole => Injected::Blackhole,
        }
    }
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
