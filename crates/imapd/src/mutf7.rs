//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): UTF-8 in the store, mUTF-7 on the wire.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// UTF-8 → modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        let mut bits = 0u32;
        let mut nbits = 0;
        for b in bytes {
            bits = (bits << 8) | b as u32;
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 63) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 63) as usize] as char);
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        // RFC 3501 §5.1.3: printable US-ASCII except "&" represent themselves.
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Modified UTF-7 → UTF-8. `None` when the input is not valid mUTF-7.
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::new();
    let bytes = wire.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'&' {
            let end = i + 1 + bytes[i + 1..].iter().position(|&c| c == b'-')?;
            let chunk = &bytes[i + 1..end];
            if chunk.is_empty() {
                out.push('&');
            } else {
                let mut bits = 0u32;
                let mut nbits = 0;
                let mut raw = Vec::new();
                for &c in chunk {
                    let v = B64.iter().position(|&x| x == c)? as u32;
                    bits = (bits << 6) | v;
                    nbits += 6;
                    if nbits >= 8 {
                        nbits -= 8;
                        raw.push((bits >> nbits) as u8);
                    }
                }
                if raw.len() % 2 != 0 {
                    return None;
                }
                let units: Vec<u16> = raw
                    .chunks(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
                let s = String::from_utf16(&units).ok()?;
                // RFC 3501 §5.1.3: printable ASCII must not be base64-encoded.
                if s.chars().any(|c| (' '..='~').contains(&c)) {
                    return None;
                }
                out.push_str(&s);
            }
            i = end + 1;
        } else if (0x20..0x7f).contains(&b) {
            out.push(b as char);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (utf8, wire) in [
            ("INBOX", "INBOX"),
            ("a&b", "a&-b"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
        ] {
            assert_eq!(encode(utf8), wire);
            assert_eq!(decode(wire).as_deref(), Some(utf8));
        }
        assert_eq!(decode("&Jjo"), None);
        assert_eq!(decode("&AGE-"), None); // "a" encoded
        assert_eq!(decode("caf\u{e9}"), None);
    }
}
