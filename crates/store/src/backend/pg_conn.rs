//! Connections of the PostgreSQL backend (docs/architecture.md §12, §12.3): how one is
//! made (plain, or TLS by rustls when the URL says `sslmode=require`), the thread that owns
//! each one and runs jobs on it, reconnection after the database dropped it (with the session
//! state to restore), and statements prepared once per connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::{Error, Result};

type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// How connections are made: plain, or TLS verified against the configured CA (only when
/// the URL says `sslmode=require`; PostgreSQL does not speak TLS on a Unix socket).
#[derive(Clone)]
pub(crate) enum Tls {
    Plain,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Tls {
    /// The connector `config` asks for; `ca_pem` is the CA of the server's certificate.
    pub(crate) fn for_config(config: &postgres::Config, ca_pem: Option<&[u8]>) -> Result<Tls> {
        if config.get_ssl_mode() != SslMode::Require {
            return Ok(Tls::Plain);
        }
        let Some(pem) = ca_pem else {
            return Err(Error::Db(
                "the store URL asks for TLS (sslmode=require): set [store] ca_file to the CA \
                 certificate that signed the database server's certificate"
                    .into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Db(format!("[store] ca_file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Db(format!("[store] ca_file: {e}")))?;
        }
        if roots.is_empty() {
            return Err(Error::Db("[store] ca_file holds no certificate".into()));
        }
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
            client,
        )))
    }

    /// Connects with this connector (on the calling thread, which must not be async).
    pub(crate) fn connect(&self, config: &postgres::Config) -> Result<Client> {
        match self {
            Tls::Plain => config.connect(NoTls),
            Tls::Rustls(t) => config.connect(t.clone()),
        }
        .map_err(db)
    }
}

thread_local! {
    /// The statements prepared on this thread's connection (one connection per thread).
    static PREPARED: RefCell<HashMap<&'static str, postgres::Statement>> =
        RefCell::new(HashMap::new());
}

/// `sql` prepared once per connection: a query given as text is prepared again on every call,
/// a second round trip.
pub(crate) fn prepared(
    c: &mut Client,
    sql: &'static str,
) -> std::result::Result<postgres::Statement, postgres::Error> {
    if let Some(st) = PREPARED.with(|p| p.borrow().get(sql).cloned()) {
        return Ok(st);
    }
    let st = c.prepare(sql)?;
    PREPARED.with(|p| p.borrow_mut().insert(sql, st.clone()));
    Ok(st)
}

/// One connection: a thread owning the client, fed jobs through a channel. When the database
/// dropped the connection (a restart, a network cut), the next job first connects again; the
/// generation counts those reconnections, so a transaction that straddles one is not committed
/// (its BEGIN was on the old connection).
pub(crate) struct Conn {
    jobs: SyncSender<Job>,
    generation: Arc<AtomicU64>,
    /// Run on the new client after a reconnection (session state to restore: locks).
    restore: Arc<Mutex<Option<Restore>>>,
}

/// What a connection's session must have again after a reconnection.
type Restore = Box<dyn Fn(&mut Client) + Send>;

impl Conn {
    pub(crate) fn open(config: &postgres::Config, tls: &Tls) -> Result<Conn> {
        let (jobs, rx): (SyncSender<Job>, Receiver<Job>) = sync_channel(1);
        let (ready_tx, ready) = sync_channel(1);
        let config = config.clone();
        let tls = tls.clone();
        let generation = Arc::new(AtomicU64::new(0));
        let gen = generation.clone();
        let restore: Arc<Mutex<Option<Restore>>> = Arc::default();
        let restore_on = restore.clone();
        // The client runs its own runtime: it is made and used on this thread only, so the
        // caller may be a tokio worker.
        std::thread::Builder::new()
            .name("mailstack-pg".into())
            .spawn(move || {
                let mut client = match tls.connect(&config) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Ends (closing the connection) when the last sender goes.
                while let Ok(job) = rx.recv() {
                    if client.is_closed() {
                        match tls.connect(&config) {
                            Ok(c) => {
                                client = c;
                                PREPARED.with(|p| p.borrow_mut().clear());
                                gen.fetch_add(1, Ordering::AcqRel);
                                if let Some(r) = crate::lock(&restore_on).as_ref() {
                                    r(&mut client);
                                }
                                tracing::warn!("PostgreSQL connection lost and made again");
                            }
                            // The job fails on the closed client and says why.
                            Err(e) => tracing::warn!("PostgreSQL reconnection: {e}"),
                        }
                    }
                    job(&mut client);
                }
            })
            .map_err(Error::Io)?;
        ready
            .recv()
            .map_err(|_| Error::Db("PostgreSQL connection thread ended".into()))??;
        Ok(Conn {
            jobs,
            generation,
            restore,
        })
    }

    /// Sets what a reconnection must restore on the new session (`pg_cluster::Node`).
    pub(crate) fn on_reconnect(&self, f: impl Fn(&mut Client) + Send + 'static) {
        *crate::lock(&self.restore) = Some(Box::new(f));
    }

    /// How many times this connection was made again.
    pub(crate) fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    /// Runs `f` on the connection's thread and waits for its answer.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = sync_channel(1);
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| Error::Db("PostgreSQL connection thread ended".into()))?;
        rx.recv()
            .map_err(|_| Error::Db("PostgreSQL connection thread ended".into()))
    }
}

/// The error with its causes ("error performing TLS handshake: invalid peer certificate: …").
pub(crate) fn db(e: postgres::Error) -> Error {
    let mut text = format!("PostgreSQL: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    Error::Db(text)
}
