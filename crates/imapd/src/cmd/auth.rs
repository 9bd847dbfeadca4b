//! STARTTLS, LOGIN, AUTHENTICATE (RFC 3501 §6.2, RFC 4959 SASL-IR, SPEC.md §4).

use auth::sasl::{Exchange, Mechanism, SaslError, Step};
use auth::{AuthError, Secret};

use crate::response::Code;
use crate::session::{no, CmdError, CmdResult, Session, State};

pub async fn starttls(s: &mut Session, tag: &str) -> CmdResult {
    let Some(acceptor) = s.ctx.tls.clone() else {
        return Err(CmdError::Bad("STARTTLS not available".into()));
    };
    if s.conn.tls {
        return Err(CmdError::Bad("TLS already active".into()));
    }
    // RFC 3501 §6.2.1: the OK goes out in clear, then the handshake.
    s.conn
        .write(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes());
    s.conn.flush().await?;
    // Pipelined commands after STARTTLS are discarded, never executed (SPEC.md §8).
    let dropped = s.conn.start_tls(&acceptor).await?;
    if dropped > 0 {
        tracing::info!(dropped, "discarded bytes pipelined after STARTTLS");
    }
    Ok((Some(Code::Other("STARTTLS-DONE".into())), String::new()))
}

pub async fn login(s: &mut Session, user: &str, pass: String) -> CmdResult {
    if !s.plaintext_ok() {
        // RFC 3501 §6.2.3: LOGINDISABLED.
        return Err(no(
            Some(Code::PrivacyRequired),
            "plaintext login requires TLS; use STARTTLS first",
        ));
    }
    finish(s, user, Secret::new(pass)).await
}

async fn finish(s: &mut Session, user: &str, pass: Secret<String>) -> CmdResult {
    let account = match s.ctx.auth.authenticate(user, &pass, s.conn.peer.ip()).await {
        Ok(a) => a,
        Err(AuthError::Failed) => {
            return Err(no(
                Some(Code::AuthenticationFailed),
                "invalid user name or password",
            ));
        }
        Err(AuthError::Throttled(d)) => {
            return Err(no(
                Some(Code::Unavailable),
                format!(
                    "too many failed logins; try again in {} seconds",
                    d.as_secs().max(1)
                ),
            ));
        }
        Err(e) => return Err(CmdError::Internal(e.to_string())),
    };
    tracing::info!(account = %account.address, "logged in");
    s.rx = Some(s.store().subscribe(account.id));
    s.state = State::Authenticated { account };
    s.conn.set_idle_timeout(s.limits.autologout);
    // RFC 3501 §6.2.3: capabilities may change after login; send them in the OK.
    Ok((
        Some(Code::Other(format!("CAPABILITY {}", s.capabilities()))),
        "logged in".into(),
    ))
}

pub async fn authenticate(s: &mut Session, mechanism: &str, initial: Option<Vec<u8>>) -> CmdResult {
    let Some(mech) = Mechanism::parse(mechanism) else {
        return Err(no(
            Some(Code::Cannot),
            format!("unsupported mechanism {mechanism}"),
        ));
    };
    if !s.plaintext_ok() {
        return Err(no(
            Some(Code::PrivacyRequired),
            "plaintext mechanisms require TLS; use STARTTLS first",
        ));
    }
    // RFC 4959 §3: "=" means an empty initial response.
    let (mut ex, mut step) = Exchange::start(mech, initial.as_deref());
    loop {
        match step {
            Step::Challenge(b64) => {
                // RFC 3501 §7.5: "+ " then the base64 challenge.
                s.conn.write(format!("+ {b64}\r\n").as_bytes());
                s.conn.flush().await?;
                s.conn.expect_secret();
                let line = match s.conn.read_line(crate::session::MAX_LINE).await {
                    Ok(l) => l,
                    Err(net::LineError::TooLong) => {
                        return Err(CmdError::Bad("SASL response too long".into()))
                    }
                    Err(e) => return Err(CmdError::Io(std::io::Error::other(e.to_string()))),
                };
                step = ex.respond(net::trim_eol(&line));
            }
            Step::Done(creds) => return finish(s, &creds.username, creds.password).await,
            Step::Failed(SaslError::Cancelled) => {
                // RFC 3501 §6.2.2: "*" cancels with BAD.
                return Err(CmdError::Bad("authentication cancelled".into()));
            }
            Step::Failed(e) => return Err(CmdError::Bad(format!("invalid SASL response: {e}"))),
        }
    }
}

/// Trace redactor: LOGIN passwords and AUTHENTICATE initial responses become `<redacted>`.
pub fn redact(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.splitn(4, ' ');
    let tag = words.next()?;
    let cmd = words.next()?.to_ascii_uppercase();
    match cmd.as_str() {
        "LOGIN" => {
            let user = words.next()?;
            Some(format!("{tag} LOGIN {user} <redacted>"))
        }
        "AUTHENTICATE" => {
            let mech = words.next()?.trim_end();
            words
                .next()
                .map(|_| format!("{tag} AUTHENTICATE {mech} <redacted>"))
        }
        _ => None,
    }
}
