//! The session registry: who is connected right now, over which protocol, port and TLS state,
//! as whom, with which mailbox selected, idling or not — and the redacted protocol trace of
//! each session. The dashboard (web crate) reads it; the servers feed it through
//! [`Connection`](crate::Connection), which holds a [`SessionHandle`] when the listener has a
//! registry.
//!
//! # Invariants
//! - A session is in the registry from accept to the end of its task: the handle's `Drop`
//!   removes it (panics and cancellation included) and moves it to a short list of ended
//!   sessions, so a change event that arrives after a POP3 QUIT can still name the session.
//! - Trace lines are the same redacted text the `--trace-protocol` log shows (secrets
//!   replaced, message bodies elided unless `--trace-bodies`); each session keeps its last
//!   [`TRACE_LINES`] lines.
//! - Updates never block on watchers: they go out on bounded broadcast channels; a watcher
//!   that falls behind loses events and re-reads the snapshot. Session changes and trace lines
//!   have separate channels, so the session list's watchers never wade through every
//!   protocol line of every session, and nothing is sent while nobody watches.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

/// Trace lines kept per session.
pub const TRACE_LINES: usize = 500;
/// Ended sessions remembered (to name the origin of late events and show recent history).
pub const ENDED_KEPT: usize = 64;
const CHANNEL: usize = 1024;

/// A snapshot of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Process-wide session number (the same as in logs).
    pub id: u64,
    /// Listener service: "imap", "imaps", "pop3", "pop3s", "submission", "submissions", "smtp".
    pub protocol: &'static str,
    /// Local port the client connected to.
    pub port: u16,
    /// Encrypted now (implicit TLS, or after STARTTLS).
    pub tls: bool,
    pub peer: SocketAddr,
    /// The authenticated account, once logged in.
    pub user: Option<String>,
    /// The selected mailbox (IMAP) or the maildrop (POP3, "INBOX").
    pub mailbox: Option<String>,
    /// In IMAP IDLE.
    pub idle: bool,
    /// Unix milliseconds.
    pub started: u64,
    /// Unix milliseconds, once ended.
    pub ended: Option<u64>,
}

impl SessionInfo {
    /// The protocol family: "IMAP", "POP3" or "SMTP".
    pub fn family(&self) -> &'static str {
        family(self.protocol)
    }
}

/// "IMAP", "POP3" or "SMTP" for a listener service name.
pub fn family(protocol: &str) -> &'static str {
    match protocol {
        "imap" | "imaps" => "IMAP",
        "pop3" | "pop3s" => "POP3",
        _ => "SMTP",
    }
}

/// Direction of a trace line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the client.
    Client,
    /// From the server.
    Server,
    /// A note (TLS established, data elided).
    Note,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Client => "C",
            Dir::Server => "S",
            Dir::Note => "-",
        }
    }
}

/// One redacted line of a session's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub dir: Dir,
    pub text: String,
    pub tls: bool,
    /// Unix milliseconds.
    pub at: u64,
}

/// What watchers of the session list receive.
#[derive(Clone, Debug)]
pub enum RegistryEvent {
    Opened(SessionInfo),
    Updated(SessionInfo),
    Closed(SessionInfo),
}

/// Receivers for one session's live trace: its lines, and the session list (for its end).
pub struct TraceWatch {
    pub lines: broadcast::Receiver<(u64, TraceLine)>,
    pub sessions: broadcast::Receiver<RegistryEvent>,
}

struct Entry {
    info: SessionInfo,
    trace: VecDeque<TraceLine>,
}

struct Inner {
    open: Mutex<BTreeMap<u64, Entry>>,
    ended: Mutex<VecDeque<Entry>>,
    events: broadcast::Sender<RegistryEvent>,
    traces: broadcast::Sender<(u64, TraceLine)>,
}

