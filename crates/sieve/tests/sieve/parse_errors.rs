//! Scripts that must be rejected, with the line and column the user has to look at.

use super::error;

/// (script, line, column, a fragment of the message)
const CASES: &[(&str, u32, u32, &str)] = &[
    // Missing semicolon: reported right after the command that lacks it.
    ("keep\ndiscard;", 1, 5, "missing ';' after 'keep'"),
    ("keep\r\ndiscard;", 1, 5, "missing ';' after 'keep'"),
    ("\u{feff}# BOM\r\nkeep\r\n", 2, 5, "missing ';' after 'keep'"),
    (
        "require \"fileinto\";\nif true {\n  fileinto \"a\"\n}\n",
        3,
        15,
        "missing ';' after 'fileinto'",
    ),
    ("require \"fileinto\"\nkeep;", 1, 19, "missing ';' after 'require'"),
    ("stop", 1, 5, "missing ';' after 'stop'"),
    // Unknown command / test / tag.
    ("keep;\nfrobnicate;", 2, 1, "unknown command 'frobnicate'"),
    ("if bogus { keep; }", 1, 4, "unknown test 'bogus'"),
    ("if header :bogus \"a\" \"b\" { keep; }", 1, 11, "unknown tag ':bogus'"),
    ("if header :regex \"a\" \"b\" { keep; }", 1, 11, "regex extension is not supported"),
    ("redirect :copy \"a@b.c\";", 1, 10, "without require \"copy\""),
    // Unknown extension.
    ("require [\"fileinto\", \"reject\"];", 1, 22, "unsupported extension \"reject\""),
    ("require \"x-frob\";", 1, 9, "unsupported extension \"x-frob\""),
    // Extension used but not required (RFC 5228 §3.2).
    ("\n\nfileinto \"x\";", 3, 1, "command 'fileinto' used without require \"fileinto\""),
    ("if envelope \"from\" \"a\" { keep; }", 1, 4, "without require \"envelope\""),
    ("require \"fileinto\";\nfileinto :copy \"x\";", 2, 10, "without require \"copy\""),
    ("keep :flags \"\\\\Seen\";", 1, 6, "without require \"imap4flags\""),
    ("require \"vacation\";\nvacation :seconds 60 \"x\";", 2, 10, "without require \"vacation-seconds\""),
    ("if header :value \"gt\" \"a\" \"b\" { keep; }", 1, 11, "without require \"relational\""),
    (
        "if header :comparator \"i;ascii-numeric\" \"x\" \"1\" { keep; }",
        1,
        23,
        "without require \"comparator-i;ascii-numeric\"",
    ),
    ("set \"a\" \"b\";", 1, 1, "without require \"variables\""),
    ("require \"fileinto\";\nfileinto :create \"x\";", 2, 10, "without require \"mailbox\""),
    ("if body :contains \"x\" { keep; }", 1, 4, "without require \"body\""),
    ("if currentdate :is \"year\" \"2026\" { keep; }", 1, 4, "without require \"date\""),
    // Unterminated strings and comments.
    ("keep;\nif header :is \"subject\" \"abc { keep; }\n", 2, 25, "unterminated string"),
    ("require \"vacation\";\nvacation text:\nI'm away\n", 2, 10, "unterminated multi-line"),
    ("keep; /* comment", 1, 7, "unterminated comment"),
    ("require \"vacation\";\nvacation text: x\n.\n;", 2, 16, "'text:' must end its line"),
    // Bad arguments.
    ("redirect;", 1, 1, "missing argument <address>"),
    ("redirect \"not an address\";", 1, 10, "invalid address"),
    ("keep \"x\";", 1, 6, "too many arguments"),
    ("require \"fileinto\";\nfileinto \"a\" :copy;", 2, 14, "tags go before positional"),
    ("if size 100 { keep; }", 1, 4, "needs ':over' or ':under'"),
    ("if size :over :under 1 { keep; }", 1, 15, "conflict"),
    ("if size :over \"1\" { keep; }", 1, 15, "expected a number"),
    ("if header :is :contains \"a\" \"b\" { keep; }", 1, 15, "more than one match type"),
    ("if address :all :domain \"to\" \"b\" { keep; }", 1, 17, "more than one address part"),
    ("if header :is :is \"a\" \"b\" { keep; }", 1, 15, "given twice"),
    ("if header :comparator \"i;frob\" \"a\" \"b\" { keep; }", 1, 23, "unknown comparator"),
    (
        "require \"comparator-i;ascii-numeric\";\nif header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }",
        2,
        11,
        "cannot be used with :contains",
    ),
    ("require \"relational\";\nif header :value \"gte\" \"a\" \"1\" { keep; }", 2, 18, "invalid relational match"),
    ("if header \"a:b\" \"x\" { keep; }", 1, 11, "invalid header name"),
    ("if header [] { keep; }", 1, 12, "at least one string"),
    ("if header [\"a\" \"b\"] \"x\" { keep; }", 1, 16, "expected ',' or ']'"),
    ("if exists \"a\" keep;", 1, 15, "expected '{'"),
    ("if true { keep; ", 1, 16, "missing '}'"),
    ("keep; }", 1, 7, "expected a command"),
    ("else { keep; }", 1, 1, "without a preceding 'if'"),
    ("keep;\nrequire \"fileinto\";", 2, 1, "require must come before"),
    ("if true { require \"fileinto\"; }", 1, 11, "require must come before"),
    ("keep { stop; }", 1, 6, "does not take a block"),
    ("if not { keep; }", 1, 8, "expected a test"),
    ("if anyof true { keep; }", 1, 10, "expected '('"),
    ("if anyof (true false) { keep; }", 1, 16, "expected ',' or ')'"),
    ("if exists (true) \"x\" { keep; }", 1, 11, "does not take a test list"),
    ("require \"envelope\";\nif envelope \"auth\" \"x\" { keep; }", 2, 13, "unsupported envelope part"),
    ("require \"date\";\nif currentdate \"fortnight\" \"1\" { keep; }", 2, 16, "unknown date-part"),
    ("require \"date\";\nif currentdate :zone \"CET\" \"year\" \"1\" { keep; }", 2, 22, "invalid time zone"),
    ("require \"date\";\nif currentdate :originalzone \"year\" \"1\" { keep; }", 2, 16, "unknown tag"),
    ("require \"vacation\";\nvacation :days 1 :days 2 \"x\";", 2, 18, "given twice"),
    (
        "require [\"vacation\", \"vacation-seconds\"];\nvacation :days 1 :seconds 2 \"x\";",
        2,
        18,
        "conflict",
    ),
    ("require \"vacation\";\nvacation :from \"not valid\" \"x\";", 2, 16, "invalid :from"),
    ("require \"vacation\";\nvacation :days \"7\" \"x\";", 2, 16, "expected a number"),
    ("require \"variables\";\nset \"1a\" \"x\";", 2, 5, "invalid variable name"),
    ("require \"variables\";\nset :lower :upper \"a\" \"x\";", 2, 12, "conflicts"),
    ("require \"variables\";\nset \"a\" \"${env.x}\";", 2, 9, "namespace"),
    ("require \"imap4flags\";\nsetflag \"v\" \"\\\\Seen\";", 2, 9, "without require \"variables\""),
    ("require \"fileinto\";\nfileinto \"\";", 2, 10, "mailbox name is empty"),
    ("keep; 12abc", 1, 9, "invalid number"),
    ("keep; 99999999999999999999", 1, 7, "number too large"),
    ("keep; @", 1, 7, "unexpected character"),
    ("if header : \"a\" \"b\" { keep; }", 1, 11, "must be followed by a tag name"),
    ("reject \"no\";", 1, 1, "not supported"),
    ("require \"body\";\nif body :raw :text \"x\" { keep; }", 2, 14, "more than one"),
];

