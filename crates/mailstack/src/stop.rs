//! When `serve` stops: SIGTERM or SIGINT, and for an ephemeral server also its parent going
//! away or its stdin closing (docs/spec.md §7.2).

/// What ends an ephemeral server besides a signal (docs/spec.md §7.2).
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    /// Stop when our parent process is no longer this one (it died and we were re-parented).
    /// `None` when not ephemeral, or started by init: nothing to watch.
    pub parent: Option<u32>,
    /// Stop at end of file on stdin.
    pub stdin: bool,
}

/// Whether stdin is a pipe or a socket: only then does its end of file mean "the harness
/// that holds the other end is gone". A terminal or /dev/null (`Stdio::null()`, `< /dev/null`,
/// a detached job) is never watched, so the server does not stop at once.
pub fn stdin_is_a_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}

/// Waits for SIGTERM/SIGINT, or what `watch` asks for; returns why.
pub async fn stop_requested(watch: Watch, signals: Signals) -> &'static str {
    let stdin_closed = async {
        if !watch.stdin {
            return std::future::pending().await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A plain thread, not spawn_blocking: the runtime would wait for a blocked read at
        // exit. What is written to stdin is read and ignored.
        let spawned = std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                use std::io::Read;
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 4096];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = rx.await;
            }
            Err(e) => {
                tracing::warn!("cannot watch stdin: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    let parent_gone = async {
        let Some(parent) = watch.parent else {
            return std::future::pending().await;
        };
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            if std::os::unix::process::parent_id() != parent {
                return;
            }
        }
    };
    tokio::select! {
        why = wait_for_signal(signals) => why,
        _ = stdin_closed => "standard input closed",
        _ = parent_gone => "the parent process exited",
    }
}

/// SIGTERM and SIGINT handlers, installed before the server says it is ready: a signal sent
/// right after the ready line (a harness stopping a server it just started) is a clean stop,
/// not the default action that kills the process.
pub struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }
}

async fn wait_for_signal(mut signals: Signals) -> &'static str {
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    if signals.term.is_none() && signals.int.is_none() {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupted";
    }
    tokio::select! {
        _ = recv(&mut signals.term) => "SIGTERM",
        _ = recv(&mut signals.int) => "interrupted",
    }
}
