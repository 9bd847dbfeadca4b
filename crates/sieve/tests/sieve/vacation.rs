//! RFC 5230 vacation (with RFC 6131 :seconds): the action, its handle and period; the
//! delivery helpers `reply_to` (every Skip) and `build_reply`.

use super::*;
use sieve::vacation::{build_reply, reply_to, Skip};
use sieve::{Action, Envelope, Vacation};

fn vacation_of(src: &str) -> Vacation {
    let acts = actions(src);
    let mut found = acts.iter().filter_map(|a| match a {
        Action::Vacation(v) => Some(v.clone()),
        _ => None,
    });
    found
        .next()
        .unwrap_or_else(|| panic!("no vacation in {acts:?}"))
}

#[test]
fn defaults_and_arguments() {
    let v = vacation_of("require \"vacation\"; vacation \"Gone fishing.\";");
    assert_eq!(v.period_secs, 7 * 86_400);
    assert_eq!(v.reason, "Gone fishing.");
    assert_eq!((v.subject, v.from, v.mime), (None, None, false));
    assert!(v.addresses.is_empty());
    assert!(!v.handle.is_empty());

    let v = vacation_of(
        r#"require "vacation";
vacation :days 23 :subject "Away" :from "Road Runner <roadrunner@acme.example.com>"
  :addresses ["rr@acme.example.com", "beep@acme.example.com"] :mime :handle "h1" text:
Content-Type: text/plain

Back soon.
.
;"#,
    );
    assert_eq!(v.period_secs, 23 * 86_400);
    assert_eq!(v.subject.as_deref(), Some("Away"));
    assert_eq!(
        v.from.as_deref(),
        Some("Road Runner <roadrunner@acme.example.com>")
    );
    assert_eq!(
        v.addresses,
        ["rr@acme.example.com", "beep@acme.example.com"]
    );
    assert!(v.mime);
    assert_eq!(v.handle, "h1");
    assert_eq!(v.reason, "Content-Type: text/plain\r\n\r\nBack soon.\r\n");
}

#[test]
fn period() {
    let p = |args: &str| {
        vacation_of(&format!(
            "require [\"vacation\", \"vacation-seconds\"]; vacation {args} \"x\";"
        ))
        .period_secs
    };
    assert_eq!(p(":days 0"), 86_400);
    assert_eq!(p(":days 1"), 86_400);
    assert_eq!(p(":seconds 0"), 0);
    assert_eq!(p(":seconds 3600"), 3600);
}

#[test]
fn handle_is_stable_and_follows_the_content() {
    let h = |args: &str| vacation_of(&format!("require \"vacation\"; vacation {args};")).handle;
    assert_eq!(h("\"a\""), h("\"a\""));
    assert_eq!(h(":days 3 \"a\""), h(":days 9 \"a\""));
    assert_ne!(h("\"a\""), h("\"b\""));
    assert_ne!(h("\"a\""), h(":subject \"s\" \"a\""));
    assert_ne!(h("\"a\""), h(":mime \"a\""));
    assert_ne!(h("\"a\""), h(":from \"x@example.org\" \"a\""));
    assert_eq!(h(":handle \"mine\" \"a\""), "mine");
}

#[test]
fn variables_expand_in_vacation() {
    let v = vacation_of(
        r#"require ["vacation", "variables"];
if header :matches "subject" "*" { set "s" "${1}"; }
vacation :subject "Re: ${s}" "About ${s}: later.";"#,
    );
    assert_eq!(v.subject.as_deref(), Some("Re: I have a present for you ☺"));
    assert_eq!(v.reason, "About I have a present for you ☺: later.");
}

#[test]
fn vacation_keeps_the_implicit_keep_and_works_with_discard() {
    let acts = actions("require \"vacation\"; vacation \"x\";");
    assert!(matches!(
        acts.as_slice(),
        [Action::Vacation(_), Action::Keep { .. }]
    ));
    let acts = actions("require \"vacation\"; vacation \"x\"; discard;");
    assert!(matches!(
        acts.as_slice(),
        [Action::Vacation(_), Action::Discard]
    ));
}

fn v() -> Vacation {
    Vacation {
        handle: "h".into(),
        period_secs: 86_400,
        subject: None,
        from: None,
        addresses: vec!["rr@acme.example.com".into()],
        mime: false,
        reason: "I'm away.\nBack in January.".into(),
    }
}

const ME: &[&str] = &["roadrunner@acme.example.com"];

fn msg(extra: &str) -> Vec<u8> {
    format!(
        "From: coyote@desert.example.org\r\nTo: roadrunner@acme.example.com\r\nSubject: Hi\r\nMessage-ID: <m1@desert.example.org>\r\n{extra}\r\nbody\r\n"
    )
    .into_bytes()
}

