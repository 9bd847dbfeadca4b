//! AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, through the shared decoder in
//! `auth::sasl`: this module only frames challenges as `334 <base64>` and maps outcomes to
//! reply codes.

use ::auth::sasl::{Mechanism, SaslError};
use ::auth::{Auth, AuthError};
use net::{Connection, LineError, SaslOutcome};
use store::Account;

use crate::codes::{self, Reply};

/// Outcome of one AUTH command.
pub enum AuthOutcome {
    /// 235: the session is now authenticated as this account.
    Success(Account),
    /// Any other reply; the session stays unauthenticated.
    Refused(Reply),
}

/// Maps smtp-proto's mechanism bit to ours.
pub fn mechanism(bits: u64) -> Option<Mechanism> {
    match bits {
        smtp_proto::AUTH_PLAIN => Some(Mechanism::Plain),
        smtp_proto::AUTH_LOGIN => Some(Mechanism::Login),
        _ => None,
    }
}

/// Runs the exchange. `initial` is the initial response (RFC 4954 §4), `None` when absent.
pub async fn run(
    conn: &mut Connection,
    auth: &Auth,
    mech: Mechanism,
    initial: Option<&[u8]>,
) -> Result<AuthOutcome, LineError> {
    // RFC 4954 §4: challenges are "334" SP [base64] CRLF.
    let creds = match net::sasl_exchange(conn, mech, initial, |b64| {
        if b64.is_empty() {
            "334 \r\n".to_string()
        } else {
            format!("334 {b64}\r\n")
        }
    })
    .await?
    {
        SaslOutcome::Credentials(c) => c,
        SaslOutcome::TooLong => return Ok(AuthOutcome::Refused(codes::BAD_BASE64.reply())),
        SaslOutcome::Failed(e) => return Ok(AuthOutcome::Refused(sasl_error(e))),
    };
    let from = ::auth::LoginFrom {
        ip: conn.peer.ip(),
        protocol: "smtp",
        mechanism: mech.name(),
    };
    let reply = match auth.login(&creds.username, &creds.password, &from).await {
        Ok(account) => return Ok(AuthOutcome::Success(account)),
        // RFC 4954 §6: 535 5.7.8; unknown user and wrong password look the same.
        Err(AuthError::Failed) => codes::AUTH_FAILED.reply(),
        // auth already delayed the answer; a throttled attempt reveals nothing.
        Err(AuthError::Throttled(wait)) => codes::AUTH_TEMPORARY.with(format!(
            "Too many failed logins, try again in {} seconds",
            wait.as_secs().max(1)
        )),
        Err(e) => {
            tracing::error!("authentication error: {e}");
            codes::AUTH_TEMPORARY.reply()
        }
    };
    Ok(AuthOutcome::Refused(reply))
}

fn sasl_error(e: SaslError) -> Reply {
    match e {
        // RFC 4954 §4: "*" cancels with 501.
        SaslError::Cancelled => codes::AUTH_CANCELLED.reply(),
        SaslError::Base64 => codes::BAD_BASE64.reply(),
        SaslError::Malformed(why) => {
            codes::BAD_BASE64.with(format!("Malformed SASL response: {why}"))
        }
        SaslError::Authzid => codes::AUTH_FAILED.with(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms() {
        assert_eq!(mechanism(smtp_proto::AUTH_PLAIN), Some(Mechanism::Plain));
        assert_eq!(mechanism(smtp_proto::AUTH_LOGIN), Some(Mechanism::Login));
        assert_eq!(mechanism(smtp_proto::AUTH_CRAM_MD5), None);
        assert_eq!(sasl_error(SaslError::Base64).code, codes::BAD_BASE64);
    }
}
