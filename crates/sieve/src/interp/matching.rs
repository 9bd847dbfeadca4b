//! Comparators (RFC 5228 §2.7.3 with RFC 4790 §9: "i;octet", "i;ascii-casemap",
//! "i;ascii-numeric") and match types (RFC 5228 §2.7.1 `:is`, `:contains`, `:matches`;
//! RFC 5231 `:value`, `:count`), including the match variables a successful `:matches`
//! yields (RFC 5229 §3.2).
//!
//! `:matches` runs in O(text × pattern): only the most recent `*` is ever widened, which
//! finds a match whenever one exists and gives each wildcard the shortest span that leaves
//! a match for the rest (the captures RFC 5229 §3.2's examples show).

use std::cmp::Ordering;

use crate::ast::{Comparator, Match, MatchKind, Rel};

impl Rel {
    pub fn holds(self, o: Ordering) -> bool {
        match self {
            Rel::Gt => o == Ordering::Greater,
            Rel::Ge => o != Ordering::Less,
            Rel::Lt => o == Ordering::Less,
            Rel::Le => o != Ordering::Greater,
            Rel::Eq => o == Ordering::Equal,
            Rel::Ne => o != Ordering::Equal,
        }
    }
}

/// RFC 4790 §9.1: the leading digits without leading zeros; `None` is positive infinity
/// (a string that does not start with a digit).
fn numeric(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let d = s[..digits].trim_start_matches('0');
    Some(if d.is_empty() { "0" } else { d })
}

