//! One ManageSieve session (RFC 5804): reading a command with its literals, the two states
//! (not authenticated, authenticated), the dispatch, and the only place replies are written.

use std::sync::Arc;

use auth::sasl::{Mechanism, SaslError};
use auth::{AuthError, Secret};
use net::{Connection, LineError, Responses, SaslOutcome};
use store::scripts::{check_script_name, ScriptError, MAX_SCRIPT_BYTES};
use store::Account;

use crate::command::{self, Command, LineEnd, Script, Token};
use crate::{Ctx, Limits};

/// Literals above this are not read at all: the connection is closed.
const MAX_LITERAL_READ: u64 = 16 * 1024 * 1024;

/// A reply's status line (RFC 5804 §4 `response`): `OK`/`NO`/`BYE`, a code, a text.
struct Status {
    word: &'static str,
    code: Option<String>,
    text: String,
}

fn ok(text: impl Into<String>) -> Status {
    Status {
        word: "OK",
        code: None,
        text: text.into(),
    }
}

fn no(text: impl Into<String>) -> Status {
    Status {
        word: "NO",
        code: None,
        text: text.into(),
    }
}

fn no_code(code: &str, text: impl Into<String>) -> Status {
    Status {
        word: "NO",
        code: Some(code.into()),
        text: text.into(),
    }
}

