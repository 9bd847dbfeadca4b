//! One POP3 session: the state machine of RFC 1939 §3 (AUTHORIZATION → TRANSACTION → UPDATE),
//! which command is valid in which state ([`Session::execute`]), the limits of docs/spec.md §8, and
//! the only place replies are written.

use std::sync::Arc;
use std::time::Duration;

use auth::sasl::SaslError;
use auth::Secret;
use net::faults::Injected;
use net::SaslOutcome;
use net::{Connection, LineError};

use crate::cmd;
use crate::command::{self, Command, ParseError};
use crate::login_delay::LoginTimes;
use crate::maildrop::Maildrop;
use crate::reply::{CmdError, Reply, RespCode};
use crate::{Ctx, Limits};

/// Where the session is (RFC 1939 §3).
pub enum State {
    /// Before login; `user` is the name given by USER, waiting for PASS.
    Authorization { user: Option<String> },
    /// Logged in, holding the maildrop lock and the session's snapshot.
    Transaction(Box<Maildrop>),
    /// QUIT received in TRANSACTION: deletions are being committed; the session then ends.
    Update,
}

/// Whether the connection stays open.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// What every session of one [`crate::serve`] shares.
pub struct Shared {
    pub ctx: Ctx,
    pub limits: Limits,
    /// Last logins per account, for LOGIN-DELAY (RFC 2449 §6.5).
    pub logins: LoginTimes,
}

impl Shared {
    pub fn new(ctx: Ctx, limits: Limits) -> Shared {
        Shared {
            ctx,
            limits,
            logins: LoginTimes::default(),
        }
    }
}

pub struct Session {
    ctx: Arc<Shared>,
    conn: Connection,
    state: State,
    /// Unknown / malformed / out-of-state commands and over-long lines so far.
    errors: u32,
}

/// Runs a session to its end. The maildrop lock lives in [`State::Transaction`], so it is
/// released however the session ends.
pub async fn run(ctx: Arc<Shared>, session: net::Session) {
    // The session id is in the tracing span (net) and the store's origin (`with_origin`).
    let net::Session {
        conn, mut shutdown, ..
    } = session;
    let mut s = Session {
        ctx,
        conn,
        state: State::Authorization { user: None },
        errors: 0,
    };
    s.conn.set_idle_timeout(s.limits().authorization_timeout);
    // docs/spec.md §7.7: a fault rule may refuse or drop the connection instead.
    if s.ctx().service.faults.active() && !matches!(s.fault("CONNECT").await, Ok(None)) {
        s.conn.shutdown().await;
        return;
    }
    // RFC 1939 §4: the greeting.
    let greeting = format!(
        "+OK {} mailstack POP3 server ready\r\n",
        s.ctx().service.hostname
    );
    if s.conn.send(greeting.as_bytes()).await.is_err() {
        return;
    }
    loop {
        let max = s.limits().max_line;
        let read = tokio::select! {
            biased;
            _ = shutdown.wait() => {
                let _ = s.conn.send(b"-ERR [SYS/TEMP] server shutting down\r\n").await;
                break;
            }
            r = s.conn.read_line(max) => r,
        };
        let flow = match read {
            Ok(line) => s.handle(&line).await,
            // docs/spec.md §8: protocol error, the rest of the line is dropped, the session goes on.
            Err(LineError::TooLong) => {
                s.errors += 1;
                let msg = format!("-ERR command line too long (at most {max} octets)\r\n");
                s.conn.send(msg.as_bytes()).await.map(|_| Flow::Continue)
            }
            Err(LineError::Flood) => {
                let _ = s
                    .conn
                    .send(b"-ERR command line far too long; closing connection\r\n")
                    .await;
                break;
            }
            // RFC 1939 §3: the autologout timer ends the session without entering UPDATE.
            Err(LineError::Timeout) => {
                let _ = s
                    .conn
                    .send(b"-ERR autologout: idle for too long; closing connection\r\n")
                    .await;
                break;
            }
            Err(LineError::Closed) | Err(LineError::Io(_)) => break,
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) | Err(_) => break,
        }
        if s.errors >= s.limits().max_errors {
            let _ = s
                .conn
                .send(b"-ERR too many bad commands; closing connection\r\n")
                .await;
            break;
        }
    }
    s.conn.shutdown().await;
    // A session that ends without QUIT deletes nothing (RFC 1939 §6): dropping the state
    // drops the marks and releases the lock.
}

impl Session {
    fn ctx(&self) -> &Ctx {
        &self.ctx.ctx
    }

    fn limits(&self) -> &Limits {
        &self.ctx.limits
    }

