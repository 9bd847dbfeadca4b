//! One IMAP session: state, the command read loop (lines and literals), the per-state command
//! table, dispatch, and turning store change events into untagged responses (RFC 3501 §7).

use std::time::Duration;

use net::faults::Injected;
use net::{Connection, LineError};
use store::{Account, Change};
use tokio::sync::broadcast;

use crate::command::{self, Command, Kind, ParseError};
use crate::response::Code;
pub use crate::selected::Selected;
use crate::Ctx;

/// Longest command line without its literals (docs/spec.md §8: 64 KiB).
pub const MAX_LINE: usize = 64 * 1024;
/// Largest literal accepted before login (a user name or password in LOGIN/AUTHENTICATE).
pub const MAX_PREAUTH_LITERAL: u64 = 8 * 1024;
/// Consecutive bad commands before we hang up: syntax errors; a well-formed command we do
/// not know counts half ([`ParseError::strikes`]).
pub const MAX_BAD: u32 = 20;
/// Autologout before login (RFC 3501 §5.4 allows a shorter one) and after.
pub const PRELOGIN_IDLE: Duration = Duration::from_secs(60);
/// RFC 3501 §5.4: at least 30 minutes after login (docs/spec.md §8).
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// docs/spec.md §8 / RFC 2177 §3: while idling, the server re-checks the mailbox and tells the
/// client it is still there a minute before the autologout.
pub const IDLE_RECHECK: Duration = Duration::from_secs(29 * 60);

/// Session timeouts (docs/spec.md §8). [`crate::serve`] uses the defaults; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Autologout before login.
    pub prelogin_idle: Duration,
    /// Autologout after login, counted from the last client input (IDLE included; DONE and
    /// every other command reset it).
    pub autologout: Duration,
    /// When an IDLE without input re-checks the mailbox (`* OK` keep-alive); below
    /// `autologout`.
    pub idle_recheck: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            prelogin_idle: PRELOGIN_IDLE,
            autologout: IDLE,
            idle_recheck: IDLE_RECHECK,
        }
    }
}

/// Session state (RFC 3501 §3).
pub enum State {
    NotAuthenticated,
    Authenticated {
        account: Account,
    },
    Selected {
        account: Account,
        sel: Box<Selected>,
    },
    Logout,
}

/// How a command failed (docs/conventions.md §4).
#[derive(Debug)]
pub enum CmdError {
    /// User error → tagged NO.
    No(Option<Code>, String),
    /// Syntax or state error → tagged BAD.
    Bad(String),
    /// Server error: logged, generic NO [SERVERBUG].
    Internal(String),
    /// The connection must end (I/O error).
    Io(std::io::Error),
    /// The handler already said `* BYE`: close without a tagged reply (RFC 3501 §7.1.5).
    Closed,
}

