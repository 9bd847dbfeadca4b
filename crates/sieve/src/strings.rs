//! String arguments at parse time: "encoded-character" sequences decoded (RFC 5228
//! §2.4.2.4) and, with "variables", the text split into literal pieces and `${...}`
//! references (RFC 5229 §3), so run time only concatenates.

use crate::ast::{Piece, Str};

/// Longest run of name characters looked at after `${`; longer is not a reference.
const MAX_REF: usize = 128;
/// Longest `${hex:...}` / `${unicode:...}` sequence looked at.
const MAX_ENCODED: usize = 4096;

/// How strings are read, from the script's `require`s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StrMode {
    pub variables: bool,
    pub encoded: bool,
}

/// Converts one string argument; `Err` is the message of a parse error.
pub(crate) fn convert(raw: &str, mode: StrMode) -> Result<Str, String> {
    let decoded;
    let text = if mode.encoded && raw.contains("${") {
        decoded = decode_encoded(raw)?;
        decoded.as_str()
    } else {
        raw
    };
    if !mode.variables || !text.contains("${") {
        return Ok(Str(vec![Piece::Lit(text.to_string())]));
    }
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let name_len = after
            .bytes()
            .take(MAX_REF)
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .count();
        let name = &after[..name_len];
        if after[name_len..].starts_with('}') {
            if let Some(p) = reference(name)? {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(p);
                rest = &after[name_len + 1..];
                continue;
            }
        }
        // RFC 5229 §3: text that is not a valid reference stays as it is.
        lit.push('$');
        rest = &rest[i + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(Str(pieces))
}

/// What `${name}` refers to: `None` when `name` is not a valid reference (left verbatim).
fn reference(name: &str) -> Result<Option<Piece>, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        // RFC 5229 §3: num-variable = 1*DIGIT; only 0..9 are ever set.
        let n = name.trim_start_matches('0');
        return Ok(Some(Piece::Match(if n.is_empty() {
            0
        } else if n.len() > 2 {
            usize::MAX
        } else {
            n.parse().unwrap_or(usize::MAX)
        })));
    }
    let parts: Vec<&str> = name.split('.').collect();
    if !parts.iter().all(|p| is_identifier(p)) {
        return Ok(None);
    }
    if parts.len() > 1 {
        // RFC 5229 §3: a namespace whose extension is not required is an error; we
        // implement no namespaced variables.
        return Err(format!(
            "variable namespace '{}' is not supported",
            parts[..parts.len() - 1].join(".")
        ));
    }
    Ok(Some(Piece::Var(name.to_ascii_lowercase())))
}

/// RFC 5229 §3: identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_").
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// RFC 5228 §2.4.2.4: `${hex: 41 42}` and `${unicode: 263A}` (prefixes case-insensitive);
/// malformed sequences stay as they are, out-of-range code points are errors.
fn decode_encoded(raw: &str) -> Result<String, String> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 2..];
        // Bounded look-ahead keeps many unterminated "${" linear.
        let close = after.bytes().take(MAX_ENCODED).position(|b| b == b'}');
        let decoded = close.and_then(|end| {
            let inner = &after[..end];
            let colon = inner.find(':')?;
            let (kind, seq) = (&inner[..colon], &inner[colon + 1..]);
            let items: Vec<&str> = seq
                .split([' ', '\t', '\r', '\n'])
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty()
                || !items
                    .iter()
                    .all(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return None;
            }
            let bytes = if kind.eq_ignore_ascii_case("hex") {
                if items.iter().any(|s| s.len() > 2) {
                    return None;
                }
                Ok(items
                    .iter()
                    .filter_map(|s| u8::from_str_radix(s, 16).ok())
                    .collect::<Vec<u8>>())
            } else if kind.eq_ignore_ascii_case("unicode") {
                let mut v = Vec::new();
                for s in &items {
                    let t = s.trim_start_matches('0');
                    let cp = match t.len() {
                        0 => Some(0),
                        1..=6 => u32::from_str_radix(t, 16).ok(),
                        _ => None,
                    };
                    match cp.and_then(char::from_u32) {
                        Some(c) => v.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                        None => {
                            return Some(Err(format!(
                                "encoded-character: U+{s} is not a Unicode scalar value"
                            )))
                        }
                    }
                }
                Ok(v)
            } else {
                return None;
            };
            Some(bytes.map(|b| (b, end)))
        });
        match decoded {
            Some(Ok((bytes, end))) => {
                out.extend_from_slice(&bytes);
                rest = &after[end + 1..];
            }
            Some(Err(e)) => return Err(e),
            None => {
                out.push(b'$');
                rest = &rest[i + 1..];
            }
        }
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out)
        .map_err(|_| "encoded-character: the ${hex:...} octets are not valid UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: StrMode = StrMode {
        variables: true,
        encoded: false,
    };

    #[test]
    fn references() {
        let s = convert("a${b}c${1}${Doh!}${00}", VARS).unwrap();
        assert_eq!(
            s.0,
            vec![
                Piece::Lit("a".into()),
                Piece::Var("b".into()),
                Piece::Lit("c".into()),
                Piece::Match(1),
                Piece::Lit("${Doh!}".into()),
                Piece::Match(0),
            ]
        );
        assert_eq!(convert("${${a}}", VARS).unwrap().0.len(), 3);
        assert!(convert("${env.x}", VARS).is_err());
        assert_eq!(convert("${a.}", VARS).unwrap().constant(), Some("${a.}"));
        // Without "variables" nothing is a reference.
        assert_eq!(
            convert("${a}", StrMode::default()).unwrap().constant(),
            Some("${a}")
        );
    }

    #[test]
    fn encoded_character() {
        let m = StrMode {
            variables: false,
            encoded: true,
        };
        assert_eq!(convert("${hex: 40 41}", m).unwrap().constant(), Some("@A"));
        assert_eq!(
            convert("${UNICODE:263a}x", m).unwrap().constant(),
            Some("☺x")
        );
        assert_eq!(
            convert("${hex:zz}", m).unwrap().constant(),
            Some("${hex:zz}")
        );
        assert!(convert("${unicode:D800}", m).is_err());
        assert!(convert("${hex:ff}", m).is_err());
    }
}
