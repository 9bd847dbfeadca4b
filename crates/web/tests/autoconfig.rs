//! Autoconfig documents: Mozilla config-v1.1.xml, Autodiscover POX, Apple mobileconfig — parsed
//! with Python's xml.etree / plistlib and compared to the advertised listeners.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::body::Body;
use testkit::http::{call, get, stack, standard_ports, HOST};
use testkit::{python, DOMAIN};

/// Python: prints one line per server: `domain kind type host port socket auth username`.
const PARSE_MOZILLA: &str = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
for p in root.findall("emailProvider"):
    d = p.find("domain").text
    assert p.get("id") == d
    for s in list(p.findall("incomingServer")) + list(p.findall("outgoingServer")):
        print(d, s.tag, s.get("type"), s.find("hostname").text, s.find("port").text,
              s.find("socketType").text, s.find("authentication").text, s.find("username").text)
"#;

fn expected_servers(domain: &str, adv: &web::Advertised) -> Vec<String> {
    let all = [
        ("incomingServer", "imap", "imaps", "SSL"),
        ("incomingServer", "imap", "imap", "STARTTLS"),
        ("incomingServer", "pop3", "pop3s", "SSL"),
        ("incomingServer", "pop3", "pop3", "STARTTLS"),
        ("outgoingServer", "smtp", "submissions", "SSL"),
        ("outgoingServer", "smtp", "submission", "STARTTLS"),
    ];
    all.iter()
        .filter_map(|(tag, kind, service, socket)| {
            adv.ports.get(*service).map(|port| {
                format!("{domain} {tag} {kind} {HOST} {port} {socket} password-cleartext %EMAILADDRESS%")
            })
        })
        .collect()
}

#[tokio::test]
async fn mozilla_lists_every_listener_for_every_domain() {
    let env = stack().start().await;
    let r = env.router();
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml",
    ] {
        let resp = get(&r, path).await;
        assert_eq!(resp.status, 200);
        assert!(resp.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
        let lines: Vec<String> = python(PARSE_MOZILLA, &resp.text())
            .lines()
            .map(String::from)
            .collect();
        let mut expected = expected_servers(DOMAIN, &env.web.advertised);
        expected.extend(expected_servers("other.test", &env.web.advertised));
        // Domains come sorted from the store: example.test < other.test.
        assert_eq!(lines, expected);
        // The MX listener (port 25) is not a client endpoint.
        assert!(!resp.text().contains("<port>25</port>"));
    }
}

#[tokio::test]
async fn mozilla_for_one_address_and_listeners_that_are_off() {
    let mut adv = web::Advertised {
        hostname: HOST.into(),
        ..Default::default()
    };
    adv.ports.insert("imaps".into(), 3993);
    adv.ports.insert("submission".into(), 3587);
    let env = stack().advertised(adv).start().await;
    let r = env.router();
    let resp = get(&r, "/mail/config-v1.1.xml?emailaddress=Bob%40Other.Test").await;
    assert_eq!(resp.status, 200);
    let lines: Vec<String> = python(PARSE_MOZILLA, &resp.text())
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines, expected_servers("other.test", &env.web.advertised));
    assert_eq!(lines.len(), 2);
    assert!(!resp.text().contains("pop3"));

    let resp = get(
        &r,
        "/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.test",
    )
    .await;
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("elsewhere.test"));
    let resp = get(&r, "/mail/config-v1.1.xml?emailaddress=not-an-address").await;
    assert_eq!(resp.status, 400);
}

const AUTODISCOVER_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>Alice@Example.Test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

const PARSE_AUTODISCOVER: &str = r#"
import sys, xml.etree.ElementTree as ET
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(sys.stdin.read())
assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
acc = root.find("r:Response/r:Account", ns)
assert acc.find("r:AccountType", ns).text == "email"
assert acc.find("r:Action", ns).text == "settings"
for p in acc.findall("r:Protocol", ns):
    print(*[p.find("r:" + f, ns).text for f in ["Type", "Server", "Port", "LoginName", "Encryption", "AuthRequired"]])
"#;

