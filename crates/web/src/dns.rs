//! `mailstack dns-records`: the DNS records to publish so clients find the server by themselves.
//!
//! - RFC 6186 §3 SRV records `_imap._tcp`, `_imaps._tcp`, `_pop3._tcp`, `_pop3s._tcp`,
//!   `_submission._tcp`, and RFC 8314 §5.1 `_submissions._tcp`. Implicit TLS gets the lower
//!   (preferred) priority, as RFC 8314 §5.1 recommends.
//! - RFC 2782 (target "."): a service that is off is published as "decidedly not available",
//!   so clients do not probe it.
//! - `autoconfig.<domain>` and `autodiscover.<domain>` CNAMEs to the host serving HTTP
//!   (Mozilla autoconfig / Outlook Autodiscover look there).
//! - An MX record when the inbound SMTP listener is on (RFC 5321 §5.1).

use crate::Advertised;

/// SRV services in the order printed: (service, RFC 8314 §5.1 priority).
const SRV: &[(&str, u16)] = &[
    ("imaps", 0),
    ("imap", 10),
    ("pop3s", 0),
    ("pop3", 10),
    ("submissions", 0),
    ("submission", 10),
];

const TTL: u32 = 3600;

/// Zone-file lines for every domain: SRV records for the listeners that are on, "." records
/// for those that are off, autoconfig/autodiscover CNAMEs and the MX.
pub fn dns_records(adv: &Advertised, domains: &[String]) -> String {
    let host = absolute(&adv.hostname);
    let mut out = String::new();
    for domain in domains {
        let d = absolute(domain);
        out.push_str(&format!("; {domain}: RFC 6186 / RFC 8314 SRV records\n"));
        for &(service, priority) in SRV {
            match adv.port(service) {
                // RFC 2782: priority weight port target.
                Some(port) => out.push_str(&format!(
                    "_{service}._tcp.{d} {TTL} IN SRV {priority} 1 {port} {host}\n"
                )),
                // RFC 2782: target "." = service decidedly not available.
                None => out.push_str(&format!("_{service}._tcp.{d} {TTL} IN SRV 0 0 0 .\n")),
            }
        }
        out.push_str("; client autoconfiguration (Mozilla autoconfig, Outlook Autodiscover)\n");
        out.push_str(&format!("autoconfig.{d} {TTL} IN CNAME {host}\n"));
        out.push_str(&format!("autodiscover.{d} {TTL} IN CNAME {host}\n"));
        if let Some(port) = adv.port("smtp") {
            if port != 25 {
                out.push_str(&format!(
                    "; note: inbound SMTP listens on port {port}; other servers deliver to port 25 only\n"
                ));
            }
            out.push_str(&format!("{d} {TTL} IN MX 10 {host}\n"));
        }
        out.push('\n');
    }
    out
}

/// A fully qualified name ends with a dot in zone files.
fn absolute(name: &str) -> String {
    let n = name.trim().trim_end_matches('.');
    format!("{n}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_listeners() {
        let mut adv = Advertised {
            hostname: "mail.example.test".into(),
            ..Default::default()
        };
        adv.ports.insert("imaps".into(), 993);
        adv.ports.insert("submission".into(), 587);
        let r = dns_records(&adv, &["example.test".into()]);
        assert!(r.contains("_imaps._tcp.example.test. 3600 IN SRV 0 1 993 mail.example.test.\n"));
        assert!(
            r.contains("_submission._tcp.example.test. 3600 IN SRV 10 1 587 mail.example.test.\n")
        );
        assert!(r.contains("_pop3._tcp.example.test. 3600 IN SRV 0 0 0 .\n"));
        assert!(r.contains("autoconfig.example.test. 3600 IN CNAME mail.example.test.\n"));
        assert!(r.contains("autodiscover.example.test. 3600 IN CNAME mail.example.test.\n"));
        assert!(!r.contains(" MX "));
        adv.ports.insert("smtp".into(), 25);
        let r = dns_records(&adv, &["example.test".into(), "b.test.".into()]);
        assert!(r.contains("example.test. 3600 IN MX 10 mail.example.test.\n"));
        assert!(r.contains("_imaps._tcp.b.test. "));
        assert!(!r.contains("note:"));
    }
}
