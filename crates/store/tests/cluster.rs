//! Two stores ("nodes") on one PostgreSQL database (docs/architecture.md §12.3): a change made
//! through one reaches the other's subscribers and in-memory indexes, in commit order; UIDs
//! stay strictly increasing under concurrent delivery from both; the POP3 maildrop lock holds
//! across them; a node's pinned messages survive another node's start and are released once
//! the node is gone. Skipped where PostgreSQL is not installed (except under CI).

use std::time::Duration;

use store::{AppendRequest, Change, Error, FlagOp, Flags, Store, Uid};
use tokio::sync::broadcast::Receiver;

/// Two nodes on a fresh database.
fn two_nodes() -> Option<(Store, Store, String)> {
    let cluster = testkit::postgres::Cluster::get()?;
    let url = cluster.database();
    let a = Store::open_postgres(&url).expect("node A");
    let b = Store::open_postgres(&url).expect("node B");
    assert_ne!(a.node(), b.node(), "each process is its own node");
    Some((a, b, url))
}

fn msg(i: usize) -> Vec<u8> {
    format!("From: a@example.test\r\nSubject: message {i}\r\n\r\nbody {i}\r\n").into_bytes()
}

async fn append(
    store: &Store,
    account: store::AccountId,
    mailbox: store::MailboxId,
    i: usize,
) -> Uid {
    let body = msg(i);
    store
        .append(
            account,
            mailbox,
            AppendRequest {
                bytes: &body,
                ..Default::default()
            },
        )
        .await
        .expect("append")
        .1
}

/// Runs `f` on a connection of its own to the store's database, as an administrator (or the
/// database itself) would act behind the nodes' backs.
async fn on_database(url: &str, f: impl FnOnce(&mut postgres::Client) + Send + 'static) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        f(&mut c);
    })
    .await
    .expect("join");
}

/// The next change, waiting for it (an event, not a sleep; the bound is for a broken build).
async fn next(rx: &mut Receiver<Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a change within 30 s")
        .expect("channel open")
}