impl From<store::Error> for CmdError {
    fn from(e: store::Error) -> Self {
        use store::Error as E;
        match e {
            E::NoSuchMailbox => CmdError::No(Some(Code::NonExistent), "no such mailbox".into()),
            E::MailboxExists => {
                CmdError::No(Some(Code::AlreadyExists), "mailbox already exists".into())
            }
            E::InvalidName(r) => {
                CmdError::No(Some(Code::Cannot), format!("invalid mailbox name: {r}"))
            }
            E::NotPermitted(r) => CmdError::No(Some(Code::Cannot), r.to_string()),
            E::OverQuota => CmdError::No(
                Some(Code::OverQuota),
                "mailbox is full (quota exceeded)".into(),
            ),
            E::NoSuchMessage => CmdError::No(Some(Code::NonExistent), "no such message".into()),
            // RFC 5530 §3: a temporary failure; the store refuses writes after a disk error.
            E::Unavailable(why) => {
                tracing::error!("store unavailable: {why}");
                CmdError::No(
                    Some(Code::Unavailable),
                    "storage temporarily unavailable; try again later".into(),
                )
            }
            other => CmdError::Internal(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CmdError {
    fn from(e: std::io::Error) -> Self {
        CmdError::Io(e)
    }
}

pub type CmdResult = Result<(Option<Code>, String), CmdError>;

pub fn no(code: Option<Code>, text: impl Into<String>) -> CmdError {
    CmdError::No(code, text.into())
}

pub fn ok(text: impl Into<String>) -> CmdResult {
    Ok((None, text.into()))
}

pub struct Session {
    pub conn: Connection,
    pub ctx: Ctx,
    /// Process-wide session id; the `origin` of our own flag changes.
    pub id: u64,
    pub state: State,
    pub shutdown: net::Shutdown,
    /// The account's change channel (after login).
    pub rx: Option<broadcast::Receiver<Change>>,
    /// Changes taken from `rx` and not yet applied to the selected mailbox.
    pub pending: Vec<Change>,
    /// `rx` lost changes: the next apply resynchronises from the store.
    pub lagged: bool,
    /// RFC 7162 §3.1: the first CONDSTORE enabling command on a selected mailbox is answered
    /// with `OK [HIGHESTMODSEQ]`, written after its untagged updates.
    pub tell_highestmodseq: bool,
    pub bad: u32,
    /// Set by LOGOUT, fatal errors: end after this command.
    pub closing: bool,
    pub limits: Limits,
    /// RFC 7162 §3.1: a CONDSTORE enabling command was used; unsolicited FETCH responses
    /// carry UID and MODSEQ from now on.
    pub condstore: bool,
    /// RFC 7162 §3.2.3: ENABLE QRESYNC was used; VANISHED replaces EXPUNGE.
    pub qresync: bool,
}

enum Input {
    Command(Vec<u8>),
    /// Already answered (too long, literal refused); count as bad.
    Rejected,
    Close,
}

impl Session {
    pub fn new(
        conn: Connection,
        ctx: Ctx,
        id: u64,
        shutdown: net::Shutdown,
        limits: Limits,
    ) -> Session {
        Session {
            limits,
            condstore: false,
            qresync: false,
            conn,
            ctx,
            id,
            state: State::NotAuthenticated,
            shutdown,
            rx: None,
            pending: Vec::new(),
            lagged: false,
            tell_highestmodseq: false,
            bad: 0,
            closing: false,
        }
    }

    pub fn store(&self) -> &store::Store {
        self.ctx.auth.store()
    }

    /// RFC 7162 §3.1: a CONDSTORE enabling command ran. The first one while a mailbox is
    /// selected makes the server report that mailbox's HIGHESTMODSEQ.
    pub fn enable_condstore(&mut self) {
        if !self.condstore && matches!(self.state, State::Selected { .. }) {
            self.tell_highestmodseq = true;
        }
        self.condstore = true;
    }

    /// RFC 3501 §6.2 / docs/spec.md §4: plaintext login only over TLS or from loopback.
    pub fn plaintext_ok(&self) -> bool {
        self.ctx.service.plaintext_ok(&self.conn)
    }

    pub fn capabilities(&self) -> String {
        let mut c = String::from("IMAP4rev1");
        if matches!(self.state, State::NotAuthenticated) {
            if self.ctx.service.starttls_offered(&self.conn) {
                c.push_str(" STARTTLS");
            }
            if self.plaintext_ok() {
                c.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                // RFC 3501 §6.2.3 / §7.2.1.
                c.push_str(" LOGINDISABLED");
            }
        }
        c.push_str(
            " SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE",
        );
        // RFC 6154 §3, RFC 5258, RFC 5819, RFC 8438, RFC 4731, RFC 7162 §3.1.1 / §3.2.2,
        // RFC 9208 §3.1.
        c.push_str(
            " CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE ESEARCH CONDSTORE QRESYNC \
             QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE",
        );
        // RFC 5256 §3, RFC 5957 §2; THREAD=REFS is Dovecot's (crate::thread::Algorithm::Refs).
        c.push_str(" SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS");
        c.push_str(" WITHIN BINARY"); // RFC 5032 §4, RFC 3516 §3
        c.push_str(" MULTIAPPEND SEARCHRES ESORT"); // RFC 3502 §3, RFC 5182 §2, RFC 5267 §3
        c.push_str(" PREVIEW SAVEDATE"); // RFC 8970 §2, RFC 8514 §4.1
                                         // RFC 5255 §4: SEARCH and SORT compare with i;unicode-casemap (crate::sort::fold).
        c.push_str(" I18NLEVEL=1");
        c.push_str(" CATENATE URL-PARTIAL CONTEXT=SEARCH"); // RFC 4469, RFC 5550, RFC 5267 §4
        c.push_str(&format!(" APPENDLIMIT={}", self.ctx.max_literal));
        if !matches!(self.state, State::NotAuthenticated) {
            // RFC 4978: after login, as Dovecot offers it.
            c.push_str(" COMPRESS=DEFLATE");
        }
        c
    }

    /// Tells the session registry (dashboard) who is logged in and what is selected.
    fn report_state(&self) {
        let (user, mailbox) = match &self.state {
            State::NotAuthenticated | State::Logout => (None, None),
            State::Authenticated { account } => (Some(account.address.as_str()), None),
            State::Selected { account, sel } => (
                Some(account.address.as_str()),
                Some(sel.mailbox.name.as_str()),
            ),
        };
        self.conn.set_user(user);
        self.conn.set_mailbox(mailbox);
    }

    pub async fn run(mut self) {
        self.conn.set_idle_timeout(self.limits.prelogin_idle);
        // docs/spec.md §7.7: a fault rule may refuse or drop the connection instead.
        if self.ctx.service.faults.active()
            && self.fault("CONNECT", "*").await != FaultStep::Proceed
        {
            let _ = self.conn.flush().await;
            self.conn.shutdown().await;
            return;
        }
        let greet = format!(
            "* OK [CAPABILITY {}] {} IMAP4rev1 ready\r\n",
            self.capabilities(),
            self.ctx.service.hostname
        );
        if self.conn.send(greet.as_bytes()).await.is_err() {
            return;
        }
        while !self.closing {
            let mut sd = self.shutdown.clone();
            let input = tokio::select! {
                i = self.read_command() => i,
                _ = sd.wait() => {
                    let _ = self.conn.send(b"* BYE server shutting down\r\n").await;
                    break;
                }
            };
            let bytes = match input {
                Input::Command(b) => b,
                Input::Rejected => {
                    if self.count_bad(2).await {
                        break;
                    }
                    continue;
                }
                Input::Close => break,
            };
            match command::parse(&bytes) {
                Ok((cmd, _)) => {
                    self.bad = 0;
                    let step = if self.ctx.service.faults.active() {
                        self.fault(&command_name(&bytes), &cmd.tag).await
                    } else {
                        FaultStep::Proceed
                    };
                    match step {
                        FaultStep::Proceed => {}
                        FaultStep::Answered => {
                            if self.conn.flush().await.is_err() {
                                break;
                            }
                            continue;
                        }
                        FaultStep::Close => break,
                    }
                    if let Err(e) = self.execute(cmd).await {
                        tracing::debug!("session ends: {e}");
                        break;
                    }
                    self.report_state();
                }
                Err(e) => {
                    let strikes = e.strikes();
                    let (tag, reason) = match e {
                        ParseError::Incomplete => (None, "incomplete command".to_string()),
                        ParseError::Syntax { tag, reason } => (tag, reason),
                        ParseError::Unknown { tag, reason } => (Some(tag), reason),
                    };
                    let line = format!("{} BAD {reason}\r\n", tag.as_deref().unwrap_or("*"));
                    self.conn.write(line.as_bytes());
                    if self.count_bad(strikes).await {
                        break;
                    }
                }
            }
            if self.conn.flush().await.is_err() {
                break;
            }
        }
        let _ = self.conn.flush().await;
        self.conn.shutdown().await;
    }

    /// docs/spec.md §7.7: asks the fault rules about `stage` (`CONNECT` or a command name)
    /// and carries out what fired: an injected `NO`/`BAD` as the command's tagged reply, a
    /// `BYE` (then close), or a dropped connection.
    async fn fault(&mut self, stage: &str, tag: &str) -> FaultStep {
        let account = match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => {
                Some(account.address.as_str())
            }
            State::NotAuthenticated | State::Logout => None,
        };
        let names: Vec<&str> = account.into_iter().collect();
        match self.conn.inject(stage, &names).await {
            Injected::Proceed | Injected::Blackhole => FaultStep::Proceed,
            Injected::Reply(r) if r.starts_with("BYE") => {
                self.conn.write(format!("* {r}\r\n").as_bytes());
                let _ = self.conn.flush().await;
                FaultStep::Close
            }
            Injected::Reply(r) => {
                self.conn.write(format!("{tag} {r}\r\n").as_bytes());
                FaultStep::Answered
            }
            Injected::Drop => FaultStep::Close,
        }
    }

    /// Counts a bad command as `strikes` (2 for a syntax error); after [`MAX_BAD`] syntax
    /// errors' worth says BYE. Returns whether to close.
    async fn count_bad(&mut self, strikes: u32) -> bool {
        self.bad += strikes;
        if self.bad >= 2 * MAX_BAD {
            self.conn.write(b"* BYE too many invalid commands\r\n");
            let _ = self.conn.flush().await;
            return true;
        }
        false
    }

    /// Reads one command: a line, and for each literal it announces, the `+` continuation
    /// (synchronizing literals only) and the literal bytes.
    async fn read_command(&mut self) -> Input {
        let mut buf = Vec::new();
        loop {
            let line = match self.conn.read_line(MAX_LINE).await {
                Ok(l) => l,
                Err(LineError::TooLong) => {
                    // docs/spec.md §8: over-long line → BAD, rest of it discarded.
                    let _ = self.conn.send(b"* BAD command line too long\r\n").await;
                    return Input::Rejected;
                }
                Err(LineError::Timeout) => {
                    // RFC 3501 §5.4 autologout.
                    let _ = self
                        .conn
                        .send(b"* BYE autologout; idle for too long\r\n")
                        .await;
                    return Input::Close;
                }
                Err(LineError::Flood) => {
                    let _ = self.conn.send(b"* BYE command line far too long\r\n").await;
                    return Input::Close;
                }
                Err(_) => return Input::Close,
            };
            buf.extend_from_slice(&line);
            let Some((n, plus)) = command::literal_suffix(&line) else {
                return Input::Command(buf);
            };
            // Before login a literal only carries a user name or password: a small cap stops
            // unauthenticated clients from making us buffer APPENDLIMIT-sized data. After
            // login the whole command (lines and literals together) is bounded too.
            let limit = match self.state {
                State::NotAuthenticated => MAX_PREAUTH_LITERAL,
                _ => self.ctx.max_literal,
            };
            let total = (buf.len() as u64).saturating_add(n);
            if n > limit || total > limit.saturating_add(MAX_LINE as u64) {
                let tag = buf
                    .split(|&b| b == b' ')
                    .next()
                    .map(|t| String::from_utf8_lossy(t).into_owned());
                let tag = tag
                    .filter(|t| !t.is_empty() && !t.contains(['\r', '\n']))
                    .unwrap_or_else(|| "*".into());
                let is_append = buf.windows(7).any(|w| w.eq_ignore_ascii_case(b" APPEND"));
                // RFC 7889 §3 / docs/spec.md §8: refuse before the literal, no "+" continuation.
                let authenticated = !matches!(self.state, State::NotAuthenticated);
                let reply = if is_append && !plus && authenticated {
                    format!(
                        "{tag} NO [TOOBIG] message larger than APPENDLIMIT {}\r\n",
                        self.ctx.max_literal
                    )
                } else {
                    format!("{tag} BAD [TOOBIG] literal larger than {limit} octets\r\n")
                };
                let _ = self.conn.send(reply.as_bytes()).await;
                if plus {
                    // RFC 7888 §4: the client sends the literal anyway; we cannot resync.
                    let _ = self.conn.send(b"* BYE literal too large\r\n").await;
                    return Input::Close;
                }
                return Input::Rejected;
            }
            if !plus {
                // RFC 3501 §7.5: command continuation request.
                if self
                    .conn
                    .send(b"+ Ready for literal data\r\n")
                    .await
                    .is_err()
                {
                    return Input::Close;
                }
            }
            match self.conn.read_exact(n as usize).await {
                Ok(data) => buf.extend_from_slice(&data),
                Err(_) => return Input::Close,
            }
        }
    }

    /// The per-state command table (RFC 3501 §6): which command is valid where.
    fn allowed(&self, kind: &Kind) -> Result<(), CmdError> {
        use Kind as K;
        let any = matches!(kind, K::Capability | K::Noop | K::Logout | K::Id);
        let pre = matches!(kind, K::StartTls | K::Login { .. } | K::Authenticate { .. });
        let selected_only = matches!(
            kind,
            K::Check
                | K::Close
                | K::Unselect
                | K::Expunge { .. }
                | K::Search { .. }
                | K::CancelUpdate(_)
                | K::Fetch { .. }
                | K::Store { .. }
                | K::Copy { .. }
        );
        match &self.state {
            _ if any => Ok(()),
            State::NotAuthenticated if pre => Ok(()),
            State::NotAuthenticated => Err(CmdError::Bad("not authenticated; LOGIN first".into())),
            _ if pre => Err(CmdError::Bad("already authenticated".into())),
            State::Authenticated { .. } if selected_only => {
                Err(CmdError::Bad("no mailbox selected".into()))
            }
            _ => Ok(()),
        }
    }

    async fn execute(&mut self, cmd: Command) -> Result<(), std::io::Error> {
        let Command { tag, mut kind } = cmd;
        if let State::Selected { sel, .. } = &self.state {
            // RFC 5182 §2.1: `$` is the saved search result as it stands now.
            crate::searchres::substitute(&mut kind, sel);
        }
        let forbid_expunge = kind.forbids_expunge();
        let result = match self.allowed(&kind) {
            Err(e) => Err(e),
            // The TLS upgrade writes its own OK, then the session goes on over TLS.
            Ok(()) if matches!(kind, Kind::StartTls) => {
                match crate::cmd::auth::starttls(self, &tag).await {
                    Ok(()) => return Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(()) if matches!(kind, Kind::Compress) => {
                match crate::cmd::auth::compress(self, &tag).await {
                    Ok(()) => return Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(()) => crate::cmd::dispatch(self, &tag, kind).await,
        };
        match result {
            Ok((code, text)) => {
                self.sync_events(!forbid_expunge);
                self.write_highestmodseq();
                let code = code
                    .map(|c| format!("[{}] ", c.as_str()))
                    .unwrap_or_default();
                self.conn
                    .write(format!("{tag} OK {code}{text}\r\n").as_bytes());
            }
            Err(CmdError::No(code, text)) => {
                self.sync_events(!forbid_expunge);
                self.write_highestmodseq();
                let code = code
                    .map(|c| format!("[{}] ", c.as_str()))
                    .unwrap_or_default();
                self.conn
                    .write(format!("{tag} NO {code}{text}\r\n").as_bytes());
            }
            Err(CmdError::Bad(text)) => {
                self.conn.write(format!("{tag} BAD {text}\r\n").as_bytes());
                self.bad += 1;
                if self.bad >= MAX_BAD {
                    self.conn.write(b"* BYE too many invalid commands\r\n");
                    self.closing = true;
                }
            }
            Err(CmdError::Internal(e)) => {
                tracing::error!("internal error: {e}");
                self.conn
                    .write(format!("{tag} NO [SERVERBUG] internal server error\r\n").as_bytes());
            }
            Err(CmdError::Io(e)) => return Err(e),
            Err(CmdError::Closed) => self.closing = true,
        }
        Ok(())
    }
}

impl Session {
    /// RFC 7162 §3.1: after the first CONDSTORE enabling command on a selected mailbox, the
    /// HIGHESTMODSEQ the client now knows (never above a change it has not been told).
    fn write_highestmodseq(&mut self) {
        if !std::mem::take(&mut self.tell_highestmodseq) {
            return;
        }
        if let State::Selected { sel, .. } = &self.state {
            let line = format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", sel.known_modseq());
            self.conn.write(line.as_bytes());
        }
    }
}

/// What an injected fault left the session to do (docs/spec.md §7.7).
#[derive(Debug, PartialEq, Eq)]
enum FaultStep {
    /// Run the command.
    Proceed,
    /// The injected reply was written instead.
    Answered,
    /// Close the connection.
    Close,
}

/// The command name of a command line (`FETCH`, `UID FETCH`), upper case, for fault rules.
fn command_name(line: &[u8]) -> String {
    let mut words = line
        .split(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .filter(|w| !w.is_empty())
        .skip(1);
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    let first = String::from_utf8_lossy(&first).into_owned();
    if first == "UID" {
        let second = words.next().unwrap_or_default().to_ascii_uppercase();
        format!("UID {}", String::from_utf8_lossy(&second))
    } else {
        first
    }
}
