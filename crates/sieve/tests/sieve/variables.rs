//! RFC 5229: set, modifiers, expansion, match variables, the string test.

use super::*;

#[test]
fn set_and_expand_in_actions() {
    let src = r#"require ["variables", "fileinto", "mailbox"];
set "box" "Lists";
set "Sub" "${box}/Sieve";
fileinto :create "${SUB}";"#;
    assert_eq!(
        actions(src),
        [sieve::Action::FileInto {
            mailbox: "Lists/Sieve".into(),
            flags: vec![],
            create: true
        }]
    );
}

#[test]
fn unknown_variables_are_empty_and_invalid_references_verbatim() {
    let src = r#"require ["variables", "fileinto"];
fileinto "Archive${nothing}";
fileinto "A${doh!}B";"#;
    assert_eq!(actions(src)[..1], [fileinto("Archive")]);
    let src = r#"require ["variables", "fileinto", "mailbox"];
fileinto :create "A${doh!}B${}C${ x}";"#;
    assert!(
        matches!(&actions(src)[0], sieve::Action::FileInto { mailbox, .. } if mailbox == "A${doh!}B${}C${ x}")
    );
}

#[test]
fn without_variables_dollar_braces_are_literal() {
    let src = r#"require ["fileinto", "mailbox"]; fileinto :create "${x}";"#;
    assert!(
        matches!(&actions(src)[0], sieve::Action::FileInto { mailbox, .. } if mailbox == "${x}")
    );
}

#[test]
fn modifiers() {
    let cases = [
        (":lower", "Hello World", "hello world"),
        (":upper", "Hello World", "HELLO WORLD"),
        (":lowerfirst", "Hello", "hello"),
        (":upperfirst", "hello", "Hello"),
        (":upperfirst :lower", "wILE E.", "Wile e."),
        (":quotewildcard", "a*b?c\\", "a\\*b\\?c\\\\"),
        (":length", "Coyote", "6"),
        (":length :upper", "été", "3"),
    ];
    for (mods, input, want) in cases {
        let src = format!(
            "require [\"variables\", \"fileinto\", \"mailbox\"];\nset {mods} \"v\" \"{}\";\nfileinto :create \"${{v}}\";",
            input.replace('\\', "\\\\")
        );
        match &actions(&src)[0] {
            sieve::Action::FileInto { mailbox, .. } => assert_eq!(mailbox, want, "{mods}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn quotewildcard_makes_matches_literal() {
    let src = r#"require ["variables"];
set "raw" "C8H*";
set :quotewildcard "quoted" "C8H*";
if header :matches "x-caffeine" "${raw}" { set "a" "1"; }
if not header :matches "x-caffeine" "${quoted}" { set "b" "1"; }
if string :is "${a}${b}" "11" { discard; }"#;
    assert_eq!(actions(src), [sieve::Action::Discard]);
}

#[test]
fn match_variables() {
    // RFC 5229 §3.2.
    let src = r#"require ["variables", "fileinto", "mailbox"];
if header :matches "subject" "I have a * for *" {
    fileinto :create "${1}|${2}|${0}|${3}|${10}";
}"#;
    match &actions(src)[0] {
        sieve::Action::FileInto { mailbox, .. } => {
            assert_eq!(mailbox, "present|you ☺|I have a present for you ☺||")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_match_keeps_previous_match_variables() {
    let src = r#"require ["variables", "fileinto", "mailbox"];
if address :matches "from" "*@*" { }
if header :matches "subject" "no*such" { }
fileinto :create "${1} at ${2}";"#;
    match &actions(src)[0] {
        sieve::Action::FileInto { mailbox, .. } => {
            assert_eq!(mailbox, "coyote at desert.example.org")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn anyof_short_circuit_sets_variables_from_the_first_true_test() {
    let src = r#"require ["variables", "fileinto", "mailbox"];
if anyof(header :matches "x-caffeine" "C8*", header :matches "subject" "I *") {
    fileinto :create "${1}";
}"#;
    match &actions(src)[0] {
        sieve::Action::FileInto { mailbox, .. } => assert_eq!(mailbox, "H10N4O2"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn string_test() {
    let v = "\"variables\"";
    assert!(holds(v, "string :is \"abc\" \"ABC\""));
    assert!(holds(v, "string :matches [\"x\", \"abc\"] \"a?c\""));
    assert!(!holds(v, "string :contains \"\" \"a\""));
    let rel = "\"variables\", \"relational\", \"comparator-i;ascii-numeric\"";
    // RFC 5229 §5: :count does not count empty strings.
    assert!(holds(
        rel,
        "string :count \"eq\" :comparator \"i;ascii-numeric\" [\"a\", \"\", \"b\"] \"2\""
    ));
}

#[test]
fn variables_in_test_arguments() {
    let src = r#"require ["variables", "envelope"];
set "h" "X-Caffeine";
set "want" "N4O2";
if allof(header :contains "${h}" "${want}", envelope :domain :is "to" "acme.example.com") { discard; }"#;
    assert_eq!(actions(src), [sieve::Action::Discard]);
}

#[test]
fn values_are_capped() {
    let mut src = String::from("require [\"variables\"];\nset \"a\" \"0123456789abcdef\";\n");
    for _ in 0..20 {
        src.push_str("set \"a\" \"${a}${a}\";\n");
    }
    src.push_str(&format!(
        "if string :is \"${{a}}\" \"\" {{ stop; }}\nset :length \"n\" \"${{a}}\";\nif string :is \"${{n}}\" \"{}\" {{ discard; }}",
        sieve::MAX_VARIABLE_LEN
    ));
    assert_eq!(actions(&src), [sieve::Action::Discard]);
}

#[test]
fn match_variables_are_capped_too() {
    let msg = format!("Subject: {}\r\n\r\nx\r\n", "y".repeat(20_000));
    let src = r#"require ["variables"];
if header :matches "subject" "*" { set :length "n" "${0}"; }
if string :is "${n}" "LIMIT" { discard; }"#
        .replace("LIMIT", &sieve::MAX_VARIABLE_LEN.to_string());
    assert_eq!(
        run_on(&src, msg.as_bytes()).actions,
        [sieve::Action::Discard]
    );
}