#[tokio::test]
async fn autodiscover_answers_preferred_endpoints() {
    let env = stack().start().await;
    let r = env.router();
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
    ] {
        let resp = call(
            &r,
            "POST",
            path,
            false,
            Some("text/xml"),
            AUTODISCOVER_REQUEST,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let out = python(PARSE_AUTODISCOVER, &resp.text());
        assert_eq!(
            out,
            format!(
                "IMAP {HOST} 993 alice@example.test SSL on\nPOP3 {HOST} 995 alice@example.test SSL on\n\
                 SMTP {HOST} 465 alice@example.test SSL on\n"
            )
        );
    }
    // Only STARTTLS ports on: Encryption TLS; POP3 off: no POP3 protocol.
    let mut adv = web::Advertised {
        hostname: HOST.into(),
        ..Default::default()
    };
    adv.ports.insert("imap".into(), 3143);
    adv.ports.insert("submission".into(), 3587);
    let env = stack().advertised(adv).start().await;
    let resp = call(
        &env.router(),
        "POST",
        "/autodiscover/autodiscover.xml",
        false,
        None,
        AUTODISCOVER_REQUEST,
    )
    .await;
    assert_eq!(
        python(PARSE_AUTODISCOVER, &resp.text()),
        format!("IMAP {HOST} 3143 alice@example.test TLS on\nSMTP {HOST} 3587 alice@example.test TLS on\n")
    );
}

#[tokio::test]
async fn autodiscover_bad_requests() {
    let env = stack().start().await;
    let r = env.router();
    let resp = call(
        &r,
        "POST",
        "/autodiscover/autodiscover.xml",
        false,
        None,
        "<Autodiscover/>",
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("EMailAddress"));
    let resp = call(
        &r,
        "POST",
        "/autodiscover/autodiscover.xml",
        false,
        None,
        Body::from(vec![0xffu8, 0, 1]),
    )
    .await;
    assert_eq!(resp.status, 400);
    let other = AUTODISCOVER_REQUEST.replace("Example.Test", "elsewhere.test");
    let resp = call(
        &r,
        "POST",
        "/autodiscover/autodiscover.xml",
        false,
        None,
        other,
    )
    .await;
    assert_eq!(resp.status, 404);
    let huge = format!("<EMailAddress>{}</EMailAddress>", "a".repeat(100 * 1024));
    let resp = call(
        &r,
        "POST",
        "/autodiscover/autodiscover.xml",
        false,
        None,
        huge,
    )
    .await;
    assert_eq!(resp.status, 413);
}

const PARSE_PLIST: &str = r#"
import sys, plistlib
p = plistlib.loads(sys.stdin.buffer.read())
assert p["PayloadType"] == "Configuration" and p["PayloadVersion"] == 1
a = p["PayloadContent"][0]
assert a["PayloadType"] == "com.apple.mail.managed"
print(a["EmailAccountType"], a["EmailAddress"], a["IncomingMailServerHostName"], a["IncomingMailServerPortNumber"],
      a["IncomingMailServerUseSSL"], a["IncomingMailServerUsername"], a["OutgoingMailServerHostName"],
      a["OutgoingMailServerPortNumber"], a["OutgoingMailServerUseSSL"], a["OutgoingMailServerUsername"],
      a["IncomingMailServerAuthentication"], p["PayloadUUID"] != a["PayloadUUID"])
"#;

