//! RFC 5260 date and currentdate, with relational, zones and every date-part.

use super::*;

const DATE: &str = "\"date\"";
const DATE_REL: &str = "\"date\", \"relational\", \"comparator-i;ascii-numeric\"";

/// Runs with the clock at `now` and the local zone `zone`.
fn at(src: &str, now: i64, zone: i32) -> Vec<sieve::Action> {
    let exists = |_: &str| true;
    let c = sieve::Context {
        now_unix: now,
        zone_minutes: zone,
        mailbox_exists: &exists,
        max_actions: 32,
    };
    sieve::execute(&parse(src), &ENV, MSG, &c).actions
}

#[test]
fn currentdate_parts() {
    // NOW is Tuesday 2026-12-15 12:00:00 UTC.
    for (part, want) in [
        ("year", "2026"),
        ("month", "12"),
        ("day", "15"),
        ("date", "2026-12-15"),
        ("julian", "61389"),
        ("hour", "12"),
        ("minute", "00"),
        ("second", "00"),
        ("time", "12:00:00"),
        ("iso8601", "2026-12-15T12:00:00+00:00"),
        ("std11", "Tue, 15 Dec 2026 12:00:00 +0000"),
        ("zone", "+0000"),
        ("weekday", "2"),
        ("WeekDay", "2"),
    ] {
        assert!(
            holds(DATE, &format!("currentdate :is \"{part}\" \"{want}\"")),
            "{part}"
        );
    }
}

#[test]
fn currentdate_zone() {
    assert!(holds(
        DATE,
        "currentdate :zone \"-1300\" \"date\" \"2026-12-14\""
    ));
    assert!(holds(
        DATE,
        "currentdate :zone \"+1230\" \"time\" \"00:30:00\""
    ));
    assert!(holds(
        DATE,
        "currentdate :zone \"+0530\" \"zone\" \"+0530\""
    ));
    // Without :zone the context's local zone applies.
    let src = "require \"date\"; if currentdate :is \"hour\" \"13\" { discard; }";
    assert_eq!(at(src, NOW, 60), [sieve::Action::Discard]);
    assert_eq!(at(src, NOW, 0), [keep()]);
    let src = "require \"date\"; if currentdate :is \"zone\" \"-0800\" { discard; }";
    assert_eq!(at(src, NOW, -480), [sieve::Action::Discard]);
}

#[test]
fn date_header() {
    // Date: Tue, 01 Dec 2026 10:00:00 +0100 (09:00 UTC); the local zone is UTC here.
    assert!(holds(DATE, "date :is \"date\" \"hour\" \"09\""));
    assert!(holds(
        DATE,
        "date :originalzone :is \"date\" \"hour\" \"10\""
    ));
    assert!(holds(
        DATE,
        "date :originalzone :is \"date\" \"zone\" \"+0100\""
    ));
    assert!(holds(
        DATE,
        "date :zone \"-0500\" :is \"date\" \"iso8601\" \"2026-12-01T04:00:00-05:00\""
    ));
    assert!(holds(DATE, "date :is \"date\" \"date\" \"2026-12-01\""));
    // Without :zone the date is shown in the context's local zone.
    let src = "require \"date\"; if date :is \"date\" \"time\" \"10:30:00\" { discard; }";
    assert_eq!(at(src, NOW, 90), [sieve::Action::Discard]);
    assert_eq!(at(src, NOW, 0), [keep()]);
    // Received: the date after the last ';'.
    assert!(holds(DATE, "date :is \"received\" \"second\" \"05\""));
    // A missing header or one without a date: false.
    assert!(!holds(DATE, "date :is \"x-none\" \"year\" \"2026\""));
    assert!(!holds(DATE, "date :matches \"subject\" \"year\" \"*\""));
}

#[test]
fn date_match_variables() {
    // RFC 5260 §7 (example): file by month and year.
    let src = r#"require ["date", "variables", "fileinto", "mailbox"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year"  "${1}"; }
fileinto :create "${month}-${year}";"#;
    match &actions(src)[0] {
        sieve::Action::FileInto { mailbox, .. } => assert_eq!(mailbox, "12-2026"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn relational_on_dates() {
    assert!(holds(
        DATE_REL,
        "currentdate :value \"ge\" \"date\" \"2026-12-01\""
    ));
    assert!(holds(
        DATE_REL,
        "currentdate :value \"lt\" \"date\" \"2027-01-01\""
    ));
    assert!(!holds(
        DATE_REL,
        "currentdate :value \"gt\" \"date\" \"2026-12-15\""
    ));
    assert!(holds(
        DATE_REL,
        "currentdate :value \"gt\" :comparator \"i;ascii-numeric\" \"julian\" \"61000\""
    ));
    assert!(holds(
        DATE_REL,
        "date :value \"ge\" :originalzone \"date\" \"hour\" \"09\""
    ));
    assert!(holds(
        DATE_REL,
        "date :count \"eq\" :comparator \"i;ascii-numeric\" \"date\" \"year\" \"1\""
    ));
}

/// The shape of Roundcube's vacation with a start and an end date.
const VACATION_WINDOW: &str = r#"require ["vacation", "date", "relational"];
# rule:[Out of office]
if allof (currentdate :value "ge" "date" "2026-12-01", currentdate :value "le" "date" "2026-12-31")
{
	vacation :days 1 :subject "Out of office" :from "roadrunner@acme.example.com" "I'm away until January.";
}
"#;

#[test]
fn vacation_window() {
    let day = 86_400;
    let is_vacation = |now: i64| {
        at(VACATION_WINDOW, now, 0)
            .iter()
            .any(|a| matches!(a, sieve::Action::Vacation(_)))
    };
    assert!(is_vacation(NOW));
    // 2026-12-01 00:00 UTC is inside, 2026-11-30 23:59:59 is not.
    let dec1 = NOW - 14 * day - 12 * 3600;
    assert!(is_vacation(dec1));
    assert!(!is_vacation(dec1 - 1));
    // 2026-12-31 23:59:59 inside, 2027-01-01 outside.
    let jan1 = dec1 + 31 * day;
    assert!(is_vacation(jan1 - 1));
    assert!(!is_vacation(jan1));
    // The local zone moves the window: at 2026-11-30 23:30 UTC it is already December
    // in +0100.
    let src = VACATION_WINDOW;
    assert!(at(src, dec1 - 1800, 60)
        .iter()
        .any(|a| matches!(a, sieve::Action::Vacation(_))));
    // The implicit keep stays.
    assert!(at(src, NOW, 0).contains(&keep()));
}

#[test]
fn date_part_from_a_variable() {
    let src = r#"require ["date", "variables"];
set "p" "weekday";
set "bad" "fortnight";
if currentdate :is "${p}" "2" { set "a" "1"; }
if not currentdate :is "${bad}" "2" { set "b" "1"; }
if string :is "${a}${b}" "11" { discard; }"#;
    assert_eq!(actions(src), [sieve::Action::Discard]);
}
