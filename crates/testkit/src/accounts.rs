//! Accounts and mail on a [`Stack`]'s store: adding accounts (argon2 with the cheap test
//! parameters of `auth::AuthConfig::for_tests()`), delivering straight into a mailbox as the
//! MX would, and reading mailboxes back to check what a protocol session did.

use store::{Account, Flags, Mailbox, Pop3Policy, Uid};

use crate::{Stack, PASSWORD};

/// A store in a new temporary folder (the folder goes with the `TempDir`), for tests of the
/// store itself and of `auth` that need no daemon.
pub fn temp_store() -> (tempfile::TempDir, store::Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::Store::open(dir.path()).expect("open store");
    (dir, store)
}

/// A store on the memory backend ([`store::Store::open_in_memory`]: nothing on disk), for
/// tests that run against every backend ([`crate::every_backend`]).
pub fn memory_store() -> store::Store {
    store::Store::open_in_memory().expect("open memory store")
}

/// Runs one store test against every backend (docs/conventions.md §13): for
/// `async fn name(store: store::Store)` it makes `name::sled` (a store in a temporary folder,
/// [`temp_store`]) and `name::memory` ([`memory_store`]), each with the attributes given.
///
/// ```ignore
/// async fn quota_refuses_delivery(store: Store) { … }
/// testkit::every_backend!(#[tokio::test] quota_refuses_delivery);
/// ```
#[macro_export]
macro_rules! every_backend {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            $(#[$attr])*
            async fn sled() {
                let (_dir, store) = $crate::accounts::temp_store();
                super::$name(store).await;
            }

            $(#[$attr])*
            async fn memory() {
                super::$name($crate::accounts::memory_store()).await;
            }

            /// On a private PostgreSQL (skipped where it is not installed, except under CI).
            $(#[$attr])*
            async fn postgres() {
                if let Some(store) = $crate::postgres::store() {
                    super::$name(store).await;
                }
            }
        }
    };
}

/// `Auth` over [`temp_store`], with the cheap argon2 parameters of
/// `auth::AuthConfig::for_tests()`.
pub fn temp_auth() -> (tempfile::TempDir, auth::Auth) {
    let (dir, store) = temp_store();
    let auth = auth::Auth::new(store, auth::AuthConfig::for_tests()).expect("auth");
    (dir, auth)
}

/// An account, named by its address or given as the `store::Account` a test holds.
pub trait AccountRef {
    fn resolve(&self, stack: &Stack) -> Account;
}

impl AccountRef for &str {
    fn resolve(&self, stack: &Stack) -> Account {
        stack.account(self)
    }
}

impl AccountRef for &String {
    fn resolve(&self, stack: &Stack) -> Account {
        stack.account(self)
    }
}

impl AccountRef for &Account {
    fn resolve(&self, _: &Stack) -> Account {
        (*self).clone()
    }
}

impl Stack {
    /// Adds an account with [`PASSWORD`].
    pub async fn add_user(&self, address: &str) -> Account {
        self.add_account(address, PASSWORD).await
    }

    /// Adds an account with `password`.
    pub async fn add_account(&self, address: &str, password: &str) -> Account {
        self.auth
            .add_user(address, &auth::Secret::new(password.to_string()), None)
            .await
            .unwrap_or_else(|e| panic!("add {address}: {e}"))
    }

    /// The account of `address` as stored now (panics if there is none).
    pub fn account(&self, address: &str) -> Account {
        self.store
            .account(address)
            .expect("store")
            .unwrap_or_else(|| panic!("no account {address}"))
    }

    /// Sets the account's POP3 policy (keep, delete, mark-seen).
    pub async fn set_pop3_policy(&self, address: &str, policy: Pop3Policy) {
        self.store
            .update_account(address, |a| a.pop3_policy = policy)
            .await
            .expect("policy");
    }

    /// One of the account's mailboxes (panics if it does not exist).
    pub fn mailbox(&self, account: impl AccountRef, name: &str) -> Mailbox {
        let account = account.resolve(self);
        self.store
            .mailbox(account.id, name)
            .expect("store")
            .unwrap_or_else(|| panic!("no mailbox {name}"))
    }

    pub fn inbox(&self, account: impl AccountRef) -> Mailbox {
        self.mailbox(account, "INBOX")
    }

    /// Appends `bytes` to a mailbox through the store (no protocol); returns the UID.
    pub async fn append(&self, account: impl AccountRef, mailbox: &str, bytes: &[u8]) -> Uid {
        let account = account.resolve(self);
        let mb = self.mailbox(&account, mailbox);
        let req = store::AppendRequest {
            bytes,
            ..Default::default()
        };
        self.store
            .append(account.id, mb.id, req)
            .await
            .expect("append")
            .1
    }

    /// [`Stack::append`] to the INBOX.
    pub async fn deliver(&self, account: impl AccountRef, bytes: &[u8]) -> Uid {
        self.append(account, "INBOX", bytes).await
    }

    /// Delivers `bytes` to the INBOX of whoever `address` is (an account or an alias), as
    /// the MX would after RCPT; returns the UID.
    pub async fn deliver_to(&self, address: &str, bytes: impl AsRef<[u8]>) -> Uid {
        let account = self
            .store
            .resolve(address)
            .expect("resolve")
            .unwrap_or_else(|| panic!("no account for {address}"));
        self.deliver(&account, bytes.as_ref()).await
    }

    /// UIDs now in the account's INBOX.
    pub fn uids(&self, account: impl AccountRef) -> Vec<Uid> {
        let inbox = self.inbox(account);
        self.store
            .messages(inbox.id)
            .expect("messages")
            .iter()
            .map(|m| m.uid)
            .collect()
    }

    /// Whether a message in the INBOX has `\Seen`.
    pub fn seen(&self, account: impl AccountRef, uid: Uid) -> bool {
        let inbox = self.inbox(account);
        let m = self
            .store
            .message(inbox.id, uid)
            .expect("message")
            .expect("exists");
        m.flags.has(Flags::SEEN)
    }

    /// Messages in one of an account's mailboxes.
    pub fn count(&self, account: impl AccountRef, mailbox: &str) -> usize {
        let mb = self.mailbox(account, mailbox);
        self.store.messages(mb.id).expect("messages").len()
    }

    /// Bytes and flags of every message in a mailbox, in UID order.
    pub fn messages(&self, account: impl AccountRef, mailbox: &str) -> Vec<(Vec<u8>, Flags)> {
        let mb = self.mailbox(account, mailbox);
        self.store
            .messages(mb.id)
            .expect("messages")
            .into_iter()
            .map(|m| (self.store.read_blob(m.blob).expect("blob"), m.flags))
            .collect()
    }

    /// The bytes of every message in a mailbox, in UID order.
    pub fn bodies(&self, account: impl AccountRef, mailbox: &str) -> Vec<Vec<u8>> {
        let mb = self.mailbox(account, mailbox);
        self.store
            .messages(mb.id)
            .expect("messages")
            .iter()
            .map(|m| self.store.read_blob(m.blob).expect("blob"))
            .collect()
    }

    /// The bytes of every message in the INBOX, in UID order.
    pub fn inbox_bytes(&self, account: impl AccountRef) -> Vec<Vec<u8>> {
        self.bodies(account, "INBOX")
    }

    /// Names of an account's mailboxes.
    pub fn mailbox_names(&self, account: impl AccountRef) -> Vec<String> {
        let account = account.resolve(self);
        self.store
            .mailboxes(account.id)
            .expect("mailboxes")
            .into_iter()
            .map(|m| m.name)
            .collect()
    }
}
