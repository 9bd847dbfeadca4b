//! Client autoconfiguration documents, generated from the live listeners ([`Advertised`]):
//! - Mozilla autoconfig `config-v1.1.xml` (Thunderbird, K-9/Thunderbird for Android, Evolution,
//!   KMail), served at `/.well-known/autoconfig/mail/config-v1.1.xml` and
//!   `/mail/config-v1.1.xml` (the `autoconfig.<domain>` host layout);
//! - Microsoft Autodiscover "POX" (`POST /autodiscover/autodiscover.xml`, Outlook's
//!   `outlook/responseschema/2006a`).
//!
//! Every document lists implicit TLS before STARTTLS (RFC 8314 §5.1 prefers implicit TLS), uses
//! the full address as user name (docs/spec.md §2) and plaintext passwords (over TLS).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::{ApiBytes, ApiError, ApiQuery};
use crate::{xml_escape, Advertised, App};

/// One advertised way in: a listener that is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Listener / SRV service name (`imaps`, `submission`, …).
    pub service: &'static str,
    /// `imap`, `pop3` or `smtp`.
    pub protocol: &'static str,
    /// Implicit TLS (RFC 8314) rather than STARTTLS (RFC 2595 / RFC 3207).
    pub implicit_tls: bool,
    pub port: u16,
}

/// Client-facing services in preference order. The MX listener (`smtp`, port 25) is not a
/// client endpoint: RFC 6409 §3 sends clients to submission.
const SERVICES: &[(&str, &str, bool)] = &[
    ("imaps", "imap", true),
    ("imap", "imap", false),
    ("pop3s", "pop3", true),
    ("pop3", "pop3", false),
    ("submissions", "smtp", true),
    ("submission", "smtp", false),
];

/// The client endpoints that are on, in preference order.
pub(crate) fn endpoints(adv: &Advertised) -> Vec<Endpoint> {
    SERVICES
        .iter()
        .filter_map(|&(service, protocol, implicit_tls)| {
            adv.port(service).map(|port| Endpoint {
                service,
                protocol,
                implicit_tls,
                port,
            })
        })
        .collect()
}

/// The preferred endpoint for `protocol`.
pub(crate) fn preferred(adv: &Advertised, protocol: &str) -> Option<Endpoint> {
    endpoints(adv).into_iter().find(|e| e.protocol == protocol)
}

/// Local domains to describe; the host name when none are configured.
pub(crate) fn local_domains(app: &App) -> Result<Vec<String>, ApiError> {
    let mut domains = app.ctx.auth.store().domains()?;
    if domains.is_empty() && !app.ctx.advertised.hostname.is_empty() {
        domains.push(app.ctx.advertised.hostname.to_ascii_lowercase());
    }
    Ok(domains)
}

/// Normalizes `email` and checks that its domain is local (404 otherwise).
pub(crate) fn local_address(app: &App, email: &str) -> Result<(String, String), ApiError> {
    let address = auth::normalize_address(email)?;
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    if !local_domains(app)?.contains(&domain) {
        return Err(ApiError::NotFound(format!(
            "{domain} is not a domain of this server"
        )));
    }
    Ok((address, domain))
}

