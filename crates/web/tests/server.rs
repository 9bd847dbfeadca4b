//! The real server on 127.0.0.1:0 driven by curl: password change (form POST, as Roundcube's
//! httpapi driver sends it), autoconfig, the admin API, and a graceful stop that ends a long
//! poll at once.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use testkit::http::stack;
use testkit::mail::remote as message;
use testkit::{eventually, python, Daemon, PASSWORD, TOKEN};

async fn curl(args: &[&str]) -> (String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    // std::process on the blocking pool: the workspace's tokio has no "process" feature.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
    })
    .await
    .unwrap()
    .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_against_the_real_server() {
    let mut env = stack().only(&[Daemon::Http]).start().await;
    env.add_user("alice@example.test").await;
    let addr: SocketAddr = env.addr("http");
    let base = format!("http://{addr}");

    // Password change exactly as Roundcube's httpapi driver posts it.
    let new = "new & improved passphrase";
    let (code, body) = curl(&[
        "--data-urlencode",
        "user=alice@example.test",
        "--data-urlencode",
        &format!("curpass={PASSWORD}"),
        "--data-urlencode",
        &format!("newpass={new}"),
        &format!("{base}/api/password"),
    ])
    .await;
    assert_eq!((code.as_str(), body.as_str()), ("200", "ok\n"));
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    assert!(env
        .auth
        .authenticate("alice@example.test", &new.into(), ip)
        .await
        .is_ok());
    assert!(env
        .auth
        .authenticate("alice@example.test", &PASSWORD.into(), ip)
        .await
        .is_err());
    let (code, _) = curl(&[
        "-d",
        "user=alice%40example.test&curpass=wrong+password+here&newpass=whatever+long+123",
        &format!("{base}/api/password"),
    ])
    .await;
    assert_eq!(code, "403");

    // Autoconfig over the wire, parsed by Python.
    let (code, xml) = curl(&[&format!(
        "{base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test"
    )])
    .await;
    assert_eq!(code, "200");
    let ports = python(
        "import sys, xml.etree.ElementTree as ET\nr = ET.fromstring(sys.stdin.read())\n\
         print(' '.join(p.text for p in r.iter('port')))",
        &xml,
    );
    assert_eq!(ports.trim(), "993 143 995 110 465 587");

    // Admin API with a bearer token: create an account, inject, await it.
    let auth_header = format!("Authorization: Bearer {TOKEN}");
    let (code, body) = curl(&[
        "-H",
        &auth_header,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"address":"bob@example.test","password":"robert's long password"}"#,
        &format!("{base}/api/accounts"),
    ])
    .await;
    assert_eq!(code, "201", "{body}");
    let (code, _) = curl(&[
        "-H",
        &auth_header,
        "-H",
        "Content-Type: message/rfc822",
        "--data-binary",
        &message("over http"),
        &format!("{base}/api/accounts/bob@example.test/messages"),
    ])
    .await;
    assert_eq!(code, "201");
    let (code, body) = curl(&[
        "-H",
        &auth_header,
        &format!("{base}/api/accounts/bob@example.test/messages?wait=30s&subject=over"),
    ])
    .await;
    assert_eq!(code, "200");
    assert!(body.contains("\"subject\":\"over http\""), "{body}");
    let (code, body) = curl(&[&format!("{base}/api/accounts")]).await;
    assert_eq!(code, "401");
    assert!(body.contains("\"error\""));

    // A long poll in flight ends promptly when the server stops; serve() then returns.
    let poll = tokio::spawn({
        let url = format!("{base}/api/accounts/bob@example.test/messages?wait=120s&subject=never");
        let h = auth_header.clone();
        async move { curl(&["-H", &h, &url]).await }
    });
    // The poll is in flight once it has subscribed to bob's changes.
    let bob = env.account("bob@example.test");
    eventually(Duration::from_secs(60), || async {
        match env.store.subscribers(bob.id) {
            0 => Err("the long poll has not subscribed yet"),
            _ => Ok(()),
        }
    })
    .await;
    env.stop();
    let (code, body) = tokio::time::timeout(Duration::from_secs(60), poll)
        .await
        .expect("poll ended")
        .unwrap();
    assert_eq!((code.as_str(), body.as_str()), ("200", "[]"));
    // serve() returned (within 60 s, or the test fails).
    env.stopped().await;
}
