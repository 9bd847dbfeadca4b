//! CAPA (RFC 2449 §5): lists exactly what this session supports right now.

use std::time::Duration;

use net::Connection;

use crate::cmd::auth::plaintext_allowed;
use crate::maildrop::Maildrop;
use crate::reply::Reply;
use crate::Ctx;

/// RFC 2449 §5: the capability list. Capabilities of the AUTHORIZATION state are announced in
/// both states (RFC 2449 §6), so USER / SASL / STLS do not depend on the state.
/// `login_delay`: RFC 2449 §6.5, advertised only when set.
pub fn capa(
    ctx: &Ctx,
    conn: &Connection,
    maildrop: Option<&Maildrop>,
    login_delay: Duration,
) -> Reply {
    let mut caps = vec!["TOP".to_string(), "UIDL".to_string()];
    if plaintext_allowed(ctx, conn) {
        caps.push("USER".into()); // RFC 2449 §6.8
        caps.push("SASL PLAIN LOGIN".into()); // RFC 2449 §6.3, RFC 5034 §6
    }
    caps.push("RESP-CODES".into()); // RFC 2449 §6.4
    caps.push("AUTH-RESP-CODE".into()); // RFC 3206 §6
    caps.push("PIPELINING".into()); // RFC 2449 §6.6
                                    // RFC 2449 §6.7: per-user value after login; `pop3_policy = delete` removes what was
                                    // retrieved, which is "EXPIRE 0".
    let expire = match maildrop {
        Some(md) if md.account.pop3_policy == store::Pop3Policy::Delete => "EXPIRE 0",
        _ => "EXPIRE NEVER",
    };
    caps.push(expire.into());
    if !login_delay.is_zero() {
        // RFC 2449 §6.5: whole seconds; the same for every user, so no "USER" suffix.
        caps.push(format!("LOGIN-DELAY {}", login_delay.as_secs()));
    }
    if ctx.service.starttls_offered(conn) {
        caps.push("STLS".into()); // RFC 2595 §4
    }
    caps.push("IMPLEMENTATION mailstack".into()); // RFC 2449 §6.9
    Reply::Multi("capability list follows".into(), caps)
}
