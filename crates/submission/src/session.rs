//! One SMTP session: the state machine (`Connected` → `Greeted` → `Mail` → `Rcpt`), the
//! read–dispatch–reply loop with pipelining (RFC 2920), limits (docs/spec.md §8) and the
//! command handlers for the session-level commands. Transaction commands (MAIL, RCPT, DATA,
//! BDAT) live in `transaction.rs`.

use net::faults::Injected;
use net::{Connection, LineError, Shutdown};
use smtp_proto::{EhloResponse, Request};
use store::Account;

use crate::auth::{self as sasl, AuthOutcome};
use crate::codes::{self, Reply};
use crate::deliver::Recipient;
use crate::dsn;
use crate::{Ctx, Options, Role};

/// docs/spec.md §8: SMTP command lines are at most 4096 bytes (CRLF included).
pub const MAX_LINE: usize = 4096;
/// docs/spec.md §8: after this many error replies the server says 421 and closes.
pub const MAX_ERRORS: u32 = 10;
/// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; we accept exactly that.
pub const MAX_RECIPIENTS: usize = 100;

/// The envelope sender of the current transaction.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Reverse-path as given (empty for the null sender `<>`).
    pub address: String,
    /// RFC 1870 SIZE= declared by the client (0 when absent).
    pub size: u64,
    /// RFC 6531 §3.4: the transaction carries SMTPUTF8.
    pub smtputf8: bool,
    /// RFC 3030 §3: BODY=BINARYMIME, so the content may only come by BDAT.
    pub binary: bool,
    /// RFC 3461 §4.3, §4.4: RET and ENVID.
    pub dsn: dsn::Envelope,
}

/// RFC 5321 §4.1.4 command sequencing, as data.
#[derive(Debug)]
pub enum State {
    /// Greeting sent, no HELO/EHLO yet.
    Connected,
    /// HELO/EHLO done; no transaction.
    Greeted,
    /// MAIL accepted.
    Mail { from: Sender },
    /// At least one RCPT accepted; `dsn[i]` holds the DSN parameters of `to[i]` (RFC 3461).
    Rcpt {
        from: Sender,
        to: Vec<Recipient>,
        dsn: Vec<dsn::Rcpt>,
    },
}

/// BDAT chunks received so far in this transaction (RFC 3030 §2).
#[derive(Debug, Default)]
pub struct Chunks {
    pub data: Vec<u8>,
}

/// What a fault rule made of an event (docs/spec.md §7.7).
pub(crate) enum Fault {
    /// No rule fired (or a delay was served): go on.
    None,
    /// The injected reply was written instead of the command's.
    Answered,
    /// Close the connection without an answer.
    Drop,
    /// Accept the message and throw it away (end of data only).
    Blackhole,
}

/// The fault-injection stage of a command (docs/spec.md §7.7).
fn fault_stage(req: &Request<String>) -> Option<&'static str> {
    Some(match req {
        Request::Ehlo { .. } => "EHLO",
        Request::Helo { .. } => "HELO",
        Request::StartTls => "STARTTLS",
        Request::Auth { .. } => "AUTH",
        Request::Mail { .. } => "MAIL",
        Request::Rcpt { .. } => "RCPT",
        Request::Data => "DATA",
        Request::Bdat { .. } => "BDAT",
        Request::Rset => "RSET",
        Request::Noop { .. } => "NOOP",
        Request::Quit => "QUIT",
        _ => return None,
    })
}

/// What the loop does after a command.
pub enum Next {
    Continue,
    Close,
}

pub struct Session {
    pub(crate) conn: Connection,
    pub(crate) ctx: Ctx,
    pub(crate) role: Role,
    pub(crate) id: u64,
    pub(crate) state: State,
    /// The HELO/EHLO argument and whether it was EHLO (for `Received:`).
    pub(crate) helo: Option<(String, bool)>,
    /// The authenticated account (RFC 4954), if any.
    pub(crate) account: Option<Account>,
    /// BDAT in progress: DATA is refused until the LAST chunk or RSET.
    pub(crate) chunks: Option<Chunks>,
    errors: u32,
    opts: Options,
}

impl Session {
    pub fn new(conn: Connection, ctx: Ctx, role: Role, id: u64, opts: Options) -> Session {
        Session {
            conn,
            ctx,
            role,
            id,
            state: State::Connected,
            helo: None,
            account: None,
            chunks: None,
            errors: 0,
            opts,
        }
    }

