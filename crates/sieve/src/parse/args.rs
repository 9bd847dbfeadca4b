//! Arguments of one command or test (RFC 5228 §2.6): the raw values the grammar allows, and
//! the helpers every command's validator uses to take tags and positional arguments in
//! order, with the match-type and comparator tags (RFC 5228 §2.7, RFC 5231) shared by the
//! comparing tests.

use crate::ast::{Caps, Comparator, Ext, Match, MatchKind, Rel, Str};
use crate::lexer::Pos;
use crate::strings::{self, StrMode};
use crate::ParseError;

/// An argument as written.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Tag(String),
    Num(u64),
    Str(String),
    /// RFC 5228 §2.4.2.1: a string list; each string keeps its position.
    List(Vec<(String, Pos)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub val: Val,
    pub pos: Pos,
}

/// The arguments of one command or test, consumed front to back by its validator.
pub(crate) struct Args {
    /// Command or test name, for messages.
    pub name: String,
    pub pos: Pos,
    pub caps: Caps,
    items: std::collections::VecDeque<Arg>,
    seen_tags: Vec<String>,
}

impl Args {
    pub fn new(name: &str, pos: Pos, caps: Caps, items: Vec<Arg>) -> Args {
        Args {
            name: name.to_string(),
            pos,
            caps,
            items: items.into(),
            seen_tags: Vec::new(),
        }
    }

    pub fn mode(&self) -> StrMode {
        StrMode {
            variables: self.caps.has(Ext::Variables),
            encoded: self.caps.has(Ext::EncodedCharacter),
        }
    }

    /// Fails unless `ext` was required (RFC 5228 §3.2).
    pub fn need(&self, ext: Ext, pos: Pos, what: &str) -> Result<(), ParseError> {
        if self.caps.has(ext) {
            Ok(())
        } else {
            Err(pos.error(format!("{what} used without require \"{}\"", ext.name())))
        }
    }

    /// The next tagged argument, if the next argument is one. RFC 5228 §2.6.2: a tag may
    /// appear once.
    pub fn tag(&mut self) -> Result<Option<(String, Pos)>, ParseError> {
        let Some(Arg {
            val: Val::Tag(t),
            pos,
        }) = self.items.front().cloned()
        else {
            return Ok(None);
        };
        self.items.pop_front();
        if self.seen_tags.contains(&t) {
            return Err(pos.error(format!("{}: tag ':{t}' given twice", self.name)));
        }
        self.seen_tags.push(t.clone());
        Ok(Some((t, pos)))
    }

    pub fn unknown_tag(&self, tag: &str, pos: Pos) -> ParseError {
        let hint = match tag {
            "regex" => " (the regex extension is not supported)",
            "list" => " (the extlists extension is not supported)",
            "index" | "last" => " (the index extension is not supported)",
            _ => "",
        };
        pos.error(format!("{}: unknown tag ':{tag}'{hint}", self.name))
    }

    fn missing(&self, what: &str) -> ParseError {
        self.pos
            .error(format!("{}: missing argument <{what}>", self.name))
    }

    fn next(&mut self, what: &str) -> Result<Arg, ParseError> {
        match self.items.pop_front() {
            Some(Arg {
                val: Val::Tag(t),
                pos,
            }) => Err(pos.error(format!(
                // RFC 5228 §2.6.2: tagged arguments come before positional ones.
                "{}: tag ':{t}' where <{what}> was expected (tags go before positional arguments)",
                self.name
            ))),
            Some(a) => Ok(a),
            None => Err(self.missing(what)),
        }
    }

    /// A single string (a one-string list is accepted where a string is expected: RFC 5228
    /// §2.4.2.1 makes them the same value, and scripts written by hand use either).
    pub fn raw_string(&mut self, what: &str) -> Result<(String, Pos), ParseError> {
        let a = self.next(what)?;
        match a.val {
            Val::Str(s) => Ok((s, a.pos)),
            Val::List(mut l) if l.len() == 1 => Ok(l.remove(0)),
            _ => Err(a
                .pos
                .error(format!("{}: expected a string for <{what}>", self.name))),
        }
    }

    pub fn string(&mut self, what: &str) -> Result<(Str, Pos), ParseError> {
        let (s, pos) = self.raw_string(what)?;
        Ok((self.convert(&s, pos)?, pos))
    }

    pub fn raw_list(&mut self, what: &str) -> Result<Vec<(String, Pos)>, ParseError> {
        let a = self.next(what)?;
        match a.val {
            Val::Str(s) => Ok(vec![(s, a.pos)]),
            Val::List(l) => Ok(l),
            _ => Err(a.pos.error(format!(
                "{}: expected a string or string list for <{what}>",
                self.name
            ))),
        }
    }

    pub fn list(&mut self, what: &str) -> Result<Vec<Str>, ParseError> {
        let l = self.raw_list(what)?;
        l.iter().map(|(s, p)| self.convert(s, *p)).collect()
    }

