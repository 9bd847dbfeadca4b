//! The accept loop every listener runs: connection limits (docs/spec.md §8: 1000 per client address,
//! 100k in total) with the protocol's "try later" greeting, implicit TLS, one tracing span per
//! session, and a graceful stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::conn::{Connection, Redactor};

/// Tells sessions and accept loops to stop.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending half of [`Shutdown`].
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

impl Shutdown {
    /// A shutdown that never fires (tests that stop by dropping the runtime). The sender is
    /// dropped, not leaked: [`Shutdown::wait`] treats a vanished trigger as "never" (the leak
    /// showed up under the fuzzers' leak checker, once per session).
    pub fn never() -> Shutdown {
        let (_, rx) = watch::channel(false);
        Shutdown { rx }
    }

    /// Resolves once shutdown is requested.
    pub async fn wait(&mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                // The trigger is gone without firing: never resolve.
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }
}

/// Connection limits (docs/spec.md §8).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub per_address: usize,
    pub total: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            per_address: 1000,
            total: 100_000,
        }
    }
}

/// Counts open connections; shared by all listeners of a process so the totals are global.
#[derive(Clone, Default)]
pub struct Limiter {
    inner: Arc<LimiterInner>,
}

#[derive(Default)]
struct LimiterInner {
    limits: Mutex<ConnLimits>,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection; dropping it frees the slot.
pub struct Permit {
    limiter: Limiter,
    ip: IpAddr,
}

impl Limiter {
    pub fn new(limits: ConnLimits) -> Limiter {
        let l = Limiter::default();
        *lock(&l.inner.limits) = limits;
        l
    }

    /// A slot for a connection from `ip`, or `None` when a limit is reached.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<Permit> {
        let limits = *lock(&self.inner.limits);
        let mut per_ip = lock(&self.inner.per_ip);
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limits.per_address || self.inner.total.load(Ordering::Acquire) >= limits.total {
            if *n == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *n += 1;
        self.inner.total.fetch_add(1, Ordering::AcqRel);
        Some(Permit {
            limiter: self.clone(),
            ip,
        })
    }

    /// Open connections in total.
    pub fn open(&self) -> usize {
        self.inner.total.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut per_ip = lock(&self.limiter.inner.per_ip);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.limiter.inner.total.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a listener does with its connections.
#[derive(Clone)]
pub struct ListenerConfig {
    /// "pop3", "imaps", "submission", … (logs and spans).
    pub service: &'static str,
    /// Set for implicit-TLS ports (993, 995, 465).
    pub implicit_tls: Option<TlsAcceptor>,
    pub limiter: Limiter,
    /// Sent, then the connection closed, when a limit is reached ("try later").
    pub busy_reply: &'static [u8],
    /// Log every protocol line (`--trace-protocol`).
    pub trace: bool,
    pub redactor: Redactor,
    /// The session registry the dashboard reads (`None`: sessions are not registered).
    pub registry: Option<crate::Registry>,
    /// The process's fault rules (docs/spec.md §7.7); `None`: never injects.
    pub faults: Option<crate::faults::Faults>,
}

/// A new session handed to the protocol.
pub struct Session {
    pub conn: Connection,
    /// Process-wide session number (logs, dashboard).
    pub id: u64,
    pub shutdown: Shutdown,
}

static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// How long sessions get to finish after shutdown before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accepts connections until `shutdown`, running `handler` for each in its own task; then
/// waits up to [`SHUTDOWN_GRACE`] for sessions to end (they see the same shutdown signal and
/// say goodbye in their protocol).
pub async fn serve_listener<F, Fut>(
    listener: TcpListener,
    cfg: ListenerConfig,
    mut shutdown: Shutdown,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => a,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (mut tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(service = cfg.service, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().unwrap_or(peer);
        let Some(permit) = cfg.limiter.try_acquire(peer.ip()) else {
            let busy = cfg.busy_reply;
            let tls = cfg.implicit_tls.clone();
            tokio::spawn(async move {
                let t = Duration::from_secs(5);
                match tls {
                    Some(acc) => {
                        if let Ok(Ok(mut s)) = tokio::time::timeout(t, acc.accept(tcp)).await {
                            let _ = tokio::time::timeout(t, s.write_all(busy)).await;
                            let _ = s.shutdown().await;
                        }
                    }
                    None => {
                        let _ = tokio::time::timeout(t, tcp.write_all(busy)).await;
                    }
                }
            });
            continue;
        };
        let id = SESSION_IDS.fetch_add(1, Ordering::Relaxed);
        let cfg2 = cfg.clone();
        let handler = handler.clone();
        let sd = shutdown.clone();
        let span = tracing::info_span!("session", id, peer = %peer, service = cfg.service);
        sessions.spawn(
            async move {
                let _permit = permit;
                let mut conn = match cfg2.implicit_tls {
                    Some(acc) => {
                        match tokio::time::timeout(Duration::from_secs(30), acc.accept(tcp)).await {
                            Ok(Ok(s)) => Connection::new(s, peer, local, true),
                            Ok(Err(e)) => {
                                tracing::debug!("TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                    None => Connection::new(tcp, peer, local, false),
                };
                conn.set_trace(cfg2.trace, cfg2.redactor);
                if let Some(f) = &cfg2.faults {
                    conn.set_faults(f.clone(), cfg2.service);
                }
                if let Some(reg) = &cfg2.registry {
                    conn.attach(reg.open(id, cfg2.service, local.port(), conn.tls, peer));
                }
                tracing::debug!(tls = conn.tls, "connected");
                handler(Session {
                    conn,
                    id,
                    shutdown: sd,
                })
                .await;
                tracing::debug!("disconnected");
            }
            .instrument(span),
        );
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_address_and_total() {
        let l = Limiter::new(ConnLimits {
            per_address: 2,
            total: 3,
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let p1 = l.try_acquire(a).expect("1");
        let _p2 = l.try_acquire(a).expect("2");
        assert!(l.try_acquire(a).is_none(), "per-address limit");
        let _p3 = l.try_acquire(b).expect("3");
        assert!(l.try_acquire(b).is_none(), "total limit");
        drop(p1);
        assert!(l.try_acquire(a).is_some());
    }

    #[tokio::test]
    async fn never_never_fires() {
        let mut s = Shutdown::never();
        assert!(!s.is_shutdown());
        let waited = tokio::time::timeout(Duration::from_millis(50), s.wait()).await;
        assert!(waited.is_err(), "Shutdown::never resolved");
    }
}