async fn setup(a: &Store) -> (store::Account, store::Mailbox) {
    let acct = a
        .create_account("alice@example.test", "$argon2id$fake", None)
        .await
        .expect("account");
    let inbox = a.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    (acct, inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_the_other() {
    let Some((a, b, _url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    // B has the mailbox open (an in-memory index) and listens.
    let view = b.open_view(acct.id, inbox.id).expect("view on B");
    let mut on_b = b.subscribe(acct.id);
    let mut on_a = a.subscribe(acct.id);

    let started = std::time::Instant::now();
    let uid = append(&a, acct.id, inbox.id, 1).await;
    match next(&mut on_b).await {
        Change::Appended {
            mailbox, uid: u, ..
        } => assert_eq!((mailbox, u), (inbox.id, uid)),
        other => panic!("expected Appended on B, got {other:?}"),
    }
    eprintln!("A → B push: {:?}", started.elapsed());
    assert!(
        matches!(next(&mut on_a).await, Change::Appended { .. }),
        "A hears itself"
    );
    // B's index has the new message.
    let on_index = view.message(uid).expect("read").expect("on B");
    assert_eq!(on_index.size, msg(1).len() as u64);

    // STORE on B: A's subscriber sees the flags, and B's index (a local commit) and A's
    // reads agree.
    b.store_flags(
        acct.id,
        inbox.id,
        &[uid],
        FlagOp::Add,
        &Flags::from_names(["\\Seen"]),
        None,
    )
    .await
    .expect("store on B");
    match next(&mut on_a).await {
        Change::FlagsChanged { uid: u, flags, .. } => {
            assert_eq!(u, uid);
            assert!(flags.has(Flags::SEEN));
        }
        other => panic!("expected FlagsChanged on A, got {other:?}"),
    }
    assert!(a
        .message(inbox.id, uid)
        .expect("q")
        .expect("m")
        .flags
        .has(Flags::SEEN));

    // A's flag change reaches B's index, not only B's sessions.
    a.store_flags(
        acct.id,
        inbox.id,
        &[uid],
        FlagOp::Add,
        &Flags::from_names(["\\Flagged"]),
        None,
    )
    .await
    .expect("store on A");
    loop {
        if let Change::FlagsChanged { flags, .. } = next(&mut on_b).await {
            if flags.has(Flags::FLAGGED) {
                break;
            }
        }
    }
    let seen_by_b = view.message(uid).expect("read").expect("on B");
    assert!(
        seen_by_b.flags.has(Flags::FLAGGED),
        "B's index followed A: {seen_by_b:?}"
    );

    // EXPUNGE on A (a POP3 DELE + QUIT does the same): B hears it and forgets the message.
    a.expunge(acct.id, inbox.id, &[uid])
        .await
        .expect("expunge on A");
    loop {
        if let Change::Expunged { uids, .. } = next(&mut on_b).await {
            assert_eq!(uids, vec![uid]);
            break;
        }
    }
    assert_eq!(b.messages(inbox.id).expect("list").len(), 0);
    // B's session still addresses it until told: reading its header is an error (the body is
    // gone with A's expunge), never an endless wait for bytes that will not come.
    let header = b.message_header(inbox.id, &on_index);
    assert!(header.is_err(), "{header:?}");
    // RFC 2180 §4.1.3 across nodes: B's session cannot read a message another node expunged
    // (only sessions of the expunging node keep it readable, docs/architecture.md §12.3).
    assert!(view.message(uid).expect("read").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_from_two_nodes_get_increasing_uids_in_commit_order() {
    let Some((a, b, _url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let mut on_a = a.subscribe(acct.id);
    let mut on_b = b.subscribe(acct.id);
    const EACH: usize = 40;
    let mut tasks = Vec::new();
    for (n, node) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..2 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut uids = Vec::new();
                for i in 0..EACH / 2 {
                    uids.push(append(&node, acct.id, inbox.id, n * 1000 + t * 100 + i).await);
                }
                uids
            }));
        }
    }
    let mut all: Vec<Uid> = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        2 * 2 * (EACH / 2),
        "no UID given twice, nothing lost"
    );
    let stored: Vec<Uid> = a
        .messages(inbox.id)
        .expect("list")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(stored, all);
    // Both nodes' subscribers see every append once, in UID (= commit) order, with MODSEQs
    // going up.
    for rx in [&mut on_a, &mut on_b] {
        let mut seen = Vec::new();
        let mut last = store::ModSeq::ZERO;
        while seen.len() < all.len() {
            if let Change::Appended { uid, modseq, .. } = next(rx).await {
                assert!(
                    modseq > last,
                    "MODSEQ went backwards: {modseq:?} after {last:?}"
                );
                last = modseq;
                seen.push(uid);
            }
        }
        assert_eq!(seen, all);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maildrop_lock_holds_across_nodes() {
    let Some((a, b, _url)) = two_nodes() else {
        return;
    };
    let (acct, _) = setup(&a).await;
    let held = a.lock_maildrop(acct.id).expect("A locks");
    assert!(matches!(
        b.lock_maildrop(acct.id),
        Err(Error::MaildropInUse)
    ));
    assert!(matches!(
        a.lock_maildrop(acct.id),
        Err(Error::MaildropInUse)
    ));
    drop(held);
    let on_b = b.lock_maildrop(acct.id).expect("free again, B locks");
    assert!(matches!(
        a.lock_maildrop(acct.id),
        Err(Error::MaildropInUse)
    ));
    drop(on_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_pins_outlive_another_nodes_start_and_go_when_it_dies() {
    let Some((a, b, url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let uid = append(&a, acct.id, inbox.id, 1).await;
    // A session on A has the mailbox open; A expunges: the message stays readable for it.
    let view = a.open_view(acct.id, inbox.id).expect("view");
    a.expunge(acct.id, inbox.id, &[uid]).await.expect("expunge");
    let meta = view
        .message(uid)
        .expect("read")
        .expect("kept for A's session");
    // A third node starts: it must not release what A's session still reads.
    let c = Store::open_postgres(&url).expect("node C");
    assert!(
        a.read_blob(meta.blob).is_ok(),
        "A's pinned body survived C's start"
    );
    drop(c);
    // A dies with the view open (its locks go with its connection): the next node to start
    // frees what A pinned.
    a.simulate_node_death().expect("A dies");
    let before = b.bodies_held().expect("count");
    // A running node's periodic sweep frees it (as a node starting would).
    b.release_dead_nodes_pins().expect("sweep");
    let after = b.bodies_held().expect("count");
    assert!(
        after < before,
        "B released the dead node's pin: {before} → {after}"
    );
    // And a node starting later finds nothing left to release.
    let d = Store::open_postgres(&url).expect("node D");
    assert_eq!(d.bodies_held().expect("count"), after);
    drop(view);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_too_large_to_notify_makes_the_other_node_resync() {
    let Some((a, b, _url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let bodies: Vec<Vec<u8>> = (0..3000).map(msg).collect();
    let reqs: Vec<AppendRequest<'_>> = bodies
        .iter()
        .map(|b| AppendRequest {
            bytes: b,
            ..Default::default()
        })
        .collect();
    a.append_many(acct.id, inbox.id, &reqs)
        .await
        .expect("append");
    let uids: Vec<Uid> = a
        .messages(inbox.id)
        .expect("list")
        .iter()
        .map(|m| m.uid)
        .collect();
    let mut on_b = b.subscribe(acct.id);
    a.expunge(acct.id, inbox.id, &uids)
        .await
        .expect("expunge 3000");
    loop {
        match next(&mut on_b).await {
            Change::Resync => break,
            Change::Expunged { .. } => panic!("3000 UIDs do not fit in one notification"),
            _ => {}
        }
    }
    assert!(b.messages(inbox.id).expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_reconnects_and_tells_subscribers_to_resync() {
    let Some((a, b, url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let mut on_b = b.subscribe(acct.id);
    // The database drops every listening connection (a restart, a network cut).
    on_database(&url, |c| {
        let n = c
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query = 'LISTEN mailstack'",
                &[],
            )
            .expect("terminate")
            .len();
        assert_eq!(n, 2, "one listener per node");
    })
    .await;
    assert_eq!(
        next(&mut on_b).await,
        Change::Resync,
        "B was told it may have missed changes"
    );
    // And B follows A again.
    let uid = append(&a, acct.id, inbox.id, 1).await;
    loop {
        if let Change::Appended { uid: u, .. } = next(&mut on_b).await {
            assert_eq!(u, uid);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reconnects_after_the_database_dropped_its_connections() {
    let Some((a, b, url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let mut on_b = b.subscribe(acct.id);
    // A POP3 session on A holds the maildrop, and a session on A keeps an expunged message.
    let maildrop = a.lock_maildrop(acct.id).expect("A locks the maildrop");
    let kept = append(&a, acct.id, inbox.id, 1).await;
    let view = a.open_view(acct.id, inbox.id).expect("view");
    a.expunge(acct.id, inbox.id, &[kept])
        .await
        .expect("expunge");
    // The database drops every connection of node A (a restart, a cut): pool, listener, lock.
    let node_a = a.node().expect("node");
    on_database(&url, move |c| {
        // Node A opened first: its backends are the older ones of this database, before B's.
        let rows = c
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() ORDER BY backend_start",
                &[],
            )
            .expect("list");
        let pids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        // A holds 6 connections: the lock connection (which also ran the migrations), 4
        // pooled, the listener.
        for pid in pids.iter().take(6) {
            c.execute("SELECT pg_terminate_backend($1)", &[pid])
                .expect("terminate");
        }
        eprintln!(
            "node {node_a}: terminated {} of {} connections",
            pids.len().min(6),
            pids.len()
        );
    })
    .await;
    // A's first calls may fail (a connection learns it was closed when it is used); it
    // connects again and goes on. Bounded: a node that never recovers fails the test.
    let mut uid = None;
    for _ in 0..10 {
        let body = msg(7);
        match a
            .append(
                acct.id,
                inbox.id,
                AppendRequest {
                    bytes: &body,
                    ..Default::default()
                },
            )
            .await
        {
            Ok((_, u)) => {
                uid = Some(u);
                break;
            }
            Err(e) => assert!(matches!(e, Error::Db(_)), "a database error, not {e:?}"),
        }
    }
    let uid = uid.expect("A appends again after reconnecting");
    loop {
        if let Change::Appended { uid: u, .. } = next(&mut on_b).await {
            if u == uid {
                break;
            }
        }
    }
    assert!(a.message(inbox.id, uid).expect("read").is_some());
    // A's lock connection comes back with its locks (the listener's reconnection does it;
    // here at once): B still cannot take the maildrop, and B's sweep does not take A for dead.
    a.heal_cluster_connections();
    assert!(matches!(
        b.lock_maildrop(acct.id),
        Err(Error::MaildropInUse)
    ));
    let held = b.bodies_held().expect("count");
    b.release_dead_nodes_pins().expect("sweep");
    assert_eq!(
        b.bodies_held().expect("count"),
        held,
        "A's pin survives: A is alive"
    );
    assert!(view.message(kept).expect("read").is_some());
    drop((maildrop, view));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_is_not_mailstacks_is_ignored() {
    let Some((a, b, url)) = two_nodes() else {
        return;
    };
    let (acct, inbox) = setup(&a).await;
    let mut on_b = b.subscribe(acct.id);
    // Anyone with access to the database can NOTIFY the channel: not hex, hex of junk, empty.
    on_database(&url, |c| {
        for junk in ["not hex at all", "deadbeef", ""] {
            c.execute("SELECT pg_notify('mailstack', $1)", &[&junk])
                .expect("notify");
        }
    })
    .await;
    // Both nodes go on: the next real change arrives, and nothing else came before it.
    let uid = append(&a, acct.id, inbox.id, 1).await;
    match next(&mut on_b).await {
        Change::Appended { uid: u, .. } => assert_eq!(u, uid),
        other => panic!("expected the append, got {other:?}"),
    }
}