#[test]
fn errors_point_at_the_problem() {
    let mut wrong = Vec::new();
    for (src, line, col, msg) in CASES {
        let e = error(src);
        if !e.message.contains(msg) || (e.line, e.column) != (*line, *col) {
            wrong.push(format!(
                "{src:?}\n  got {e}\n  want line {line}, column {col}: ..{msg}.."
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn display_and_error_trait() {
    let e = error("keep\ndiscard;");
    assert_eq!(e.to_string(), "line 1, column 5: missing ';' after 'keep'");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("line 1"));
}

#[test]
fn nesting_is_limited() {
    let deep_blocks = format!("{}keep;{}", "if true {".repeat(65), "}".repeat(65));
    assert!(error(&deep_blocks).message.contains("nesting"));
    let ok_blocks = format!("{}keep;{}", "if true {".repeat(60), "}".repeat(60));
    assert!(sieve::parse(&ok_blocks).is_ok());
    let deep_tests = format!("if {}true{} {{ keep; }}", "not ".repeat(100), "");
    assert!(error(&deep_tests).message.contains("nesting"));
    let deep_lists = format!(
        "if {}true{} {{ keep; }}",
        "anyof(".repeat(70),
        ")".repeat(70)
    );
    assert!(error(&deep_lists).message.contains("nesting"));
}

#[test]
fn accepted_variants() {
    for src in [
        "",
        "# only a comment",
        "/* bracket */ keep;",
        "KEEP; Stop;",
        "require [\"comparator-i;octet\", \"comparator-i;ascii-casemap\"];",
        "require \"FileInto\"; fileinto \"x\";",
        "if true {} elsif false {} else {}",
        "if not (true) { keep; }",
        "if header :comparator \"i;octet\" :is \"subject\" \"x\" { keep; }",
        "if header :is [\"subject\"] \"x\" { keep; }",
        "require \"vacation-seconds\"; vacation :seconds 0 \"x\";",
        "require \"vacation\"; vacation :from \"Me <me@example.org>\" \"x\";",
        "redirect \"<a@example.org>\";",
        "\u{feff}keep;",
        "keep;\r\nif true {\r\n\tstop;\r\n}\r\n",
        "require \"encoded-character\"; redirect \"${hex:61}@example.org\";",
        "require \"variables\"; redirect \"${user}@example.org\";",
    ] {
        if let Err(e) = sieve::parse(src) {
            panic!("{e} for:\n{src}");
        }
    }
}

#[test]
fn requires_are_reported() {
    let s = sieve::parse("require [\"fileinto\", \"vacation-seconds\", \"comparator-i;octet\"];")
        .unwrap();
    assert_eq!(s.requires(), ["fileinto", "vacation", "vacation-seconds"]);
}

#[test]
fn extensions_constant_lists_what_require_accepts() {
    for ext in sieve::EXTENSIONS.split(' ') {
        sieve::parse(&format!("require \"{ext}\";")).unwrap_or_else(|e| panic!("{ext}: {e}"));
    }
    assert!(sieve::EXTENSIONS.starts_with(
        "fileinto envelope copy imap4flags vacation vacation-seconds date relational body variables mailbox comparator-i;ascii-numeric"
    ));
}
