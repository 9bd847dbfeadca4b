//! Scripts in the shape Roundcube's managesieve plugin writes: one `require` line with every
//! extension, `# rule:[name]` comments, tab-indented blocks on their own lines, disabled
//! rules as `if false # ...`, vacation with a date window.

use super::*;
use sieve::Action;

const FILTERS: &str = "require [\"fileinto\",\"copy\",\"vacation\",\"date\",\"relational\",\"imap4flags\",\"body\",\"envelope\",\"comparator-i;ascii-numeric\"];
# rule:[Spam]
if header :contains \"x-spam-flag\" \"YES\"
{
\tfileinto \"Junk\";
\tstop;
}
# rule:[Spam score]
if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"10\"
{
\tfileinto \"Junk\";
\tstop;
}
# rule:[Huge]
if size :over 10M
{
\tdiscard;
\tstop;
}
# rule:[Copy to phone]
if true
{
\tredirect :copy \"x@example.org\";
}
# rule:[Lists]
if anyof (header :contains \"list-id\" \"traps\", address :domain :is \"from\" \"lists.example.org\")
{
\tfileinto :copy \"Lists\";
}
# rule:[Boss]
if address :is \"from\" \"boss@acme.example.com\"
{
\taddflag \"\\\\Flagged\";
}
# rule:[Disabled]
if false # anyof (header :contains \"subject\" \"x\")
{
\tdiscard;
}
# rule:[Newsletters]
if allof (body :text :contains \"unsubscribe\", not exists \"x-important\", envelope :domain :is \"to\" \"acme.example.com\")
{
\tfileinto \"Archive\";
}
";

fn msg(headers: &str, body: &str) -> Vec<u8> {
    format!("{headers}\r\n\r\n{body}\r\n").into_bytes()
}

#[test]
fn filter_set() {
    let s = parse(FILTERS);
    let run = |m: &[u8]| sieve::execute(&s, &ENV, m, &ctx()).actions;
    let copy = redirect("x@example.org");
    assert_eq!(run(&msg("X-Spam-Flag: YES", "x")), [fileinto("Junk")]);
    assert_eq!(run(&msg("X-Spam-Score: 12", "x")), [fileinto("Junk")]);
    assert_eq!(run(&msg("X-Spam-Score: 9", "x")), [copy.clone(), keep()]);
    assert_eq!(
        run(&msg("From: news@lists.example.org", "x")),
        [copy.clone(), fileinto("Lists"), keep()]
    );
    assert_eq!(
        run(&msg("From: Boss <boss@acme.example.com>", "x")),
        [copy.clone(), keep_flags(&["\\Flagged"])]
    );
    assert_eq!(
        run(&msg("From: shop@example.net", "Click here to unsubscribe.")),
        [copy.clone(), fileinto("Archive")]
    );
    assert_eq!(
        run(&msg(
            "From: shop@example.net\r\nX-Important: yes",
            "unsubscribe"
        )),
        [copy, keep()]
    );
    let huge = msg("Subject: big", &"x".repeat(10 * 1024 * 1024 + 1));
    assert_eq!(run(&huge), [Action::Discard]);
}

const VACATION: &str = "require [\"vacation\",\"date\",\"relational\",\"copy\"];
# rule:[Out of office]
if allof (currentdate :value \"ge\" \"iso8601\" \"2026-12-01T00:00:00+00:00\", currentdate :value \"le\" \"date\" \"2026-12-31\")
{
\tredirect :copy \"deputy@acme.example.com\";
\tvacation :days 1 :subject \"Out of office\" :from \"Road Runner <roadrunner@acme.example.com>\" :addresses [\"roadrunner@acme.example.com\",\"rr@acme.example.com\"] text:
I'm away until January.

Best regards
..
.
;
}
";

#[test]
fn vacation_rule() {
    let acts = actions(VACATION);
    assert_eq!(acts.len(), 3);
    assert_eq!(acts[0], redirect("deputy@acme.example.com"));
    let Action::Vacation(v) = &acts[1] else {
        panic!("{acts:?}")
    };
    assert_eq!(v.period_secs, 86_400);
    assert_eq!(v.subject.as_deref(), Some("Out of office"));
    assert_eq!(
        v.addresses,
        ["roadrunner@acme.example.com", "rr@acme.example.com"]
    );
    assert_eq!(
        v.reason,
        "I'm away until January.\r\n\r\nBest regards\r\n.\r\n"
    );
    assert_eq!(acts[2], keep());
    // The reply the delivery side sends.
    let to = sieve::vacation::reply_to(v, &ENV, MSG, &["roadrunner@acme.example.com"]);
    assert_eq!(to.as_deref(), Ok("coyote@desert.example.org"));
    let reply = sieve::vacation::build_reply(
        v,
        ENV.to,
        "coyote@desert.example.org",
        MSG,
        NOW,
        "v1@acme.example.com",
    );
    let text = String::from_utf8(reply).unwrap();
    assert!(text.starts_with("From: \"Road Runner\" <roadrunner@acme.example.com>\r\n"));
    assert!(text.contains("\r\nSubject: Out of office\r\n"));
    assert!(text.ends_with("\r\n\r\nI'm away until January.\r\n\r\nBest regards\r\n.\r\n"));
}

#[test]
fn vacation_with_seconds_and_variables() {
    let src = "require [\"vacation\",\"vacation-seconds\",\"variables\"];
# rule:[auto reply]
if header :matches \"subject\" \"*\"
{
\tset \"subject\" \"${1}\";
}
vacation :seconds 3600 :subject \"Re: ${subject}\" \"Thanks for your mail.\";
";
    match &actions(src)[0] {
        Action::Vacation(v) => {
            assert_eq!(v.period_secs, 3600);
            assert_eq!(v.subject.as_deref(), Some("Re: I have a present for you ☺"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn header_date_rule() {
    let src = "require [\"date\",\"relational\",\"fileinto\"];
# rule:[Old mail]
if date :value \"lt\" :originalzone \"date\" \"date\" \"2026-12-02\"
{
\tfileinto \"Archive\";
}
";
    assert_eq!(actions(src), [fileinto("Archive")]);
}