/// The registry of one server process. Cloning shares it.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("open", &lock(&self.inner.open).len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            inner: Arc::new(Inner {
                open: Mutex::default(),
                ended: Mutex::default(),
                events: broadcast::channel(CHANNEL).0,
                traces: broadcast::channel(CHANNEL).0,
            }),
        }
    }

    /// Registers a new session; it stays registered until the handle is dropped.
    pub fn open(
        &self,
        id: u64,
        protocol: &'static str,
        port: u16,
        tls: bool,
        peer: SocketAddr,
    ) -> SessionHandle {
        let info = SessionInfo {
            id,
            protocol,
            port,
            tls,
            peer,
            user: None,
            mailbox: None,
            idle: false,
            started: now_ms(),
            ended: None,
        };
        lock(&self.inner.open).insert(
            id,
            Entry {
                info: info.clone(),
                trace: VecDeque::new(),
            },
        );
        self.send(RegistryEvent::Opened(info));
        SessionHandle {
            registry: self.clone(),
            id,
        }
    }

    /// The open sessions, by id.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        lock(&self.inner.open)
            .values()
            .map(|e| e.info.clone())
            .collect()
    }

    /// A session, open or recently ended.
    pub fn session(&self, id: u64) -> Option<SessionInfo> {
        if let Some(e) = lock(&self.inner.open).get(&id) {
            return Some(e.info.clone());
        }
        lock(&self.inner.ended)
            .iter()
            .find(|e| e.info.id == id)
            .map(|e| e.info.clone())
    }

    /// The kept trace of a session (open or recently ended) and, for an open one, a receiver
    /// subscribed before the copy was taken, so no line falls between backlog and live feed.
    pub fn trace(&self, id: u64) -> Option<(SessionInfo, Vec<TraceLine>, Option<TraceWatch>)> {
        let open = lock(&self.inner.open);
        if let Some(e) = open.get(&id) {
            let rx = Some(TraceWatch {
                lines: self.inner.traces.subscribe(),
                sessions: self.inner.events.subscribe(),
            });
            return Some((e.info.clone(), e.trace.iter().cloned().collect(), rx));
        }
        drop(open);
        let ended = lock(&self.inner.ended);
        ended
            .iter()
            .find(|e| e.info.id == id)
            .map(|e| (e.info.clone(), e.trace.iter().cloned().collect(), None))
    }

    /// Subscribes to session changes (opened, updated, closed).
    pub fn subscribe(&self) -> broadcast::Receiver<RegistryEvent> {
        self.inner.events.subscribe()
    }

    /// Open sessions of `user` with `mailbox` selected, of the given protocol family.
    pub fn watching(&self, family_name: &str, user: &str, mailbox: &str) -> Vec<SessionInfo> {
        lock(&self.inner.open)
            .values()
            .map(|e| &e.info)
            .filter(|i| {
                i.family() == family_name
                    && i.user
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(user))
                    && i.mailbox.as_deref() == Some(mailbox)
            })
            .cloned()
            .collect()
    }

    fn send(&self, ev: RegistryEvent) {
        if self.inner.events.receiver_count() > 0 {
            let _ = self.inner.events.send(ev);
        }
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut SessionInfo) -> bool) {
        let info = {
            let mut open = lock(&self.inner.open);
            let Some(e) = open.get_mut(&id) else { return };
            if !f(&mut e.info) {
                return;
            }
            e.info.clone()
        };
        self.send(RegistryEvent::Updated(info));
    }

    fn record(&self, id: u64, line: TraceLine) {
        {
            let mut open = lock(&self.inner.open);
            let Some(e) = open.get_mut(&id) else { return };
            if e.trace.len() == TRACE_LINES {
                e.trace.pop_front();
            }
            e.trace.push_back(line.clone());
        }
        if self.inner.traces.receiver_count() > 0 {
            let _ = self.inner.traces.send((id, line));
        }
    }

    fn close(&self, id: u64) {
        let Some(mut e) = lock(&self.inner.open).remove(&id) else {
            return;
        };
        e.info.ended = Some(now_ms());
        let info = e.info.clone();
        {
            let mut ended = lock(&self.inner.ended);
            if ended.len() == ENDED_KEPT {
                ended.pop_front();
            }
            ended.push_back(e);
        }
        self.send(RegistryEvent::Closed(info));
    }
}

