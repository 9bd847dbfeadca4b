//! Test evaluation: what each test compares (RFC 5228 §5, RFC 5173, RFC 5229 §5, RFC 5232
//! §4, RFC 5260 §4/§5, RFC 5490 §3.1), and the match variables a successful `:matches`
//! leaves behind (RFC 5229 §3.2).

use super::matching;
use super::{normalize_flags, RtResult, Runtime, MATCH_VARS, MAX_VARIABLE_LEN};
use crate::ast::{AddrPart, BodyTransform, Ext, Match, MatchKind, Test, Zone};
use crate::date::{self, DatePart};
use crate::{body, message};

/// The local part or domain of an addr-spec (RFC 5228 §2.7.4); `None` when the address
/// has no such part (no domain without an '@').
fn address_part(addr: &str, part: AddrPart) -> Option<String> {
    let (local, domain) = message::split_address(addr);
    match part {
        AddrPart::All => Some(addr.to_string()),
        AddrPart::Localpart => Some(local.to_string()),
        AddrPart::Domain => domain.map(str::to_string),
    }
}

impl Runtime<'_> {
    pub(super) fn test(&mut self, t: &Test) -> RtResult<bool> {
        Ok(match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t)?,
            // RFC 5228 §5.2, §5.3: evaluated left to right, stopping at the first decisive
            // result (so later tests set no match variables).
            Test::AllOf(ts) => {
                for t in ts {
                    if !self.test(t)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(ts) => {
                for t in ts {
                    if self.test(t)? {
                        return Ok(true);
                    }
                }
                false
            }
            // RFC 5228 §5.1.
            Test::Address {
                m,
                part,
                headers,
                keys,
            } => {
                let mut values = Vec::new();
                for name in self.expand_all(headers) {
                    for f in self.headers.get(&name) {
                        values.extend(
                            message::addresses(f.raw)
                                .iter()
                                .filter_map(|a| address_part(a, *part)),
                        );
                    }
                }
                self.compare(*m, &values, keys, true)
            }
            // RFC 5228 §5.4: the null reverse-path is the empty string for every part.
            Test::Envelope {
                m,
                part,
                fields,
                keys,
            } => {
                let mut values = Vec::new();
                for f in self.expand_all(fields) {
                    let addr = match f.to_ascii_lowercase().as_str() {
                        "from" => self.env.from,
                        "to" => self.env.to,
                        _ => continue,
                    };
                    let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
                    if addr.is_empty() {
                        values.push(String::new());
                    } else if let Some(v) = address_part(addr, *part) {
                        values.push(v);
                    }
                }
                self.compare(*m, &values, keys, true)
            }
            // RFC 5228 §5.7: decoded values of every field with one of the names.
            Test::Header { m, headers, keys } => {
                let mut values = Vec::new();
                for name in self.expand_all(headers) {
                    values.extend(self.headers.get(&name).map(|f| message::decode(f.raw)));
                }
                self.compare(*m, &values, keys, true)
            }
            // RFC 5228 §5.5: true if every named header exists.
            Test::Exists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| self.headers.get(n).next().is_some()),
            // RFC 5228 §5.9: the message size in octets.
            Test::Size { over, limit } => {
                let size = self.msg.len() as u64;
                if *over {
                    size > *limit
                } else {
                    size < *limit
                }
            }
            Test::Body { m, transform, keys } => {
                let values = match transform {
                    BodyTransform::Raw => self
                        .raw_cache
                        .get_or_insert_with(|| body::raw(self.msg))
                        .clone(),
                    BodyTransform::Text => self
                        .text_cache
                        .get_or_insert_with(|| body::text_parts(self.msg))
                        .clone(),
                    BodyTransform::Content(types) => {
                        body::content_parts(self.msg, &self.expand_all(types))
                    }
                };
                // RFC 5173 §6: body never sets match variables.
                self.compare(*m, &values, keys, false)
            }
            // RFC 5260 §4.
            Test::Date {
                m,
                zone,
                header,
                part,
                keys,
            } => {
                let Some(part) = DatePart::parse(&self.expand(part)) else {
                    return Ok(false);
                };
                let name = self.expand(header);
                let mut values = Vec::new();
                for f in self.headers.get(&name) {
                    let Some((unix, original)) = date::header_date(f.raw) else {
                        continue;
                    };
                    let Some(z) = self.zone(zone, original) else {
                        return Ok(false);
                    };
                    values.push(date::civil(unix, z).part(part));
                }
                self.compare(*m, &values, keys, true)
            }
            // RFC 5260 §5: the time of the script's run.
            Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            } => {
                let Some(part) = DatePart::parse(&self.expand(part)) else {
                    return Ok(false);
                };
                let Some(z) = self.zone(zone, self.ctx.zone_minutes) else {
                    return Ok(false);
                };
                let values = [date::civil(self.ctx.now_unix, z).part(part)];
                self.compare(*m, &values, keys, true)
            }
            // RFC 5229 §5: for :count, empty source strings are not counted.
            Test::String { m, sources, keys } => {
                let mut values = self.expand_all(sources);
                if matches!(m.kind, MatchKind::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.compare(*m, &values, keys, true)
            }
            // RFC 5232 §4: the flags of the internal variable or of the named variables.
            Test::HasFlag { m, vars, keys } => {
                let values = if vars.is_empty() {
                    self.flags.clone()
                } else {
                    normalize_flags(
                        vars.iter()
                            .filter_map(|v| self.vars.get(v))
                            .map(String::as_str),
                    )
                };
                let keys: Vec<String> = self
                    .expand_all(keys)
                    .iter()
                    .flat_map(|k| k.split_ascii_whitespace().map(str::to_string))
                    .collect();
                self.compare_expanded(*m, &values, &keys, true)
            }
            // RFC 5490 §3.1: true if every mailbox exists (INBOX always does).
            Test::MailboxExists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| n.eq_ignore_ascii_case("INBOX") || (self.ctx.mailbox_exists)(n)),
        })
    }

    /// The zone a date is shown in: `:zone`, `:originalzone` (`original`), or local.
    fn zone(&self, zone: &Zone, original: i32) -> Option<i32> {
        match zone {
            Zone::Local => Some(self.ctx.zone_minutes),
            Zone::Original => Some(original),
            Zone::Fixed(z) => date::parse_zone(&self.expand(z)),
        }
    }

    fn compare(
        &mut self,
        m: Match,
        values: &[String],
        keys: &[crate::ast::Str],
        captures: bool,
    ) -> bool {
        let keys = self.expand_all(keys);
        self.compare_expanded(m, values, &keys, captures)
    }

    /// RFC 5229 §3.2: a successful `:matches` replaces the match variables (only when the
    /// script requires "variables"; a failed one leaves them as they were).
    fn compare_expanded(
        &mut self,
        m: Match,
        values: &[String],
        keys: &[String],
        captures: bool,
    ) -> bool {
        let captures =
            captures && m.kind == MatchKind::Matches && self.script.caps.has(Ext::Variables);
        match matching::test(m, values, keys, captures) {
            Some(vars) => {
                if captures {
                    self.match_vars = vars;
                    self.match_vars.truncate(MATCH_VARS);
                    // RFC 5229 §6: match variables are variables, with the same size limit.
                    for v in &mut self.match_vars {
                        super::truncate(v, MAX_VARIABLE_LEN);
                    }
                }
                true
            }
            None => false,
        }
    }
}