#[test]
fn reply_to_the_envelope_sender() {
    assert_eq!(
        reply_to(&v(), &ENV, &msg(""), ME),
        Ok("coyote@desert.example.org".to_string())
    );
    let env = Envelope {
        from: "<Coyote@Desert.example.org>",
        to: ENV.to,
    };
    assert_eq!(
        reply_to(&v(), &env, &msg(""), ME),
        Ok("Coyote@Desert.example.org".to_string())
    );
    // Auto-Submitted: no is a person's mail.
    assert!(reply_to(&v(), &ENV, &msg("Auto-Submitted: no\r\n"), ME).is_ok());
    assert!(reply_to(&v(), &ENV, &msg("Precedence: first-class\r\n"), ME).is_ok());
}

#[test]
fn reply_to_skips() {
    let null = Envelope {
        from: "",
        to: ENV.to,
    };
    assert_eq!(reply_to(&v(), &null, &msg(""), ME), Err(Skip::NullSender));
    let null = Envelope {
        from: "<>",
        to: ENV.to,
    };
    assert_eq!(reply_to(&v(), &null, &msg(""), ME), Err(Skip::NullSender));
    for m in [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated; owner-email=x@y\r\n",
        "AUTO-SUBMITTED: Auto-Notified\r\n",
    ] {
        assert_eq!(
            reply_to(&v(), &ENV, &msg(m), ME),
            Err(Skip::AutoSubmitted),
            "{m}"
        );
    }
    for m in [
        "List-Id: <traps.lists.example.org>\r\n",
        "List-Unsubscribe: <mailto:leave@lists.example.org>\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "Precedence: JUNK\r\n",
    ] {
        assert_eq!(
            reply_to(&v(), &ENV, &msg(m), ME),
            Err(Skip::ListMail),
            "{m}"
        );
    }
    for from in [
        "MAILER-DAEMON@desert.example.org",
        "owner-traps@lists.example.org",
        "traps-request@lists.example.org",
    ] {
        let env = Envelope { from, to: ENV.to };
        assert_eq!(
            reply_to(&v(), &env, &msg(""), ME),
            Err(Skip::MailerDaemon),
            "{from}"
        );
    }
    // From one of the user's addresses: the account's, :addresses, the recipient.
    for from in ["roadrunner@acme.example.com", "RR@acme.example.com"] {
        let env = Envelope { from, to: ENV.to };
        assert_eq!(
            reply_to(&v(), &env, &msg(""), ME),
            Err(Skip::FromSelf),
            "{from}"
        );
    }
    // Not addressed to the user in To/Cc/Bcc/Resent-*.
    let list = b"From: coyote@desert.example.org\r\nTo: everyone@lists.example.org\r\n\r\nx\r\n";
    assert_eq!(reply_to(&v(), &ENV, list, ME), Err(Skip::NotAddressed));
}

#[test]
fn addressed_through_any_recipient_field() {
    for field in ["To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"] {
        let m = format!("From: coyote@desert.example.org\r\n{field}: x@y.example, \"R\" <RR@ACME.example.com>\r\n\r\nx\r\n");
        let env = Envelope {
            from: ENV.from,
            to: "other@acme.example.com",
        };
        assert!(reply_to(&v(), &env, m.as_bytes(), &[]).is_ok(), "{field}");
    }
    // A subaddress of the user counts; an alias passed by the caller counts.
    let m =
        b"From: coyote@desert.example.org\r\nTo: roadrunner+sieve@acme.example.com\r\n\r\nx\r\n";
    assert!(reply_to(&v(), &ENV, m, ME).is_ok());
    let m = b"From: coyote@desert.example.org\r\nTo: beep@acme.example.com\r\n\r\nx\r\n";
    let env = Envelope {
        from: ENV.from,
        to: "runner@acme.example.com",
    };
    assert_eq!(reply_to(&v(), &env, m, &[]), Err(Skip::NotAddressed));
    assert!(reply_to(&v(), &env, m, &["beep@acme.example.com"]).is_ok());
}