impl Comparator {
    /// RFC 5228 §2.7.3 / RFC 4790 §9: the ordering `:value` uses.
    pub fn order(self, a: &str, b: &str) -> Ordering {
        match self {
            Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
            // RFC 4790 §9.2: a-z mapped to A-Z, then octet order.
            Comparator::AsciiCasemap => a
                .bytes()
                .map(|c| c.to_ascii_uppercase())
                .cmp(b.bytes().map(|c| c.to_ascii_uppercase())),
            Comparator::AsciiNumeric => match (numeric(a), numeric(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            },
        }
    }

    fn equal(self, a: &str, b: &str) -> bool {
        match self {
            Comparator::Octet => a == b,
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(b),
            Comparator::AsciiNumeric => self.order(a, b) == Ordering::Equal,
        }
    }

    fn contains(self, hay: &str, needle: &str) -> bool {
        match self {
            Comparator::AsciiCasemap => hay
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
            // i;ascii-numeric has no substring operation; the parser rejects the pair.
            Comparator::Octet | Comparator::AsciiNumeric => hay.contains(needle),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PTok {
    Lit(char),
    /// `?`: exactly one character.
    One,
    /// `*`: zero or more characters.
    Star,
}

/// RFC 5228 §2.7.1: `*` and `?` are wildcards, `\` makes the next character literal.
fn compile(pattern: &str) -> Vec<PTok> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        out.push(match c {
            '*' => PTok::Star,
            '?' => PTok::One,
            '\\' => PTok::Lit(it.next().unwrap_or('\\')),
            c => PTok::Lit(c),
        });
    }
    out
}

/// Matches `text` against the compiled pattern; on success the span of each wildcard, in
/// pattern order.
fn wildcard(text: &[char], pat: &[PTok], fold: bool) -> Option<Vec<(usize, usize)>> {
    let eq = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let mut ordinal = Vec::with_capacity(pat.len());
    let mut nwild = 0;
    for t in pat {
        ordinal.push(nwild);
        if !matches!(t, PTok::Lit(_)) {
            nwild += 1;
        }
    }
    let mut caps = vec![(0, 0); nwild];
    let n = text.len();
    let (mut pi, mut ti) = (0, 0);
    // The most recent star: its pattern index and where its span ends now.
    let mut back: Option<(usize, usize)> = None;
    loop {
        if let Some(t) = pat.get(pi) {
            match *t {
                PTok::Star => {
                    caps[ordinal[pi]] = (ti, ti);
                    back = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                PTok::One if ti < n => {
                    caps[ordinal[pi]] = (ti, ti + 1);
                    pi += 1;
                    ti += 1;
                    continue;
                }
                PTok::Lit(c) if ti < n && eq(text[ti], c) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == n {
            return Some(caps);
        }
        match back {
            Some((spi, end)) if end < n => {
                back = Some((spi, end + 1));
                caps[ordinal[spi]].1 = end + 1;
                pi = spi + 1;
                ti = end + 1;
            }
            _ => return None,
        }
    }
}

/// `:matches` of one value; with `captures`, the match variables ${0}.. on success.
fn matches(cmp: Comparator, value: &str, key: &str, captures: bool) -> Option<Vec<String>> {
    let text: Vec<char> = value.chars().collect();
    let pat = compile(key);
    let spans = wildcard(&text, &pat, cmp == Comparator::AsciiCasemap)?;
    if !captures {
        return Some(Vec::new());
    }
    let mut vars = vec![value.to_string()];
    for (s, e) in spans.into_iter().take(crate::interp::MATCH_VARS - 1) {
        vars.push(text[s..e].iter().collect());
    }
    Some(vars)
}

/// Compares `values` with `keys` (RFC 5228 §2.7: true if any value matches any key; RFC
/// 5231 §5 `:count`: the number of values against each key). `Some(vars)` on success, the
/// match variables set when `captures` and the match type is `:matches`.
pub(crate) fn test(
    m: Match,
    values: &[String],
    keys: &[String],
    captures: bool,
) -> Option<Vec<String>> {
    match m.kind {
        MatchKind::Count(rel) => {
            let count = values.len().to_string();
            keys.iter()
                .any(|k| rel.holds(m.cmp.order(&count, k)))
                .then(Vec::new)
        }
        MatchKind::Value(rel) => values
            .iter()
            .any(|v| keys.iter().any(|k| rel.holds(m.cmp.order(v, k))))
            .then(Vec::new),
        MatchKind::Is => values
            .iter()
            .any(|v| keys.iter().any(|k| m.cmp.equal(v, k)))
            .then(Vec::new),
        MatchKind::Contains => values
            .iter()
            .any(|v| keys.iter().any(|k| m.cmp.contains(v, k)))
            .then(Vec::new),
        MatchKind::Matches => values
            .iter()
            .find_map(|v| keys.iter().find_map(|k| matches(m.cmp, v, k, captures))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(value: &str, key: &str) -> Option<Vec<String>> {
        matches(Comparator::AsciiCasemap, value, key, true)
    }

    #[test]
    fn wildcards_and_captures() {
        // The captures of RFC 5229 §3.2's examples.
        assert_eq!(
            caps("[acme-users] [fwd] version 1.0 is out", "[*] *").unwrap(),
            [
                "[acme-users] [fwd] version 1.0 is out",
                "acme-users",
                "[fwd] version 1.0 is out"
            ]
        );
        assert_eq!(
            caps("coyote@ACME.Example.COM", "coyote@**.com").unwrap(),
            ["coyote@ACME.Example.COM", "", "ACME.Example"]
        );
        assert_eq!(
            caps("Acme <acme@lists.example.org>", "*<*@*").unwrap()[1..],
            ["Acme ", "acme", "lists.example.org>"]
        );
        assert_eq!(caps("abc", "a?c").unwrap()[1], "b");
        assert!(caps("abc", "a?").is_none());
        assert!(caps("a*c", "a\\*c").is_some());
        assert!(caps("abc", "a\\*c").is_none());
        assert!(caps("", "*").is_some());
        assert!(caps("x", "").is_none());
        assert!(matches(Comparator::Octet, "ABC", "a*", false).is_none());
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(20_000);
        let pat = format!("{}b", "*a".repeat(50));
        let start = std::time::Instant::now();
        assert!(caps(&text, &pat).is_none());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn comparators() {
        let n = Comparator::AsciiNumeric;
        assert_eq!(n.order("007", "7"), Ordering::Equal);
        assert_eq!(n.order("10", "9"), Ordering::Greater);
        assert_eq!(n.order("abc", "99999"), Ordering::Greater);
        assert_eq!(n.order("x", "y"), Ordering::Equal);
        assert_eq!(n.order("12abc", "12"), Ordering::Equal);
        let c = Comparator::AsciiCasemap;
        assert_eq!(c.order("abc", "ABD"), Ordering::Less);
        // RFC 4790 §9.2 maps to upper case: '_' (0x5F) sorts after 'Z'.
        assert_eq!(c.order("_", "z"), Ordering::Greater);
        assert!(Comparator::Octet.order("B", "a").is_lt());
    }

    #[test]
    fn count_and_value() {
        let m = |kind| Match {
            kind,
            cmp: Comparator::AsciiNumeric,
        };
        let vals = vec!["3".to_string(), "12".to_string()];
        assert!(test(m(MatchKind::Count(Rel::Eq)), &vals, &["2".into()], false).is_some());
        assert!(test(m(MatchKind::Value(Rel::Gt)), &vals, &["10".into()], false).is_some());
        assert!(test(m(MatchKind::Value(Rel::Gt)), &vals, &["12".into()], false).is_none());
        assert!(test(m(MatchKind::Count(Rel::Eq)), &[], &["0".into()], false).is_some());
    }
}
