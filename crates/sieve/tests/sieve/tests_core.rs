//! The tests of RFC 5228 §5, comparators (§2.7.3) and relational (RFC 5231).

use super::*;

#[test]
fn true_false_not_allof_anyof() {
    assert!(holds("", "true"));
    assert!(!holds("", "false"));
    assert!(holds("", "not false"));
    assert!(holds("", "allof(true, not false)"));
    assert!(!holds("", "allof(true, false)"));
    assert!(holds("", "anyof(false, true)"));
    assert!(!holds("", "anyof(false, false)"));
}

#[test]
fn header_test() {
    // Decoded (RFC 2047), case-insensitive by default.
    assert!(holds(
        "",
        "header :contains \"subject\" \"PRESENT FOR YOU ☺\""
    ));
    assert!(holds(
        "",
        "header :is \"Subject\" \"I have a present for you ☺\""
    ));
    assert!(!holds(
        "",
        "header :is :comparator \"i;octet\" \"Subject\" \"i have a present for you ☺\""
    ));
    assert!(holds(
        "",
        "header :matches \"subject\" \"I have a * for ?ou ?\""
    ));
    assert!(holds(
        "",
        "header :contains [\"x-none\", \"x-caffeine\"] [\"zz\", \"N4O2\"]"
    ));
    assert!(!holds("", "header :contains \"x-none\" \"\""));
    // Every occurrence of a repeated field is looked at.
    assert!(holds("", "header :is \"x-multi\" \"two\""));
    // The default match type is :is.
    assert!(!holds("", "header \"x-caffeine\" \"C8H10\""));
    // :contains "" matches any present header.
    assert!(holds("", "header :contains \"x-caffeine\" \"\""));
}

#[test]
fn address_test() {
    // RFC 5228 §5.1/§2.7.4.
    assert!(holds(
        "",
        "address :is \"from\" \"coyote@desert.example.org\""
    ));
    assert!(holds(
        "",
        "address :all :is \"from\" \"COYOTE@desert.example.org\""
    ));
    assert!(holds("", "address :localpart :is \"from\" \"coyote\""));
    assert!(holds(
        "",
        "address :domain :is \"from\" \"DESERT.example.org\""
    ));
    assert!(!holds("", "address :domain :is \"from\" \"example.org\""));
    assert!(holds("", "address :domain :contains \"to\" \"acme\""));
    // Group members are addresses; display names are not.
    assert!(holds("", "address :is \"to\" \"b@y.example\""));
    assert!(!holds("", "address :contains \"to\" \"Road Runner\""));
    assert!(!holds("", "address :contains \"to\" \"team\""));
    assert!(holds("", "address :matches [\"to\", \"cc\"] \"boss@*\""));
    assert!(holds(
        "",
        "address :is \"sender\" \"owner-traps@lists.example.org\""
    ));
}

#[test]
fn envelope_test() {
    // RFC 5228 §5.4.
    assert!(holds(
        "\"envelope\"",
        "envelope :is \"from\" \"coyote@desert.example.org\""
    ));
    assert!(holds(
        "\"envelope\"",
        "envelope :domain :is \"to\" \"acme.example.com\""
    ));
    assert!(holds(
        "\"envelope\"",
        "envelope :localpart :is [\"from\", \"to\"] \"roadrunner\""
    ));
    assert!(!holds("\"envelope\"", "envelope :is \"from\" \"\""));
    // The null reverse-path is the empty string for every address part.
    let env = sieve::Envelope {
        from: "",
        to: "roadrunner@acme.example.com",
    };
    for part in [":all", ":localpart", ":domain"] {
        let s = parse(&format!(
            "require \"envelope\"; if envelope {part} :is \"from\" \"\" {{ discard; }}"
        ));
        assert_eq!(
            sieve::execute(&s, &env, MSG, &ctx()).actions,
            [sieve::Action::Discard]
        );
    }
}

#[test]
fn exists_test() {
    assert!(holds("", "exists \"x-caffeine\""));
    assert!(holds("", "exists [\"From\", \"to\", \"X-MULTI\"]"));
    assert!(!holds("", "exists [\"from\", \"x-nope\"]"));
}

#[test]
fn size_test() {
    let len = MSG.len();
    assert!(holds("", &format!("size :over {}", len - 1)));
    assert!(!holds("", &format!("size :over {len}")));
    assert!(holds("", &format!("size :under {}", len + 1)));
    assert!(!holds("", &format!("size :under {len}")));
    assert!(holds("", "size :under 1M"));
    assert!(!holds("", "size :over 1K"));
}

#[test]
fn comparators() {
    let num = "\"comparator-i;ascii-numeric\"";
    assert!(holds(
        num,
        "header :is :comparator \"i;ascii-numeric\" \"x-spam-score\" \"007\""
    ));
    assert!(!holds(
        num,
        "header :is :comparator \"i;ascii-numeric\" \"x-spam-score\" \"70\""
    ));
    assert!(holds(
        "",
        "header :is :comparator \"i;ascii-casemap\" \"x-caffeine\" \"c8h10n4o2\""
    ));
    assert!(!holds(
        "",
        "header :is :comparator \"i;octet\" \"x-caffeine\" \"c8h10n4o2\""
    ));
    assert!(holds(
        "",
        "header :matches :comparator \"i;octet\" \"x-caffeine\" \"C?H*\""
    ));
}

#[test]
fn relational_value_and_count() {
    let rel = "\"relational\", \"comparator-i;ascii-numeric\"";
    let num = ":comparator \"i;ascii-numeric\"";
    assert!(holds(
        rel,
        &format!("header :value \"ge\" {num} \"x-spam-score\" \"5\"")
    ));
    assert!(!holds(
        rel,
        &format!("header :value \"gt\" {num} \"x-spam-score\" \"10\"")
    ));
    // Without a numeric comparator the comparison is on text: "7" > "10".
    assert!(holds(rel, "header :value \"gt\" \"x-spam-score\" \"10\""));
    assert!(holds(
        rel,
        &format!("header :count \"eq\" {num} \"x-multi\" \"2\"")
    ));
    assert!(holds(
        rel,
        &format!("address :count \"eq\" {num} \"to\" \"3\"")
    ));
    assert!(holds(
        rel,
        &format!("address :count \"eq\" {num} [\"to\", \"cc\"] \"4\"")
    ));
    assert!(holds(
        rel,
        &format!("header :count \"eq\" {num} \"x-none\" \"0\"")
    ));
    assert!(holds(
        rel,
        &format!("header :count \"ne\" {num} \"x-none\" [\"5\", \"1\"]")
    ));
    assert!(holds(rel, "header :value \"lt\" \"subject\" \"J\""));
    assert!(holds(
        rel,
        "header :value \"LE\" \"x-caffeine\" \"c8h10n4o2\""
    ));
}
