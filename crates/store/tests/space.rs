//! Bounded disk (docs/architecture.md §5, "Blob store"): message bytes of deleted mail are given
//! back, the expunge log is pruned above a floor without ever answering QRESYNC wrongly, and
//! a message whose bytes did not reach the disk is removed at open.
//!
//! Space on disk, segment compaction and recovery at open are the sled + segment-file
//! backend's business and run on it only; the expunge-log floor and the refusal after a failed
//! flush are the model's and run on every backend.

use std::os::unix::fs::FileExt;

use store::{AppendRequest, Store};
use testkit::every_backend;

async fn setup(dir: &std::path::Path) -> (Store, store::Account, store::Mailbox) {
    on(Store::open(dir).expect("open")).await
}

async fn on(store: Store) -> (Store, store::Account, store::Mailbox) {
    let acct = store
        .create_account("churn@example.test", "$argon2id$fake", None)
        .await
        .expect("account");
    let inbox = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    (store, acct, inbox)
}

fn message(i: usize, kib: usize) -> Vec<u8> {
    format!("Subject: churn {i}\r\n\r\n{}\r\n", "x".repeat(kib * 1024)).into_bytes()
}

async fn append(store: &Store, a: &store::Account, m: &store::Mailbox, bytes: &[u8]) -> store::Uid {
    let req = AppendRequest {
        bytes,
        ..Default::default()
    };
    store.append(a.id, m.id, req).await.expect("append").1
}

/// Three rounds of "deliver 600 × 64 KiB, expunge all": the folder shrinks back each time
/// (it used to keep every byte: sled's blob files were never removed). The target is
/// 2 × live bytes + 64 MiB; what remains here is at most the current segment's dead bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_gives_the_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, acct, inbox) = setup(dir.path()).await;
    let mut after = Vec::new();
    for round in 0..3 {
        for i in 0..600 {
            append(&store, &acct, &inbox, &message(round * 1000 + i, 64)).await;
        }
        let full = store.disk_usage().expect("du");
        assert!(full > 36 << 20, "600 × 64 KiB on disk: {full}");
        let uids: Vec<store::Uid> = store
            .messages(inbox.id)
            .expect("list")
            .iter()
            .map(|m| m.uid)
            .collect();
        store
            .expunge(acct.id, inbox.id, &uids)
            .await
            .expect("expunge");
        let stats = store.compact_now().expect("compact");
        assert!(stats.removed > 0, "{stats:?}");
        after.push(store.disk_usage().expect("du"));
    }
    // What is left: one partly written segment of dead bytes and sled's small records.
    for (i, a) in after.iter().enumerate() {
        assert!(
            *a < 48 << 20,
            "round {i}: {a} bytes on disk for an empty mailbox ({after:?})"
        );
    }
}

/// A mostly-dead sealed segment is compacted: the live messages move and still read right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_moves_live_messages_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, acct, inbox) = setup(dir.path()).await;
    // ~48 MiB: the first segment (32 MiB) is sealed.
    let mut uids = Vec::new();
    for i in 0..96 {
        uids.push(append(&store, &acct, &inbox, &message(i, 512)).await);
    }
    let keep: Vec<store::Uid> = uids.iter().copied().step_by(8).collect();
    let gone: Vec<store::Uid> = uids.iter().copied().filter(|u| !keep.contains(u)).collect();
    store
        .expunge(acct.id, inbox.id, &gone)
        .await
        .expect("expunge");
    let before = store.disk_usage().expect("du");
    let stats = store.compact_now().expect("compact");
    assert!(stats.moved > 0 && stats.removed > 0, "{stats:?}");
    assert!(store.disk_usage().expect("du") < before);
    for (n, uid) in keep.iter().enumerate() {
        let m = store.message(inbox.id, *uid).expect("q").expect("kept");
        let raw = store.read_blob(m.blob).expect("read");
        assert_eq!(raw, message(n * 8, 512), "UID {uid}");
    }
    // And after a restart.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    let m = store.message(inbox.id, keep[1]).expect("q").expect("kept");
    assert_eq!(store.read_blob(m.blob).expect("read"), message(8, 512));
}

