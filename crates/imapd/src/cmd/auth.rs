//! STARTTLS, LOGIN, AUTHENTICATE (RFC 3501 §6.2, RFC 4959 SASL-IR, docs/spec.md §4).

use auth::sasl::{Mechanism, SaslError};
use auth::{AuthError, Secret};
use net::SaslOutcome;

use crate::response::Code;
use crate::session::{no, CmdError, CmdResult, Session, State};

/// RFC 3501 §6.2.1 STARTTLS: the tagged OK goes out in clear, then the handshake
/// (`net::Connection::upgrade_tls`, which discards pipelined input). `Ok` means the reply
/// is written and TLS is up; errors before the OK are ordinary tagged replies.
pub async fn starttls(s: &mut Session, tag: &str) -> Result<(), CmdError> {
    let Some(acceptor) = s.ctx.service.tls.clone() else {
        return Err(CmdError::Bad("STARTTLS not available".into()));
    };
    if s.conn.tls {
        return Err(CmdError::Bad("TLS already active".into()));
    }
    let ok = format!("{tag} OK Begin TLS negotiation now\r\n");
    s.conn.upgrade_tls(&acceptor, ok.as_bytes()).await?;
    Ok(())
}

/// RFC 4978 COMPRESS DEFLATE: the tagged OK goes out uncompressed, then both directions are
/// deflated for the rest of the connection. A second COMPRESS is `NO [COMPRESSIONACTIVE]`
/// (RFC 4978 §3).
pub async fn compress(s: &mut Session, tag: &str) -> Result<(), CmdError> {
    if s.conn.compressed() {
        return Err(no(
            Some(Code::Other("COMPRESSIONACTIVE".into())),
            "DEFLATE is already active",
        ));
    }
    s.conn
        .write(format!("{tag} OK DEFLATE active\r\n").as_bytes());
    s.conn.start_deflate().await?;
    Ok(())
}

pub async fn login(s: &mut Session, user: &str, pass: Secret<String>) -> CmdResult {
    if !s.plaintext_ok() {
        // RFC 3501 §6.2.3: LOGINDISABLED.
        return Err(no(
            Some(Code::PrivacyRequired),
            "plaintext login requires TLS; use STARTTLS first",
        ));
    }
    finish(s, user, pass, "LOGIN command").await
}

/// Checks the credentials (auth logs the attempt with `mechanism`) and enters Authenticated.
async fn finish(
    s: &mut Session,
    user: &str,
    pass: Secret<String>,
    mechanism: &'static str,
) -> CmdResult {
    let from = auth::LoginFrom {
        ip: s.conn.peer.ip(),
        protocol: "imap",
        mechanism,
    };
    let account = match s.ctx.auth.login(user, &pass, &from).await {
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
    s.rx = Some(s.store().subscribe(account.id));
    s.state = State::Authenticated { account };
    s.conn.set_idle_timeout(s.limits.autologout);
    // RFC 3501 §6.2.3: capabilities may change after login; send them in the OK.
    Ok((
        Some(Code::Other(format!("CAPABILITY {}", s.capabilities()))),
        "logged in".into(),
    ))
}

pub async fn authenticate(
    s: &mut Session,
    mechanism: &str,
    initial: Option<Secret<Vec<u8>>>,
) -> CmdResult {
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
    // RFC 4959 §3: "=" means an empty initial response (decoded by the command parser).
    // RFC 3501 §7.5: challenges are "+ " and the base64 text.
    let outcome = net::sasl_exchange(
        &mut s.conn,
        mech,
        initial.as_ref().map(|i| &i.expose()[..]),
        |b64| format!("+ {b64}\r\n"),
    )
    .await
    .map_err(|e| CmdError::Io(std::io::Error::other(e.to_string())))?;
    match outcome {
        SaslOutcome::Credentials(creds) => {
            finish(s, &creds.username, creds.password, mech.name()).await
        }
        SaslOutcome::TooLong => Err(CmdError::Bad("SASL response too long".into())),
        // RFC 3501 §6.2.2: "*" cancels with BAD.
        SaslOutcome::Failed(SaslError::Cancelled) => {
            Err(CmdError::Bad("authentication cancelled".into()))
        }
        SaslOutcome::Failed(e) => Err(CmdError::Bad(format!("invalid SASL response: {e}"))),
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
