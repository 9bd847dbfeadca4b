//! `POST /api/password` (Roundcube password plugin, httpapi driver): change, wrong password,
//! policy, malformed form, throttling.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use testkit::http::{call, get, stack};
use testkit::{Stack, DOMAIN, PASSWORD};

const FORM: &str = "application/x-www-form-urlencoded";

fn form(user: &str, cur: &str, new: &str) -> String {
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace(' ', "+")
            .replace('@', "%40")
            .replace('&', "%26")
    };
    format!(
        "user={}&curpass={}&newpass={}",
        enc(user),
        enc(cur),
        enc(new)
    )
}

async fn login(env: &Stack, pw: &str) -> bool {
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    env.auth
        .authenticate(
            &format!("alice@{DOMAIN}"),
            &auth::Secret::new(pw.to_string()),
            ip,
        )
        .await
        .is_ok()
}

#[tokio::test]
async fn change_then_only_the_new_password_works() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    let r = env.router_from([127, 0, 0, 1]);
    let new = "a brand new passphrase";
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form("Alice@Example.Test", PASSWORD, new),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "ok\n");
    assert!(resp.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(login(&env, new).await);
    assert!(!login(&env, PASSWORD).await);
}

#[tokio::test]
async fn wrong_password_policy_and_bad_forms() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    let r = env.router_from([127, 0, 0, 2]);
    let user = format!("alice@{DOMAIN}");

    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(&user, "not my password", "another long one 1"),
    )
    .await;
    assert_eq!(resp.status, 403);
    assert!(resp.text().contains("wrong user name or password"));
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form("nobody@example.test", PASSWORD, "another long one 1"),
    )
    .await;
    assert_eq!(
        resp.status, 403,
        "unknown user answers like a wrong password"
    );

    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(&user, PASSWORD, "short"),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("at least 12"), "{}", resp.text());
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(&user, PASSWORD, "xx-alice-is-my-name"),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("user name"));
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(&user, PASSWORD, PASSWORD),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(login(&env, PASSWORD).await, "nothing changed");

    // Malformed forms: 400 with a JSON reason.
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        "user=alice%40example.test&curpass=x",
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("newpass"), "{}", resp.error());
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(resp.status, 400);
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        format!("user={}", "a".repeat(70 * 1024)),
    )
    .await;
    assert_eq!(resp.status, 413);
    assert_eq!(get(&r, "/api/password").await.status, 405);
}

#[tokio::test]
async fn throttled_like_a_login() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    // One client address failing against many accounts gets refused (auth's per-address limit);
    // each (address, account) pair fails once, so no growing delays slow this test down.
    let r = env.router_from([10, 9, 8, 7]);
    for i in 0..30 {
        let resp = call(
            &r,
            "POST",
            "/api/password",
            false,
            Some(FORM),
            form(
                &format!("u{i}@{DOMAIN}"),
                "wrong wrong wrong",
                "whatever long 123",
            ),
        )
        .await;
        assert_eq!(resp.status, 403);
    }
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(
            &format!("alice@{DOMAIN}"),
            PASSWORD,
            "a brand new passphrase",
        ),
    )
    .await;
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert!(resp.headers.contains_key("retry-after"));
    assert!(resp.text().contains("try again"));
    assert!(
        login(&env, PASSWORD).await,
        "a throttled change changes nothing"
    );
    // Another client address is not affected.
    let r = env.router_from([10, 9, 8, 6]);
    let resp = call(
        &r,
        "POST",
        "/api/password",
        false,
        Some(FORM),
        form(
            &format!("alice@{DOMAIN}"),
            PASSWORD,
            "a brand new passphrase",
        ),
    )
    .await;
    assert_eq!(resp.status, 200);
}