/// sled's own files are bounded by rewriting them into a fresh generation
/// (docs/architecture.md §5.4): every message, flag and counter survives the switch, the
/// switch survives a restart, and deliveries running meanwhile are all kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_rewritten_without_losing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, acct, inbox) = setup(dir.path()).await;
    // Churn: small messages delivered and expunged, flags set on the ones kept.
    let seen = store::Flags {
        system: store::Flags::SEEN,
        keywords: vec![],
    };
    let mut kept = Vec::new();
    for round in 0..20 {
        let mut uids = Vec::new();
        for i in 0..20 {
            uids.push(append(&store, &acct, &inbox, &message(round * 100 + i, 1)).await);
        }
        kept.push((uids[0], round * 100));
        store
            .expunge(acct.id, inbox.id, &uids[1..])
            .await
            .expect("expunge");
        store
            .store_flags(
                acct.id,
                inbox.id,
                &[uids[0]],
                store::FlagOp::Add,
                &seen,
                None,
            )
            .await
            .expect("flags");
    }
    let before = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    assert_eq!(store.set_db_rewrite_floor(0), 0, "first generation");
    // Deliveries while the compactor rewrites.
    let writer = {
        let (store, acct, inbox) = (store.clone(), acct.clone(), inbox.clone());
        tokio::spawn(async move {
            let mut uids = Vec::new();
            for i in 0..40 {
                uids.push((
                    append(&store, &acct, &inbox, &message(9000 + i, 1)).await,
                    9000 + i,
                ));
            }
            uids
        })
    };
    let mut rewrites = 0;
    for _ in 0..3 {
        if store.compact_now().expect("compact").rewritten {
            rewrites += 1;
        }
    }
    let during = writer.await.expect("writer");
    assert!(rewrites >= 1, "no rewrite");
    assert!(
        store.set_db_rewrite_floor(24 << 20) >= 1,
        "a new generation"
    );
    let check = |store: &Store| {
        for (uid, n) in kept.iter().chain(&during) {
            let m = store.message(inbox.id, *uid).expect("q").expect("kept");
            assert_eq!(
                store.read_blob(m.blob).expect("read"),
                message(*n, 1),
                "UID {uid}"
            );
            if *n < 9000 {
                assert_eq!(m.flags, seen, "UID {uid}");
            }
        }
        let mb = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
        assert_eq!(mb.exists as usize, kept.len() + during.len());
        assert_eq!(mb.uidvalidity, before.uidvalidity);
        assert!(mb.highestmodseq > before.highestmodseq);
        mb.uidnext
    };
    let next = check(&store);
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(check(&store), next, "UIDNEXT after the restart");
    let uid = append(&store, &acct, &inbox, &message(1, 1)).await;
    assert!(uid >= next, "UIDs go on after the switch");
}

