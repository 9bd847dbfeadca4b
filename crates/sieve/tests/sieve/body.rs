//! RFC 5173 body: :text (default), :raw, :content.

use super::*;

const MIME: &[u8] = b"From: a@example.org\r\n\
To: roadrunner@acme.example.com\r\n\
Subject: offer\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
This is a multi-part message.\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Buy cheap m=E9dicaments now\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PGh0bWw+PGI+RlJFRSBNT05FWTwvYj48L2h0bWw+\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
SlVTVCBUSEUgUERG\r\n\
--outer--\r\n";

fn body_holds(test: &str, msg: &[u8]) -> bool {
    let src = format!("require [\"body\", \"variables\"];\nif {test} {{ discard; }}");
    run_on(&src, msg).actions == [sieve::Action::Discard]
}

#[test]
fn text_transform_decodes_text_parts() {
    assert!(body_holds("body :contains \"médicaments\"", MIME));
    assert!(body_holds("body :text :contains \"free money\"", MIME));
    assert!(!body_holds("body :contains \"<b>\"", MIME));
    assert!(!body_holds("body :contains \"JUST THE PDF\"", MIME));
    assert!(!body_holds("body :contains \"multi-part message\"", MIME));
    assert!(body_holds("body :contains \"anvil\"", MSG));
    assert!(body_holds("body :matches \"*drop it*\"", MSG));
}

#[test]
fn raw_transform_is_undecoded() {
    assert!(body_holds("body :raw :contains \"m=E9dicaments\"", MIME));
    assert!(body_holds("body :raw :contains \"--inner--\"", MIME));
    assert!(!body_holds("body :raw :contains \"médicaments\"", MIME));
    assert!(!body_holds("body :raw :contains \"Subject: offer\"", MIME));
}

#[test]
fn content_transform_selects_types() {
    assert!(body_holds(
        "body :content \"application/pdf\" :contains \"JUST THE PDF\"",
        MIME
    ));
    assert!(body_holds(
        "body :content \"text\" :contains \"FREE MONEY\"",
        MIME
    ));
    assert!(body_holds(
        "body :content \"text/html\" :contains \"<b>\"",
        MIME
    ));
    assert!(!body_holds(
        "body :content \"text/plain\" :contains \"FREE MONEY\"",
        MIME
    ));
    // multipart: the preamble and epilogue.
    assert!(body_holds(
        "body :content \"multipart\" :contains \"multi-part message\"",
        MIME
    ));
    assert!(!body_holds(
        "body :content [\"image\", \"audio/mpeg\"] :contains \"a\"",
        MIME
    ));
}

#[test]
fn body_sets_no_match_variables() {
    let src = r#"require ["body", "variables", "fileinto", "mailbox"];
if header :matches "subject" "*" { }
if body :matches "*drop*" { fileinto :create "${1}"; }"#;
    match &run_on(src, MSG).actions[0] {
        sieve::Action::FileInto { mailbox, .. } => {
            assert_eq!(mailbox, "I have a present for you ☺")
        }
        other => panic!("{other:?}"),
    }
}
