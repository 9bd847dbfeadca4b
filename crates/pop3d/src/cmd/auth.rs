//! USER / PASS (RFC 1939 §7) and AUTH (RFC 5034 §4) in the AUTHORIZATION state: the plaintext
//! rule (docs/spec.md §4), the SASL mechanism choice, and the login that opens the maildrop.
//! The SASL continuation loop itself reads lines, so it lives in the session.

use std::net::IpAddr;

use auth::sasl::Mechanism;
use auth::{AuthError, Secret};
use net::Connection;

use crate::maildrop::Maildrop;
use crate::reply::{CmdError, Reply, RespCode};
use crate::session::Shared;
use crate::Ctx;

/// docs/spec.md §4: plaintext passwords only over TLS or from loopback.
pub fn plaintext_allowed(ctx: &Ctx, conn: &Connection) -> bool {
    ctx.service.plaintext_ok(conn)
}

/// The refusal on an unencrypted, non-loopback connection (docs/spec.md §4: "a clear -ERR").
pub fn refuse_plaintext(ctx: &Ctx) -> CmdError {
    if ctx.service.tls.is_some() {
        CmdError::no("plaintext authentication is disabled on unencrypted connections: use STLS first, or connect to port 995 (POP3 over TLS)")
    } else {
        CmdError::no("plaintext authentication is disabled on unencrypted connections: connect to port 995 (POP3 over TLS)")
    }
}

/// RFC 1939 §7 USER: remembers the name for PASS. The answer is the same whether or not the
/// account exists (docs/spec.md §4).
pub fn user(
    ctx: &Ctx,
    conn: &Connection,
    pending: &mut Option<String>,
    name: String,
) -> Result<Reply, CmdError> {
    if !plaintext_allowed(ctx, conn) {
        return Err(refuse_plaintext(ctx));
    }
    *pending = Some(name);
    Ok(Reply::Ok("send PASS".into()))
}

/// RFC 5034 §4: `AUTH` alone lists the mechanisms (as RFC 1734 servers did); otherwise the
/// mechanism to run.
pub fn start_sasl(
    ctx: &Ctx,
    conn: &Connection,
    mechanism: Option<&str>,
) -> Result<Result<Mechanism, Reply>, CmdError> {
    let Some(name) = mechanism else {
        let mechs = Mechanism::ALL
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        return Ok(Err(Reply::Multi("SASL mechanisms follow".into(), mechs)));
    };
    if !plaintext_allowed(ctx, conn) {
        return Err(refuse_plaintext(ctx));
    }
    let Some(mech) = Mechanism::parse(name) else {
        return Err(CmdError::no(format!(
            "unsupported SASL mechanism {name}: use PLAIN or LOGIN"
        )));
    };
    Ok(Ok(mech))
}

/// Verifies the credentials and opens (locks) the maildrop. RFC 2449 §8 / RFC 3206 codes:
/// `[AUTH]` for bad credentials, `[SYS/TEMP]` for throttling (which never looked at the
/// password, so it reveals nothing), `[IN-USE]` from [`Maildrop::open`].
/// `[LOGIN-DELAY]` when the account logged in less than `login_delay` ago (RFC 2449 §8.1.1).
/// `mechanism` is `USER/PASS` or the SASL mechanism's name, for auth's log line.
pub async fn login(
    shared: &Shared,
    client: IpAddr,
    mechanism: &'static str,
    username: &str,
    password: &Secret<String>,
) -> Result<Maildrop, CmdError> {
    let ctx = &shared.ctx;
    let from = auth::LoginFrom {
        ip: client,
        protocol: "pop3",
        mechanism,
    };
    let account = match ctx.auth.login(username, password, &from).await {
        Ok(a) => a,
        Err(AuthError::Failed) => {
            // RFC 3206 §5.
            return Err(CmdError::code(
                RespCode::Auth,
                "invalid user name or password",
            ));
        }
        Err(e @ AuthError::Throttled(_)) => {
            return Err(CmdError::code(RespCode::SysTemp, e.to_string()))
        }
        Err(AuthError::Store(e)) => return Err(CmdError::Internal(e)),
        Err(e) => {
            tracing::error!("authentication error: {e}");
            return Err(CmdError::code(
                RespCode::SysTemp,
                "authentication is temporarily unavailable",
            ));
        }
    };
    // RFC 2449 §6.5: checked after the credentials, so it tells nothing to a guesser.
    if let Err(wait) = shared.logins.admit(account.id, shared.limits.login_delay) {
        return Err(CmdError::code(
            RespCode::LoginDelay,
            format!(
                "logged in less than {} s ago; try again in {} s",
                shared.limits.login_delay.as_secs(),
                wait.as_secs().max(1)
            ),
        ));
    }
    Maildrop::open(ctx.auth.store(), account)
}