/// RFC 7162 §3.2.5.1: above the floor the answer is exact; below it, a superset (every UID
/// not in the mailbox), never a UID that still exists.
async fn expunge_log_is_pruned_above_a_floor(store: Store) {
    let (store, acct, inbox) = on(store).await;
    let n = store::MAX_EXPUNGES_REMEMBERED + 10;
    let mut uids = Vec::new();
    for i in 0..n + 5 {
        uids.push(
            append(
                &store,
                &acct,
                &inbox,
                format!("Subject: {i}\r\n\r\nx\r\n").as_bytes(),
            )
            .await,
        );
    }
    let start = store
        .mailbox_by_id(inbox.id)
        .expect("q")
        .expect("mb")
        .highestmodseq;
    // One expunge per message, so each has its own MODSEQ.
    for chunk in uids[..n].chunks(500) {
        for u in chunk {
            store
                .expunge(acct.id, inbox.id, &[*u])
                .await
                .expect("expunge");
        }
    }
    let mid = store
        .mailbox_by_id(inbox.id)
        .expect("q")
        .expect("mb")
        .highestmodseq
        .get()
        - 3;
    let mid = store::ModSeq::new(mid);
    assert_eq!(
        store.expunged_since(inbox.id, mid).expect("recent"),
        vec![(uids[n - 3], uids[n - 1])]
    );
    let stats = store.compact_now().expect("compact");
    assert!(
        stats.pruned >= n - store::MAX_EXPUNGES_REMEMBERED / 2,
        "{stats:?}"
    );
    // Recent history: still exact.
    assert_eq!(
        store.expunged_since(inbox.id, mid).expect("recent"),
        vec![(uids[n - 3], uids[n - 1])]
    );
    // From before the floor: every UID that is not live, none that is.
    let all = store.expunged_since(inbox.id, start).expect("old");
    assert_eq!(all, vec![(store::Uid::new(1), uids[n - 1])]);
    // A deleted mailbox's log goes with it.
    let other = store
        .create_mailbox(acct.id, "Other", None)
        .await
        .expect("create");
    let u = append(&store, &acct, &other, b"Subject: o\r\n\r\nx\r\n").await;
    store
        .expunge(acct.id, other.id, &[u])
        .await
        .expect("expunge");
    store
        .delete_mailbox(acct.id, "Other")
        .await
        .expect("delete");
    let stats = store.compact_now().expect("compact");
    assert_eq!(stats.pruned, 1, "{stats:?}");
}
every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    expunge_log_is_pruned_above_a_floor
);

/// A power loss can put sled's record of an unacknowledged write on disk without its bytes:
/// at open that message is removed instead of being served damaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_last_segment_record_is_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, acct, inbox) = setup(dir.path()).await;
    let good = append(&store, &acct, &inbox, &message(1, 1)).await;
    let bad = append(&store, &acct, &inbox, &message(2, 1)).await;
    drop(store);
    // Damage the second record's bytes in the (only) segment.
    let seg = dir.path().join("segments/00000001.seg");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("segment");
    let len = f.metadata().expect("meta").len();
    f.write_all_at(b"garbage", len - 100).expect("damage");
    drop(f);
    let store = Store::open(dir.path()).expect("reopen");
    assert!(store.message(inbox.id, good).expect("q").is_some());
    assert!(store.message(inbox.id, bad).expect("q").is_none());
    let st = store.status(acct.id, "INBOX").expect("status");
    assert_eq!(st.messages, 1);
    assert_eq!(store.usage(acct.id).expect("usage").messages, 1);
}

/// docs/architecture.md §4, "Durability": a failed flush is not "corrupt data"; the write is
/// refused as temporarily unavailable, and so is every later one (nothing since is known to be
/// on disk), while reads go on.
async fn failed_flush_makes_the_store_refuse_writes(store: Store) {
    let (store, acct, inbox) = on(store).await;
    let uid = append(&store, &acct, &inbox, &message(1, 1)).await;
    store.inject_flush_failure();
    let req = AppendRequest {
        bytes: &message(2, 1),
        ..Default::default()
    };
    let e = store
        .append(acct.id, inbox.id, req)
        .await
        .expect_err("refused");
    assert!(matches!(e, store::Error::Unavailable(_)), "{e}");
    let e = store
        .store_flags(
            acct.id,
            inbox.id,
            &[uid],
            store::FlagOp::Add,
            &store::Flags::from_names(["\\Seen"]),
            None,
        )
        .await
        .expect_err("refused");
    assert!(matches!(e, store::Error::Unavailable(_)), "{e}");
    assert!(store.message(inbox.id, uid).expect("read").is_some());
}
every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    failed_flush_makes_the_store_refuse_writes
);
