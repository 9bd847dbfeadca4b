//! `GET /apple/mailstack.mobileconfig?email=…`: an Apple configuration profile (plist, payload
//! type `com.apple.mail.managed`) for iOS/macOS Mail with the preferred incoming endpoint
//! (IMAP, else POP3) and outgoing endpoint (submissions, else submission) of the live listeners,
//! and, when mailstack generated the server certificate, its local CA as a
//! `com.apple.security.root` payload, so the device trusts the server once the profile is
//! installed (on iOS the user then enables full trust for it in Settings → General → About →
//! Certificate Trust Settings). The profile is unsigned; devices show it as "Not Verified",
//! which is expected.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::autoconfig::{local_address, preferred, Endpoint};
use crate::error::{ApiError, ApiQuery};
use crate::{xml_escape, Advertised, App};

#[derive(Deserialize)]
pub(crate) struct Query {
    email: Option<String>,
}

pub(crate) async fn mobileconfig(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<Query>,
) -> Result<Response, ApiError> {
    let Some(email) = q.email.filter(|e| !e.is_empty()) else {
        return Err(ApiError::BadRequest(
            "missing query parameter email=user@domain".into(),
        ));
    };
    let (address, _) = local_address(&app, &email)?;
    let body = profile(&app.ctx.advertised, &address)?;
    Ok((
        [
            (CONTENT_TYPE, "application/x-apple-aspen-config"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"mailstack.mobileconfig\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// The plist. Identifiers and UUIDs derive from the address, so downloading the profile again
/// replaces the installed one instead of adding a second account.
pub(crate) fn profile(adv: &Advertised, address: &str) -> Result<String, ApiError> {
    let incoming = preferred(adv, "imap")
        .or_else(|| preferred(adv, "pop3"))
        .ok_or_else(|| ApiError::NotFound("no IMAP or POP3 listener is on".into()))?;
    let outgoing = preferred(adv, "smtp")
        .ok_or_else(|| ApiError::NotFound("no submission listener is on".into()))?;
    let account_type = if incoming.protocol == "imap" {
        "EmailTypeIMAP"
    } else {
        "EmailTypePOP"
    };
    let a = xml_escape(address);
    let host = xml_escape(&adv.hostname);
    let reversed: Vec<&str> = adv.hostname.rsplit('.').collect();
    let ident = xml_escape(&format!(
        "{}.mailstack.{}",
        reversed.join("."),
        address.replace('@', ".")
    ));
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n<key>PayloadContent</key>\n<array>\n<dict>\n",
    );
    let mut kv = |k: &str, v: String| x.push_str(&format!("<key>{k}</key>{v}\n"));
    let s = |v: &str| format!("<string>{v}</string>");
    let b = |v: bool| {
        if v {
            "<true/>".to_string()
        } else {
            "<false/>".to_string()
        }
    };
    kv("EmailAccountDescription", s(&a));
    kv("EmailAccountName", s(&a));
    kv("EmailAccountType", s(account_type));
    kv("EmailAddress", s(&a));
    server(&mut kv, "Incoming", &host, &incoming, &a, s, b);
    server(&mut kv, "Outgoing", &host, &outgoing, &a, s, b);
    kv("OutgoingPasswordSameAsIncomingPassword", b(true));
    kv(
        "PayloadDescription",
        s("mail account settings from mailstack"),
    );
    kv("PayloadDisplayName", s(&format!("mail: {a}")));
    kv("PayloadIdentifier", s(&format!("{ident}.account")));
    kv("PayloadType", s("com.apple.mail.managed"));
    kv(
        "PayloadUUID",
        s(&uuid_for(&format!("account:{address}:{}", adv.hostname))),
    );
    kv("PayloadVersion", "<integer>1</integer>".into());
    kv("SMIMEEnabled", b(false));
    x.push_str("</dict>\n");
    if let Some(der) = &adv.ca_certificate {
        x.push_str("<dict>\n");
        let mut kv = |k: &str, v: String| x.push_str(&format!("<key>{k}</key>{v}\n"));
        kv("PayloadCertificateFileName", s("mailstack-ca.crt"));
        kv(
            "PayloadContent",
            format!("<data>\n{}</data>", base64_lines(der)),
        );
        kv(
            "PayloadDescription",
            s(&format!(
                "the local CA that signed the certificate of {host}"
            )),
        );
        kv("PayloadDisplayName", s("mailstack local development CA"));
        kv("PayloadIdentifier", s(&format!("{ident}.ca")));
        kv("PayloadType", s("com.apple.security.root"));
        kv(
            "PayloadUUID",
            s(&uuid_for(&format!("ca:{address}:{}", adv.hostname))),
        );
        kv("PayloadVersion", "<integer>1</integer>".into());
        x.push_str("</dict>\n");
    }
    x.push_str("</array>\n");
    let mut kv = |k: &str, v: String| x.push_str(&format!("<key>{k}</key>{v}\n"));
    kv("PayloadDescription", s(&format!("Configures Mail for {a}")));
    kv("PayloadDisplayName", s(&format!("mailstack: {a}")));
    kv("PayloadIdentifier", s(&ident));
    kv("PayloadRemovalDisallowed", b(false));
    kv("PayloadType", s("Configuration"));
    kv(
        "PayloadUUID",
        s(&uuid_for(&format!("profile:{address}:{}", adv.hostname))),
    );
    kv("PayloadVersion", "<integer>1</integer>".into());
    x.push_str("</dict>\n</plist>\n");
    Ok(x)
}

/// The `IncomingMailServer*` / `OutgoingMailServer*` keys. `UseSSL` false on a STARTTLS port:
/// Apple Mail then upgrades with STARTTLS itself.
fn server(
    kv: &mut impl FnMut(&str, String),
    side: &str,
    host: &str,
    e: &Endpoint,
    address: &str,
    s: impl Fn(&str) -> String,
    b: impl Fn(bool) -> String,
) {
    kv(
        &format!("{side}MailServerAuthentication"),
        s("EmailAuthPassword"),
    );
    kv(&format!("{side}MailServerHostName"), s(host));
    kv(
        &format!("{side}MailServerPortNumber"),
        format!("<integer>{}</integer>", e.port),
    );
    kv(&format!("{side}MailServerUseSSL"), b(e.implicit_tls));
    kv(&format!("{side}MailServerUsername"), s(address));
}

/// Base64 in lines of 64 characters (plist `<data>` allows whitespace).
fn base64_lines(der: &[u8]) -> String {
    let b64 = auth::sasl::encode_base64(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// A stable UUID-shaped identifier (FNV-1a, 128 bits from two seeds; version nibble 5-like).
/// Not cryptographic: it only has to be the same for the same address.
fn uuid_for(seed: &str) -> String {
    let fnv = |basis: u64| {
        seed.bytes().fold(basis, |h, byte| {
            (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x8422_2325_cbf2_9ce4);
    let hi = (hi & !0xf000) | 0x5000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_stable_and_shaped() {
        let u = uuid_for("a@b");
        assert_eq!(u, uuid_for("a@b"));
        assert_ne!(u, uuid_for("a@c"));
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'5');
    }
}