fn headers(reply: &[u8]) -> (Vec<(String, String)>, String) {
    let text = String::from_utf8(reply.to_vec()).expect("UTF-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("header and body");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') {
            fields
                .last_mut()
                .expect("folded line after a field")
                .1
                .push_str(line);
        } else {
            let (n, v) = line.split_once(": ").expect("field with ': '");
            fields.push((n.to_string(), v.to_string()));
        }
    }
    (fields, body.to_string())
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn reply_headers() {
    let original = msg("References: <r0@x.example>\r\n");
    let reply = build_reply(
        &v(),
        "roadrunner@acme.example.com",
        "coyote@desert.example.org",
        &original,
        NOW,
        "vac1@acme.example.com",
    );
    assert!(
        !String::from_utf8_lossy(&reply)
            .replace("\r\n", "")
            .contains('\n'),
        "bare LF"
    );
    let (f, body) = headers(&reply);
    assert_eq!(get(&f, "From"), "roadrunner@acme.example.com");
    assert_eq!(get(&f, "To"), "coyote@desert.example.org");
    assert_eq!(get(&f, "Subject"), "Auto: Hi");
    assert_eq!(get(&f, "In-Reply-To"), "<m1@desert.example.org>");
    assert_eq!(
        get(&f, "References"),
        "<r0@x.example> <m1@desert.example.org>"
    );
    assert_eq!(get(&f, "Auto-Submitted"), "auto-replied");
    assert_eq!(get(&f, "Date"), "Tue, 15 Dec 2026 12:00:00 +0000");
    assert_eq!(get(&f, "Message-ID"), "<vac1@acme.example.com>");
    assert_eq!(get(&f, "MIME-Version"), "1.0");
    assert_eq!(get(&f, "Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(get(&f, "Content-Transfer-Encoding"), "7bit");
    assert_eq!(body, "I'm away.\r\nBack in January.\r\n");
}

#[test]
fn reply_subject_from_and_encoding() {
    let mut vac = v();
    vac.subject = Some("Abwesend — zurück im Januar".into());
    vac.from = Some("Rüdiger <roadrunner@acme.example.com>".into());
    vac.reason = "Grüße\n".into();
    let reply = build_reply(
        &vac,
        "roadrunner@acme.example.com",
        "c@d.example",
        &msg(""),
        NOW,
        "<x@y>",
    );
    assert!(reply.is_ascii());
    let (f, body) = headers(&reply);
    assert!(get(&f, "Subject").starts_with("=?UTF-8?B?"));
    assert_eq!(
        get(&f, "From"),
        "=?UTF-8?B?UsO8ZGlnZXI=?= <roadrunner@acme.example.com>"
    );
    assert_eq!(get(&f, "Message-ID"), "<x@y>");
    assert_eq!(get(&f, "Content-Transfer-Encoding"), "quoted-printable");
    assert_eq!(body, "Gr=C3=BC=C3=9Fe\r\n");
    // The original subject is decoded before "Auto: " and encoded again.
    let reply = build_reply(
        &v(),
        "roadrunner@acme.example.com",
        "c@d.example",
        MSG,
        NOW,
        "id@x",
    );
    let (f, _) = headers(&reply);
    assert!(get(&f, "Subject").starts_with("=?UTF-8?B?"));
    // No Subject at all; no Message-ID: no threading fields.
    let bare = b"From: c@d.example\r\n\r\nhi\r\n";
    let (f, _) = headers(&build_reply(
        &v(),
        "r@a.example",
        "c@d.example",
        bare,
        NOW,
        "id@x",
    ));
    assert_eq!(get(&f, "Subject"), "Automated reply");
    assert!(!f
        .iter()
        .any(|(n, _)| n == "In-Reply-To" || n == "References"));
}

#[test]
fn reply_values_cannot_inject_headers() {
    let mut vac = v();
    vac.subject = Some("hi\r\nBcc: victim@example.org".into());
    let reply = build_reply(
        &vac,
        "r@a.example",
        "c@d.example\r\nX-Evil: 1",
        &msg(""),
        NOW,
        "id@x",
    );
    let (f, _) = headers(&reply);
    assert!(!f.iter().any(|(n, _)| n == "Bcc" || n == "X-Evil"));
}

#[test]
fn mime_reason_is_the_entity() {
    let mut vac = v();
    vac.mime = true;
    vac.reason = "Content-Type: text/html; charset=us-ascii\n\n<p>Away</p>\n".into();
    let reply = build_reply(&vac, "r@a.example", "c@d.example", &msg(""), NOW, "id@x");
    let (f, body) = headers(&reply);
    assert_eq!(get(&f, "Content-Type"), "text/html; charset=us-ascii");
    assert_eq!(get(&f, "MIME-Version"), "1.0");
    assert_eq!(f.iter().filter(|(n, _)| n == "Content-Type").count(), 1);
    assert_eq!(body, "<p>Away</p>\r\n");
}

#[test]
fn mime_reason_without_header_is_a_body() {
    let mut vac = v();
    vac.mime = true;
    vac.reason = "just text, no header\n".into();
    let reply = build_reply(&vac, "r@a.example", "c@d.example", &msg(""), NOW, "id@x");
    let (f, body) = headers(&reply);
    assert!(!f.iter().any(|(n, _)| n == "Content-Type"));
    assert_eq!(body, "just text, no header\r\n");
}