#[derive(Deserialize)]
pub(crate) struct MozillaQuery {
    /// Thunderbird sends `?emailaddress=user@domain`.
    emailaddress: Option<String>,
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml[?emailaddress=…]`: one `emailProvider`
/// per local domain (only the address's domain when one is given).
pub(crate) async fn mozilla(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<MozillaQuery>,
) -> Result<Response, ApiError> {
    let domains = match q.emailaddress.as_deref().filter(|e| !e.is_empty()) {
        Some(email) => vec![local_address(&app, email)?.1],
        None => local_domains(&app)?,
    };
    let body = mozilla_xml(&app.ctx.advertised, &domains);
    Ok(([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response())
}

/// The Mozilla `clientConfig` document (version 1.1).
pub(crate) fn mozilla_xml(adv: &Advertised, domains: &[String]) -> String {
    let host = xml_escape(&adv.hostname);
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n",
    );
    for domain in domains {
        let d = xml_escape(domain);
        x.push_str(&format!(
            "  <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n"
        ));
        x.push_str(&format!("    <displayName>mailstack ({d})</displayName>\n"));
        x.push_str("    <displayShortName>mailstack</displayShortName>\n");
        for e in endpoints(adv) {
            let (tag, kind) = match e.protocol {
                "smtp" => ("outgoingServer", "smtp"),
                p => ("incomingServer", p),
            };
            x.push_str(&format!("    <{tag} type=\"{kind}\">\n"));
            let socket = if e.implicit_tls { "SSL" } else { "STARTTLS" };
            x.push_str(&format!(
                "      <hostname>{host}</hostname>\n      <port>{}</port>\n",
                e.port
            ));
            x.push_str(&format!("      <socketType>{socket}</socketType>\n"));
            x.push_str("      <authentication>password-cleartext</authentication>\n");
            x.push_str("      <username>%EMAILADDRESS%</username>\n");
            x.push_str(&format!("    </{tag}>\n"));
        }
        x.push_str("  </emailProvider>\n");
    }
    x.push_str("</clientConfig>\n");
    x
}

/// `POST /autodiscover/autodiscover.xml`: reads `EMailAddress` from Outlook's request and
/// answers the POX settings for IMAP, POP3 and SMTP.
pub(crate) async fn autodiscover(
    State(app): State<App>,
    ApiBytes(body): ApiBytes,
) -> Result<Response, ApiError> {
    let text = String::from_utf8_lossy(&body);
    let Some(email) = element_text(&text, "EMailAddress") else {
        return Err(ApiError::BadRequest(
            "no <EMailAddress> in the Autodiscover request".into(),
        ));
    };
    let (address, _) = local_address(&app, &email)?;
    let body = autodiscover_xml(&app.ctx.advertised, &address);
    Ok(([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response())
}

/// The Autodiscover response: the preferred endpoint per protocol.
pub(crate) fn autodiscover_xml(adv: &Advertised, address: &str) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n\
         \x20 <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n\
         \x20   <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    for (protocol, kind) in [("imap", "IMAP"), ("pop3", "POP3"), ("smtp", "SMTP")] {
        let Some(e) = preferred(adv, protocol) else {
            continue;
        };
        // The Encryption element overrides SSL: "SSL" = implicit TLS, "TLS" = STARTTLS.
        let encryption = if e.implicit_tls { "SSL" } else { "TLS" };
        x.push_str(&format!(
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{}</Server>\n\
             \x20       <Port>{}</Port>\n        <DomainRequired>off</DomainRequired>\n\
             \x20       <LoginName>{}</LoginName>\n        <SPA>off</SPA>\n        <SSL>on</SSL>\n\
             \x20       <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n\
             \x20     </Protocol>\n",
            xml_escape(&adv.hostname),
            e.port,
            xml_escape(address),
        ));
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

/// The text of the first element named `name` (any namespace prefix), entities decoded.
/// A tiny scanner, enough for the flat Autodiscover request; not a general XML parser.
pub(crate) fn element_text(xml: &str, name: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let tag_name = tag.split_whitespace().next().unwrap_or("");
        let local = tag_name.rsplit(':').next().unwrap_or(tag_name);
        if local == name && !tag.ends_with('/') {
            let body = &rest[end + 1..];
            let text = &body[..body.find('<')?];
            let text = unescape(text.trim());
            return (!text.is_empty()).then_some(text);
        }
        rest = &rest[end + 1..];
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_text_finds_prefixed_and_plain() {
        let r = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"x\"><Request>\
                 <EMailAddress> a&amp;b@example.test </EMailAddress></Request></Autodiscover>";
        assert_eq!(
            element_text(r, "EMailAddress").as_deref(),
            Some("a&b@example.test")
        );
        let r = "<a:Request xmlns:a=\"y\"><a:EMailAddress>x@y.test</a:EMailAddress></a:Request>";
        assert_eq!(element_text(r, "EMailAddress").as_deref(), Some("x@y.test"));
        assert_eq!(element_text("<EMailAddress/>", "EMailAddress"), None);
        assert_eq!(element_text("<EMailAddress>", "EMailAddress"), None);
        assert_eq!(element_text("no xml at all", "EMailAddress"), None);
        assert_eq!(element_text("<<<>>", "EMailAddress"), None);
    }

    #[test]
    fn endpoints_follow_listeners() {
        let mut adv = Advertised {
            hostname: "h".into(),
            ..Default::default()
        };
        adv.ports.insert("imap".into(), 143);
        adv.ports.insert("submissions".into(), 465);
        adv.ports.insert("smtp".into(), 25);
        let e = endpoints(&adv);
        assert_eq!(
            e.iter().map(|e| e.service).collect::<Vec<_>>(),
            ["imap", "submissions"]
        );
        let x = mozilla_xml(&adv, &["d.test".into()]);
        assert!(x.contains("<port>143</port>") && x.contains("<port>465</port>"));
        assert!(!x.contains("<port>25</port>") && !x.contains("pop3"));
    }
}
