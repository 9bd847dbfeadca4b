//! FETCH arguments: data items, macros, BODY[section]<partial> (RFC 3501 §6.4.5, §9).

use super::*;

impl Parser<'_> {
    pub(super) fn fetch(&mut self, uid: bool) -> R<Kind> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mut items = Vec::new();
        if self.eat(b'(') {
            loop {
                items.push(self.fetch_att()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            let w = self.peek_word()?;
            match w.as_str() {
                "ALL" | "FAST" | "FULL" => {
                    self.word()?;
                    items.extend([
                        FetchAtt::Flags,
                        FetchAtt::InternalDate,
                        FetchAtt::Rfc822Size,
                    ]);
                    if w != "FAST" {
                        items.push(FetchAtt::Envelope);
                    }
                    if w == "FULL" {
                        items.push(FetchAtt::Body);
                    }
                }
                _ => items.push(self.fetch_att()?),
            }
        }
        let (mut changed_since, mut vanished) = (None, false);
        if self.eat(b' ') {
            // RFC 7162 §3.1.4.1 / §3.2.6 fetch modifiers.
            (changed_since, vanished) = self.fetch_modifiers()?;
        }
        Ok(Kind::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        })
    }

    pub(super) fn peek_word(&self) -> R<String> {
        let rest = &self.s[self.pos..];
        let Some(n) = rest
            .iter()
            .position(|&b| !b.is_ascii_alphanumeric() && b != b'.')
        else {
            return Err(Fail::Incomplete);
        };
        Ok(String::from_utf8_lossy(&rest[..n]).to_ascii_uppercase())
    }

    fn fetch_att(&mut self) -> R<FetchAtt> {
        let start = self.pos;
        let mut name = String::new();
        while let Some(&b) = self.s.get(self.pos) {
            if b.is_ascii_alphanumeric() || b == b'.' {
                name.push(b.to_ascii_uppercase() as char);
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == self.s.len() {
            return Err(Fail::Incomplete);
        }
        Ok(match name.as_str() {
            "FLAGS" => FetchAtt::Flags,
            "UID" => FetchAtt::Uid,
            "INTERNALDATE" => FetchAtt::InternalDate,
            "RFC822.SIZE" => FetchAtt::Rfc822Size,
            "RFC822" => FetchAtt::Rfc822,
            "RFC822.HEADER" => FetchAtt::Rfc822Header,
            "RFC822.TEXT" => FetchAtt::Rfc822Text,
            "ENVELOPE" => FetchAtt::Envelope,
            "BODYSTRUCTURE" => FetchAtt::BodyStructure,
            "MODSEQ" => FetchAtt::ModSeq,
            "BODY" | "BODY.PEEK" | "BINARY" | "BINARY.PEEK" if self.peek()? == b'[' => {
                self.pos += 1;
                let section = self.section()?;
                let partial = if self.eat(b'<') {
                    let a = self.number()?;
                    self.expect(b'.')?;
                    let b = self.number()?;
                    self.expect(b'>')?;
                    if b == 0 {
                        return syn("partial length must be positive");
                    }
                    Some((a, b))
                } else {
                    None
                };
                let raw = String::from_utf8_lossy(&self.s[start..self.pos]).to_ascii_uppercase();
                FetchAtt::Section {
                    peek: name.ends_with(".PEEK"),
                    section,
                    partial,
                    raw,
                }
            }
            "BODY" => FetchAtt::Body,
            "" => return syn("expected a FETCH item"),
            other => return syn(format!("unknown FETCH item {other}")),
        })
    }

    fn section(&mut self) -> R<Section> {
        let mut sec = Section::default();
        if self.eat(b']') {
            return Ok(sec);
        }
        loop {
            if self.peek()?.is_ascii_digit() {
                let n = self.number()?;
                if n == 0 {
                    return syn("section part numbers start at 1");
                }
                sec.part.push(n);
                if self.eat(b'.') {
                    continue;
                }
                self.expect(b']')?;
                return Ok(sec);
            }
            break;
        }
        let w = self.peek_word()?;
        self.pos += w.len();
        sec.text = Some(match w.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !sec.part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                self.sp()?;
                self.expect(b'(')?;
                let mut names = Vec::new();
                loop {
                    names.push(self.astring()?);
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                if w == "HEADER.FIELDS" {
                    SectionText::HeaderFields(names)
                } else {
                    SectionText::HeaderFieldsNot(names)
                }
            }
            _ => return syn(format!("invalid section {w}")),
        });
        self.expect(b']')?;
        Ok(sec)
    }
}
