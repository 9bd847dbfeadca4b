//! The command grammar (RFC 3501 §9 `command`): one function per command shape.

use super::*;

impl Parser<'_> {
    pub(super) fn command(&mut self) -> R<Kind> {
        let name = self.word()?;
        Ok(match name.as_str() {
            "CAPABILITY" => Kind::Capability,
            "NOOP" => Kind::Noop,
            "LOGOUT" => Kind::Logout,
            "STARTTLS" => Kind::StartTls,
            "NAMESPACE" => Kind::Namespace,
            "IDLE" => Kind::Idle,
            "CHECK" => Kind::Check,
            "CLOSE" => Kind::Close,
            "UNSELECT" => Kind::Unselect,
            "EXPUNGE" => Kind::Expunge { uids: None },
            "LOGIN" => {
                self.sp()?;
                let user = self.astring()?;
                self.sp()?;
                let pass = self.astring()?;
                Kind::Login { user, pass }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.atom()?.to_ascii_uppercase();
                let initial = if self.eat(b' ') {
                    // RFC 4959: initial response, "=" for empty.
                    let r = self.atom_with(b"=")?;
                    Some(if r == "=" { vec![] } else { r.into_bytes() })
                } else {
                    None
                };
                Kind::Authenticate { mechanism, initial }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let params = if self.eat(b' ') {
                    self.select_params()?
                } else {
                    SelectParams::default()
                };
                Kind::Select {
                    mailbox,
                    read_only: name == "EXAMINE",
                    params,
                }
            }
            "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let m = self.mailbox()?;
                let mut special_use = Vec::new();
                if name == "CREATE" && self.eat(b' ') {
                    special_use = self.create_params()?;
                }
                match name.as_str() {
                    "CREATE" => Kind::Create {
                        mailbox: m,
                        special_use,
                    },
                    "DELETE" => Kind::Delete(m),
                    "SUBSCRIBE" => Kind::Subscribe(m),
                    _ => Kind::Unsubscribe(m),
                }
            }
            "RENAME" => {
                self.sp()?;
                let a = self.mailbox()?;
                self.sp()?;
                Kind::Rename(a, self.mailbox()?)
            }
            "LIST" | "LSUB" => self.list(name == "LSUB")?,
            "GETQUOTA" => {
                self.sp()?;
                Kind::GetQuota(self.astring()?)
            }
            "GETQUOTAROOT" => {
                self.sp()?;
                Kind::GetQuotaRoot(self.mailbox()?)
            }
            "SETQUOTA" => {
                self.sp()?;
                let root = self.astring()?;
                self.sp()?;
                self.paren_skip()?;
                Kind::SetQuota(root)
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                self.expect(b'(')?;
                let mut items = Vec::new();
                loop {
                    items.push(self.word()?);
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                Kind::Status { mailbox, items }
            }
            "APPEND" => self.append()?,
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.word()?);
                }
                Kind::Enable(caps)
            }
            "ID" => {
                self.sp()?;
                self.paren_skip()?;
                Kind::Id
            }
            "SEARCH" => self.search(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" | "MOVE" => self.copy(false, name == "MOVE")?,
            "UID" => {
                self.sp()?;
                match self.word()?.as_str() {
                    "SEARCH" => self.search(true)?,
                    "FETCH" => self.fetch(true)?,
                    "STORE" => self.store(true)?,
                    "COPY" => self.copy(true, false)?,
                    "MOVE" => self.copy(true, true)?,
                    "EXPUNGE" => {
                        self.sp()?;
                        Kind::Expunge {
                            uids: Some(self.seq_set()?),
                        }
                    }
                    other => return syn(format!("unknown UID command {other}")),
                }
            }
            other => return syn(format!("unknown command {other}")),
        })
    }

    /// Skips a parenthesised list (or NIL), for arguments we accept but ignore.
    pub(super) fn paren_skip(&mut self) -> R<()> {
        if self.peek()? != b'(' {
            self.atom()?;
            return Ok(());
        }
        let mut depth = 0;
        loop {
            match self.peek()? {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Ok(());
                    }
                }
                b'"' | b'{' => {
                    self.string_bytes()?;
                    continue;
                }
                b'\r' | b'\n' => return syn("unbalanced parentheses"),
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn append(&mut self) -> R<Kind> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let mut flags = Vec::new();
        if self.peek()? == b'(' {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek()? == b'"' {
            let d = self.string()?;
            date = Some(
                crate::response::parse_date_time(&d)
                    .map_or_else(|| syn(format!("invalid date-time \"{d}\"")), Ok)?,
            );
            self.sp()?;
        }
        let message = self.string_bytes()?;
        Ok(Kind::Append {
            mailbox,
            flags,
            date,
            message,
        })
    }

    fn search(&mut self, uid: bool) -> R<Kind> {
        self.sp()?;
        let mut ret = None;
        if self.s[self.pos..].len() >= 7
            && self.s[self.pos..self.pos + 7].eq_ignore_ascii_case(b"RETURN ")
        {
            // RFC 4731 §3.1 ESEARCH: RETURN () means ALL.
            self.word()?;
            self.sp()?;
            ret = Some(self.search_return()?);
            self.sp()?;
        }
        let rest = &self.s[self.pos..];
        if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"CHARSET ") {
            self.word()?;
            self.sp()?;
            let cs = self.astring()?.to_ascii_uppercase();
            // RFC 3501 §6.4.4: US-ASCII and UTF-8 supported.
            if cs != "UTF-8" && cs != "US-ASCII" {
                return syn(format!(
                    "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset {cs}"
                ));
            }
            self.sp()?;
        }
        let mut keys = vec![self.search_key()?];
        while self.eat(b' ') {
            keys.push(self.search_key()?);
        }
        let key = if keys.len() == 1 {
            keys.remove(0)
        } else {
            SearchKey::And(keys)
        };
        Ok(Kind::Search { uid, key, ret })
    }

    fn store(&mut self, uid: bool) -> R<Kind> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mut unchanged_since = None;
        if self.peek()? == b'(' {
            // RFC 7162 §3.1.3 UNCHANGEDSINCE.
            unchanged_since = self.store_modifiers()?;
            self.sp()?;
        }
        let w = self.atom()?.to_ascii_uppercase();
        let (op, rest) = match w.strip_prefix('+') {
            Some(r) => (StoreOp::Add, r.to_string()),
            None => match w.strip_prefix('-') {
                Some(r) => (StoreOp::Remove, r.to_string()),
                None => (StoreOp::Set, w.clone()),
            },
        };
        let silent = match rest.as_str() {
            "FLAGS" => false,
            "FLAGS.SILENT" => true,
            _ => return syn(format!("invalid STORE item {w}")),
        };
        self.sp()?;
        let flags = self.flag_list()?;
        Ok(Kind::Store {
            uid,
            set,
            op,
            silent,
            flags,
            unchanged_since,
        })
    }

    fn copy(&mut self, uid: bool, is_move: bool) -> R<Kind> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(Kind::Copy {
            uid,
            set,
            mailbox,
            is_move,
        })
    }
}
