//! Running a parsed script against one message for one recipient: commands in order
//! (RFC 5228 §2.10), actions collected and merged, the implicit keep (§2.10.2), runtime
//! errors turned into a plain keep (§2.10.6). Tests are evaluated in `eval`, compared in
//! `matching`.
//!
//! Run time is bounded by the script: there are no loops, nesting is limited by the parser,
//! variable values and expansions are capped ([`MAX_VARIABLE_LEN`], [`MAX_EXPANSION`]).

mod eval;
pub(crate) mod matching;

use std::collections::HashMap;

use crate::ast::{Command, FlagOp, Modifiers, Period, Str, VacationArgs};
use crate::message::{self, Headers};
use crate::{Action, Context, Envelope, Outcome, Script, Vacation};

/// Match variables kept: ${0} to ${9} (RFC 5229 §6 asks for at least these).
pub(crate) const MATCH_VARS: usize = 10;
/// Longest value a variable holds, in octets (RFC 5229 §6 asks for at least 4000); longer
/// values are cut at a character boundary.
pub const MAX_VARIABLE_LEN: usize = 8 * 1024;
/// Longest text the variable references of one string may add.
pub const MAX_EXPANSION: usize = 256 * 1024;

pub(crate) enum Flow {
    Next,
    Stop,
}

/// A runtime error's message (RFC 5228 §2.10.6).
pub(crate) type RtResult<T> = Result<T, String>;

pub(crate) struct Runtime<'a> {
    script: &'a Script,
    env: &'a Envelope<'a>,
    msg: &'a [u8],
    ctx: &'a Context<'a>,
    headers: Headers<'a>,
    vars: HashMap<String, String>,
    match_vars: Vec<String>,
    /// RFC 5232 §2: the internal variable holding the flags of keep and fileinto.
    flags: Vec<String>,
    actions: Vec<Action>,
    implicit_keep: bool,
    /// RFC 5173 `:text` parts and `:raw`, computed once.
    text_cache: Option<Vec<String>>,
    raw_cache: Option<Vec<String>>,
}

/// Runs `script`; see [`crate::execute`].
pub(crate) fn run(script: &Script, env: &Envelope<'_>, msg: &[u8], ctx: &Context<'_>) -> Outcome {
    let mut rt = Runtime {
        script,
        env,
        msg,
        ctx,
        headers: message::parse_headers(msg),
        vars: HashMap::new(),
        match_vars: Vec::new(),
        flags: Vec::new(),
        actions: Vec::new(),
        implicit_keep: true,
        text_cache: None,
        raw_cache: None,
    };
    match rt.block(&script.commands) {
        Ok(_) => rt.finish(),
        // RFC 5228 §2.10.6: a runtime error stops the script; the message is kept.
        Err(e) => Outcome {
            actions: vec![Action::Keep { flags: Vec::new() }],
            error: Some(e),
        },
    }
}

/// Truncates `s` to at most `max` octets at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

