//! The grammar (RFC 5228 §8.2): `require` first, then commands with their arguments, tests
//! and blocks; `if`/`elsif`/`else` chains; test lists. Each command and test is handed with
//! its raw arguments to its validator (`actions`, `conditions`), which checks counts, types,
//! tags and required extensions and builds the typed AST.
//!
//! Errors point at the offending token; a missing `;` is reported just after the token that
//! should have been followed by it, so the line is the one the user has to fix.

mod actions;
pub(crate) mod args;
mod conditions;

use crate::ast::{Caps, Command, Ext, Test};
use crate::lexer::{Pos, Tok, Token};
use crate::ParseError;
use args::{Arg, Args, Val};

/// Deepest nesting of blocks and tests (RFC 5228 §2.10.7 lets implementations limit it).
pub const MAX_NESTING: usize = 64;

pub(crate) struct Parser {
    toks: Vec<Token>,
    i: usize,
    pub caps: Caps,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Tag(s) => format!("':{s}'"),
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(_) => "a string".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::Semicolon => "';'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
    }
}

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            i: 0,
            caps: Caps::default(),
            depth: 0,
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> Pos {
        match self.toks.get(self.i) {
            Some(t) => t.pos,
            None => self.end_of_prev(),
        }
    }

    /// Just after the previous token (where a missing `;` belongs).
    fn end_of_prev(&self) -> Pos {
        match self.i.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.end,
            None => Pos { line: 1, col: 1 },
        }
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn found(&self) -> String {
        self.peek().map_or("the end of the script".into(), describe)
    }

    /// The whole script.
    pub fn script(&mut self) -> Result<Vec<Command>, ParseError> {
        while self.peek() == Some(&Tok::Ident("require".into())) {
            self.require()?;
        }
        self.commands(None)
    }

    /// RFC 5228 §3.2: `require <capabilities: string-list>;`; an unknown capability is an
    /// error.
    fn require(&mut self) -> Result<(), ParseError> {
        let Some(start) = self.bump() else {
            return Ok(());
        };
        let args = self.arguments()?;
        self.semicolon("require")?;
        let mut a = Args::new("require", start.pos, self.caps, args);
        let names = a.raw_list("capabilities")?;
        a.finish()?;
        for (name, pos) in names {
            match Ext::from_name(&name) {
                Some(e) => self.caps.add(e),
                // RFC 5228 §2.7.3: the two base comparators may be required but need not be.
                None if name.eq_ignore_ascii_case("comparator-i;octet")
                    || name.eq_ignore_ascii_case("comparator-i;ascii-casemap") => {}
                None => {
                    return Err(pos.error(format!("unsupported extension \"{name}\"")));
                }
            }
        }
        Ok(())
    }

    /// Commands up to the end of the script (`block_start` None) or the `}` closing a block.
    fn commands(&mut self, block_start: Option<Pos>) -> Result<Vec<Command>, ParseError> {
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            let name = match self.peek() {
                None => match block_start {
                    None => return Ok(out),
                    Some(p) => {
                        return Err(pos.error(format!(
                            "missing '}}' for the block opened at line {}, column {}",
                            p.line, p.col
                        )))
                    }
                },
                Some(Tok::RBrace) if block_start.is_some() => return Ok(out),
                Some(Tok::Ident(n)) => n.clone(),
                Some(_) => {
                    return Err(pos.error(format!("expected a command, found {}", self.found())))
                }
            };
            match name.as_str() {
                // RFC 5228 §3.2: require only at the start of the script.
                "require" => {
                    return Err(pos.error("require must come before any other command"));
                }
                "if" => out.push(self.if_chain()?),
                "elsif" | "else" => {
                    return Err(pos.error(format!("'{name}' without a preceding 'if'")));
                }
                _ => out.push(self.command(&name, pos)?),
            }
        }
    }

    /// RFC 5228 §3.1: if <test> <block> *(elsif <test> <block>) [else <block>].
    fn if_chain(&mut self) -> Result<Command, ParseError> {
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        let mut keyword = "if";
        loop {
            self.bump();
            if !matches!(self.peek(), Some(Tok::Ident(_))) {
                return Err(self.pos().error(format!(
                    "{keyword}: expected a test, found {}",
                    self.found()
                )));
            }
            let test = self.test()?;
            let block = self.block(keyword)?;
            branches.push((test, block));
            match self.peek() {
                Some(Tok::Ident(n)) if n == "elsif" => keyword = "elsif",
                Some(Tok::Ident(n)) if n == "else" => {
                    self.bump();
                    otherwise = self.block("else")?;
                    break;
                }
                _ => break,
            }
        }
        Ok(Command::If {
            branches,
            otherwise,
        })
    }

    fn block(&mut self, owner: &str) -> Result<Vec<Command>, ParseError> {
        if self.peek() != Some(&Tok::LBrace) {
            return Err(self
                .pos()
                .error(format!("{owner}: expected '{{', found {}", self.found())));
        }
        let open = self.pos();
        self.enter(open)?;
        self.bump();
        let cmds = self.commands(Some(open))?;
        self.bump(); // the '}' that ended `commands`
        self.depth -= 1;
        Ok(cmds)
    }

    fn enter(&mut self, pos: Pos) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(pos.error(format!("nesting deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn semicolon(&mut self, name: &str) -> Result<(), ParseError> {
        match self.peek() {
            Some(Tok::Semicolon) => {
                self.bump();
                Ok(())
            }
            Some(Tok::LBrace) => Err(self.pos().error(format!("'{name}' does not take a block"))),
            Some(Tok::LParen) => Err(self
                .pos()
                .error(format!("'{name}' does not take a test list"))),
            _ => Err(self
                .end_of_prev()
                .error(format!("missing ';' after '{name}'"))),
        }
    }

    /// An action or other simple command, up to its `;`.
    fn command(&mut self, name: &str, pos: Pos) -> Result<Command, ParseError> {
        actions::check_name(name, pos, self.caps)?;
        self.bump();
        let args = self.arguments()?;
        self.semicolon(name)?;
        actions::command(Args::new(name, pos, self.caps, args))
    }

    /// RFC 5228 §8.2: tags, numbers, strings and string lists, in any order (validators
    /// enforce tags first).
    fn arguments(&mut self) -> Result<Vec<Arg>, ParseError> {
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            let val = match self.peek() {
                Some(Tok::Tag(t)) => Val::Tag(t.clone()),
                Some(Tok::Number(n)) => Val::Num(*n),
                Some(Tok::Str(s)) => Val::Str(s.clone()),
                Some(Tok::LBracket) => {
                    out.push(Arg {
                        val: Val::List(self.string_list()?),
                        pos,
                    });
                    continue;
                }
                _ => return Ok(out),
            };
            self.bump();
            out.push(Arg { val, pos });
        }
    }

    /// RFC 5228 §2.4.2.1: "[" string *("," string) "]".
    fn string_list(&mut self) -> Result<Vec<(String, Pos)>, ParseError> {
        self.bump();
        let mut items = Vec::new();
        loop {
            let pos = self.pos();
            match self.bump().map(|t| t.tok) {
                Some(Tok::Str(s)) => items.push((s, pos)),
                _ => {
                    return Err(pos.error(if items.is_empty() {
                        "a string list holds at least one string"
                    } else {
                        "expected a string after ','"
                    }))
                }
            }
            let pos = self.pos();
            match self.peek() {
                Some(Tok::Comma) => {
                    self.bump();
                }
                Some(Tok::RBracket) => {
                    self.bump();
                    return Ok(items);
                }
                _ => {
                    return Err(pos.error(format!(
                        "expected ',' or ']' in string list, found {}",
                        self.found()
                    )))
                }
            }
        }
    }

    /// One test with its arguments and, for allof/anyof/not, its sub-tests.
    fn test(&mut self) -> Result<Test, ParseError> {
        let pos = self.pos();
        let name = match self.peek() {
            Some(Tok::Ident(n)) => n.clone(),
            _ => return Err(pos.error(format!("expected a test, found {}", self.found()))),
        };
        conditions::check_name(&name, pos, self.caps)?;
        self.enter(pos)?;
        self.bump();
        let args = self.arguments()?;
        let mut subtests = Vec::new();
        match name.as_str() {
            // RFC 5228 §5.2, §5.3: a test list.
            "allof" | "anyof" => subtests = self.test_list(&name)?,
            // RFC 5228 §5.8: one test (a test list of one is accepted too).
            "not" => {
                if self.peek() == Some(&Tok::LParen) {
                    subtests = self.test_list(&name)?;
                    if subtests.len() != 1 {
                        return Err(pos.error("not: takes exactly one test"));
                    }
                } else if matches!(self.peek(), Some(Tok::Ident(_))) {
                    subtests.push(self.test()?);
                } else {
                    return Err(self
                        .pos()
                        .error(format!("not: expected a test, found {}", self.found())));
                }
            }
            _ => {
                if self.peek() == Some(&Tok::LParen) {
                    return Err(self
                        .pos()
                        .error(format!("'{name}' does not take a test list")));
                }
            }
        }
        self.depth -= 1;
        conditions::test(Args::new(&name, pos, self.caps, args), subtests)
    }

    fn test_list(&mut self, name: &str) -> Result<Vec<Test>, ParseError> {
        if self.peek() != Some(&Tok::LParen) {
            return Err(self
                .pos()
                .error(format!("{name}: expected '(', found {}", self.found())));
        }
        self.bump();
        let mut tests = vec![self.test()?];
        loop {
            match self.peek() {
                Some(Tok::Comma) => {
                    self.bump();
                    tests.push(self.test()?);
                }
                Some(Tok::RParen) => {
                    self.bump();
                    return Ok(tests);
                }
                _ => {
                    return Err(self.pos().error(format!(
                        "{name}: expected ',' or ')' in the test list, found {}",
                        self.found()
                    )))
                }
            }
        }
    }
}
