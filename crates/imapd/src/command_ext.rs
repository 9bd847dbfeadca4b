//! Extension grammar: SELECT parameters (RFC 7162 §3.1.8, §3.2.5), CREATE USE (RFC 6154 §3),
//! LIST-EXTENDED (RFC 5258 §3, RFC 5819 §2), SEARCH RETURN (RFC 4731 §3.1), FETCH and STORE
//! modifiers (RFC 7162 §3.1.3, §3.1.4.1, §3.2.6).

use super::*;

impl Parser<'_> {
    /// `(CONDSTORE)` / `(QRESYNC (uidvalidity modseq [known-uids] [seq-match-data]))`.
    pub(super) fn select_params(&mut self) -> R<SelectParams> {
        let mut p = SelectParams::default();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(p);
        }
        loop {
            match self.word()?.as_str() {
                // RFC 7162 §3.1.8.
                "CONDSTORE" => p.condstore = true,
                // RFC 7162 §3.2.5.
                "QRESYNC" => {
                    self.sp()?;
                    self.expect(b'(')?;
                    let uidvalidity = self.number()?;
                    self.sp()?;
                    let modseq = self.number64()?;
                    let mut q = Qresync {
                        uidvalidity,
                        modseq,
                        known_uids: None,
                        seq_match: None,
                    };
                    if self.eat(b' ') && self.peek()? != b'(' {
                        q.known_uids = Some(self.seq_set()?);
                        self.eat(b' ');
                    }
                    if self.eat(b'(') {
                        // RFC 7162 §3.2.5.2 seq-match-data.
                        let seqs = self.seq_set()?;
                        self.sp()?;
                        let uids = self.seq_set()?;
                        self.expect(b')')?;
                        q.seq_match = Some((seqs, uids));
                    }
                    self.expect(b')')?;
                    if modseq == 0 {
                        return syn("QRESYNC mod-sequence must be positive");
                    }
                    p.qresync = Some(q);
                }
                other => return syn(format!("unknown SELECT parameter {other}")),
            }
            if self.eat(b')') {
                return Ok(p);
            }
            self.sp()?;
        }
    }

    /// RFC 6154 §3: `(USE (\Sent ...))`; returns the attributes.
    pub(super) fn create_params(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            match self.word()?.as_str() {
                "USE" => {
                    self.sp()?;
                    out.extend(self.flag_list()?);
                }
                other => return syn(format!("unknown CREATE parameter {other}")),
            }
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// A parenthesised list of words, `()` allowed.
    fn word_list(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(self.word()?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// LIST / LSUB arguments, with the RFC 5258 extended syntax for LIST.
    pub(super) fn list(&mut self, lsub: bool) -> R<Kind> {
        self.sp()?;
        let mut opts = ListOpts::default();
        if !lsub && self.peek()? == b'(' {
            // RFC 5258 §3.1 selection options.
            opts.extended = true;
            for o in self.word_list()? {
                match o.as_str() {
                    "SUBSCRIBED" => opts.select_subscribed = true,
                    "RECURSIVEMATCH" => opts.recursive_match = true,
                    "REMOTE" => {}
                    // RFC 6154 §3: only special-use mailboxes.
                    "SPECIAL-USE" => opts.select_special_use = true,
                    other => return syn(format!("unknown LIST selection option {other}")),
                }
            }
            // RFC 5258 §3.1: RECURSIVEMATCH needs another selection option.
            if opts.recursive_match && !opts.select_subscribed {
                return syn("RECURSIVEMATCH needs SUBSCRIBED");
            }
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if !lsub && self.eat(b'(') {
            // RFC 5258 §3: several patterns.
            opts.extended = true;
            loop {
                patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.push(self.list_mailbox()?);
        }
        if !lsub && self.eat(b' ') {
            if self.word()? != "RETURN" {
                return syn("expected RETURN");
            }
            opts.extended = true;
            self.sp()?;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    match self.word()?.as_str() {
                        // RFC 5258 §3.2.
                        "SUBSCRIBED" => opts.return_subscribed = true,
                        "CHILDREN" => opts.return_children = true,
                        // RFC 6154 §3.
                        "SPECIAL-USE" => opts.return_special_use = true,
                        // RFC 5819 §2.
                        "STATUS" => {
                            self.sp()?;
                            opts.return_status = Some(self.word_list()?);
                        }
                        other => return syn(format!("unknown LIST return option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(Kind::List {
            reference,
            patterns,
            lsub,
            opts,
        })
    }

    /// RFC 4731 §3.1: `RETURN (MIN MAX ALL COUNT)` after "RETURN" and a space.
    pub(super) fn search_return(&mut self) -> R<SearchReturn> {
        let mut r = SearchReturn::default();
        for o in self.word_list()? {
            match o.as_str() {
                "MIN" => r.min = true,
                "MAX" => r.max = true,
                "ALL" => r.all = true,
                "COUNT" => r.count = true,
                "SAVE" => return syn("SEARCH RETURN SAVE is not supported (no SEARCHRES)"),
                other => return syn(format!("unknown SEARCH return option {other}")),
            }
        }
        Ok(r)
    }

    /// RFC 7162 §3.1.4.1 / §3.2.6: `(CHANGEDSINCE n [VANISHED])`.
    pub(super) fn fetch_modifiers(&mut self) -> R<(Option<u64>, bool)> {
        let (mut since, mut vanished) = (None, false);
        self.expect(b'(')?;
        loop {
            match self.word()?.as_str() {
                "CHANGEDSINCE" => {
                    self.sp()?;
                    since = Some(self.number64()?);
                }
                "VANISHED" => vanished = true,
                other => return syn(format!("unknown FETCH modifier {other}")),
            }
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        // RFC 7162 §3.2.6: VANISHED needs CHANGEDSINCE.
        if vanished && since.is_none() {
            return syn("VANISHED needs CHANGEDSINCE");
        }
        Ok((since, vanished))
    }

    /// RFC 7162 §3.1.3: `(UNCHANGEDSINCE n)`.
    pub(super) fn store_modifiers(&mut self) -> R<Option<u64>> {
        self.expect(b'(')?;
        let name = self.word()?;
        if name != "UNCHANGEDSINCE" {
            return syn(format!("unknown STORE modifier {name}"));
        }
        self.sp()?;
        let since = self.number64()?;
        self.expect(b')')?;
        Ok(Some(since))
    }
}