impl Runtime<'_> {
    /// RFC 5229 §3: a string with its variable references replaced (unknown variables and
    /// unset match variables are empty).
    pub(crate) fn expand(&self, s: &Str) -> String {
        use crate::ast::Piece;
        let mut out = String::new();
        let mut added = 0;
        for p in &s.0 {
            let v = match p {
                Piece::Lit(l) => {
                    out.push_str(l);
                    continue;
                }
                Piece::Var(n) => self.vars.get(n).map_or("", String::as_str),
                Piece::Match(i) => self.match_vars.get(*i).map_or("", String::as_str),
            };
            let mut v = v.to_string();
            truncate(&mut v, MAX_EXPANSION.saturating_sub(added));
            added += v.len();
            out.push_str(&v);
        }
        out
    }

    pub(crate) fn expand_all(&self, l: &[Str]) -> Vec<String> {
        l.iter().map(|s| self.expand(s)).collect()
    }

    fn block(&mut self, cmds: &[Command]) -> RtResult<Flow> {
        for c in cmds {
            if let Flow::Stop = self.command(c)? {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Next)
    }

    fn command(&mut self, c: &Command) -> RtResult<Flow> {
        match c {
            Command::If {
                branches,
                otherwise,
            } => {
                for (test, block) in branches {
                    if self.test(test)? {
                        return self.block(block);
                    }
                }
                return self.block(otherwise);
            }
            // RFC 5228 §3.3.
            Command::Stop => return Ok(Flow::Stop),
            // RFC 5228 §4.3; RFC 5232 §5: :flags, else the internal variable.
            Command::Keep { flags } => {
                let flags = self.action_flags(flags.as_deref());
                self.store(None, flags, false)?;
                self.implicit_keep = false;
            }
            // RFC 5228 §4.4: cancels the implicit keep only.
            Command::Discard => self.implicit_keep = false,
            Command::FileInto {
                mailbox,
                copy,
                create,
                flags,
            } => {
                let name = self.expand(mailbox);
                if name.is_empty() {
                    return Err("fileinto: the mailbox name is empty".into());
                }
                let flags = self.action_flags(flags.as_deref());
                // RFC 5228 §4.1: a mailbox that does not exist may be filed into a default
                // one; without RFC 5490 :create we keep the message in INBOX. INBOX
                // itself is the keep mailbox (§2.10.3: keep is fileinto "INBOX").
                let target = if name.eq_ignore_ascii_case("INBOX")
                    || (!create && !(self.ctx.mailbox_exists)(&name))
                {
                    None
                } else {
                    Some(name)
                };
                self.store(target, flags, *create)?;
                // RFC 3894 §3: :copy keeps the implicit keep.
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Command::Redirect { address, copy } => {
                let raw = self.expand(address);
                // RFC 5228 §4.2: an invalid address (after expansion) is a runtime error.
                let Some(addr) = message::mailbox_address(&raw) else {
                    return Err(format!("redirect: invalid address \"{raw}\""));
                };
                // RFC 5228 §2.10.3: the same address once.
                let dup = self.actions.iter().any(
                    |a| matches!(a, Action::Redirect { address } if address.eq_ignore_ascii_case(&addr)),
                );
                if !dup {
                    self.check_limit()?;
                    self.actions.push(Action::Redirect { address: addr });
                }
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Command::Vacation(v) => self.vacation(v)?,
            Command::Set { name, mods, value } => {
                let mut v = apply_modifiers(self.expand(value), *mods);
                truncate(&mut v, MAX_VARIABLE_LEN);
                self.vars.insert(name.clone(), v);
            }
            Command::Flags { op, var, flags } => {
                let given = normalize_flags(self.expand_all(flags).iter().map(String::as_str));
                let current = match var {
                    None => self.flags.clone(),
                    Some(v) => normalize_flags(self.vars.get(v).map(String::as_str)),
                };
                // RFC 5232 §3.1-§3.3.
                let result = match op {
                    FlagOp::Set => given,
                    FlagOp::Add => {
                        let mut all = current;
                        all.extend(given);
                        normalize_flags(all.iter().map(String::as_str))
                    }
                    FlagOp::Remove => current
                        .into_iter()
                        .filter(|f| !given.iter().any(|g| g.eq_ignore_ascii_case(f)))
                        .collect(),
                };
                match var {
                    None => self.flags = result,
                    Some(v) => {
                        self.vars.insert(v.clone(), result.join(" "));
                    }
                }
            }
        }
        Ok(Flow::Next)
    }

    fn action_flags(&self, given: Option<&[Str]>) -> Vec<String> {
        match given {
            Some(l) => normalize_flags(self.expand_all(l).iter().map(String::as_str)),
            None => self.flags.clone(),
        }
    }

    /// `Context::max_actions` bounds the fileinto and redirect actions.
    fn check_limit(&self) -> RtResult<()> {
        let n = self
            .actions
            .iter()
            .filter(|a| matches!(a, Action::FileInto { .. } | Action::Redirect { .. }))
            .count();
        if n >= self.ctx.max_actions {
            return Err(format!(
                "too many actions: more than {} fileinto/redirect",
                self.ctx.max_actions
            ));
        }
        Ok(())
    }

    /// Files into `mailbox` (`None`: INBOX, a Keep). RFC 5228 §2.10.3: a mailbox gets the
    /// message once; the flags of both requests are merged.
    fn store(&mut self, mailbox: Option<String>, flags: Vec<String>, create: bool) -> RtResult<()> {
        for a in &mut self.actions {
            match (a, &mailbox) {
                (Action::Keep { flags: f }, None) => {
                    merge_flags(f, flags);
                    return Ok(());
                }
                (
                    Action::FileInto {
                        mailbox: m,
                        flags: f,
                        create: c,
                    },
                    Some(name),
                ) if m == name => {
                    merge_flags(f, flags);
                    *c |= create;
                    return Ok(());
                }
                _ => {}
            }
        }
        match mailbox {
            None => self.actions.push(Action::Keep { flags }),
            Some(mailbox) => {
                self.check_limit()?;
                self.actions.push(Action::FileInto {
                    mailbox,
                    flags,
                    create,
                });
            }
        }
        Ok(())
    }

    /// RFC 5230 §4: one vacation response per message; executing vacation twice is a
    /// runtime error (RFC 5230 §4.7: vacation is incompatible with itself).
    fn vacation(&mut self, v: &VacationArgs) -> RtResult<()> {
        if self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Vacation(_)))
        {
            return Err("vacation executed more than once".into());
        }
        let subject = v.subject.as_ref().map(|s| self.expand(s));
        // RFC 5230 §4.3: an invalid :from (after expansion) is ignored.
        let from = v
            .from
            .as_ref()
            .map(|s| self.expand(s))
            .filter(|f| message::mailbox_address(f).is_some());
        let reason = self.expand(&v.reason);
        let period_secs = match v.period {
            // RFC 5230 §4.1: at least one day.
            Period::Days(d) => d.max(1).saturating_mul(86_400),
            // RFC 6131 §2: as given; 0 answers every message.
            Period::Seconds(s) => s,
        };
        let handle = match &v.handle {
            Some(h) => self.expand(h),
            None => crate::vacation::default_handle(
                subject.as_deref(),
                from.as_deref(),
                v.mime,
                &reason,
            ),
        };
        self.actions.push(Action::Vacation(Vacation {
            handle,
            period_secs,
            subject,
            from,
            addresses: self.expand_all(&v.addresses),
            mime: v.mime,
            reason,
        }));
        Ok(())
    }

    /// RFC 5228 §2.10.2: the implicit keep (with the internal flags, RFC 5232 §5) unless
    /// cancelled; `Discard` when nothing stores or forwards the message.
    fn finish(mut self) -> Outcome {
        if self.implicit_keep {
            let flags = self.flags.clone();
            // A keep never counts against the action limit, so this cannot fail.
            let _ = self.store(None, flags, false);
        }
        let delivered = self.actions.iter().any(|a| {
            matches!(
                a,
                Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. }
            )
        });
        if !delivered {
            self.actions.push(Action::Discard);
        }
        Outcome {
            actions: self.actions,
            error: None,
        }
    }
}

