//! The HTTP listener under the same rules as the mail listeners: a client that never finishes
//! its headers is cut (slowloris), connections count against the shared limiter, and a
//! shutdown closes even a never-ending event stream within the grace period.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use testkit::http::stack;
use testkit::{Daemon, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the real listener with `limiter`.
async fn start(limiter: net::Limiter) -> Stack {
    stack().only(&[Daemon::Http]).limiter(limiter).start().await
}

/// Reads until EOF (or 4 KiB), with a generous limit so a slow machine does not fail it.
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf))
            .await
            .expect("the server closed the connection")
            .unwrap_or(0);
        if n == 0 || out.len() > 4096 {
            return String::from_utf8_lossy(&out).into_owned();
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Slowloris: headers that never end are cut after web::server::HEADER_TIMEOUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_cut() {
    let env = start(net::Limiter::default()).await;
    let addr = env.addr("http");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    s.write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(
        started.elapsed() >= web::server::HEADER_TIMEOUT - Duration::from_millis(500),
        "cut after the header deadline, not before"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

/// docs/spec.md §8: HTTP connections count against the limiter the mail listeners share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_count_against_the_shared_limiter() {
    let limiter = net::Limiter::new(net::ConnLimits {
        per_address: 1,
        total: 10,
    });
    let env = start(limiter.clone()).await;
    let addr = env.addr("http");
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(
        limiter.open(),
        1,
        "the open keep-alive connection holds its slot"
    );
    let mut second = TcpStream::connect(addr).await.unwrap();
    let answer = read_to_close(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(first);
}

/// One shutdown deadline for every listener: an open event stream does not hold it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_an_open_event_stream() {
    let mut env = start(net::Limiter::default()).await;
    let addr = env.addr("http");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.contains("text/event-stream"), "{head}");
    let stopping = std::time::Instant::now();
    // Every accept loop returns (within 60 s, or the test fails).
    env.stopped().await;
    // Well under the 60 s a stuck stream used to cost (grace period plus scheduling slack).
    assert!(
        stopping.elapsed() < net::listen::SHUTDOWN_GRACE + Duration::from_secs(20),
        "{:?}",
        stopping.elapsed()
    );
    read_to_close(&mut s).await;
}
