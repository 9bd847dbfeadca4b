//! Connection flood against the real binary (docs/spec.md §8): with a per-address limit of 20,
//! 5,000 connections from one address get the protocol's "try later" greeting and are closed,
//! the server keeps serving other addresses (and the flooder once it lets go), and its memory
//! stays bounded.

use std::net::IpAddr;
use std::time::Duration;

use testkit::{try_eventually, Line, Mailstack, ALICE};

const PER_ADDRESS: usize = 20;
const FLOOD: usize = 5_000;
/// Connections opened at once while flooding.
const WAVE: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_one_address_gets_try_later() {
    let server = Mailstack::builder()
        .config(&format!(
            "[limits]\nconnections_per_address = {PER_ADDRESS}\n"
        ))
        .start();
    let imap = server.port("imap");
    let attacker: IpAddr = [127, 0, 0, 3].into();
    // Fill the attacker's quota with idle IMAP sessions.
    let mut held = Vec::new();
    for _ in 0..PER_ADDRESS {
        let mut c = Line::connect_from(attacker, imap).await;
        assert!(c.line().await.expect("greeting").starts_with("* OK"));
        held.push(c);
    }
    let (rss_before, _) = server.memory_kib();
    assert!(rss_before > 0);
    // Every further connection, on any protocol (the limit is per process), is turned away.
    let busy = [
        ("imap", "* BYE too many connections; try again later"),
        (
            "pop3",
            "-ERR [SYS/TEMP] too many connections; try again later",
        ),
        ("smtp", "421 4.7.0 Too many connections, try again later"),
    ];
    let mut turned_away = 0;
    for wave in 0..FLOOD / WAVE {
        let (service, want) = busy[wave % busy.len()];
        let port = server.port(service);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..WAVE {
            tasks.spawn(async move {
                let mut c = Line::connect_from(attacker, port).await;
                let got = c.closed_within(Duration::from_secs(30)).await;
                (got, want)
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (got, want) = r.expect("task");
            assert_eq!(got, Ok(vec![want.to_string()]), "{service}");
            turned_away += 1;
        }
    }
    assert_eq!(turned_away, FLOOD);
    // Another address is served normally meanwhile.
    let mut c = Line::connect_from([127, 0, 0, 4].into(), imap).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t1 OK"), "{t}");
    // The held sessions still work, and the flood cost no lasting memory.
    let (_, t) = held[0].imap("NOOP").await;
    assert!(t.starts_with("t1 OK"), "{t}");
    let (rss_after, _) = server.memory_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS {rss_before} KiB → {rss_after} KiB after {FLOOD} refused connections"
    );
    // Once the flooder lets go, it is served again.
    drop(held);
    // The server notices the closed sessions asynchronously.
    let served = try_eventually(Duration::from_secs(30), || async {
        let mut c = Line::connect_from(attacker, imap).await;
        match c.line().await {
            Some(l) if l.starts_with("* OK") => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "the address stayed locked out after closing its connections: {served:?}"
    );
}
