//! The three protocol servers in-process on one temporary store, each on `127.0.0.1:0`, with
//! the knobs the abuse suite needs and the binary does not expose: short idle timeouts, a small
//! connection limit, loopback treated as remote for the plaintext-login rule.
//!
//! # Invariants
//! - Same wiring as `mailstack serve` (one store, one `Auth`, one shared `Limiter`, STARTTLS
//!   on the plain ports), so a hole proved here is a hole in the binary.
//! - Dropping a [`Stack`] stops its listeners (the shutdown trigger goes with it).

use std::path::PathBuf;
use std::time::Duration;

use auth::{Auth, AuthConfig, Secret};
use tokio::net::TcpListener;

use crate::{ALICE, BOB};

/// What a test changes from the defaults.
#[derive(Clone)]
pub struct Options {
    /// `Ctx::allow_plaintext_from_loopback` of all three protocols.
    pub plaintext_from_loopback: bool,
    /// Connection limits shared by every listener.
    pub limiter: net::Limiter,
    pub pop3: pop3d::Limits,
    /// IMAP timeouts (pre-login autologout, autologout, IDLE re-check).
    pub imap: imapd::Limits,
    /// SMTP idle limit (the same before and after AUTH).
    pub smtp_idle: Duration,
    /// IMAP APPENDLIMIT / largest literal.
    pub max_literal: u64,
    /// SMTP SIZE.
    pub max_message_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plaintext_from_loopback: true,
            limiter: net::Limiter::default(),
            pop3: pop3d::Limits::default(),
            imap: imapd::Limits::default(),
            smtp_idle: submission::IDLE_TIMEOUT,
            max_literal: imapd::DEFAULT_MAX_LITERAL,
            max_message_size: submission::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// Running servers and the store behind them.
pub struct Stack {
    pub store: store::Store,
    pub auth: Auth,
    /// CA certificate the servers' certificate chains to.
    pub ca: PathBuf,
    pub imap: u16,
    pub pop3: u16,
    /// Port 25 role (inbound, no AUTH).
    pub smtp: u16,
    /// Port 587 role (STARTTLS, AUTH required).
    pub submission: u16,
    pub alice: store::Account,
    pub bob: store::Account,
    trigger: net::ShutdownTrigger,
    _dir: tempfile::TempDir,
}

async fn bind() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store::Store::open(dir.path().join("db")).expect("store");
        store
            .set_domains(&["example.test".to_string()])
            .await
            .expect("domains");
        let auth = Auth::new(store.clone(), AuthConfig::for_tests()).expect("auth");
        let alice = auth
            .add_user(ALICE.0, &Secret::new(ALICE.1.to_string()), None)
            .await
            .expect("alice");
        let bob = auth
            .add_user(BOB.0, &Secret::new(BOB.1.to_string()), None)
            .await
            .expect("bob");
        let cert = dir.path().join("tls/cert.pem");
        let key = dir.path().join("tls/key.pem");
        let ca = net::tls::generate_files(&cert, &key, &["localhost".to_string()]).expect("certs");
        let acceptor = net::tls::acceptor_from_files(&cert, &key).expect("acceptor");
        let (trigger, shutdown) = net::ShutdownTrigger::new();

        let mut common = net::ServiceConfig::new("localhost");
        common.tls = Some(acceptor);
        common.limiter = opts.limiter.clone();
        common.allow_plaintext_from_loopback = opts.plaintext_from_loopback;
        let (l, imap) = bind().await;
        let ctx = imapd::Ctx {
            auth: auth.clone(),
            service: common.clone(),
            max_literal: opts.max_literal,
        };
        tokio::spawn(imapd::serve_with_limits(
            l,
            ctx,
            opts.imap,
            shutdown.clone(),
        ));

        let (l, pop3) = bind().await;
        let ctx = pop3d::Ctx {
            auth: auth.clone(),
            service: common.clone(),
        };
        tokio::spawn(pop3d::serve_with_limits(
            l,
            ctx,
            opts.pop3.clone(),
            shutdown.clone(),
        ));

        let mut ctx = submission::Ctx::new(auth.clone(), "localhost");
        ctx.service = common;
        ctx.max_message_size = opts.max_message_size;
        let smtp_opts = submission::Options {
            idle_timeout: opts.smtp_idle,
        };
        let (l, smtp) = bind().await;
        tokio::spawn(submission::serve_with(
            l,
            ctx.clone(),
            submission::Role::Inbound,
            shutdown.clone(),
            smtp_opts,
        ));
        let (l, submission) = bind().await;
        tokio::spawn(submission::serve_with(
            l,
            ctx,
            submission::Role::Submission,
            shutdown,
            smtp_opts,
        ));
        Stack {
            store,
            auth,
            ca,
            imap,
            pop3,
            smtp,
            submission,
            alice,
            bob,
            trigger,
            _dir: dir,
        }
    }

    /// Messages in one of an account's mailboxes.
    pub fn count(&self, account: &store::Account, mailbox: &str) -> usize {
        let mb = self
            .store
            .mailbox(account.id, mailbox)
            .expect("store")
            .expect("mailbox");
        self.store.messages(mb.id).expect("messages").len()
    }

    /// The bytes of every message in an account's mailbox, oldest first.
    pub fn bodies(&self, account: &store::Account, mailbox: &str) -> Vec<Vec<u8>> {
        let mb = self
            .store
            .mailbox(account.id, mailbox)
            .expect("store")
            .expect("mailbox");
        self.store
            .messages(mb.id)
            .expect("messages")
            .iter()
            .map(|m| self.store.read_blob(m.blob).expect("blob"))
            .collect()
    }

    /// Names of an account's mailboxes.
    pub fn mailbox_names(&self, account: &store::Account) -> Vec<String> {
        self.store
            .mailboxes(account.id)
            .expect("mailboxes")
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    /// Stops the listeners; sessions get their protocol's goodbye.
    pub fn stop(&self) {
        self.trigger.trigger();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}
