//! ENVELOPE address lists against Dovecot 2.3 (Debian's dovecot-imapd): each header value
//! below was APPENDed to Dovecot as a From field and its ENVELOPE's from list copied here
//! byte for byte. Malformed angle addresses are where lib-mail's recovery rules show
//! (RFC 5322 §3.4 leaves them open): `<>` has neither mailbox nor domain, a route without
//! its ":" is INVALID_ROUTE, the input ending inside the brackets is SYNTAX_ERROR, and local
//! parts may have dots where RFC 5322 §3.4.1 allows none.

use super::*;

/// Renders the From list of a message whose only header is `From: value`.
fn from_list(value: &str) -> String {
    let env = store::mime::parse(format!("From: {value}\r\n\r\n").as_bytes()).envelope;
    let mut out = Vec::new();
    envelope(&mut out, &env);
    let s = String::from_utf8(out).expect("ascii");
    // (date subject from ...): the third element.
    let from = s.strip_prefix("(NIL NIL ").expect("no date, no subject");
    if from.starts_with("NIL ") {
        return "NIL".into();
    }
    let mut depth = 0;
    for (i, c) in from.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return from[..=i].to_string();
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced: {s}")
}

#[test]
fn malformed_addresses_as_dovecot() {
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        (r#"MAILER DAEMON <>"#, r#"(("MAILER DAEMON" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A < >"#, r#"(("A" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <foo>"#, r#"(("A" NIL "foo" "MISSING_DOMAIN"))"#),
        (r#"A <foo@>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <@example.com>"#, r#"(("A" "INVALID_ROUTE" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <foo@bar"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo bar@x>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"<>"#, r#"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <>, b@c.d"#, r#"(("A" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "b" "c.d"))"#),
        (r#"A <(comment)>"#, r#"(("A" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#""A" <>"#, r#"(("A" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <"">"#, r#"(("A" NIL "" "MISSING_DOMAIN"))"#),
        (r#"A <foo@bar> extra"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <@route:>"#, r#"(("A" "@route" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <@route:foo@bar>"#, r#"(("A" "@route" "foo" "bar"))"#),
        (r#"A <"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@bar.com"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#""" <>"#, r#"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <> (comment)"#, r#"(("A" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <@a,@b>"#, r#"(("A" "INVALID_ROUTE" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <foo@bar>>"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"<@>"#, r#"((NIL "INVALID_ROUTE" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <foo@@bar>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <.foo@bar>"#, r#"(("A" NIL ".foo" "bar"))"#),
        (r#"A <foo.@bar>"#, r#"(("A" NIL "foo." "bar"))"#),
        (r#"A <foo . bar@x>"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo..bar@x>"#, r#"(("A" NIL "foo..bar" "x"))"#),
        (r#"A <.@x>"#, r#"(("A" NIL "." "x"))"#),
        (r#"A <..>"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo.>"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo (c) . bar@x>"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#".foo@bar"#, r#"((NIL NIL ".foo" "bar"))"#),
        (r#"A <foo@bar (c) >"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <foo@ bar>"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <foo @bar>"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <"foo"@bar>"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <"foo".x@bar>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@bar.>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@.bar>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@[1.2.3.4]>"#, r#"(("A" NIL "foo" "[1.2.3.4]"))"#),
        (r#"A <foo@[1.2.3.4>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <  foo@bar  >"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A B <foo@bar>"#, r#"(("A B" NIL "foo" "bar"))"#),
        (r#"A <@a,@b:foo@bar>"#, r#"(("A" "@a,@b" "foo" "bar"))"#),
        (r#"A <@a, @b:foo@bar>"#, r#"(("A" "@a,@b" "foo" "bar"))"#),
        (r#"A <@a:>"#, r#"(("A" "@a" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <@>"#, r#"(("A" "INVALID_ROUTE" "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        (r#"A <@a"#, r#"(("A" "INVALID_ROUTE" "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <@a:"#, r#"(("A" "@a" "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo.bar>"#, r#"(("A" NIL "foo.bar" "MISSING_DOMAIN"))"#),
        (r#"A <.foo>"#, r#"(("A" NIL ".foo" "MISSING_DOMAIN"))"#),
        (r#"A <foo..bar>"#, r#"(("A" NIL "foo..bar" "MISSING_DOMAIN"))"#),
        (r#"A <foo. bar@x>"#, r#"(("A" NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))"#),
        (r#"A <foo .bar@x>"#, r#"(("A" NIL "foo.bar" "x"))"#),
        (r#"A <.foo bar@x>"#, r#"(("A" NIL ".foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@bar . baz>"#, r#"(("A" NIL "foo" "bar.baz"))"#),
        (r#"A <foo@bar..baz>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@ba r>"#, r#"(("A" NIL "foo" "SYNTAX_ERROR"))"#),
        (r#"A <foo@bar .baz>"#, r#"(("A" NIL "foo" "bar.baz"))"#),
        (r#"A <foo@bar.baz (c)>"#, r#"(("A" NIL "foo" "bar.baz"))"#),
        (r#"A <foo(c)@bar>"#, r#"(("A" NIL "foo" "bar"))"#),
        (r#"A <foo.bar(c)@baz>"#, r#"(("A" NIL "foo.bar" "baz"))"#),
        (r#"A <foo (c)>"#, r#"(("A" NIL "foo" "MISSING_DOMAIN"))"#),
        (r#"foo..bar@x"#, r#"((NIL NIL "foo..bar" "x"))"#),
        (r#"foo.@x"#, r#"((NIL NIL "foo." "x"))"#),
        (r#"foo@bar."#, r#"((NIL NIL "foo" "MISSING_DOMAIN"))"#),
        (r#"foo.bar"#, r#"((NIL NIL "foo.bar" "MISSING_DOMAIN"))"#),
        (r#".foo"#, r#"((NIL NIL ".foo" "MISSING_DOMAIN"))"#),
    ];
    let mut wrong = Vec::new();
    for (value, dovecot) in cases {
        let ours = from_list(value);
        if ours != *dovecot {
            wrong.push(format!(
                "From: {value}\n  dovecot {dovecot}\n  ours    {ours}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