#[tokio::test]
async fn apple_mobileconfig() {
    let env = stack().start().await;
    let r = env.router();
    let resp = get(
        &r,
        "/apple/mailstack.mobileconfig?email=alice%40example.test",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers["content-type"],
        "application/x-apple-aspen-config"
    );
    assert!(resp.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("mailstack.mobileconfig"));
    assert_eq!(
        python(PARSE_PLIST, &resp.text()),
        format!(
            "EmailTypeIMAP alice@example.test {HOST} 993 True alice@example.test {HOST} 465 True \
             alice@example.test EmailAuthPassword True\n"
        )
    );
    // Same address, same profile (so re-installing replaces it).
    assert_eq!(
        get(
            &r,
            "/apple/mailstack.mobileconfig?email=alice%40example.test"
        )
        .await
        .body,
        resp.body
    );

    assert_eq!(get(&r, "/apple/mailstack.mobileconfig").await.status, 400);
    assert_eq!(
        get(&r, "/apple/mailstack.mobileconfig?email=").await.status,
        400
    );
    assert_eq!(
        get(&r, "/apple/mailstack.mobileconfig?email=a%40nowhere.test")
            .await
            .status,
        404
    );

    // STARTTLS-only listeners: UseSSL false, the STARTTLS ports.
    let mut adv = web::Advertised {
        hostname: HOST.into(),
        ..Default::default()
    };
    adv.ports.insert("imap".into(), 3143);
    adv.ports.insert("submission".into(), 3587);
    let env2 = stack().advertised(adv).start().await;
    let resp = get(
        &env2.router(),
        "/apple/mailstack.mobileconfig?email=alice%40example.test",
    )
    .await;
    assert!(
        python(PARSE_PLIST, &resp.text()).contains(" 3143 False ")
            && resp.text().contains("<integer>3587</integer>")
    );
    // No incoming listener at all: a clear 404.
    let env3 = stack()
        .advertised(web::Advertised {
            hostname: HOST.into(),
            ..Default::default()
        })
        .start()
        .await;
    let resp = get(
        &env3.router(),
        "/apple/mailstack.mobileconfig?email=alice%40example.test",
    )
    .await;
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("IMAP"));
}

/// Python: the profile's payload types, and the CA payload's certificate as PEM.
const PARSE_PLIST_CA: &str = r#"
import sys, plistlib, ssl
p = plistlib.loads(sys.stdin.buffer.read())
print(" ".join(c["PayloadType"] for c in p["PayloadContent"]))
for c in p["PayloadContent"]:
    if c["PayloadType"] == "com.apple.security.root":
        assert c["PayloadIdentifier"] != p["PayloadContent"][0]["PayloadIdentifier"]
        assert c["PayloadUUID"] != p["PayloadContent"][0]["PayloadUUID"]
        print(ssl.DER_cert_to_PEM_cert(c["PayloadContent"]), end="")
"#;

#[tokio::test]
async fn apple_mobileconfig_carries_the_generated_ca() {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    // Without a generated CA (a public certificate): the mail account only.
    let env = stack().start().await;
    let url = "/apple/mailstack.mobileconfig?email=alice%40example.test";
    let text = get(&env.router(), url).await.text();
    assert_eq!(python(PARSE_PLIST_CA, &text), "com.apple.mail.managed\n");

    // With mailstack's CA: a com.apple.security.root payload holding exactly that certificate.
    let certs = testkit::tls::generate(&env.dir.path().join("ca"), &[HOST.to_string()]);
    let der = CertificateDer::from_pem_file(&certs.ca).unwrap();
    let mut adv = standard_ports(HOST);
    adv.ca_certificate = Some(der.to_vec());
    let env = stack().advertised(adv).start().await;
    let text = get(&env.router(), url).await.text();
    let out = python(PARSE_PLIST_CA, &text);
    let (types, pem) = out.split_once('\n').unwrap();
    assert_eq!(types, "com.apple.mail.managed com.apple.security.root");
    let from_profile = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    assert_eq!(from_profile, der);
    // The account payload is still the first one and unchanged.
    assert!(python(PARSE_PLIST, &text).starts_with("EmailTypeIMAP alice@example.test"));
}

#[test]
fn dns_records_match_listeners() {
    let adv = standard_ports(HOST);
    let out = web::dns_records(&adv, &[DOMAIN.to_string()]);
    for (service, port, prio) in [
        ("imaps", 993, 0),
        ("imap", 143, 10),
        ("pop3s", 995, 0),
        ("pop3", 110, 10),
        ("submissions", 465, 0),
        ("submission", 587, 10),
    ] {
        let line = format!("_{service}._tcp.{DOMAIN}. 3600 IN SRV {prio} 1 {port} {HOST}.\n");
        assert!(out.contains(&line), "missing {line} in\n{out}");
    }
    assert!(out.contains(&format!("autoconfig.{DOMAIN}. 3600 IN CNAME {HOST}.")));
    assert!(out.contains(&format!("{DOMAIN}. 3600 IN MX 10 {HOST}.")));
}
