//! Sieve script records (`store::scripts`) on every backend.

use store::scripts::{ScriptError, ScriptInfo, MAX_NAME_CHARS, MAX_SCRIPTS, MAX_SCRIPT_BYTES};
use store::{AccountId, Error, Store};
use testkit::every_backend;

async fn account(store: &Store, addr: &str) -> AccountId {
    store
        .create_account(addr, "x", None)
        .await
        .expect("account")
        .id
}

async fn scripts_crud_and_active(store: Store) {
    let a = account(&store, "s@example.test").await;
    assert!(store.sieve_scripts(a).expect("list").is_empty());
    assert_eq!(store.active_sieve_script(a).expect("active"), None);
    store
        .put_sieve_script(a, "rules", "keep;", false)
        .await
        .expect("put");
    store
        .put_sieve_script(a, "away", "discard;", true)
        .await
        .expect("put");
    let list = store.sieve_scripts(a).expect("list");
    assert_eq!(
        list,
        [
            ScriptInfo {
                name: "away".into(),
                active: true,
                bytes: 8
            },
            ScriptInfo {
                name: "rules".into(),
                active: false,
                bytes: 5
            },
        ]
    );
    assert_eq!(
        store.active_sieve_script(a).expect("active"),
        Some(("away".into(), "discard;".into()))
    );
    // RFC 5804 §2.10: the active script cannot go.
    let e = store
        .delete_sieve_script(a, "away")
        .await
        .expect_err("active");
    assert!(matches!(e, Error::Script(ScriptError::Active)), "{e}");
    // Renaming keeps it active.
    store
        .rename_sieve_script(a, "away", "vacation")
        .await
        .expect("rename");
    assert_eq!(
        store
            .active_sieve_script(a)
            .expect("active")
            .map(|(n, _)| n),
        Some("vacation".into())
    );
    let e = store
        .rename_sieve_script(a, "rules", "vacation")
        .await
        .expect_err("exists");
    assert!(matches!(e, Error::Script(ScriptError::Exists)), "{e}");
    let e = store
        .rename_sieve_script(a, "nope", "x")
        .await
        .expect_err("missing");
    assert!(matches!(e, Error::Script(ScriptError::NoSuchScript)), "{e}");
    store
        .set_active_sieve_script(a, None)
        .await
        .expect("deactivate");
    assert_eq!(store.active_sieve_script(a).expect("active"), None);
    store
        .delete_sieve_script(a, "vacation")
        .await
        .expect("delete");
    let e = store
        .set_active_sieve_script(a, Some("vacation"))
        .await
        .expect_err("gone");
    assert!(matches!(e, Error::Script(ScriptError::NoSuchScript)), "{e}");
    assert_eq!(
        store.sieve_script(a, "rules").expect("get").as_deref(),
        Some("keep;")
    );
}

async fn script_limits_and_names(store: Store) {
    let a = account(&store, "l@example.test").await;
    for bad in [
        "",
        "a\nb",
        "tab\there",
        "x\u{2028}",
        &"n".repeat(MAX_NAME_CHARS + 1),
    ] {
        let e = store
            .put_sieve_script(a, bad, "keep;", false)
            .await
            .expect_err(bad);
        assert!(
            matches!(e, Error::Script(ScriptError::BadName)),
            "{bad:?}: {e}"
        );
    }
    let big = "#".repeat(MAX_SCRIPT_BYTES + 1);
    let e = store
        .put_sieve_script(a, "big", &big, false)
        .await
        .expect_err("size");
    assert!(matches!(e, Error::Script(ScriptError::TooLarge)), "{e}");
    assert_eq!(
        store
            .sieve_have_space(a, "big", MAX_SCRIPT_BYTES + 1)
            .expect("space"),
        Err(ScriptError::TooLarge)
    );
    for i in 0..MAX_SCRIPTS {
        store
            .put_sieve_script(a, &format!("s{i:02}"), "keep;", false)
            .await
            .expect("put");
    }
    let e = store
        .put_sieve_script(a, "one-more", "keep;", false)
        .await
        .expect_err("count");
    assert!(matches!(e, Error::Script(ScriptError::TooMany)), "{e}");
    assert_eq!(
        store.sieve_have_space(a, "one-more", 5).expect("space"),
        Err(ScriptError::TooMany)
    );
    // Replacing an existing one is not a new script.
    store
        .put_sieve_script(a, "s00", "discard;", false)
        .await
        .expect("replace");
    assert_eq!(store.sieve_have_space(a, "s00", 10).expect("space"), Ok(()));
    let e = store
        .put_sieve_script(AccountId::new(999_999), "x", "keep;", false)
        .await;
    assert!(matches!(e, Err(Error::NoSuchAccount)), "{e:?}");
}

async fn vacation_once_per_sender_and_period(store: Store) {
    let a = account(&store, "v@example.test").await;
    let day = 86_400;
    assert!(store
        .vacation_reply_due(a, "h", "Bob@x.test", day, 1_000)
        .await
        .expect("due"));
    // Same sender (any case), same handle, within the period: no second reply.
    assert!(!store
        .vacation_reply_due(a, "h", "bob@x.test", day, 2_000)
        .await
        .expect("due"));
    // Another sender, another handle: replies of their own.
    assert!(store
        .vacation_reply_due(a, "h", "carol@x.test", day, 2_000)
        .await
        .expect("due"));
    assert!(store
        .vacation_reply_due(a, "h2", "bob@x.test", day, 2_000)
        .await
        .expect("due"));
    // After the period: due again.
    assert!(store
        .vacation_reply_due(a, "h", "bob@x.test", day, 1_000 + day)
        .await
        .expect("due"));
}

async fn deleting_the_account_drops_its_scripts(store: Store) {
    let a = account(&store, "d@example.test").await;
    store
        .put_sieve_script(a, "s", "keep;", true)
        .await
        .expect("put");
    store
        .vacation_reply_due(a, "h", "b@x.test", 60, 1)
        .await
        .expect("due");
    store
        .delete_account("d@example.test")
        .await
        .expect("delete");
    assert!(store.sieve_scripts(a).expect("list").is_empty());
    assert!(store.active_sieve_script(a).expect("active").is_none());
}
every_backend!(
    #[tokio::test]
    scripts_crud_and_active
);
every_backend!(
    #[tokio::test]
    script_limits_and_names
);
every_backend!(
    #[tokio::test]
    vacation_once_per_sender_and_period
);
every_backend!(
    #[tokio::test]
    deleting_the_account_drops_its_scripts
);

/// Two deliveries to one account at once reply once (the check and the record are one
/// transaction under the account's writer lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_vacation_checks_reply_once() {
    let store = Store::open_in_memory().expect("store");
    let a = account(&store, "c@example.test").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.vacation_reply_due(a, "h", "bob@x.test", 3_600, 10)
                .await
                .expect("due")
        }));
    }
    let mut yes = 0;
    for t in tasks {
        yes += usize::from(t.await.expect("join"));
    }
    assert_eq!(yes, 1);
}