    /// Runs the session to its end.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        self.conn.set_idle_timeout(self.opts.idle_timeout);
        // RFC 5321 §4.3.1: 220 greeting.
        // docs/spec.md §7.7: a fault rule may refuse or drop the connection instead.
        match self.fault("CONNECT", None).await {
            Fault::None | Fault::Blackhole => {}
            Fault::Answered | Fault::Drop => {
                let _ = self.conn.flush().await;
                self.conn.shutdown().await;
                return;
            }
        }
        let greeting = format!(
            "220 {} ESMTP mailstack ready\r\n",
            self.ctx.service.hostname
        );
        if self.conn.send(greeting.as_bytes()).await.is_err() {
            return;
        }
        loop {
            if self.conn.buffered() == 0 && self.conn.flush().await.is_err() {
                break;
            }
            let line = tokio::select! {
                biased;
                _ = shutdown.wait() => {
                    self.reply(codes::SHUTTING_DOWN.reply());
                    break;
                }
                r = self.conn.read_line(MAX_LINE) => r,
            };
            let next = match line {
                Ok(line) => match self.command(&line).await {
                    Ok(next) => next,
                    // A read inside DATA/BDAT/AUTH failed: same answers as at command level.
                    Err(e) => self.line_error(e),
                },
                Err(e) => self.line_error(e),
            };
            if matches!(next, Next::Close) {
                break;
            }
            if self.errors >= MAX_ERRORS {
                self.reply(codes::TOO_MANY_ERRORS.reply());
                break;
            }
        }
        self.conn.shutdown().await;
    }

    /// What a failed read means for the session.
    fn line_error(&mut self, e: LineError) -> Next {
        match e {
            LineError::TooLong => {
                self.reply(codes::LINE_TOO_LONG.reply());
                Next::Continue
            }
            LineError::Flood => {
                self.reply(codes::LINE_TOO_LONG.reply());
                Next::Close
            }
            // RFC 5321 §4.5.3.2.7: 421 on timeout.
            LineError::Timeout => {
                self.reply(codes::IDLE_TIMEOUT.reply());
                Next::Close
            }
            LineError::Closed | LineError::Io(_) => Next::Close,
        }
    }

    /// Queues a reply; error replies count toward [`MAX_ERRORS`].
    pub(crate) fn reply(&mut self, reply: Reply) {
        if reply.is_error() {
            self.errors += 1;
        }
        self.conn.write(&reply.to_bytes());
    }

    async fn command(&mut self, line: &[u8]) -> Result<Next, LineError> {
        let req = match Request::parse(&mut line.iter()) {
            Ok(r) => r.into_owned(),
            Err(e) => {
                self.reply(parse_error(e));
                return Ok(Next::Continue);
            }
        };
        if let Some(refusal) = self.sequence_error(&req) {
            if let Request::Bdat { chunk_size, .. } = req {
                // RFC 3030 §2: the chunk is read even when the command is refused.
                crate::data::discard(&mut self.conn, chunk_size).await?;
            }
            self.reply(refusal);
            return Ok(Next::Continue);
        }
        // docs/spec.md §7.7: one atomic load per command while no rule exists.
        let stage = fault_stage(&req).filter(|_| self.ctx.service.faults.active());
        if let Some(stage) = stage {
            let named = match &req {
                Request::Mail { from } => Some(from.address.as_str()),
                Request::Rcpt { to } => Some(to.address.as_str()),
                _ => None,
            };
            match self.fault(stage, named).await {
                Fault::None | Fault::Blackhole => {}
                Fault::Answered => {
                    if let Request::Bdat { chunk_size, .. } = req {
                        // RFC 3030 §2: the chunk is read even when the command is refused.
                        crate::data::discard(&mut self.conn, chunk_size).await?;
                    }
                    return Ok(Next::Continue);
                }
                Fault::Drop => return Ok(Next::Close),
            }
        }
        match req {
            Request::Ehlo { host } => self.ehlo(host, true),
            Request::Helo { host } => self.ehlo(host, false),
            Request::StartTls => return self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await?,
            Request::Mail { from } => {
                let r = self.mail(from);
                self.reply(r);
            }
            Request::Rcpt { to } => {
                // Only while a MAIL transaction is open: `rcpt` refuses it otherwise.
                if matches!(self.state, State::Mail { .. } | State::Rcpt { .. }) {
                    let ctx = self.ctx.clone();
                    crate::transaction::create_recipient(ctx, to.address.clone()).await;
                }
                let r = self.rcpt(to);
                self.reply(r);
            }
            Request::Data => self.data().await?,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await?,
            // RFC 5321 §4.1.1.5: RSET aborts the transaction, keeps HELO and AUTH.
            Request::Rset => {
                self.reset();
                self.reply(codes::OK.reply());
            }
            // RFC 5321 §4.1.1.9.
            Request::Noop { .. } => self.reply(codes::OK.reply()),
            // RFC 5321 §3.5.3: 252, never confirming whether a user exists.
            Request::Vrfy { .. } => self.reply(codes::CANNOT_VRFY.reply()),
            // RFC 5321 §4.1.1.8.
            Request::Help { .. } => self.reply(codes::HELP.reply()),
            // RFC 5321 §4.1.1.10.
            Request::Quit => {
                self.reply(codes::BYE.reply());
                return Ok(Next::Close);
            }
            // RFC 5321 §3.5.3: EXPN may be disabled; ETRN, ATRN, BURL, LHLO are not offered.
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Lhlo { .. } => self.reply(codes::NOT_IMPLEMENTED.reply()),
        }
        Ok(Next::Continue)
    }

    /// docs/spec.md §7.7: asks the fault rules about `stage` of this session (the account,
    /// the envelope so far and `named`, the address of the command at hand) and answers an
    /// injected reply itself.
    pub(crate) async fn fault(&mut self, stage: &str, named: Option<&str>) -> Fault {
        if !self.ctx.service.faults.active() {
            return Fault::None;
        }
        let mut names: Vec<&str> = Vec::new();
        if let Some(a) = &self.account {
            names.push(&a.address);
        }
        match &self.state {
            State::Mail { from } => names.push(&from.address),
            State::Rcpt { from, to, .. } => {
                names.push(&from.address);
                names.extend(to.iter().map(Recipient::address));
            }
            State::Connected | State::Greeted => {}
        }
        names.extend(named);
        match self.conn.inject(stage, &names).await {
            Injected::Proceed => Fault::None,
            Injected::Reply(r) => {
                self.conn.write(format!("{r}\r\n").as_bytes());
                Fault::Answered
            }
            Injected::Drop => Fault::Drop,
            Injected::Blackhole => Fault::Blackhole,
        }
    }

    /// Which command is allowed in which state (RFC 5321 §4.1.4), in one place.
    fn sequence_error(&self, req: &Request<String>) -> Option<Reply> {
        let seq = codes::BAD_SEQUENCE;
        let in_transaction = matches!(self.state, State::Mail { .. } | State::Rcpt { .. });
        match req {
            Request::Mail { .. } => match self.state {
                State::Connected => Some(seq.with("Send EHLO or HELO first")),
                State::Greeted => None,
                _ => Some(seq.with("Nested MAIL command")),
            },
            Request::Rcpt { .. } if !in_transaction => Some(seq.with("Send MAIL first")),
            Request::Data | Request::Bdat { .. } => match &self.state {
                State::Rcpt { .. } if self.chunks.is_some() && matches!(req, Request::Data) => {
                    Some(seq.with("DATA is not allowed after BDAT"))
                }
                // RFC 3030 §3: BINARYMIME content cannot be sent with DATA.
                State::Rcpt { from, .. } if from.binary && matches!(req, Request::Data) => {
                    Some(seq.with("BODY=BINARYMIME content must be sent with BDAT"))
                }
                State::Rcpt { .. } => None,
                State::Mail { .. } => Some(seq.with("No valid recipients")),
                _ => Some(seq.with("Send MAIL and RCPT first")),
            },
            Request::Auth { .. } => {
                if self.role == Role::Inbound {
                    Some(seq.with("AUTH is only offered on the submission ports"))
                } else if self.account.is_some() {
                    // RFC 4954 §4: AUTH once per session.
                    Some(seq.with("Already authenticated"))
                } else if self.helo.is_none() {
                    Some(seq.with("Send EHLO first"))
                } else if in_transaction {
                    // RFC 4954 §4: not during a mail transaction.
                    Some(seq.with("AUTH is not allowed during a mail transaction"))
                } else {
                    None
                }
            }
            Request::StartTls if self.conn.tls => Some(seq.with("TLS is already active")),
            Request::StartTls if in_transaction => {
                Some(seq.with("STARTTLS is not allowed during a mail transaction"))
            }
            _ => None,
        }
    }

    /// Aborts the current transaction (RSET, EHLO, end of DATA).
    pub(crate) fn reset(&mut self) {
        self.chunks = None;
        if !matches!(self.state, State::Connected) {
            self.state = State::Greeted;
        }
    }

    /// docs/spec.md §4: AUTH is offered only after TLS, or from loopback when allowed.
    fn auth_offered(&self) -> bool {
        self.role != Role::Inbound && self.ctx.service.plaintext_ok(&self.conn)
    }

    fn ehlo(&mut self, host: String, extended: bool) {
        // RFC 5321 §4.1.4: EHLO/HELO resets any transaction.
        self.chunks = None;
        self.state = State::Greeted;
        self.helo = Some((host, extended));
        if !extended {
            // RFC 5321 §4.1.1.1: HELO gets a plain 250 with our name.
            let text = format!("{} Hello", self.ctx.service.hostname);
            self.reply(codes::OK.with(text));
            return;
        }
        let mut r = EhloResponse::new(self.ctx.service.hostname.as_str());
        r.capabilities = smtp_proto::EXT_PIPELINING      // RFC 2920
            | smtp_proto::EXT_SIZE                       // RFC 1870
            | smtp_proto::EXT_8BIT_MIME                  // RFC 6152
            | smtp_proto::EXT_ENHANCED_STATUS_CODES      // RFC 2034
            | smtp_proto::EXT_SMTP_UTF8                  // RFC 6531
            | smtp_proto::EXT_CHUNKING                   // RFC 3030 §2
            | smtp_proto::EXT_BINARY_MIME                // RFC 3030 §3
            | smtp_proto::EXT_DSN; // RFC 3461 §4
        r.size = usize::try_from(self.ctx.max_message_size).unwrap_or(usize::MAX);
        if self.ctx.service.starttls_offered(&self.conn) {
            r.capabilities |= smtp_proto::EXT_START_TLS; // RFC 3207 §4
        }
        if self.auth_offered() {
            r.capabilities |= smtp_proto::EXT_AUTH; // RFC 4954 §3
            r.auth_mechanisms = smtp_proto::AUTH_PLAIN | smtp_proto::AUTH_LOGIN;
        }
        let mut out = Vec::new();
        if r.write(&mut out).is_ok() {
            self.conn
                .write(&ehlo_greeting(&out, &self.ctx.service.hostname));
        }
    }

    async fn starttls(&mut self) -> Result<Next, LineError> {
        let Some(acceptor) = self.ctx.service.tls.clone() else {
            self.reply(codes::TLS_UNAVAILABLE.reply());
            return Ok(Next::Continue);
        };
        // net discards anything pipelined after STARTTLS (RFC 3207 §6, CVE-2011-0411).
        let go = codes::READY_TLS.reply().to_bytes();
        if let Err(e) = self.conn.upgrade_tls(&acceptor, &go).await {
            tracing::debug!("TLS handshake failed: {e}");
            return Ok(Next::Close);
        }
        // RFC 3207 §4.2: forget everything learned before TLS; the client starts with EHLO.
        self.state = State::Connected;
        self.helo = None;
        self.account = None;
        self.chunks = None;
        Ok(Next::Continue)
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> Result<(), LineError> {
        let Some(mech) = sasl::mechanism(mechanism) else {
            self.reply(codes::UNKNOWN_MECHANISM.reply());
            return Ok(());
        };
        if !self.auth_offered() {
            // RFC 4954 §6, docs/spec.md §4: no plaintext passwords without TLS.
            self.reply(codes::ENCRYPTION_REQUIRED.reply());
            return Ok(());
        }
        self.conn.flush().await?;
        let initial = (!initial.is_empty()).then_some(initial.as_bytes());
        let auth = self.ctx.auth.clone();
        match sasl::run(&mut self.conn, &auth, mech, initial).await? {
            AuthOutcome::Success(account) => {
                self.conn.set_user(Some(&account.address));
                self.account = Some(account);
                self.reply(codes::AUTH_OK.reply());
            }
            AuthOutcome::Refused(reply) => self.reply(reply),
        }
        Ok(())
    }

    /// RFC 3848 `with` keyword for `Received:`.
    pub(crate) fn protocol(&self) -> &'static str {
        match (
            self.helo.as_ref().is_some_and(|h| h.1),
            self.conn.tls,
            self.account.is_some(),
        ) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }
}

