//! Cross-account access over IMAP: alice cannot SELECT, EXAMINE, STATUS, APPEND to, COPY
//! into, RENAME, DELETE or LIST bob's mailboxes by any name trick — relative paths, bob's
//! address in the name, modified UTF-7 spellings of those, NUL. Mailbox names are keys
//! inside the logged-in account (store), so every trick resolves in alice's own namespace.

use testkit::{Line, Stack, ALICE, BOB};

/// Names that would reach bob's "Secret" (or INBOX) on a path-based or shared-namespace store.
const TRICKS: &[&str] = &[
    "../bob@example.test/Secret",
    "../bob@example.test/INBOX",
    "INBOX/../Secret",
    "INBOX/../../bob@example.test/Secret",
    "bob@example.test/Secret",
    "bob@example.test",
    "bob/Secret",
    "~bob/Secret",
    "~bob@example.test/INBOX",
    "#shared/bob@example.test/Secret",
    "Other Users/bob@example.test/Secret",
    "/Secret",
    "./Secret",
    "Secret",
    // modified UTF-7: "../" and "/" spelled as base64 runs, and an encoded NUL.
    "&AC4ALgAv-bob@example.test/Secret",
    "&AC8-Secret",
    "Secret&AAA-",
    "INBOX&AAA-../bob@example.test/INBOX",
];

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn bobs_state(s: &Stack) -> (Vec<String>, usize, usize) {
    (
        s.mailbox_names(&s.account(BOB.0)),
        s.count(&s.account(BOB.0), "INBOX"),
        s.count(&s.account(BOB.0), "Secret"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_cannot_reach_bobs_mailboxes() {
    let s = Stack::start().await;
    // Bob's data: a private folder with 3 messages, 2 in INBOX.
    let secret = s
        .store
        .create_mailbox(s.account(BOB.0).id, "Secret", None)
        .await
        .expect("create");
    for i in 0..3 {
        let body = format!("Subject: secret {i}\r\n\r\nbob only\r\n");
        let req = store::AppendRequest {
            bytes: body.as_bytes(),
            ..Default::default()
        };
        s.store
            .append(s.account(BOB.0).id, secret.id, req)
            .await
            .expect("append");
    }
    let inbox = s
        .store
        .mailbox(s.account(BOB.0).id, "INBOX")
        .expect("s")
        .expect("m");
    for i in 0..2 {
        let body = format!("Subject: hi {i}\r\n\r\nfor bob\r\n");
        let req = store::AppendRequest {
            bytes: body.as_bytes(),
            ..Default::default()
        };
        s.store
            .append(s.account(BOB.0).id, inbox.id, req)
            .await
            .expect("append");
    }
    // Alice has one message of her own, to COPY.
    let ainbox = s
        .store
        .mailbox(s.account(ALICE.0).id, "INBOX")
        .expect("s")
        .expect("m");
    let req = store::AppendRequest {
        bytes: b"Subject: alice\r\n\r\nmine\r\n",
        ..Default::default()
    };
    s.store
        .append(s.account(ALICE.0).id, ainbox.id, req)
        .await
        .expect("append");
    let bob_before = bobs_state(&s).await;

    let mut c = Line::connect(s.port("imap")).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.contains(" OK "), "{t}");
    let refused = |t: &str| t.contains(" NO ") || t.contains(" BAD ");
    for name in TRICKS {
        let q = quoted(name);
        for cmd in ["SELECT", "EXAMINE"] {
            let (u, t) = c.imap(&format!("{cmd} {q}")).await;
            assert!(refused(&t), "{cmd} {name}: {t} {u:?}");
            assert!(
                !u.iter().any(|l| l.contains("EXISTS")),
                "{cmd} {name}: {u:?}"
            );
        }
        let (u, t) = c.imap(&format!("STATUS {q} (MESSAGES UIDNEXT)")).await;
        assert!(refused(&t), "STATUS {name}: {t} {u:?}");
        assert!(u.is_empty(), "STATUS {name} leaked {u:?}");
        let (_, t) = c.imap(&format!("APPEND {q} {{5+}}\r\nspam\r")).await;
        assert!(refused(&t), "APPEND {name}: {t}");
        let (_, t) = c.imap(&format!("RENAME {q} Stolen")).await;
        assert!(refused(&t), "RENAME {name}: {t}");
        let (_, t) = c.imap(&format!("DELETE {q}")).await;
        assert!(refused(&t), "DELETE {name}: {t}");
        let (u, t) = c.imap(&format!("LIST \"\" {q}")).await;
        assert!(t.contains(" OK") || refused(&t), "LIST {name}: {t}");
        assert!(u.is_empty(), "LIST {name} showed {u:?}");
    }
    // COPY/MOVE from alice's INBOX into each trick name.
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.contains(" OK"), "{t}");
    for name in TRICKS {
        let q = quoted(name);
        for cmd in ["COPY 1", "UID COPY 1:*", "UID MOVE 999"] {
            let (_, t) = c.imap(&format!("{cmd} {q}")).await;
            assert!(refused(&t), "{cmd} {name}: {t}");
        }
    }
    // NUL inside a literal name (quoted strings cannot carry it).
    for name in [
        &b"Secret\0"[..],
        b"INBOX\0../bob@example.test/Secret",
        b"\0",
    ] {
        let mut cmd = format!("x1 STATUS {{{}+}}\r\n", name.len()).into_bytes();
        cmd.extend_from_slice(name);
        cmd.extend_from_slice(b" (MESSAGES)\r\n");
        c.send(&cmd).await.expect("send");
        let (u, t) = c.until_tag("x1").await;
        assert!(refused(&t), "STATUS with NUL: {t} {u:?}");
        assert!(u.is_empty(), "{u:?}");
    }
    // Wildcards across the hierarchy never list another account's folders.
    for (reference, pattern) in [
        ("\"\"", "*"),
        ("\"../\"", "*"),
        ("\"\"", "%/%"),
        ("\"~bob/\"", "*"),
    ] {
        let (u, t) = c.imap(&format!("LIST {reference} {pattern}")).await;
        assert!(t.contains(" OK") || refused(&t), "{t}");
        assert!(
            !u.iter().any(|l| l.contains("Secret") || l.contains("bob")),
            "LIST {reference} {pattern}: {u:?}"
        );
    }
    assert_eq!(bobs_state(&s).await, bob_before, "bob's mailboxes changed");
    // Bob still sees exactly his own data, and alice her own.
    let mut b = Line::connect(s.port("imap")).await;
    b.line().await.expect("greeting");
    let (_, t) = b.imap(&format!("LOGIN {} \"{}\"", BOB.0, BOB.1)).await;
    assert!(t.contains(" OK "), "{t}");
    let (u, t) = b.imap("STATUS Secret (MESSAGES)").await;
    assert!(t.contains(" OK"), "{t}");
    assert_eq!(u, ["* STATUS \"Secret\" (MESSAGES 3)"]);
    let (u, t) = c.imap("STATUS INBOX (MESSAGES)").await;
    assert!(t.contains(" OK"), "{t}");
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].ends_with("(MESSAGES 1)"), "{u:?}");
}
