//! The example scripts of the RFCs that fall in our subset, written again for these tests
//! (same logic as RFC 5228 §9, RFC 5229, RFC 5230 §4.8, RFC 5232 §7, RFC 5260 §7, RFC 3894,
//! RFC 5231).

use super::*;
use sieve::Action;

/// RFC 5228 §9: the extended example (upper-case identifiers and tags on purpose).
const RFC5228: &str = r#"#
# Filter for a small company
#
require ["fileinto"];

# Messages of the filter list go to their folder.
if header :is "Sender" "owner-traps@lists.example.org"
        {
        fileinto "filter";  # the list folder
        }
# Anything to or from the company stays in the inbox.
elsif address :DOMAIN :is ["From", "To"] "acme.example.com"
        {
        keep;
        }
/* Spam: not addressed to me, or a subject spammers use. */
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@acme.example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";
        }
else
        {
        fileinto "personal";
        }
"#;

fn msg(headers: &str) -> Vec<u8> {
    format!("{headers}\r\n\r\nbody\r\n").into_bytes()
}

#[test]
fn rfc5228_extended_example() {
    let s = parse(RFC5228);
    let run = |m: &str| sieve::execute(&s, &ENV, &msg(m), &ctx()).actions;
    assert_eq!(
        run("Sender: owner-traps@lists.example.org"),
        [fileinto("filter")]
    );
    assert_eq!(
        run("From: boss@acme.example.com\r\nTo: x@y.example"),
        [keep()]
    );
    assert_eq!(
        run("From: a@b.example\r\nTo: friend@else.example"),
        [fileinto("spam")]
    );
    assert_eq!(
        run("From: a@b.example\r\nCc: me@acme.example.com\r\nSubject: Make lots of MONEY fast"),
        [fileinto("spam")]
    );
    assert_eq!(
        run("From: a@b.example\r\nBcc: me@acme.example.com\r\nSubject: hello"),
        [fileinto("personal")]
    );
}

#[test]
fn rfc5229_examples() {
    let src = r#"require ["variables", "fileinto", "mailbox"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
if string :matches "${vacation}" "Dear Mr Coyote,*meep.*" {
    fileinto :create "${first_name}";
}
set "a" "juMBlEd lETteRS";
set :length "b" "${a}";
set :lower "b2" "${a}";
set :upperfirst "b3" "${a}";
set :upperfirst :lower "b4" "${a}";
set :quotewildcard "b5" "Rock*";
if string :is ["${b}|${b2}|${b3}|${b4}|${b5}"]
    "15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|Rock\\*" { discard; }
if header :matches "List-ID" "*<*@*" { fileinto :create "INBOX.lists.${2}"; stop; }
"#;
    let created = |m: &str| Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
        create: true,
    };
    assert_eq!(actions(src), [created("Wile")]);
    let list = b"List-ID: Traps <traps@lists.example.org>\r\n\r\nx\r\n";
    assert_eq!(
        run_on(src, list).actions,
        [created("Wile"), created("INBOX.lists.traps")]
    );
}

#[test]
fn rfc5230_examples() {
    let src = r#"require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at 321-1234";
}"#;
    let reason = |m: &[u8]| match &run_on(src, m).actions[0] {
        Action::Vacation(v) => v.reason.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason(&msg("Subject: Cyrus problem")),
        "I'm out -- send mail to cyrus-bugs"
    );
    assert_eq!(reason(MSG), "I'm out -- call me at 321-1234");

    let src = r#"require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
   "I'm away until October 19.  If it's an emergency, call 911, I guess." ;"#;
    match &actions(src)[0] {
        Action::Vacation(v) => {
            assert_eq!(v.period_secs, 23 * 86_400);
            assert_eq!(v.addresses.len(), 2);
        }
        other => panic!("{other:?}"),
    }

    let src = r#"require "vacation";
vacation :mime text:
Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"
 "http://www.w3.org/TR/REC-html40/strict.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
.
;"#;
    match &actions(src)[0] {
        Action::Vacation(v) => {
            assert!(v.mime);
            assert!(v
                .reason
                .starts_with("Content-Type: multipart/alternative; boundary=foo\r\n\r\n--foo\r\n"));
            assert!(v.reason.ends_with("--foo--\r\n"));
        }
        other => panic!("{other:?}"),
    }

    let src = r#"require ["vacation", "vacation-seconds"];
vacation :seconds 1800 :subject "Gone" :from "hemingway@example.com" :handle "ran-away"
  "I am away until the 19th.";"#;
    match &actions(src)[0] {
        Action::Vacation(v) => {
            assert_eq!(v.period_secs, 1800);
            assert_eq!(v.handle, "ran-away");
            assert_eq!(v.from.as_deref(), Some("hemingway@example.com"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc5232_examples() {
    let src = r#"require ["imap4flags", "fileinto", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}
if header :contains "Disposition-Notification-To" "mel@example.com" {
    addflag "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "$MDNRequired";
    fileinto "imap";
}
if hasflag :contains "MDNRequired" { addflag "$Checked"; }"#;
    let exists_all = |_: &str| true;
    let c = sieve::Context {
        mailbox_exists: &exists_all,
        ..ctx()
    };
    let s = parse(src);
    let run = |m: &str| sieve::execute(&s, &ENV, &msg(m), &c).actions;
    assert_eq!(
        run("From: boss@frobnitzm.example.edu"),
        [Action::FileInto {
            mailbox: "INBOX.From Boss".into(),
            flags: vec!["\\Flagged".into()],
            create: false
        }]
    );
    assert_eq!(
        run("Disposition-Notification-To: mel@example.com"),
        [keep_flags(&["$MDNRequired", "$Checked"])]
    );
    assert_eq!(
        run(
            "Disposition-Notification-To: mel@example.com\r\nFrom: imap@cac.washington.example.edu"
        ),
        [fileinto("imap")]
    );
}

#[test]
fn rfc5260_examples() {
    // Urgent mail from the boss during office hours, in the sender's zone.
    let src = r#"require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }"#;
    let c = sieve::Context {
        mailbox_exists: &|_: &str| true,
        ..ctx()
    };
    let s = parse(src);
    let run = |date: &str| {
        let m = msg(&format!("From: boss@example.com\r\nDate: {date}"));
        sieve::execute(&s, &ENV, &m, &c).actions
    };
    assert_eq!(run("Mon, 07 Dec 2026 16:59:59 -0800"), [fileinto("urgent")]);
    assert_eq!(run("Mon, 07 Dec 2026 17:00:00 -0800"), [keep()]);
    assert_eq!(run("Mon, 07 Dec 2026 08:30:00 +0900"), [keep()]);

    // A week of vacation.
    let src = r#"require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2026-12-14",
         currentdate :value "le" "date" "2026-12-20")
{ vacation :days 7 "I'm away during the third week of December."; }"#;
    assert!(matches!(actions(src)[0], Action::Vacation(_)));
}

#[test]
fn rfc3894_example() {
    // Forward a copy and file the message.
    let src = r#"require ["copy", "fileinto"];
if header :contains "subject" "present" {
    redirect :copy "elsewhere@example.com";
    fileinto "Archive";
}"#;
    assert_eq!(
        actions(src),
        [redirect("elsewhere@example.com"), fileinto("Archive")]
    );
}

#[test]
fn rfc5231_examples() {
    let src = r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { fileinto "Archive"; }
elsif address :count "gt" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { fileinto "Lists"; }"#;
    assert_eq!(actions(src), [fileinto("Lists")]);
    let m = msg("X-Priority: 1\r\nTo: a@b.example");
    assert_eq!(run_on(src, &m).actions, [fileinto("Archive")]);
}
