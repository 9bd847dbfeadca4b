//! Auth end to end over a temporary store: accounts, policy, login, aliases, throttling, timing.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use auth::{Auth, AuthConfig, AuthError, Secret};

const PW: &str = "correct horse battery staple";

fn setup() -> (tempfile::TempDir, Auth) {
    testkit::accounts::temp_auth()
}

fn ip(n: u8) -> IpAddr {
    [192, 0, 2, n].into()
}

#[tokio::test]
async fn add_login_change_password() {
    let (_d, auth) = setup();
    let a = auth
        .add_user("Alice@Example.TEST", &PW.into(), None)
        .await
        .expect("add");
    assert_eq!(
        a.address, "alice@example.test",
        "addresses are case-insensitive"
    );
    assert!(a.password.starts_with("$argon2id$"));
    assert!(matches!(
        auth.add_user("Alice@example.test", &PW.into(), None).await,
        Err(AuthError::Store(store::Error::AccountExists))
    ));
    assert!(auth
        .authenticate("Alice@EXAMPLE.test", &PW.into(), ip(1))
        .await
        .is_ok());
    assert!(matches!(
        auth.authenticate("Alice@example.test", &"wrong password!".into(), ip(1))
            .await,
        Err(AuthError::Failed)
    ));
    assert!(matches!(
        auth.authenticate("nobody@example.test", &PW.into(), ip(1))
            .await,
        Err(AuthError::Failed)
    ));
    // Cached success, then a password change must take effect at once.
    assert!(auth
        .authenticate("Alice@example.test", &PW.into(), ip(1))
        .await
        .is_ok());
    auth.set_password("Alice@example.test", &"another long passphrase".into())
        .await
        .expect("passwd");
    assert!(matches!(
        auth.authenticate("Alice@example.test", &PW.into(), ip(2))
            .await,
        Err(AuthError::Failed)
    ));
    assert!(auth
        .authenticate(
            "Alice@example.test",
            &"another long passphrase".into(),
            ip(2)
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn policy_is_enforced_on_add_and_change() {
    let (_d, auth) = setup();
    let e = auth
        .add_user("bob@example.test", &"short".into(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at least 12"), "{e}");
    let e = auth
        .add_user("bob@example.test", &"bob-likes-long-pw".into(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("user name"), "{e}");
    auth.add_user("bob@example.test", &PW.into(), None)
        .await
        .expect("add");
    assert!(matches!(
        auth.set_password("bob@example.test", &"tiny".into()).await,
        Err(AuthError::Policy(_))
    ));
    assert!(matches!(
        auth.add_user("no-at-sign", &PW.into(), None).await,
        Err(AuthError::InvalidAddress(_))
    ));
}

#[tokio::test]
async fn aliases_may_send() {
    let (_d, auth) = setup();
    let a = auth
        .add_user("carol@example.test", &PW.into(), None)
        .await
        .expect("add");
    auth.store()
        .add_alias("sales@example.test", "carol@example.test")
        .await
        .expect("alias");
    let a = auth.store().account(&a.address).expect("q").expect("acct");
    assert!(auth.may_send_as(&a, "<Sales@EXAMPLE.test>"));
    assert!(auth.may_send_as(&a, "carol@example.test"));
    assert!(!auth.may_send_as(&a, "ceo@example.test"));
    assert_eq!(
        auth.store()
            .resolve("sales@example.test")
            .expect("q")
            .map(|x| x.id),
        Some(a.id)
    );
    for i in 0..9 {
        auth.store()
            .add_alias(&format!("a{i}@example.test"), "carol@example.test")
            .await
            .expect("alias");
    }
    assert!(auth
        .store()
        .add_alias("eleven@example.test", "carol@example.test")
        .await
        .is_err());
}

#[tokio::test]
async fn throttling_refuses_without_revealing() {
    let (_d, auth) = setup();
    auth.add_user("dave@example.test", &PW.into(), None)
        .await
        .expect("add");
    let mut refused = false;
    for _ in 0..12 {
        match auth
            .authenticate("dave@example.test", &"not the password".into(), ip(9))
            .await
        {
            Err(AuthError::Throttled(_)) => {
                refused = true;
                break;
            }
            Err(AuthError::Failed) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused, "repeated failures end in refusal");
    // Refused even with the right password: the answer does not reveal it was right.
    assert!(matches!(
        auth.authenticate("dave@example.test", &PW.into(), ip(9))
            .await,
        Err(AuthError::Throttled(_))
    ));
    // Another client address still gets in.
    assert!(auth
        .authenticate("dave@example.test", &PW.into(), ip(10))
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_costs_like_wrong_password() {
    let (_dir, store) = testkit::accounts::temp_store();
    // Realistic cost so the hash dominates the measurement.
    let cfg = AuthConfig {
        argon2_memory_kib: 8192,
        argon2_iterations: 2,
        cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    };
    let auth = Auth::new(store, cfg).expect("auth");
    auth.add_user("erin@example.test", &PW.into(), None)
        .await
        .expect("add");
    // Structurally the same work: one argon2 verification each, against a hash with the
    // configured parameters (the real one, or the dummy for an unknown user).
    let stored = store_params(&auth, "erin@example.test");
    let (before, dummy) = auth.verification_stats();
    assert_eq!(dummy, stored, "the dummy hash has the accounts' parameters");
    let _ = auth
        .authenticate("erin@example.test", &"wrong password 1".into(), ip(90))
        .await;
    assert_eq!(auth.verification_stats().0, before + 1);
    let _ = auth
        .authenticate("ghost@example.test", &"wrong password 1".into(), ip(91))
        .await;
    assert_eq!(auth.verification_stats().0, before + 2);
    // And in time, loosely (a loaded machine must not fail this): medians within 2×.
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..6u8 {
        // Fresh client addresses so throttling delays do not enter the timing.
        let t = Instant::now();
        let _ = auth
            .authenticate(
                "erin@example.test",
                &Secret::new(format!("wrong password {i}")),
                ip(100 + i),
            )
            .await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        let _ = auth
            .authenticate(
                "ghost@example.test",
                &Secret::new(format!("wrong password {i}")),
                ip(150 + i),
            )
            .await;
        unknown.push(t.elapsed());
    }
    wrong.sort();
    unknown.sort();
    let (w, u) = (wrong[3].as_secs_f64(), unknown[3].as_secs_f64());
    assert!(
        u > w / 2.0 && u < w * 2.0,
        "median unknown-user {u:.4}s vs wrong-password {w:.4}s"
    );
}

/// The PHC parameter field (`m=…,t=…,p=…`) of an account's stored hash.
fn store_params(auth: &Auth, address: &str) -> String {
    let a = auth
        .store()
        .account(address)
        .expect("read")
        .expect("account");
    a.password.split('$').nth(3).unwrap_or_default().to_string()
}
