//! POP3 scenarios: RETR throughput over plain TCP and implicit TLS (6), and login + STAT +
//! UIDL on the large mailbox (4).

use std::time::Instant;

use crate::client::Conn;
use crate::corpus::PASSWORD;

/// Where to connect.
#[derive(Clone)]
pub enum Transport {
    Plain(u16),
    Tls(u16, tokio_rustls::TlsConnector),
}

async fn connect(t: &Transport) -> anyhow::Result<Conn> {
    match t {
        Transport::Plain(p) => Conn::connect(*p).await,
        Transport::Tls(p, c) => Conn::connect_tls(*p, c).await,
    }
}

/// RETR 1..=count on one session (login not timed); returns MB/s (10^6 bytes).
pub async fn download(t: &Transport, user: &str, count: usize) -> anyhow::Result<f64> {
    let mut c = connect(t).await?.pop_login(user, PASSWORD).await?;
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 1..=count {
        bytes += c.pop_multi(&format!("RETR {i}")).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    c.pop("QUIT").await?;
    Ok(bytes as f64 / 1e6 / secs)
}

/// Wall time (ms) of connect + USER/PASS + STAT + UIDL + QUIT.
pub async fn stat_uidl(t: &Transport, user: &str) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut c = connect(t).await?.pop_login(user, PASSWORD).await?;
    c.pop("STAT").await?;
    c.pop_multi("UIDL").await?;
    c.pop("QUIT").await?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}
