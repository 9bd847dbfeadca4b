//! Unit tests of the MIME parser (RFC 2045/2046 structure, Dovecot-compatible recovery).

use super::*;

fn children(p: &Part) -> &[Part] {
    match &p.kind {
        PartKind::Multipart(c) => c,
        _ => &[],
    }
}

#[test]
fn simple_message() {
    let raw = b"From: a@b.c\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\n\r\nhello\r\nworld\r\n";
    let p = parse(raw);
    assert_eq!(p.header_len as usize, raw.len() - 14);
    assert_eq!(
        p.envelope.subject.as_deref(),
        Some("=?utf-8?q?caf=C3=A9?= folded")
    );
    assert_eq!(
        p.envelope.raw(1),
        Some(&b"=?utf-8?q?caf=C3=A9?=\n folded"[..])
    );
    assert_eq!(p.root.content_type, "text");
    assert_eq!(p.root.lines, 2);
}

#[test]
fn multipart() {
    let raw = b"Content-Type: multipart/mixed; boundary=X\r\n\r\npre\r\n--X\r\nContent-Type: text/plain\r\n\r\none\r\n--X\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--X--\r\n";
    let p = parse(raw);
    let c = children(&p.root);
    assert_eq!(c.len(), 2);
    // RFC 2046 §5.1.1: the CRLF before a boundary belongs to the boundary.
    assert_eq!(
        &raw[c[0].body_start as usize..c[0].body_end as usize],
        b"one"
    );
    assert_eq!(c[1].subtype, "png");
    assert_eq!(c[1].encoding.as_deref(), Some("base64"));
    assert_eq!(p.root.body_end as usize, raw.len());
}

#[test]
fn nested_and_broken() {
    // An outer boundary ends the inner multipart that never closed; digest parts
    // default to message/rfc822 (RFC 2046 §5.1.5).
    let raw = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/digest; boundary=i\r\n\r\n--i\r\n\r\nSubject: s\r\n\r\nx\r\n--o\r\n\r\nlast\r\n--o--\r\n";
    let p = parse(raw);
    let c = children(&p.root);
    assert_eq!(c.len(), 2);
    let d = children(&c[0]);
    assert_eq!(d.len(), 1);
    let PartKind::Message(env, _) = &d[0].kind else {
        panic!("digest part is not message/rfc822")
    };
    assert_eq!(env.subject.as_deref(), Some("s"));
    // A boundary that never appears: a multipart without parts.
    let p = parse(b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n");
    assert!(matches!(&p.root.kind, PartKind::Multipart(c) if c.is_empty()));
}

#[test]
fn non_utf8_headers_keep_their_bytes() {
    let p = parse(b"Subject: caf\xe9\r\nFrom: a@b\r\nFrom: c@d\r\n\r\n");
    assert_eq!(p.envelope.raw(1), Some(&b"caf\xe9"[..]));
    assert_eq!(p.envelope.subject.as_deref(), Some("caf\u{fffd}"));
    assert_eq!(p.envelope.raw(2), Some(&b"a@b,c@d"[..]));
    // No MIME-Version and no Content-Type: Content-* headers do not count.
    let p = parse(b"Content-Transfer-Encoding: base64\r\n\r\nx");
    assert_eq!(p.root.encoding, None);
}

#[test]
fn garbage_still_parses() {
    for raw in [
        &b""[..],
        b"\r\n",
        b"no header at all",
        b"\xff\xfe\x00binary",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
    ] {
        let p = parse(raw);
        assert!(p.header_len as usize <= raw.len());
        assert!(p.root.body_end as usize <= raw.len());
    }
    // Nesting is capped.
    let raw = b"Content-Type: message/rfc822\r\n\r\n".repeat(MAX_DEPTH * 3);
    let p = parse(&raw);
    let mut depth = 0;
    let mut cur = &p.root;
    while let PartKind::Message(_, inner) = &cur.kind {
        cur = inner;
        depth += 1;
    }
    assert!(depth <= MAX_DEPTH);
}

fn check(p: &Part, len: u32, depth: usize) -> usize {
    assert!(p.header_start <= p.body_start && p.body_start <= p.body_end && p.body_end <= len);
    assert!(depth <= MAX_DEPTH + 1);
    match &p.kind {
        PartKind::Leaf => 1,
        PartKind::Multipart(c) => 1 + c.iter().map(|c| check(c, len, depth + 1)).sum::<usize>(),
        PartKind::Message(_, inner) => 1 + check(inner, len, depth + 1),
    }
}

#[test]
fn corpus_and_its_truncations_keep_the_invariants() {
    // The differential-test corpus (tests/corpus), cut at every byte.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let raw = std::fs::read(e.path()).unwrap_or_default();
        for cut in 0..=raw.len() {
            let p = parse(&raw[..cut]);
            assert!(p.header_len as usize <= cut);
            check(&p.root, u32::try_from(cut).expect("small"), 0);
        }
    }
}

#[test]
fn part_count_is_capped() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=X\r\n\r\n".to_vec();
    raw.extend(b"--X\r\n\r\nx\r\n".repeat(MAX_PARTS * 2));
    let p = parse(&raw);
    assert!(check(&p.root, u32::try_from(raw.len()).expect("small"), 0) <= MAX_PARTS + 1);
}
