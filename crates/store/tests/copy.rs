//! `Store::copy_into` (`mailstack store copy`): a store moved to another backend and back
//! keeps every account, alias, mailbox (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), message (UID,
//! flags, MODSEQ, INTERNALDATE, bytes), expunge, subscription and Sieve script, and new
//! writes after the copy get fresh ids, UIDs and MODSEQs.

use store::{AppendRequest, FlagOp, Flags, Store};
use testkit::accounts::{memory_store, temp_store};

/// Everything a client could tell apart, in a comparable form.
fn picture(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for a in store.accounts().expect("accounts") {
        out.push(format!(
            "account {} {:?} {:?}",
            a.address, a.aliases, a.quota_bytes
        ));
        out.push(format!(
            "subs {:?}",
            store.subscriptions(a.id).expect("subs")
        ));
        out.push(format!(
            "sieve {:?}",
            store.sieve_scripts(a.id).expect("sieve")
        ));
        for mb in store.mailboxes(a.id).expect("mailboxes") {
            out.push(format!(
                "mailbox {} {:?} {:?} {:?} {} {}",
                mb.name, mb.uidvalidity, mb.uidnext, mb.highestmodseq, mb.exists, mb.unseen
            ));
            for m in store.messages(mb.id).expect("messages") {
                let bytes = store.read_blob(m.blob).expect("body");
                out.push(format!(
                    "  {:?} {:?} {:?} {} {} {:?}",
                    m.uid,
                    m.flags.names(),
                    m.modseq,
                    m.internaldate,
                    m.size,
                    String::from_utf8_lossy(&bytes)
                ));
            }
            let gone = store
                .expunged_since(mb.id, store::ModSeq::ZERO)
                .expect("expunge log");
            out.push(format!("  expunged {gone:?}"));
        }
    }
    out
}

async fn fill(store: &Store) {
    let a = store
        .create_account("copy@example.test", "$argon2id$fake", Some(1 << 20))
        .await
        .expect("account");
    store
        .add_alias("c@example.test", "copy@example.test")
        .await
        .expect("alias");
    let inbox = store.mailbox(a.id, "INBOX").expect("q").expect("inbox");
    let arch = store
        .create_mailbox(a.id, "Archive/2024", None)
        .await
        .expect("mailbox");
    let mut uids = Vec::new();
    for i in 0..6 {
        let body = format!("Subject: m{i}\r\n\r\nbody {i}\r\n");
        let req = AppendRequest {
            bytes: body.as_bytes(),
            internaldate: Some((1_700_000_000 + i, 60)),
            ..Default::default()
        };
        uids.push(store.append(a.id, inbox.id, req).await.expect("append").1);
    }
    store
        .store_flags(
            a.id,
            inbox.id,
            &uids[..3],
            FlagOp::Add,
            &Flags::from_names(["\\Seen", "$Work"]),
            None,
        )
        .await
        .expect("flags");
    store
        .expunge(a.id, inbox.id, &uids[4..5])
        .await
        .expect("expunge");
    store
        .copy_messages(a.id, inbox.id, &uids[..2], arch.id)
        .await
        .expect("copy");
    store
        .set_subscribed(a.id, "Archive/2024", false)
        .await
        .expect("unsubscribe");
    store
        .put_sieve_script(a.id, "rules", "keep;\r\n", true)
        .await
        .expect("script");
}

/// After the copy the destination takes new writes as the source would have.
async fn keeps_counting(store: &Store) {
    let a = store
        .account("copy@example.test")
        .expect("q")
        .expect("account");
    let inbox = store.mailbox(a.id, "INBOX").expect("q").expect("inbox");
    let before = inbox.uidnext;
    let (_, uid) = store
        .append(
            a.id,
            inbox.id,
            AppendRequest {
                bytes: b"Subject: new\r\n\r\nx\r\n",
                ..Default::default()
            },
        )
        .await
        .expect("append after the copy");
    assert_eq!(uid, before, "UIDs go on from UIDNEXT");
    let after = store.mailbox(a.id, "INBOX").expect("q").expect("inbox");
    assert!(after.highestmodseq > inbox.highestmodseq);
    let b = store
        .create_account("new@example.test", "x", None)
        .await
        .expect("new account");
    assert_ne!(b.id, a.id, "ids are not handed out twice");
    let m = store
        .create_mailbox(a.id, "Fresh", None)
        .await
        .expect("mailbox");
    for mb in store.mailboxes(a.id).expect("mailboxes") {
        assert!(
            mb.name == "Fresh" || mb.id != m.id,
            "mailbox ids are not handed out twice"
        );
    }
}

#[tokio::test]
async fn sled_to_memory_keeps_everything() {
    let (_dir, src) = temp_store();
    fill(&src).await;
    let dest = memory_store();
    let stats = src.copy_into(&dest).await.expect("copy");
    // Six appended, one expunged (its body released), two copied (sharing their bodies).
    assert_eq!(stats.bodies, 5, "{stats:?}");
    assert_eq!(picture(&src), picture(&dest));
    // Not into a store that has accounts.
    assert!(src.copy_into(&dest).await.is_err());
    keeps_counting(&dest).await;
}

#[tokio::test]
async fn sled_to_postgres_and_back() {
    let Some(cluster) = testkit::postgres::Cluster::get() else {
        return;
    };
    let (_dir, src) = temp_store();
    fill(&src).await;
    let url = cluster.database();
    {
        let pg = Store::open_postgres(&url).expect("postgres");
        src.copy_into(&pg).await.expect("copy to postgres");
    }
    // Reopened, as `mailstack store copy` leaves it.
    let pg = Store::open_postgres(&url).expect("postgres again");
    assert_eq!(picture(&src), picture(&pg));
    let (_dir2, back) = temp_store();
    pg.copy_into(&back).await.expect("copy back");
    assert_eq!(picture(&src), picture(&back));
    keeps_counting(&pg).await;
    keeps_counting(&back).await;
}
