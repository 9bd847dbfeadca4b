//! The HTTP(S) accept loop: the same connection limiter as the mail listeners, a deadline for
//! request headers (slowloris: a client that never finishes its headers is cut), and one
//! graceful-shutdown deadline ([`net::listen::SHUTDOWN_GRACE`]) after which open connections
//! (event streams included) are closed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

/// A request's headers must arrive within this time, and an idle keep-alive connection is
/// closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A TLS handshake must finish within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer when a connection limit is reached.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n";

/// Serves `app` on `listener` (TLS when `tls` is set) until `shutdown`; then stops accepting,
/// lets in-flight requests finish, and closes whatever is still open after the grace period.
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    tls: Option<net::TlsAcceptor>,
    app: Router,
    limiter: net::Limiter,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    let mut stop = shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let Some(permit) = limiter.try_acquire(peer.ip()) else {
            tokio::spawn(async move {
                let mut tcp = tcp;
                let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(BUSY)).await;
            });
            continue;
        };
        let (app, tls, sd) = (app.clone(), tls.clone(), shutdown.clone());
        conns.spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => connection(s, peer, app, sd).await,
                        Ok(Err(e)) => tracing::debug!("https handshake failed: {e}"),
                        Err(_) => tracing::debug!("https handshake timed out"),
                    }
                }
                None => connection(tcp, peer, app, sd).await,
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(net::listen::SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}

/// One HTTP/1.1 connection: requests carry the peer address (`ConnectInfo`, for login
/// throttling); a shutdown lets the current request finish and closes the connection.
async fn connection<S>(io: S, peer: SocketAddr, app: Router, mut shutdown: net::Shutdown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req.map(axum::body::Body::new)).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let r = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = r {
        tracing::debug!("http connection: {e}");
    }
}