impl Status {
    fn line(&self) -> Vec<u8> {
        let mut out = self.word.as_bytes().to_vec();
        if let Some(code) = &self.code {
            out.extend_from_slice(format!(" ({code})").as_bytes());
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend_from_slice(&command::string(self.text.as_bytes()));
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// RFC 5804 §1.3: the code for a refused script operation.
fn script_error(e: ScriptError) -> Status {
    let code = match e {
        ScriptError::NoSuchScript => Some("NONEXISTENT"),
        ScriptError::Exists => Some("ALREADYEXISTS"),
        ScriptError::Active => Some("ACTIVE"),
        ScriptError::TooMany => Some("QUOTA/MAXSCRIPTS"),
        ScriptError::TooLarge => Some("QUOTA/MAXSIZE"),
        ScriptError::BadName => None,
    };
    Status {
        word: "NO",
        code: code.map(str::to_string),
        text: e.to_string(),
    }
}

fn store_error(e: store::Error) -> Status {
    match e {
        store::Error::Script(s) => script_error(s),
        e => {
            tracing::error!("ManageSieve store error: {e}");
            no_code(
                "TRYLATER",
                "the server could not do that now; try again later",
            )
        }
    }
}

/// What [`Session::read_command`] got.
enum Read {
    Command(Vec<Token>),
    Bad(String),
}

struct Session {
    shared: Arc<(Ctx, Limits)>,
    conn: Connection,
    account: Option<Account>,
    errors: u32,
}

/// Runs a session to its end.
pub async fn run(shared: Arc<(Ctx, Limits)>, session: net::Session) {
    let net::Session {
        conn, mut shutdown, ..
    } = session;
    let mut s = Session {
        shared,
        conn,
        account: None,
        errors: 0,
    };
    s.conn.set_idle_timeout(s.limits().login_timeout);
    // RFC 5804 §1.7: the greeting is the capability list and OK.
    let mut greeting = s.capabilities();
    greeting.extend_from_slice(&ok("mailstack ManageSieve ready").line());
    if s.conn.send(&greeting).await.is_err() {
        return;
    }
    loop {
        let read = tokio::select! {
            biased;
            _ = shutdown.wait() => {
                let _ = s.conn.send(b"BYE (TRYLATER) \"server shutting down\"\r\n").await;
                break;
            }
            r = s.read_command() => r,
        };
        let go_on = match read {
            Ok(Read::Command(tokens)) => s.handle(tokens).await,
            Ok(Read::Bad(why)) => {
                s.errors += 1;
                s.reply(no(why)).await.map(|_| true)
            }
            Err(LineError::Timeout) => {
                let _ = s
                    .conn
                    .send(b"BYE \"idle for too long; closing connection\"\r\n")
                    .await;
                break;
            }
            Err(LineError::Flood) => {
                let _ = s.conn.send(b"BYE \"command far too long\"\r\n").await;
                break;
            }
            Err(LineError::TooLong) => {
                s.errors += 1;
                s.reply(no("command line too long")).await.map(|_| true)
            }
            Err(LineError::Closed) | Err(LineError::Io(_)) => break,
        };
        if !matches!(go_on, Ok(true)) {
            break;
        }
        if s.errors >= s.limits().max_errors {
            let _ = s
                .conn
                .send(b"BYE \"too many bad commands; closing connection\"\r\n")
                .await;
            break;
        }
    }
    s.conn.shutdown().await;
}

impl Session {
    fn ctx(&self) -> &Ctx {
        &self.shared.0
    }

    fn limits(&self) -> &Limits {
        &self.shared.1
    }

    /// One command: its lines and the literals they announce (RFC 5804 §4).
    async fn read_command(&mut self) -> Result<Read, LineError> {
        let mut tokens = Vec::new();
        loop {
            let line = self.conn.read_line(self.limits().max_line).await?;
            match command::tokenize(net::trim_eol(&line), &mut tokens) {
                Err(why) => return Ok(Read::Bad(why)),
                Ok(LineEnd::Done) => return Ok(Read::Command(tokens)),
                Ok(LineEnd::Literal(n)) if n > MAX_LITERAL_READ => {
                    // Not worth reading: the client would make us swallow it all.
                    return Err(LineError::Flood);
                }
                Ok(LineEnd::Literal(n)) => {
                    let n_usize = usize::try_from(n).map_err(|_| LineError::Flood)?;
                    if n_usize > MAX_SCRIPT_BYTES {
                        // Read and dropped in pieces, then answered QUOTA/MAXSIZE.
                        let mut left = n_usize;
                        while left > 0 {
                            let piece = left.min(64 * 1024);
                            self.conn.read_exact(piece).await?;
                            left -= piece;
                        }
                        tokens.push(Token::Oversized(n));
                    } else {
                        tokens.push(Token::Str(self.conn.read_exact(n_usize).await?));
                    }
                }
            }
        }
    }

    /// Executes one command; `Ok(false)` ends the session.
    async fn handle(&mut self, tokens: Vec<Token>) -> std::io::Result<bool> {
        let cmd = match command::parse(tokens) {
            Ok(c) => c,
            Err(why) => {
                self.errors += 1;
                self.reply(no(why)).await?;
                return Ok(true);
            }
        };
        let status = match (&self.account, cmd) {
            (_, Command::Logout) => {
                // RFC 5804 §2.3.
                self.reply(ok("Logout complete")).await?;
                return Ok(false);
            }
            (_, Command::Capability) => {
                let caps = self.capabilities();
                self.conn.write(&caps);
                ok("")
            }
            (_, Command::Noop { tag }) => match tag {
                // RFC 5804 §2.15: the tag comes back in a TAG response code.
                Some(t) => Status {
                    word: "OK",
                    code: Some(format!(
                        "TAG {}",
                        String::from_utf8_lossy(&command::string(&t))
                    )),
                    text: "Done".into(),
                },
                None => ok("Done"),
            },
            (None, Command::StartTls) => return self.starttls().await,
            (None, Command::Authenticate { mechanism, initial }) => {
                self.authenticate(&mechanism, initial.as_deref()).await?
            }
            (Some(_), Command::Authenticate { .. }) => no("already authenticated"),
            (Some(_), Command::StartTls) => no("STARTTLS is only valid before authentication"),
            (Some(_), Command::Unauthenticate) => {
                // RFC 5804 §2.14.1.
                self.account = None;
                self.conn.set_user(None);
                self.conn.set_idle_timeout(self.limits().login_timeout);
                ok("")
            }
            (None, _) => no("authenticate first"),
            (Some(a), cmd) => {
                let a = a.clone();
                self.scripts(&a, cmd).await
            }
        };
        self.reply(status).await?;
        Ok(true)
    }

    /// The script commands of the authenticated state (RFC 5804 §2.5–§2.12).
    async fn scripts(&mut self, a: &Account, cmd: Command) -> Status {
        let store = self.ctx().auth.store().clone();
        let result = match cmd {
            Command::HaveSpace { name, size } => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                match store.sieve_have_space(a.id, &name, size) {
                    Ok(Ok(())) => Ok(ok("")),
                    Ok(Err(e)) => Ok(script_error(e)),
                    Err(e) => Err(e),
                }
            }
            Command::PutScript { name, script } => {
                let text = match self.checked(script) {
                    Ok(t) => t,
                    Err(st) => return st,
                };
                if let Err(e) = check_script_name(&name) {
                    return script_error(e);
                }
                store
                    .put_sieve_script(a.id, &name, &text, false)
                    .await
                    .map(|()| ok(""))
            }
            Command::CheckScript { script } => {
                return match self.checked(script) {
                    Ok(_) => ok(""),
                    Err(st) => st,
                }
            }
            Command::ListScripts => store.sieve_scripts(a.id).map(|list| {
                // RFC 5804 §2.7: one line per script, the active one marked.
                for s in list {
                    let mut line = command::string(s.name.as_bytes());
                    if s.active {
                        line.extend_from_slice(b" ACTIVE");
                    }
                    line.extend_from_slice(b"\r\n");
                    self.conn.write(&line);
                }
                ok("")
            }),
            Command::SetActive { name } => {
                // RFC 5804 §2.8: the empty name deactivates.
                let target = (!name.is_empty()).then_some(name.as_str());
                store
                    .set_active_sieve_script(a.id, target)
                    .await
                    .map(|()| ok(""))
            }
            Command::GetScript { name } => match store.sieve_script(a.id, &name) {
                Ok(Some(text)) => {
                    // RFC 5804 §2.9: the script as a literal, then OK.
                    let mut out = format!("{{{}}}\r\n", text.len()).into_bytes();
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    self.conn.write(&out);
                    Ok(ok(""))
                }
                Ok(None) => Ok(script_error(ScriptError::NoSuchScript)),
                Err(e) => Err(e),
            },
            Command::DeleteScript { name } => store
                .delete_sieve_script(a.id, &name)
                .await
                .map(|()| ok("")),
            Command::RenameScript { from, to } => store
                .rename_sieve_script(a.id, &from, &to)
                .await
                .map(|()| ok("")),
            other => Ok(no(format!("{} is not valid now", other.name()))),
        };
        result.unwrap_or_else(store_error)
    }

    /// A script argument that is UTF-8, small enough, and valid Sieve (RFC 5804 §2.6, §2.12).
    fn checked(&self, script: Script) -> Result<String, Status> {
        let bytes = match script {
            Script::Oversized(_) => return Err(script_error(ScriptError::TooLarge)),
            Script::Text(b) if b.len() > MAX_SCRIPT_BYTES => {
                return Err(script_error(ScriptError::TooLarge))
            }
            Script::Text(b) => b,
        };
        let text = String::from_utf8(bytes).map_err(|_| no("the script is not UTF-8"))?;
        (self.ctx().language.check)(&text).map_err(no)?;
        Ok(text)
    }

    /// RFC 5804 §2.1 AUTHENTICATE: PLAIN (usually with an initial response) or LOGIN, the
    /// client's responses as strings.
    async fn authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<&[u8]>,
    ) -> std::io::Result<Status> {
        let Some(mech) = Mechanism::parse(mechanism) else {
            return Ok(no(format!(
                "unsupported SASL mechanism {mechanism}: use PLAIN or LOGIN"
            )));
        };
        if !self.ctx().service.plaintext_ok(&self.conn) {
            // RFC 5804 §1.3 ENCRYPT-NEEDED.
            return Ok(no_code(
                "ENCRYPT-NEEDED",
                "plaintext authentication needs TLS: use STARTTLS first",
            ));
        }
        let challenge = |c: &str| format!("\"{c}\"\r\n");
        let outcome = match net::sasl_exchange_framed(
            &mut self.conn,
            mech,
            initial,
            challenge,
            Responses::Strings,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => return Err(std::io::Error::other(format!("SASL exchange: {e:?}"))),
        };
        Ok(match outcome {
            SaslOutcome::Credentials(c) => self.login(mech.name(), &c.username, &c.password).await,
            SaslOutcome::TooLong => no("SASL response too long"),
            SaslOutcome::Failed(SaslError::Cancelled) => no("authentication cancelled"),
            SaslOutcome::Failed(e) => no(e.to_string()),
        })
    }

    async fn login(
        &mut self,
        mechanism: &'static str,
        username: &str,
        password: &Secret<String>,
    ) -> Status {
        let from = auth::LoginFrom {
            ip: self.conn.peer.ip(),
            protocol: "managesieve",
            mechanism,
        };
        match self.ctx().auth.login(username, password, &from).await {
            Ok(a) => {
                self.conn.set_user(Some(&a.address));
                self.conn.set_idle_timeout(self.limits().idle_timeout);
                self.account = Some(a);
                ok("logged in")
            }
            Err(AuthError::Failed) => no("authentication failed"),
            Err(e @ AuthError::Throttled(_)) => no_code("TRYLATER", e.to_string()),
            Err(e) => {
                tracing::error!("authentication error: {e}");
                no_code("TRYLATER", "authentication is temporarily unavailable")
            }
        }
    }

    /// RFC 5804 §2.2 STARTTLS; afterwards the capabilities are sent again.
    async fn starttls(&mut self) -> std::io::Result<bool> {
        if self.conn.tls {
            self.reply(no("TLS is already active")).await?;
            return Ok(true);
        }
        let Some(acceptor) = self.ctx().service.tls.clone() else {
            self.reply(no("STARTTLS is not available on this server"))
                .await?;
            return Ok(true);
        };
        let go = ok("Begin TLS negotiation now").line();
        if let Err(e) = self.conn.upgrade_tls(&acceptor, &go).await {
            tracing::debug!("STARTTLS handshake failed: {e}");
            return Ok(false);
        }
        let mut caps = self.capabilities();
        caps.extend_from_slice(&ok("TLS negotiation successful").line());
        self.conn.send(&caps).await?;
        Ok(true)
    }

    /// RFC 5804 §1.7 capability lines (without the final OK).
    fn capabilities(&self) -> Vec<u8> {
        let ctx = self.ctx();
        let sasl = if ctx.service.plaintext_ok(&self.conn) {
            Mechanism::ALL
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::new()
        };
        let mut lines = vec![
            format!(
                "\"IMPLEMENTATION\" \"mailstack {}\"",
                env!("CARGO_PKG_VERSION")
            ),
            format!("\"SASL\" \"{sasl}\""),
            format!("\"SIEVE\" \"{}\"", ctx.language.extensions),
            format!("\"MAXREDIRECTS\" \"{}\"", ctx.language.max_redirects),
        ];
        if ctx.service.starttls_offered(&self.conn) {
            lines.push("\"STARTTLS\"".into());
        }
        if let Some(a) = &self.account {
            lines.push(format!(
                "\"OWNER\" {}",
                String::from_utf8_lossy(&command::string(a.address.as_bytes()))
            ));
        }
        lines.push("\"VERSION\" \"1.0\"".into());
        lines.push("\"UNAUTHENTICATE\"".into());
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Writes the status line after whatever the handler queued (docs/conventions.md §4).
    async fn reply(&mut self, status: Status) -> std::io::Result<()> {
        if status.word == "NO" {
            tracing::debug!(code = ?status.code, "ManageSieve NO: {}", status.text);
        }
        self.conn.write(&status.line());
        self.conn.flush().await
    }
}