/// Maps smtp-proto's parse errors to replies (RFC 5321 §4.2.4 classes).
pub(crate) fn parse_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => codes::UNKNOWN_COMMAND.reply(),
        E::InvalidSenderAddress => codes::BAD_SENDER_SYNTAX.reply(),
        E::InvalidRecipientAddress => codes::BAD_RECIPIENT_SYNTAX.reply(),
        E::SyntaxError { syntax } => codes::SYNTAX.with(format!("Syntax: {syntax}")),
        E::InvalidParameter { param } => codes::SYNTAX.with(format!("Invalid {param} parameter")),
        E::UnsupportedParameter { param } => {
            codes::UNKNOWN_PARAMETER.with(format!("Unsupported parameter {param}"))
        }
        other => codes::SYNTAX.with(other.to_string()),
    }
}

/// RFC 5321 §4.1.1.1: `ehlo-ok-rsp = "250" SP Domain [ SP ehlo-greet ]`. smtp-proto writes its
/// own joke as the greeting; ours says hello like the HELO reply, and keeps the extension
/// lines it wrote.
fn ehlo_greeting(written: &[u8], hostname: &str) -> Vec<u8> {
    let rest = written
        .iter()
        .position(|&b| b == b'\n')
        .map_or(&[][..], |i| &written[i + 1..]);
    let sep = if rest.is_empty() { ' ' } else { '-' };
    let mut out = format!("250{sep}{hostname} Hello\r\n").into_bytes();
    out.extend_from_slice(rest);
    out
}
