//! Long-poll: `GET .../messages?wait=…` returns as soon as a matching message is appended by
//! another task, and returns an empty list when the time is up.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::http::{get, stack};
use testkit::mail::remote as message;
use testkit::{eventually, pending_for, Stack};

/// Waits until a long poll on `address` has subscribed to its changes (it looks only after
/// subscribing, so what is delivered from now on wakes it).
async fn subscribed(env: &Stack, address: &str) {
    let account = env.account(address);
    eventually(Duration::from_secs(60), || async {
        match env.store.subscribers(account.id) {
            0 => Err(format!("no subscription to {address} yet")),
            n => Ok(n),
        }
    })
    .await;
}

#[tokio::test]
async fn wait_returns_when_a_matching_message_arrives() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    env.deliver_to("alice@example.test", message("unrelated"))
        .await;
    let r = env.router();
    let mut waiter = {
        let r = r.clone();
        tokio::spawn(async move {
            get(
                &r,
                "/api/accounts/alice@example.test/messages?wait=100s&subject=Welcome",
            )
            .await
        })
    };
    // Once the waiter has subscribed, deliver a non-matching and a matching message.
    subscribed(&env, "alice@example.test").await;
    assert!(
        pending_for(&mut waiter, Duration::from_millis(100)).await,
        "an unrelated message does not end the wait"
    );
    env.deliver_to("alice@example.test", message("still unrelated"))
        .await;
    assert!(pending_for(&mut waiter, Duration::from_millis(100)).await);
    let started = Instant::now();
    env.deliver_to("alice@example.test", message("Welcome aboard"))
        .await;
    let resp = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("wait ended")
        .unwrap();
    assert_eq!(resp.status, 200);
    let list = resp.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["subject"], "Welcome aboard");
    // Far below the 100 s wait: it was the append that ended it.
    assert!(started.elapsed() < Duration::from_secs(50));
}

#[tokio::test]
async fn wait_returns_at_once_when_a_match_exists_and_empty_after_timeout() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    env.deliver_to("alice@example.test", message("present"))
        .await;
    let r = env.router();
    let started = Instant::now();
    let resp = get(
        &r,
        "/api/accounts/alice@example.test/messages?wait=100s&subject=present",
    )
    .await;
    assert_eq!(resp.json()[0]["subject"], "present");
    assert!(started.elapsed() < Duration::from_secs(50));

    let started = Instant::now();
    let resp = get(
        &r,
        "/api/accounts/alice@example.test/messages?wait=300ms&subject=never",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!([]));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn wait_in_another_mailbox_and_on_captured() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    env.add_user("capture@example.test").await;
    let r = env.router();
    let mut waiter = {
        let r = r.clone();
        tokio::spawn(async move { get(&r, "/api/captured?wait=100s").await })
    };
    subscribed(&env, "capture@example.test").await;
    // Mail for another account does not end the wait on the capture account.
    env.deliver_to("alice@example.test", message("for alice"))
        .await;
    assert!(pending_for(&mut waiter, Duration::from_millis(100)).await);
    env.deliver_to("capture@example.test", message("captured"))
        .await;
    let resp = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("ended")
        .unwrap();
    assert_eq!(resp.json()[0]["subject"], "captured");
}
