//! `Store::append_many` (IMAP MULTIAPPEND, RFC 3502 §6.3.11): several messages to one mailbox
//! in one transaction — consecutive UIDs, one MODSEQ each, the quota checked for the total,
//! one batch of changes published once durable (docs/architecture.md §3.3, §6), and nothing
//! left behind (records, usage, bodies) when it is refused.

use store::{AppendRequest, Change, Error, Flags, ModSeq, Store, Uid, UidValidity};
use testkit::every_backend;

fn msg(i: usize) -> Vec<u8> {
    format!("From: a@example.test\r\nSubject: message {i}\r\n\r\nbody {i}\r\n").into_bytes()
}

fn reqs(bodies: &[Vec<u8>]) -> Vec<AppendRequest<'_>> {
    bodies
        .iter()
        .map(|b| AppendRequest {
            bytes: b,
            ..Default::default()
        })
        .collect()
}

async fn setup(store: &Store) -> (store::Account, store::Mailbox) {
    let acct = store
        .create_account("alice@example.test", "$argon2id$fake", None)
        .await
        .expect("create account");
    let inbox = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    (acct, inbox)
}

/// Every `Appended` change waiting on a receiver: (UID, MODSEQ).
fn appended(rx: &mut tokio::sync::broadcast::Receiver<Change>) -> Vec<(Uid, ModSeq)> {
    let mut out = Vec::new();
    while let Ok(c) = rx.try_recv() {
        if let Change::Appended { uid, modseq, .. } = c {
            out.push((uid, modseq));
        }
    }
    out
}

/// Three messages after one already there: UIDs 2, 3, 4 with one MODSEQ each, flags and
/// INTERNALDATE as asked, counters and usage for all three, and their three changes
/// published, in UID order, by the time the call returns (durable).
async fn consecutive_uids_and_one_batch(store: Store) {
    let (acct, inbox) = setup(&store).await;
    let first = msg(0);
    store
        .append_many(acct.id, inbox.id, &reqs(std::slice::from_ref(&first)))
        .await
        .expect("one");
    let before = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    let mut rx = store.subscribe(acct.id);
    let bodies = [msg(1), msg(2), msg(3)];
    let mut asked = reqs(&bodies);
    asked[1].flags = Flags::from_names(["\\Seen"]);
    asked[2].internaldate = Some((760_000_000, -480));
    let got = store
        .append_many(acct.id, inbox.id, &asked)
        .await
        .expect("append_many");
    let validity: UidValidity = inbox.uidvalidity;
    assert_eq!(
        got,
        [2, 3, 4].map(|u| (validity, Uid::new(u))),
        "consecutive UIDs in the order given"
    );
    let events = appended(&mut rx);
    let m = before.highestmodseq;
    assert_eq!(
        events,
        [
            (Uid::new(2), m.next()),
            (Uid::new(3), m.next().next()),
            (Uid::new(4), m.next().next().next())
        ],
        "one change per message, in UID order, published once durable"
    );
    let list = store.messages(inbox.id).expect("list");
    assert_eq!(list.len(), 4);
    for (meta, body) in list[1..].iter().zip(&bodies) {
        assert_eq!(store.read_blob(meta.blob).expect("read"), *body);
    }
    assert!(list[2].flags.has(Flags::SEEN) && !list[1].flags.has(Flags::SEEN));
    assert_eq!(
        (list[3].internaldate, list[3].tz_minutes),
        (760_000_000, -480)
    );
    let st = store.status(acct.id, "INBOX").expect("status");
    assert_eq!(
        (st.messages, st.unseen, st.uidnext, st.highestmodseq),
        (4, 3, Uid::new(5), m.next().next().next())
    );
    let all_bytes: u64 = [&first]
        .into_iter()
        .chain(&bodies)
        .map(|b| b.len() as u64)
        .sum();
    let used = store.usage(acct.id).expect("usage");
    assert_eq!((used.messages, used.bytes), (4, all_bytes));
    assert_eq!(store.bodies_held().expect("bodies"), 4);
    // Nothing asked, nothing done.
    assert!(store
        .append_many(acct.id, inbox.id, &[])
        .await
        .expect("none")
        .is_empty());
}
every_backend!(
    #[tokio::test]
    consecutive_uids_and_one_batch
);