/// A session's entry in the registry; dropping it marks the session ended.
pub struct SessionHandle {
    registry: Registry,
    id: u64,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl SessionHandle {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn set_tls(&self, tls: bool) {
        self.registry
            .update(self.id, |i| std::mem::replace(&mut i.tls, tls) != tls);
    }

    pub fn set_user(&self, user: Option<&str>) {
        let user = user.map(str::to_string);
        self.registry.update(self.id, |i| {
            let changed = i.user != user;
            i.user = user;
            changed
        });
    }

    pub fn set_mailbox(&self, mailbox: Option<&str>) {
        let mailbox = mailbox.map(str::to_string);
        self.registry.update(self.id, |i| {
            let changed = i.mailbox != mailbox;
            i.mailbox = mailbox;
            changed
        });
    }

    pub fn set_idle(&self, idle: bool) {
        self.registry
            .update(self.id, |i| std::mem::replace(&mut i.idle, idle) != idle);
    }

    pub fn trace(&self, dir: Dir, text: String, tls: bool) {
        self.registry.record(
            self.id,
            TraceLine {
                dir,
                text,
                tls,
                at: now_ms(),
            },
        );
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.registry.close(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    #[test]
    fn open_update_close() {
        let r = Registry::new();
        let mut rx = r.subscribe();
        let h = r.open(7, "pop3s", 995, true, peer());
        h.set_user(Some("alice@example.test"));
        h.set_mailbox(Some("INBOX"));
        h.set_mailbox(Some("INBOX")); // unchanged: no event
        assert_eq!(r.sessions().len(), 1);
        assert_eq!(r.sessions()[0].user.as_deref(), Some("alice@example.test"));
        drop(h);
        assert!(r.sessions().is_empty());
        let ended = r.session(7).expect("remembered after the end");
        assert!(ended.ended.is_some());
        let mut kinds = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            kinds.push(match ev {
                RegistryEvent::Opened(_) => "opened",
                RegistryEvent::Updated(_) => "updated",
                RegistryEvent::Closed(_) => "closed",
            });
        }
        assert_eq!(kinds, ["opened", "updated", "updated", "closed"]);
    }

    #[test]
    fn trace_is_bounded_and_survives_the_end() {
        let r = Registry::new();
        let h = r.open(1, "imap", 143, false, peer());
        for i in 0..TRACE_LINES + 10 {
            h.trace(Dir::Client, format!("A{i} NOOP"), false);
        }
        let (_, lines, rx) = r.trace(1).expect("open");
        assert_eq!(lines.len(), TRACE_LINES);
        assert_eq!(lines[0].text, "A10 NOOP");
        assert!(rx.is_some());
        drop(h);
        let (_, lines, rx) = r.trace(1).expect("ended");
        assert_eq!(lines.len(), TRACE_LINES);
        assert!(rx.is_none());
    }

    #[test]
    fn ended_list_is_bounded() {
        let r = Registry::new();
        for id in 0..(ENDED_KEPT as u64 + 5) {
            drop(r.open(id, "smtp", 25, false, peer()));
        }
        assert!(r.session(0).is_none());
        assert!(r.session(ENDED_KEPT as u64 + 4).is_some());
    }

    #[test]
    fn watching_matches_family_user_and_mailbox() {
        let r = Registry::new();
        let a = r.open(1, "imaps", 993, true, peer());
        a.set_user(Some("alice@example.test"));
        a.set_mailbox(Some("INBOX"));
        let b = r.open(2, "imap", 143, false, peer());
        b.set_user(Some("alice@example.test"));
        b.set_mailbox(Some("Sent"));
        let c = r.open(3, "pop3", 110, false, peer());
        c.set_user(Some("alice@example.test"));
        c.set_mailbox(Some("INBOX"));
        let w = r.watching("IMAP", "ALICE@example.test", "INBOX");
        assert_eq!(w.iter().map(|i| i.id).collect::<Vec<_>>(), [1]);
    }
}