    pub fn number(&mut self, what: &str) -> Result<u64, ParseError> {
        let a = self.next(what)?;
        match a.val {
            Val::Num(n) => Ok(n),
            _ => Err(a
                .pos
                .error(format!("{}: expected a number for <{what}>", self.name))),
        }
    }

    pub fn convert(&self, s: &str, pos: Pos) -> Result<Str, ParseError> {
        strings::convert(s, self.mode()).map_err(|m| pos.error(format!("{}: {m}", self.name)))
    }

    /// Positional arguments not yet taken.
    pub fn remaining(&self) -> usize {
        self.items.len()
    }

    /// RFC 5228 §2.6: no arguments beyond the ones the command takes.
    pub fn finish(mut self) -> Result<(), ParseError> {
        match self.items.pop_front() {
            None => Ok(()),
            // RFC 5228 §2.6.2: tagged arguments come before positional ones.
            Some(Arg {
                val: Val::Tag(t),
                pos,
            }) => Err(pos.error(format!(
                "{}: tag ':{t}' after the positional arguments (tags go before positional arguments)",
                self.name
            ))),
            Some(a) => Err(a
                .pos
                .error(format!("{}: too many arguments", self.name))),
        }
    }
}

/// Match-type and comparator tags of a comparing test.
#[derive(Default)]
pub(crate) struct MatchTags {
    kind: Option<(MatchKind, Pos)>,
    cmp: Option<(Comparator, Pos)>,
}

impl MatchTags {
    /// Takes `tag` if it is a match type or `:comparator`; `Ok(false)` for any other tag.
    pub fn take(&mut self, tag: &str, pos: Pos, args: &mut Args) -> Result<bool, ParseError> {
        let kind = match tag {
            "is" => MatchKind::Is,
            "contains" => MatchKind::Contains,
            "matches" => MatchKind::Matches,
            "value" | "count" => {
                args.need(Ext::Relational, pos, &format!("tag ':{tag}'"))?;
                // RFC 5231 §5 grammar: relational-match is one of six literal strings.
                let (r, rpos) = args.raw_string("relational-match")?;
                let rel = match r.to_ascii_lowercase().as_str() {
                    "gt" => Rel::Gt,
                    "ge" => Rel::Ge,
                    "lt" => Rel::Lt,
                    "le" => Rel::Le,
                    "eq" => Rel::Eq,
                    "ne" => Rel::Ne,
                    _ => {
                        return Err(rpos.error(format!(
                            "{}: invalid relational match \"{r}\" (gt, ge, lt, le, eq or ne)",
                            args.name
                        )))
                    }
                };
                if tag == "value" {
                    MatchKind::Value(rel)
                } else {
                    MatchKind::Count(rel)
                }
            }
            "comparator" => {
                // RFC 5228 §2.7.3; comparator names are not subject to variable expansion.
                let (name, cpos) = args.raw_string("comparator-name")?;
                let cmp = match name.to_ascii_lowercase().as_str() {
                    "i;octet" => Comparator::Octet,
                    "i;ascii-casemap" => Comparator::AsciiCasemap,
                    "i;ascii-numeric" => {
                        args.need(Ext::AsciiNumeric, cpos, "comparator \"i;ascii-numeric\"")?;
                        Comparator::AsciiNumeric
                    }
                    _ => {
                        return Err(
                            cpos.error(format!("{}: unknown comparator \"{name}\"", args.name))
                        )
                    }
                };
                self.cmp = Some((cmp, pos));
                return Ok(true);
            }
            _ => return Ok(false),
        };
        if let Some((_, first)) = self.kind {
            // RFC 5228 §2.7.1: exactly one match type.
            return Err(pos.error(format!(
                "{}: more than one match type (the first is at line {}, column {})",
                args.name, first.line, first.col
            )));
        }
        self.kind = Some((kind, pos));
        Ok(true)
    }

    /// RFC 5228 §2.7.1/§2.7.3: defaults `:is` and "i;ascii-casemap" (`default_cmp` for
    /// tests that say otherwise); a comparator must support the match type.
    pub fn finish(self, args: &Args) -> Result<Match, ParseError> {
        let kind = self.kind.map_or(MatchKind::Is, |k| k.0);
        let cmp = self.cmp.map_or(Comparator::AsciiCasemap, |c| c.0);
        if cmp == Comparator::AsciiNumeric
            && matches!(kind, MatchKind::Contains | MatchKind::Matches)
        {
            // RFC 4790 §9.1: i;ascii-numeric offers equality and ordering, no substring.
            let pos = self.kind.map_or(args.pos, |k| k.1);
            return Err(pos.error(format!(
                "{}: comparator \"i;ascii-numeric\" cannot be used with :contains or :matches",
                args.name
            )));
        }
        Ok(Match { kind, cmp })
    }
}