/// Three messages that fit one by one but not together (bytes, then message count): none is
/// appended, usage, UIDNEXT and HIGHESTMODSEQ do not move, no change is published and no
/// body is left behind. Two of them then fit.
async fn over_quota_appends_nothing(store: Store) {
    let (acct, inbox) = setup(&store).await;
    let bodies = [msg(1), msg(2), msg(3)];
    let size = bodies[0].len() as u64;
    let mut rx = store.subscribe(acct.id);
    let held = store.bodies_held().expect("bodies");
    for (bytes, messages) in [(Some(size * 5 / 2), None), (None, Some(2))] {
        store
            .update_account("alice@example.test", |a| {
                a.quota_bytes = bytes;
                a.quota_messages = messages;
            })
            .await
            .expect("quota");
        let r = store.append_many(acct.id, inbox.id, &reqs(&bodies)).await;
        assert!(matches!(r, Err(Error::OverQuota)), "{r:?}");
        assert!(store.messages(inbox.id).expect("list").is_empty());
        assert_eq!(
            store.usage(acct.id).expect("usage"),
            store::Usage::default()
        );
        let now = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
        assert_eq!(
            (now.uidnext, now.highestmodseq),
            (inbox.uidnext, inbox.highestmodseq)
        );
        assert!(appended(&mut rx).is_empty(), "nothing published");
        assert_eq!(store.bodies_held().expect("bodies"), held, "no body left");
    }
    let got = store
        .append_many(acct.id, inbox.id, &reqs(&bodies[..2]))
        .await
        .expect("two fit");
    assert_eq!(got.len(), 2);
    assert_eq!(appended(&mut rx).len(), 2);
    assert_eq!(store.bodies_held().expect("bodies"), held + 2);
}
every_backend!(
    #[tokio::test]
    over_quota_appends_nothing
);

/// A second subscriber, while four writers each append 25 batches of three and a fifth
/// appends 25 messages one by one (`Store::append`): every batch's changes arrive together (nothing between them), and
/// every change in UID order.
async fn subscriber_sees_each_batch_whole(store: Store) {
    let (acct, inbox) = setup(&store).await;
    let mut rx = store.subscribe(acct.id);
    let mut tasks = Vec::new();
    for t in 0..5 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut batches = Vec::new();
            for i in 0..25 {
                let bodies: Vec<Vec<u8>> = (0..3).map(|j| msg(t * 1000 + i * 10 + j)).collect();
                let uids: Vec<Uid> = if t == 4 {
                    let one = reqs(&bodies).swap_remove(0);
                    vec![
                        store
                            .append(acct.id, inbox.id, one)
                            .await
                            .expect("append")
                            .1,
                    ]
                } else {
                    let got = store.append_many(acct.id, inbox.id, &reqs(&bodies)).await;
                    got.expect("append_many").into_iter().map(|p| p.1).collect()
                };
                batches.push(uids);
            }
            batches
        }));
    }
    let mut batches = Vec::new();
    for t in tasks {
        batches.extend(t.await.expect("join"));
    }
    let seen: Vec<Uid> = appended(&mut rx).into_iter().map(|p| p.0).collect();
    assert_eq!(seen.len(), 4 * 25 * 3 + 25);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "UID order: {seen:?}");
    for batch in batches {
        let at = seen.iter().position(|u| *u == batch[0]).expect("published");
        assert_eq!(
            &seen[at..at + batch.len()],
            &batch[..],
            "a batch arrives whole"
        );
    }
}
every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    subscriber_sees_each_batch_whole
);

/// A batch whose flush fails is refused ([`Error::Unavailable`]) and none of its changes is
/// published: a subscriber sees all of a batch or nothing (docs/architecture.md §4.2).
async fn failed_flush_publishes_none_of_the_batch(store: Store) {
    let (acct, inbox) = setup(&store).await;
    let mut rx = store.subscribe(acct.id);
    store.inject_flush_failure();
    let bodies = [msg(1), msg(2), msg(3)];
    let r = store.append_many(acct.id, inbox.id, &reqs(&bodies)).await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(appended(&mut rx).is_empty(), "nothing published");
}
// Not on PostgreSQL: there the commit is the durable point (a failed COMMIT sends no
// notification, `cluster`) and the group commit's flush has nothing to fail.
mod failed_flush_publishes_none_of_the_batch {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sled() {
        let (_dir, store) = testkit::accounts::temp_store();
        super::failed_flush_publishes_none_of_the_batch(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        super::failed_flush_publishes_none_of_the_batch(testkit::accounts::memory_store()).await;
    }
}
