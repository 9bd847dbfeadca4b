//! The login throttle on two nodes of one PostgreSQL store (docs/architecture.md §12.3): a
//! client locked out on node A is locked out on node B, a password changed on A is the one B
//! checks, and a success clears the count everywhere. Skipped where PostgreSQL is not
//! installed (except under CI).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use auth::{Auth, AuthConfig, AuthError, Secret};

fn two_nodes() -> Option<(Auth, Auth)> {
    let cluster = testkit::postgres::Cluster::get()?;
    let url = cluster.database();
    let a = store::Store::open_postgres(&url).expect("node A");
    let b = store::Store::open_postgres(&url).expect("node B");
    Some((
        Auth::new(a, AuthConfig::for_tests()).expect("auth A"),
        Auth::new(b, AuthConfig::for_tests()).expect("auth B"),
    ))
}

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_string())
}

/// Waits (bounded, for a broken build) until `cond` holds: the other node's thread applies
/// what it heard on its own time.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_on_one_node_holds_on_the_other() {
    let Some((a, b)) = two_nodes() else { return };
    a.add_user("alice@example.test", &pw("correct horse battery"), None)
        .await
        .expect("user");
    let ip: IpAddr = [192, 0, 2, 7].into();
    // The throttle refuses after 10 failures of one (address, account) pair (docs/spec.md §4.5).
    for _ in 0..10 {
        let r = a.authenticate("alice@example.test", &pw("wrong"), ip).await;
        assert!(matches!(r, Err(AuthError::Failed)), "{r:?}");
    }
    assert!(a.is_throttled("alice@example.test", ip));
    until("B counts A's failures", || {
        b.is_throttled("alice@example.test", ip)
    })
    .await;
    // Even the right password is not checked on B now.
    let r = b
        .authenticate("alice@example.test", &pw("correct horse battery"), ip)
        .await;
    assert!(matches!(r, Err(AuthError::Throttled(_))), "{r:?}");
    // Another client address is not affected.
    let other: IpAddr = [192, 0, 2, 8].into();
    b.authenticate("alice@example.test", &pw("correct horse battery"), other)
        .await
        .expect("another address logs in on B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_on_one_node_is_what_the_other_checks() {
    let Some((a, b)) = two_nodes() else { return };
    a.add_user("bob@example.test", &pw("first password 1"), None)
        .await
        .expect("user");
    let ip: IpAddr = [192, 0, 2, 9].into();
    // B verifies (and caches) the first password.
    b.authenticate("bob@example.test", &pw("first password 1"), ip)
        .await
        .expect("first on B");
    a.set_password("bob@example.test", &pw("second password 2"))
        .await
        .expect("change on A");
    let r = b
        .authenticate("bob@example.test", &pw("first password 1"), ip)
        .await;
    assert!(
        matches!(r, Err(AuthError::Failed)),
        "B's cache must not accept the old password: {r:?}"
    );
    b.authenticate("bob@example.test", &pw("second password 2"), ip)
        .await
        .expect("new password on B");
}
