//! Backup and cleanup routes (docs/spec.md §7.8): `GET …/export`, `POST …/import`,
//! `POST …/purge` with parameters (and without, as before), with their bad input.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::body::Body;
use testkit::http::{call, get, stack, Resp};
use web::backup::{mbox, tar};

const ALICE: &str = "/api/accounts/alice@example.test";

/// `POST /api/accounts/alice@example.test/{what}` with the admin token and an mbox body.
async fn post(r: &axum::Router, what: &str, body: Vec<u8>) -> Resp {
    let uri = format!("{ALICE}/{what}");
    call(r, "POST", &uri, true, Some("application/mbox"), body).await
}

/// The files of a tar archive: path → bytes.
fn files(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    tar::read(&mut &archive[..], &mut |e| {
        let mut data = Vec::new();
        e.data.read_to_end(&mut data)?;
        if !e.folder {
            out.push((e.path, data));
        }
        Ok(())
    })
    .unwrap();
    out
}

#[tokio::test]
async fn export_import_and_purge_over_rest() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    env.store
        .create_mailbox(a.id, "Archive/2024", None)
        .await
        .unwrap();
    let inbox = env.inbox(&a);
    for (subject, flags, date) in [
        ("one", vec!["\\Seen", "Work"], 1_000_000_000),
        ("two", vec![], 1_100_000_000),
    ] {
        let bytes = format!("Subject: {subject}\r\n\r\nFrom me\r\n");
        let req = store::AppendRequest {
            bytes: bytes.as_bytes(),
            flags: store::Flags::from_names(flags),
            internaldate: Some((date, 0)),
        };
        env.store.append(a.id, inbox.id, req).await.unwrap();
    }
    env.append(&a, "Archive/2024", b"Subject: archived\r\n\r\nold\r\n")
        .await;
    let r = env.router();

    // Without the token: 401 before anything is read.
    for (method, uri) in [
        ("GET", format!("{ALICE}/export")),
        ("POST", format!("{ALICE}/import")),
        ("POST", format!("{ALICE}/purge?dry_run=true")),
    ] {
        let resp = call(
            &r,
            method,
            &uri,
            false,
            Some("application/mbox"),
            Body::empty(),
        )
        .await;
        assert_eq!(resp.status, 401, "{method} {uri}");
    }

    // Export: one mailbox as mbox, everything as a tar of mbox files or of Maildir++.
    let resp = get(&r, &format!("{ALICE}/export?mailbox=INBOX")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.headers["content-type"], "application/mbox");
    let disposition = resp.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("filename*=UTF-8''alice%40example.test-INBOX.mbox"),
        "{disposition}"
    );
    assert!(
        resp.text()
            .contains("\nStatus: R\nX-Keywords: Work\n\n>From me\n"),
        "{}",
        resp.text()
    );
    let items = mbox::parse(&resp.body).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0].internaldate, items[0].flags.names()),
        (Some(1_000_000_000), vec!["\\Seen", "Work"])
    );
    let resp = get(&r, &format!("{ALICE}/export")).await;
    assert_eq!(
        (
            resp.status.as_u16(),
            resp.headers["content-type"].to_str().unwrap()
        ),
        (200, "application/x-tar")
    );
    let names: Vec<String> = files(&resp.body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        [
            "Archive",
            "Archive.sbd/2024",
            "Drafts",
            "INBOX",
            "Junk",
            "Sent",
            "Trash"
        ]
    );
    let resp = get(&r, &format!("{ALICE}/export?format=maildir")).await;
    let tree = files(&resp.body);
    assert!(tree.iter().any(|(p, d)| p.starts_with(".Archive.2024/cur/") && d == b"Subject: archived\n\nold\n"), "{tree:?}");
    assert!(
        tree.iter()
            .any(|(p, _)| p.starts_with("cur/1000000000.M1V") && p.ends_with(":2,Sa")),
        "{tree:?}"
    );
    assert!(
        tree.iter()
            .any(|(p, d)| p == "dovecot-keywords" && d == b"0 Work\n"),
        "{tree:?}"
    );
    let resp = get(
        &r,
        &format!("{ALICE}/export?mailbox=Archive/2024&format=maildir"),
    )
    .await;
    assert!(files(&resp.body).iter().any(|(p, _)| p.starts_with("cur/")));
    for (uri, status) in [
        ("/api/accounts/ghost@example.test/export".to_string(), 404),
        (format!("{ALICE}/export?mailbox=Nope"), 404),
        (format!("{ALICE}/export?format=zip"), 400),
        (format!("{ALICE}/export?mailbox=a%2A"), 400),
    ] {
        assert_eq!(get(&r, &uri).await.status, status, "{uri}");
    }

    // Import: into a new mailbox; the same file again adds nothing.
    let file = get(&r, &format!("{ALICE}/export?mailbox=INBOX")).await.body;
    let resp = post(&r, "import?mailbox=Restored/Inbox", file.clone()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        serde_json::json!({"account": "alice@example.test", "mailbox": "Restored/Inbox", "imported": 2, "skipped": 0})
    );
    let resp = post(&r, "import?mailbox=Restored/Inbox", file.clone()).await;
    assert_eq!(
        (
            resp.json()["imported"].clone(),
            resp.json()["skipped"].clone()
        ),
        (0.into(), 2.into())
    );
    let restored = env.mailbox(&a, "Restored/Inbox");
    let copied: Vec<_> = env
        .store
        .messages(restored.id)
        .unwrap()
        .into_iter()
        .map(|m| (m.flags, m.internaldate))
        .collect();
    let original: Vec<_> = env
        .store
        .messages(inbox.id)
        .unwrap()
        .into_iter()
        .map(|m| (m.flags, m.internaldate))
        .collect();
    assert_eq!(copied, original);
    assert_eq!(env.bodies(&a, "Restored/Inbox"), env.bodies(&a, "INBOX"));
    // An empty body is an empty mbox; INBOX by default.
    let resp = post(&r, "import", Vec::new()).await;
    assert_eq!(
        (resp.status.as_u16(), resp.json()["mailbox"].clone()),
        (200, "INBOX".into())
    );
    for (uri, body, status, needle) in [
        (
            format!("{ALICE}/import"),
            b"Subject: hi\r\n\r\nnot an mbox\r\n".to_vec(),
            400,
            "not an mbox",
        ),
        (
            format!("{ALICE}/import?mailbox=a//b"),
            file.clone(),
            400,
            "empty hierarchy level",
        ),
        (
            "/api/accounts/ghost@example.test/import".to_string(),
            file.clone(),
            404,
            "no account",
        ),
    ] {
        let resp = call(&r, "POST", &uri, true, Some("application/mbox"), body).await;
        assert_eq!(resp.status, status, "{uri}: {}", resp.text());
        assert!(resp.error().contains(needle), "{uri}: {}", resp.error());
    }
    // Over quota: refused, saying how many went in.
    env.store
        .update_account("alice@example.test", |acc| acc.quota_bytes = Some(10))
        .await
        .unwrap();
    let resp = post(&r, "import?mailbox=Full", file.clone()).await;
    assert_eq!(resp.status, 507, "{}", resp.text());
    assert!(
        resp.error()
            .contains("after importing 0 messages into Full"),
        "{}",
        resp.error()
    );
    env.store
        .update_account("alice@example.test", |acc| acc.quota_bytes = None)
        .await
        .unwrap();

    // Purge: bad parameters, a dry run, a purge by size, then everything as before.
    for (query, status) in [
        ("older_than=5y", 400),
        ("older_than=", 400),
        ("larger_than=lots", 400),
        ("dry_run=maybe", 400),
        ("mailbox=Nope", 404),
    ] {
        let resp = post(&r, &format!("purge?{query}"), Vec::new()).await;
        assert_eq!(resp.status, status, "{query}: {}", resp.text());
    }
    let ghost = "/api/accounts/ghost@example.test/purge";
    let resp = call(&r, "POST", ghost, true, None, Body::empty()).await;
    assert_eq!(resp.status, 404);
    let dry = post(
        &r,
        "purge?mailbox=Restored/Inbox&older_than=1d&dry_run=true",
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(
        (
            dry["dry_run"].clone(),
            dry["count"].clone(),
            dry["deleted"].clone()
        ),
        (true.into(), 2.into(), 0.into())
    );
    assert_eq!(dry["messages"][0]["subject"], "one");
    assert_eq!(dry["messages"][1]["received"], 1_100_000_000);
    assert_eq!(
        env.count(&a, "Restored/Inbox"),
        2,
        "a dry run removes nothing"
    );
    let small = post(&r, "purge?mailbox=INBOX&larger_than=1000", Vec::new())
        .await
        .json();
    assert_eq!(small["count"], 0);
    let all = post(&r, "purge", Vec::new()).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["deleted"], 5, "{}", all.text());
    assert_eq!(env.store.usage(a.id).unwrap().messages, 0);
}
