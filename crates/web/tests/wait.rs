//! Long-poll: `GET .../messages?wait=…` returns as soon as a matching message is appended by
//! another task, and returns an empty list when the time is up.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn wait_returns_when_a_matching_message_arrives() {
    let env = env().await;
    env.add_user("alice").await;
    env.deliver("alice@example.test", "unrelated").await;
    let r = env.router();
    let waiter = {
        let r = r.clone();
        tokio::spawn(async move {
            get(
                &r,
                "/api/accounts/alice@example.test/messages?wait=100s&subject=Welcome",
            )
            .await
        })
    };
    // Let the waiter subscribe and look; then deliver a non-matching and a matching message.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "an unrelated message does not end the wait"
    );
    env.deliver("alice@example.test", "still unrelated").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    let started = Instant::now();
    env.deliver("alice@example.test", "Welcome aboard").await;
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
    let env = env().await;
    env.add_user("alice").await;
    env.deliver("alice@example.test", "present").await;
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
    let env = env().await;
    env.add_user("alice").await;
    env.add_user("capture").await;
    let r = env.router();
    let waiter = {
        let r = r.clone();
        tokio::spawn(async move { get(&r, "/api/captured?wait=100s").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Mail for another account does not end the wait on the capture account.
    env.deliver("alice@example.test", "for alice").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    env.deliver("capture@example.test", "captured").await;
    let resp = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("ended")
        .unwrap();
    assert_eq!(resp.json()[0]["subject"], "captured");
}
