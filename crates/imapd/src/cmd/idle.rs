//! IDLE (RFC 2177) and ENABLE (RFC 5161).

use tokio::sync::broadcast::error::RecvError;

use crate::session::{ok, CmdError, CmdResult, Session};

enum Ev {
    Line(Result<Vec<u8>, net::LineError>),
    Change(Result<store::Change, RecvError>),
    Shutdown,
}

/// RFC 2177 §3: the server should re-check well before a 30-minute autologout.
const IDLE_RECHECK: std::time::Duration = std::time::Duration::from_secs(29 * 60);

pub fn enable(s: &mut Session, caps: &[String]) -> CmdResult {
    if caps.is_empty() {
        return Err(CmdError::Bad("ENABLE needs at least one capability".into()));
    }
    // RFC 5161 §3.1: we have nothing to enable; the ENABLED list is empty.
    s.conn.write(b"* ENABLED\r\n");
    ok("ENABLE completed")
}

pub async fn idle(s: &mut Session) -> CmdResult {
    s.sync_events(true);
    s.conn.write(b"+ idling\r\n");
    s.conn.flush().await?;
    let old = s.conn.idle_timeout();
    s.conn.set_idle_timeout(IDLE_RECHECK);
    let result = loop {
        let mut sd = s.shutdown.clone();
        let ev = {
            let rx = s.rx.as_mut();
            let conn = &mut s.conn;
            tokio::select! {
                line = conn.read_line(crate::session::MAX_LINE) => Ev::Line(line),
                c = async move {
                    match rx {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => Ev::Change(c),
                _ = sd.wait() => Ev::Shutdown,
            }
        };
        match ev {
            Ev::Line(Ok(l)) if net::trim_eol(&l).eq_ignore_ascii_case(b"DONE") => {
                break ok("IDLE terminated")
            }
            Ev::Line(Ok(l)) => {
                break Err(CmdError::Bad(format!(
                    "expected DONE, got {:?}",
                    net::conn::printable(&l)
                )))
            }
            Ev::Line(Err(net::LineError::TooLong)) => {
                break Err(CmdError::Bad("expected DONE".into()))
            }
            Ev::Line(Err(net::LineError::Timeout)) => {
                s.conn.write(b"* BYE autologout; idle for too long\r\n");
                s.closing = true;
                break ok("IDLE ended");
            }
            Ev::Line(Err(e)) => break Err(CmdError::Io(std::io::Error::other(e.to_string()))),
            Ev::Change(c) => {
                let (changes, lagged) = match c {
                    Ok(c) => (vec![c], false),
                    Err(RecvError::Lagged(_)) => (vec![], true),
                    Err(RecvError::Closed) => {
                        s.rx = None;
                        (vec![], false)
                    }
                };
                // RFC 2177 §3: untagged updates while idling.
                let out = s.apply_changes(changes, lagged, true);
                if !out.is_empty() {
                    s.conn.write(&out);
                    s.conn.flush().await?;
                }
            }
            Ev::Shutdown => {
                s.conn.write(b"* BYE server shutting down\r\n");
                s.closing = true;
                break ok("IDLE ended");
            }
        }
    };
    s.conn.set_idle_timeout(old);
    result
}
