//! RFC 5232 imap4flags: setflag/addflag/removeflag, :flags, hasflag, the implicit keep's
//! flags.

use super::*;
use sieve::Action;

fn fileinto_flags(mailbox: &str, flags: &[&str]) -> Action {
    Action::FileInto {
        mailbox: mailbox.into(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
        create: false,
    }
}

#[test]
fn internal_variable_accumulates() {
    let src = r#"require ["imap4flags", "fileinto"];
addflag "\\Seen";
addflag ["$Work", "\\flagged \\SEEN"];
fileinto "Archive";
removeflag "\\Seen";
keep;
setflag "$Fresh";
"#;
    assert_eq!(
        actions(src),
        [
            fileinto_flags("Archive", &["\\Seen", "$Work", "\\Flagged"]),
            keep_flags(&["$Work", "\\Flagged"]),
        ]
    );
}

#[test]
fn implicit_keep_uses_the_current_flags() {
    let src = r#"require "imap4flags"; addflag "\\Seen"; setflag "$A $B"; removeflag "$b";"#;
    assert_eq!(actions(src), [keep_flags(&["$A"])]);
}

#[test]
fn flags_tag_overrides_the_internal_variable() {
    let src = r#"require ["imap4flags", "fileinto", "copy"];
addflag "\\Seen";
fileinto :copy :flags ["\\Flagged", "$x"] "Archive";
keep :flags "";"#;
    assert_eq!(
        actions(src),
        [fileinto_flags("Archive", &["\\Flagged", "$x"]), keep()]
    );
}

#[test]
fn invalid_flags_are_dropped() {
    let src = r#"require "imap4flags"; addflag ["\\Recent", "\\Bogus", "a(b", "ok"];"#;
    assert_eq!(actions(src), [keep_flags(&["ok"])]);
}

#[test]
fn same_mailbox_twice_merges_flags() {
    let src = r#"require ["imap4flags", "fileinto", "copy"];
fileinto :copy :flags "\\Seen" "Archive";
fileinto :flags "$Later" "Archive";"#;
    assert_eq!(
        actions(src),
        [fileinto_flags("Archive", &["\\Seen", "$Later"])]
    );
}

#[test]
fn hasflag() {
    let f = "\"imap4flags\"";
    let src = |test: &str| {
        format!("require [\"imap4flags\", \"variables\", \"relational\", \"comparator-i;ascii-numeric\"];\naddflag \"\\\\Seen $Work\";\nset \"v\" \"$one\";\naddflag \"v\" \"$two\";\nif {test} {{ discard; }}")
    };
    let is = |test: &str| actions(&src(test)).contains(&Action::Discard);
    assert!(is("hasflag \"\\\\seen\""));
    assert!(is("hasflag :contains \"work\""));
    assert!(!is("hasflag \"$one\""));
    assert!(is("hasflag \"v\" \"$TWO\""));
    assert!(is("hasflag [\"v\"] \"$one $nope\""));
    assert!(is(
        "hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"2\""
    ));
    assert!(is("hasflag :matches \"v\" \"$t*\""));
    assert!(!holds(f, "hasflag \"\\\\Seen\""));
}

#[test]
fn flag_variable_is_a_string() {
    let src = r#"require ["imap4flags", "variables", "fileinto"];
setflag "f" "\\seen";
addflag "f" "\\Answered \\seen";
fileinto :flags "${f}" "Archive";"#;
    assert_eq!(
        actions(src),
        [fileinto_flags("Archive", &["\\Seen", "\\Answered"])]
    );
}
