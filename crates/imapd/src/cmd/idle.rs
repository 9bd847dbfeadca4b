//! IDLE (RFC 2177) and ENABLE (RFC 5161 with RFC 7162 §3.2.3 CONDSTORE / QRESYNC).

use tokio::sync::broadcast::error::RecvError;
use tokio::time::{sleep_until, Instant};

use crate::session::{ok, CmdError, CmdResult, Session};

enum Ev {
    Line(Result<Vec<u8>, net::LineError>),
    Change(Result<store::Change, RecvError>),
    Recheck,
    Logout,
    Shutdown,
}

pub fn enable(s: &mut Session, caps: &[String]) -> CmdResult {
    if caps.is_empty() {
        return Err(CmdError::Bad("ENABLE needs at least one capability".into()));
    }
    let mut enabled: Vec<&str> = Vec::new();
    for c in caps {
        match c.as_str() {
            "CONDSTORE" => {
                s.enable_condstore();
                enabled.push("CONDSTORE");
            }
            "QRESYNC" => {
                // RFC 7162 §3.2.3: enabling QRESYNC also enables CONDSTORE.
                s.qresync = true;
                s.enable_condstore();
                enabled.push("QRESYNC");
            }
            // RFC 5161 §3.1: unknown or unsupported names are ignored.
            _ => {}
        }
    }
    enabled.dedup();
    // RFC 5161 §3.2: ENABLED lists what this command enabled.
    let mut line = String::from("* ENABLED");
    for e in enabled {
        line.push(' ');
        line.push_str(e);
    }
    line.push_str("\r\n");
    s.conn.write(line.as_bytes());
    ok("ENABLE completed")
}

/// RFC 2177 §3: untagged updates pushed as the store publishes them (no polling; an idle
/// session waits on its socket and its change channel only). The autologout counts from the
/// IDLE command; DONE is client input and restarts it for the next command.
pub async fn idle(s: &mut Session) -> CmdResult {
    s.sync_events(true);
    if s.closing {
        return ok("IDLE not started");
    }
    s.conn.write(b"+ idling\r\n");
    s.conn.flush().await?;
    s.conn.set_idle(true);
    let old = s.conn.idle_timeout();
    let start = Instant::now();
    let logout_at = start + s.limits.autologout;
    let mut recheck_at = Some(start + s.limits.idle_recheck);
    // Our own deadlines decide: the connection's read timeout restarts each time an event
    // interrupts the read, so it only backs them up.
    s.conn
        .set_idle_timeout(s.limits.autologout + std::time::Duration::from_secs(60));
    let result = loop {
        let mut sd = s.shutdown.clone();
        let ev = {
            let rx = s.rx.as_mut();
            let conn = &mut s.conn;
            let recheck = recheck_at;
            tokio::select! {
                line = conn.read_line(crate::session::MAX_LINE) => Ev::Line(line),
                c = async move {
                    match rx {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => Ev::Change(c),
                _ = async move {
                    match recheck {
                        Some(at) => sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => Ev::Recheck,
                _ = sleep_until(logout_at) => Ev::Logout,
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
            Ev::Line(Err(net::LineError::Timeout)) | Ev::Logout => {
                // RFC 3501 §5.4 autologout; RFC 2177 §3 told the client to re-IDLE before.
                s.conn.write(b"* BYE autologout; idle for too long\r\n");
                break Err(CmdError::Closed);
            }
            Ev::Line(Err(e)) => break Err(CmdError::Io(std::io::Error::other(e.to_string()))),
            Ev::Change(c) => {
                match c {
                    Ok(store::Change::Resync) | Err(RecvError::Lagged(_)) => s.lagged = true,
                    Ok(c) => s.pending.push(c),
                    Err(RecvError::Closed) => s.rx = None,
                }
                // Everything else published by now goes out in the same write.
                s.pull_changes();
                // RFC 2177 §3: untagged updates while idling.
                let out = s.apply_pending(true, false);
                if !out.is_empty() {
                    s.conn.write(&out);
                    s.conn.flush().await?;
                }
                if s.closing {
                    break ok("IDLE ended");
                }
            }
            Ev::Recheck => {
                // docs/spec.md §8: re-check against the store (as after a lagged channel) and
                // remind the client that the autologout is near (RFC 2177 §3: re-issue IDLE
                // at least every 29 minutes).
                recheck_at = None;
                s.pull_changes();
                let mut out = s.apply_pending(true, true);
                out.extend_from_slice(b"* OK still here; send DONE and IDLE again to stay\r\n");
                s.conn.write(&out);
                s.conn.flush().await?;
                if s.closing {
                    break ok("IDLE ended");
                }
            }
            Ev::Shutdown => {
                // RFC 3501 §7.1.5: after BYE the server closes; no tagged reply follows.
                s.conn.write(b"* BYE server shutting down\r\n");
                break Err(CmdError::Closed);
            }
        }
    };
    s.conn.set_idle(false);
    s.conn.set_idle_timeout(old);
    result
}
