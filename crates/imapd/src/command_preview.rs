//! FETCH items imap-codec 2.0 does not know — RFC 8970 §3.1 `PREVIEW [(LAZY)]` and RFC 8514
//! §4.2 `SAVEDATE` — are cut out of the attribute list and the rest is parsed as any FETCH
//! (`command::parse` adds the items back). An attribute list of such items alone becomes
//! `UID`, a stand-in the caller drops.

/// What [`rewrite`] found.
pub(super) enum Rewrite {
    /// Not a FETCH, or no PREVIEW or SAVEDATE item in it.
    None,
    /// Such an item, but the command has not ended yet.
    Incomplete,
    /// A PREVIEW item with a modifier that does not exist: BAD with the reason.
    Bad(String),
    /// The input with the items cut out (the rest of the input follows unchanged).
    Done { bytes: Vec<u8>, cut: Cut },
}

/// The items that were cut out.
pub(super) struct Cut {
    /// PREVIEW, with RFC 8970 §3.1 LAZY or not.
    pub preview: Option<bool>,
    /// RFC 8514 §4.2 SAVEDATE.
    pub savedate: bool,
    /// They were the only items: the stand-in `UID` is not the client's.
    pub alone: bool,
}

/// `FETCH set atts [modifiers]` (`name` is the command name, `UID FETCH` for the UID form).
pub(super) fn rewrite(input: &[u8], name: &str) -> Rewrite {
    if name != "FETCH" && name != "UID FETCH" {
        return Rewrite::None;
    }
    // The FETCH line: tag, name, set, attributes. PREVIEW never carries a literal.
    let Some(eol) = input.iter().position(|&b| b == b'\n') else {
        // A cut inside the word PREVIEW is incomplete too, not an unknown item.
        let tail = input
            .rsplit(|&b| b == b' ' || b == b'(')
            .next()
            .unwrap_or_default();
        let cut_word = !tail.is_empty()
            && WORDS
                .iter()
                .any(|w| tail.len() < w.len() && tail.eq_ignore_ascii_case(&w[..tail.len()]));
        return if cut_word || contains_item(input) {
            Rewrite::Incomplete
        } else {
            Rewrite::None
        };
    };
    if !contains_item(&input[..eol]) {
        return Rewrite::None;
    }
    // Skip tag, command name(s) and the sequence set: the attributes start after the
    // space that follows them.
    let words = if name == "FETCH" { 3 } else { 4 };
    let mut at = 0;
    for _ in 0..words {
        match input[at..eol].iter().position(|&b| b == b' ') {
            Some(p) => at += p + 1,
            None => return Rewrite::None,
        }
    }
    let list = input[at] == b'(';
    let start = if list { at + 1 } else { at };
    let mut i = start;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut preview = None;
    let mut savedate = false;
    let mut depth = 0u32;
    let mut item = i;
    // Items at bracket depth 0, separated by single spaces, up to `)` (a list) or the
    // first space / line end (one item).
    let end = loop {
        let b = input.get(i).copied().unwrap_or(b'\n');
        // The line end ends the attributes whatever is open; a space or `)` only outside
        // brackets.
        let stop = b == b'\r' || b == b'\n' || (depth == 0 && (b == b' ' || (list && b == b')')));
        if !stop {
            match b {
                b'[' | b'<' => depth += 1,
                b']' | b'>' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
            continue;
        }
        let word = &input[item..i];
        if word.eq_ignore_ascii_case(b"PREVIEW") {
            let mut lazy = false;
            if input.get(i..i + 2) == Some(b" (") {
                let close = match input[i..eol].iter().position(|&c| c == b')') {
                    Some(p) => i + p,
                    None => return Rewrite::Bad("PREVIEW modifiers: missing ')'".into()),
                };
                let mods = &input[i + 2..close];
                if mods.is_empty() {
                    return Rewrite::Bad("PREVIEW modifiers: empty list".into());
                }
                for m in mods.split(|&c| c == b' ') {
                    if !m.eq_ignore_ascii_case(b"LAZY") {
                        // RFC 8970 §3.1: LAZY is the only modifier.
                        return Rewrite::Bad(format!(
                            "'{}' is not a supported PREVIEW modifier",
                            String::from_utf8_lossy(m)
                        ));
                    }
                }
                lazy = true;
                i = close + 1;
            }
            preview = Some(lazy);
        } else if word.eq_ignore_ascii_case(b"SAVEDATE") {
            savedate = true;
        } else if !word.is_empty() {
            kept.push(word);
        }
        let b = input.get(i).copied().unwrap_or(b'\n');
        if list && b == b' ' {
            i += 1;
            item = i;
            continue;
        }
        break i;
    };
    if preview.is_none() && !savedate {
        return Rewrite::None;
    }
    let alone = kept.is_empty();
    let mut bytes = input[..at].to_vec();
    bytes.extend_from_slice(if list { b"(" } else { b"" });
    bytes.extend_from_slice(&if alone {
        b"UID".to_vec()
    } else {
        kept.join(&b' ')
    });
    let rest = if list && input.get(end) == Some(&b')') {
        bytes.push(b')');
        end + 1
    } else {
        end
    };
    bytes.extend_from_slice(&input[rest..]);
    Rewrite::Done {
        bytes,
        cut: Cut {
            preview,
            savedate,
            alone,
        },
    }
}

/// The items cut out.
const WORDS: [&[u8]; 2] = [b"PREVIEW", b"SAVEDATE"];

fn contains_item(line: &[u8]) -> bool {
    WORDS.iter().any(|item| {
        line.windows(item.len())
            .any(|w| w.eq_ignore_ascii_case(item))
    })
}