fn merge_flags(into: &mut Vec<String>, more: Vec<String>) {
    for f in more {
        if !into.iter().any(|g| g.eq_ignore_ascii_case(&f)) {
            into.push(f);
        }
    }
}

/// RFC 5232 §2: a flag list is space-separated, case-insensitive and without duplicates;
/// system flags are written as IMAP spells them, invalid flags (and `\Recent`, which
/// cannot be set) are dropped.
pub(crate) fn normalize_flags<'s>(items: impl IntoIterator<Item = &'s str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        for f in item.split_ascii_whitespace() {
            let flag = if f.starts_with('\\') {
                match f.to_ascii_lowercase().as_str() {
                    "\\seen" => "\\Seen",
                    "\\answered" => "\\Answered",
                    "\\flagged" => "\\Flagged",
                    "\\deleted" => "\\Deleted",
                    "\\draft" => "\\Draft",
                    _ => continue,
                }
                .to_string()
            } else if f
                .bytes()
                // RFC 3501 §9: atom = 1*ATOM-CHAR.
                .all(|b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b))
            {
                f.to_string()
            } else {
                continue;
            };
            if !out.iter().any(|g| g.eq_ignore_ascii_case(&flag)) {
                out.push(flag);
            }
        }
    }
    out
}

/// RFC 5229 §4.1: modifiers in precedence order — :lower/:upper (40), :lowerfirst/
/// :upperfirst (30), :quotewildcard (20), :length (10).
fn apply_modifiers(mut v: String, m: Modifiers) -> String {
    match m.upper {
        Some(true) => v = v.to_uppercase(),
        Some(false) => v = v.to_lowercase(),
        None => {}
    }
    if let Some(up) = m.upper_first {
        let mut chars = v.chars();
        if let Some(first) = chars.next() {
            let head: String = if up {
                first.to_uppercase().collect()
            } else {
                first.to_lowercase().collect()
            };
            v = head + chars.as_str();
        }
    }
    if m.quote_wildcard {
        let mut q = String::with_capacity(v.len());
        for c in v.chars() {
            if matches!(c, '*' | '?' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        v = q;
    }
    if m.length {
        v = v.chars().count().to_string();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_normalized() {
        assert_eq!(
            normalize_flags([
                "\\seen  $Label1",
                "\\SEEN \\Recent bad\"flag \\Flagged",
                "$label1"
            ]),
            ["\\Seen", "$Label1", "\\Flagged"]
        );
    }

    #[test]
    fn modifiers() {
        let m = |upper, upper_first, quote_wildcard, length| Modifiers {
            upper,
            upper_first,
            quote_wildcard,
            length,
        };
        assert_eq!(
            apply_modifiers("juMP".into(), m(Some(false), Some(true), false, false)),
            "Jump"
        );
        assert_eq!(
            apply_modifiers("a*b?\\".into(), m(None, None, true, false)),
            "a\\*b\\?\\\\"
        );
        assert_eq!(
            apply_modifiers("été".into(), m(None, None, false, true)),
            "3"
        );
        assert_eq!(
            apply_modifiers("*x".into(), m(Some(true), None, true, true)),
            "3"
        );
    }
}
