//! Subscriptions are names, not mailboxes (RFC 3501 §6.3.6–7): subscribing to a name that
//! does not exist works, and no DELETE or RENAME removes a subscription.

use store::Store;
use testkit::every_backend;

async fn setup(store: &Store) -> store::AccountId {
    let a = store
        .create_account("sub@example.test", "$argon2id$fake", None)
        .await
        .expect("account");
    a.id
}

async fn rfc3501_6_3_6_subscriptions_outlive_their_mailboxes(store: Store) {
    let id = setup(&store).await;
    let subs = |s: &Store| s.subscriptions(id).expect("subscriptions");
    // The default mailboxes start subscribed, and so does every mailbox CREATE makes.
    assert_eq!(
        subs(&store),
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    store
        .create_mailbox(id, "Work/Reports", None)
        .await
        .expect("create");
    assert!(subs(&store).contains(&"Work".to_string()));
    assert!(subs(&store).contains(&"Work/Reports".to_string()));
    // A name that does not exist can be subscribed (and INBOX is spelled INBOX).
    store
        .set_subscribed(id, "Ghost/Child", true)
        .await
        .expect("subscribe");
    store
        .set_subscribed(id, "inbox", true)
        .await
        .expect("inbox");
    // DELETE leaves the subscription (RFC 3501 §6.3.6 MUST NOT remove).
    store
        .delete_mailbox(id, "Work/Reports")
        .await
        .expect("delete");
    assert!(subs(&store).contains(&"Work/Reports".to_string()));
    // RENAME keeps the old name subscribed and subscribes the new one (children too).
    store
        .create_mailbox(id, "Proj/A", None)
        .await
        .expect("create");
    store
        .rename_mailbox(id, "Proj", "Done")
        .await
        .expect("rename");
    let now = subs(&store);
    for name in ["Proj", "Proj/A", "Done", "Done/A", "Ghost/Child"] {
        assert!(now.contains(&name.to_string()), "{name} in {now:?}");
    }
    // UNSUBSCRIBE of a name that is not subscribed is no error.
    store
        .set_subscribed(id, "Never", false)
        .await
        .expect("unsubscribe");
    store
        .set_subscribed(id, "Ghost/Child", false)
        .await
        .expect("unsubscribe");
    assert!(!subs(&store).contains(&"Ghost/Child".to_string()));
    // Names are validated as mailbox names.
    assert!(store.set_subscribed(id, "a//b", true).await.is_err());
}
every_backend!(
    #[tokio::test]
    rfc3501_6_3_6_subscriptions_outlive_their_mailboxes
);

async fn account_deletion_takes_its_subscriptions(store: Store) {
    let id = setup(&store).await;
    store
        .set_subscribed(id, "Elsewhere", true)
        .await
        .expect("subscribe");
    store
        .delete_account("sub@example.test")
        .await
        .expect("delete");
    assert!(store.subscriptions(id).expect("subscriptions").is_empty());
}
every_backend!(
    #[tokio::test]
    account_deletion_takes_its_subscriptions
);
