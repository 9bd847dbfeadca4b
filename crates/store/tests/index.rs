//! The in-memory mailbox index (kept while a session has the mailbox open) always answers
//! what sled holds: after appends, flag changes, expunges, COPY and MOVE, and a delete.

use store::Store;
use store::{AppendRequest, FlagOp, Flags, Uid};
use testkit::every_backend;

async fn index_follows_every_write(store: Store) {
    let acct = store
        .create_account("idx@example.test", "$argon2id$fake", None)
        .await
        .expect("account");
    let inbox = store.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    let trash = store.mailbox(acct.id, "Trash").expect("q").expect("trash");
    let add = |i: usize| {
        let store = store.clone();
        async move {
            let b = format!("Subject: {i}\r\n\r\nbody\r\n");
            let req = AppendRequest {
                bytes: b.as_bytes(),
                ..Default::default()
            };
            store
                .append(acct.id, inbox.id, req)
                .await
                .expect("append")
                .1
        }
    };
    for i in 0..5 {
        add(i).await;
    }
    // With the view open, reads come from the index; after it closes, from sled.
    let view = store.open_view(acct.id, inbox.id).expect("view");
    let trash_view = store.open_view(acct.id, trash.id).expect("view");
    add(5).await;
    store
        .store_flags(
            acct.id,
            inbox.id,
            &[Uid::new(2), Uid::new(6)],
            FlagOp::Add,
            &Flags::from_names(["\\Seen", "$Work"]),
            None,
        )
        .await
        .expect("flags");
    store
        .expunge(acct.id, inbox.id, &[Uid::new(3)])
        .await
        .expect("expunge");
    store
        .copy_messages(acct.id, inbox.id, &[Uid::new(1)], trash.id)
        .await
        .expect("copy");
    store
        .move_messages(acct.id, inbox.id, &[Uid::new(4)], trash.id)
        .await
        .expect("move");
    let from_index = store.messages(inbox.id).expect("index");
    let trash_index = store.messages(trash.id).expect("index");
    assert_eq!(
        store
            .message(inbox.id, Uid::new(2))
            .expect("q")
            .map(|m| m.flags),
        Some(Flags::from_names(["\\Seen", "$Work"]))
    );
    assert_eq!(
        store
            .messages_from(inbox.id, Uid::new(5))
            .expect("from")
            .len(),
        2,
        "UIDs 5 and 6"
    );
    drop(view);
    drop(trash_view);
    assert_eq!(from_index, store.messages(inbox.id).expect("sled"));
    assert_eq!(trash_index, store.messages(trash.id).expect("sled"));
    let uids: Vec<u32> = from_index.iter().map(|m| m.uid.get()).collect();
    assert_eq!(uids, vec![1, 2, 5, 6]);
    // A deleted mailbox drops its index with it.
    let other = store
        .create_mailbox(acct.id, "Other", None)
        .await
        .expect("create");
    let v = store.open_view(acct.id, other.id).expect("view");
    store
        .delete_mailbox(acct.id, "Other")
        .await
        .expect("delete");
    assert!(store.messages(other.id).expect("q").is_empty());
    drop(v);
}
every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    index_follows_every_write
);