    async fn handle(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => {
                return self
                    .reply(Err(CmdError::Bad("unknown command".into())))
                    .await
            }
            Err(ParseError::Syntax(why)) => {
                return self.reply(Err(CmdError::Bad(why.into()))).await
            }
        };
        if self.ctx().service.faults.active() {
            let name = line
                .split(|&b| b == b' ' || b == b'\r' || b == b'\n')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if let Some(flow) = self.fault(&String::from_utf8_lossy(&name)).await? {
                return Ok(flow);
            }
        }
        self.execute(cmd).await
    }

    /// docs/spec.md §7.7: asks the fault rules about `stage` (`CONNECT` or a command name):
    /// `Some(flow)` when a rule answered (an injected `-ERR`) or dropped the connection.
    async fn fault(&mut self, stage: &str) -> std::io::Result<Option<Flow>> {
        let user = match &self.state {
            State::Transaction(md) => Some(md.account.address.as_str()),
            State::Authorization { user } => user.as_deref(),
            State::Update => None,
        };
        let names: Vec<&str> = user.into_iter().collect();
        Ok(match self.conn.inject(stage, &names).await {
            Injected::Proceed | Injected::Blackhole => None,
            Injected::Reply(r) => {
                self.conn.send(format!("{r}\r\n").as_bytes()).await?;
                Some(if stage == "CONNECT" {
                    Flow::Close
                } else {
                    Flow::Continue
                })
            }
            Injected::Drop => Some(Flow::Close),
        })
    }

    /// Dispatch: the one place that says which command is valid in which state (RFC 1939 §3).
    async fn execute(&mut self, cmd: Command) -> std::io::Result<Flow> {
        let ctx = self.ctx.clone();
        let delay = ctx.limits.login_delay;
        let ctx = &ctx.ctx;
        let store = ctx.auth.store();
        let result = match (&mut self.state, cmd) {
            (State::Update, _) => return Ok(Flow::Close),
            (state, Command::Capa) => {
                let md = match state {
                    State::Transaction(md) => Some(&**md),
                    _ => None,
                };
                Ok(cmd::capa::capa(ctx, &self.conn, md, delay))
            }
            // AUTHORIZATION state (RFC 1939 §4, RFC 2595 §4, RFC 5034 §4).
            (State::Authorization { user }, Command::User(name)) => {
                cmd::auth::user(ctx, &self.conn, user, name)
            }
            (State::Authorization { user }, Command::Pass(pw)) => match user.take() {
                // RFC 1939 §7: PASS only right after a successful USER.
                None => Err(CmdError::no("send USER first")),
                Some(name) => self.login("USER/PASS", &name, &pw).await,
            },
            (State::Authorization { .. }, Command::Auth { mechanism, initial }) => {
                return self.sasl(mechanism.as_deref(), initial.as_deref()).await
            }
            (State::Authorization { .. }, Command::Stls) => return self.stls().await,
            (State::Authorization { .. }, Command::Quit) => {
                self.conn
                    .send(b"+OK mailstack POP3 server signing off\r\n")
                    .await?;
                return Ok(Flow::Close);
            }
            // TRANSACTION state (RFC 1939 §5, §7).
            (State::Transaction(md), Command::Stat) => Ok(cmd::list::stat(md)),
            (State::Transaction(md), Command::List(n)) => cmd::list::list(md, n),
            (State::Transaction(md), Command::Uidl(n)) => cmd::list::uidl(md, n),
            (State::Transaction(md), Command::Retr(n)) => cmd::retr::retr(store, md, n).await,
            (State::Transaction(md), Command::Top(n, lines)) => cmd::retr::top(store, md, n, lines),
            (State::Transaction(md), Command::Dele(n)) => cmd::update::dele(md, n),
            (State::Transaction(md), Command::Rset) => Ok(cmd::update::rset(md)),
            (State::Transaction(_), Command::Noop) => Ok(cmd::update::noop()),
            (State::Transaction(_), Command::Quit) => {
                // RFC 1939 §6: enter UPDATE, commit, answer, close.
                let State::Transaction(md) = std::mem::replace(&mut self.state, State::Update)
                else {
                    return Ok(Flow::Close);
                };
                let r = cmd::update::quit(store, *md).await;
                self.reply(r).await?;
                return Ok(Flow::Close);
            }
            (State::Transaction(_), Command::Stls) => Err(CmdError::Bad(
                "STLS is only valid before login (RFC 2595 §4)".into(),
            )),
            (_, cmd) => Err(CmdError::Bad(format!(
                "{} is not valid in this state",
                cmd.name()
            ))),
        };
        self.reply(result).await
    }

    /// Verifies credentials (USER/PASS or SASL) and enters TRANSACTION.
    async fn login(
        &mut self,
        mechanism: &'static str,
        username: &str,
        password: &Secret<String>,
    ) -> Result<Reply, CmdError> {
        let md = cmd::auth::login(
            &self.ctx,
            self.conn.peer.ip(),
            mechanism,
            username,
            password,
        )
        .await?;
        let (n, size) = md.stat();
        tracing::debug!(account = %md.account.address, messages = n, "POP3 maildrop opened");
        // The maildrop is the INBOX (dashboard: who holds it).
        self.conn.set_user(Some(&md.account.address));
        self.conn.set_mailbox(Some("INBOX"));
        self.state = State::Transaction(Box::new(md));
        // docs/spec.md §8: 10 minutes idle in TRANSACTION.
        self.conn
            .set_idle_timeout(self.limits().transaction_timeout);
        Ok(Reply::Ok(format!(
            "maildrop has {} ({size} octets)",
            crate::reply::count(n, "message")
        )))
    }

    /// RFC 5034 §4 AUTH: initial response, "+ " continuations, "*" cancels.
    async fn sasl(
        &mut self,
        mechanism: Option<&str>,
        initial: Option<&[u8]>,
    ) -> std::io::Result<Flow> {
        if let State::Authorization { user } = &mut self.state {
            *user = None;
        }
        let mech = match cmd::auth::start_sasl(self.ctx(), &self.conn, mechanism) {
            Ok(Ok(m)) => m,
            Ok(Err(list)) => return self.reply(Ok(list)).await,
            Err(e) => return self.reply(Err(e)).await,
        };
        // RFC 5034 §4: challenges are "+ " and the base64 text.
        let outcome =
            match net::sasl_exchange(&mut self.conn, mech, initial, |c| format!("+ {c}\r\n")).await
            {
                Ok(o) => o,
                Err(_) => return Ok(Flow::Close),
            };
        let result = match outcome {
            SaslOutcome::Credentials(creds) => {
                self.login(mech.name(), &creds.username, &creds.password)
                    .await
            }
            SaslOutcome::TooLong => Err(CmdError::no("SASL response too long")),
            // RFC 5034 §4: "*" cancels with -ERR.
            SaslOutcome::Failed(SaslError::Cancelled) => {
                Err(CmdError::no("authentication cancelled"))
            }
            SaslOutcome::Failed(e @ SaslError::Authzid) => {
                Err(CmdError::code(RespCode::Auth, e.to_string()))
            }
            SaslOutcome::Failed(e) => Err(CmdError::no(e.to_string())),
        };
        self.reply(result).await
    }

    /// RFC 2595 §4 STLS. Input pipelined behind STLS is discarded by `start_tls`; the session
    /// starts over in AUTHORIZATION (the client must re-issue CAPA).
    async fn stls(&mut self) -> std::io::Result<Flow> {
        if self.conn.tls {
            return self.reply(Err(CmdError::no("TLS is already active"))).await;
        }
        let Some(acceptor) = self.ctx().service.tls.clone() else {
            return self
                .reply(Err(CmdError::no("STLS is not available on this server")))
                .await;
        };
        match self
            .conn
            .upgrade_tls(&acceptor, b"+OK begin TLS negotiation\r\n")
            .await
        {
            Ok(()) => {
                self.state = State::Authorization { user: None };
                Ok(Flow::Continue)
            }
            Err(e) => {
                tracing::debug!("STLS handshake failed: {e}");
                Ok(Flow::Close)
            }
        }
    }

    /// Writes a reply or an error (docs/conventions.md §4: only the session writes).
    async fn reply(&mut self, result: Result<Reply, CmdError>) -> std::io::Result<Flow> {
        match result {
            Ok(Reply::Ok(text)) if text.is_empty() => self.conn.write(b"+OK\r\n"),
            Ok(Reply::Ok(text)) => self.conn.write(format!("+OK {text}\r\n").as_bytes()),
            Ok(Reply::Multi(text, lines)) => {
                let mut out = format!("+OK {text}\r\n");
                for l in lines {
                    // RFC 1939 §3: byte-stuff lines that start with ".".
                    if l.starts_with('.') {
                        out.push('.');
                    }
                    out.push_str(&l);
                    out.push_str("\r\n");
                }
                out.push_str(".\r\n");
                self.conn.write(out.as_bytes());
            }
            Ok(Reply::Message {
                text,
                blob,
                size,
                top,
            }) => {
                self.conn.write(format!("+OK {text}\r\n").as_bytes());
                let store = self.ctx().auth.store().clone();
                if !cmd::retr::write_message(&mut self.conn, &store, blob, size, top).await? {
                    // Expunged while we were sending it: a "." now would hand the client a
                    // truncated message as if complete.
                    return Ok(Flow::Close);
                }
            }
            Err(e) => {
                match &e {
                    CmdError::Bad(_) => self.errors += 1,
                    CmdError::Internal(source) => tracing::error!("POP3 command failed: {source}"),
                    CmdError::No { .. } => {}
                }
                self.conn.write(e.line().as_bytes());
            }
        }
        self.conn.flush().await?;
        Ok(Flow::Continue)
    }
}

/// Default idle limits (docs/spec.md §8).
pub const AUTHORIZATION_TIMEOUT: Duration = Duration::from_secs(60);
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(600);
