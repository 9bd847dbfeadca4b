//! Delivery status notifications: the DSN extension's parameters (RFC 3461 §4: RET and ENVID
//! on MAIL, NOTIFY and ORCPT on RCPT) and the reports themselves (RFC 3464
//! `multipart/report; report-type=delivery-status`).
//!
//! The stack never sends mail out (docs/spec.md §6.2), so a report goes where it can be read:
//! into the INBOX of the sender when the sender is a local account. A report is made for
//! - a recipient whose copy could not be stored after the message was accepted (a mailbox that
//!   filled up between RCPT and the end of data): "failed", unless its NOTIFY excludes FAILURE
//!   (RFC 3461 §4.1: without NOTIFY, failures are reported);
//! - a recipient with NOTIFY=SUCCESS whose copy was stored: "delivered" (RFC 3461 §5.2.2; a
//!   captured outbound recipient counts as delivered into the capture mailbox).
//!
//! No report is made for the null sender `<>` (RFC 3461 §6.2: a report is never about a
//! report), and NOTIFY=NEVER suppresses both.

use smtp_proto::{
    MAIL_RET_FULL, MAIL_RET_HDRS, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER,
    RCPT_NOTIFY_SUCCESS,
};

/// What RET asks a report to carry (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// The whole message.
    Full,
    /// Only its header.
    Headers,
}

/// The transaction's DSN parameters from MAIL (RFC 3461 §4.3, §4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub ret: Option<Ret>,
    /// ENVID, xtext-decoded by the parser, at most 100 characters.
    pub envid: Option<String>,
}

impl Envelope {
    pub fn from_mail(flags: u64, envid: Option<String>) -> Envelope {
        let ret = if flags & MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else if flags & MAIL_RET_HDRS != 0 {
            Some(Ret::Headers)
        } else {
            None
        };
        Envelope { ret, envid }
    }
}

/// NOTIFY of one recipient (RFC 3461 §4.1). `None` in [`Rcpt::notify`]: not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

/// The DSN parameters of one accepted recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rcpt {
    pub notify: Option<Notify>,
    /// ORCPT's address (type rfc822, xtext-decoded by the parser).
    pub orcpt: Option<String>,
}

impl Rcpt {
    /// From RCPT's parameters; `Err` when NEVER is combined with another keyword (RFC 3461
    /// §4.1: "NEVER" MUST appear alone).
    pub fn from_rcpt(flags: u64, orcpt: Option<String>) -> Result<Rcpt, ()> {
        let kinds = RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY;
        let notify = if flags & RCPT_NOTIFY_NEVER != 0 {
            if flags & kinds != 0 {
                return Err(());
            }
            Some(Notify::default())
        } else if flags & kinds != 0 {
            Some(Notify {
                success: flags & RCPT_NOTIFY_SUCCESS != 0,
                failure: flags & RCPT_NOTIFY_FAILURE != 0,
                delay: flags & RCPT_NOTIFY_DELAY != 0,
            })
        } else {
            None
        };
        Ok(Rcpt { notify, orcpt })
    }

    pub fn given(&self) -> bool {
        self.notify.is_some() || self.orcpt.is_some()
    }

    /// RFC 3461 §4.1: failures are reported unless NOTIFY says otherwise.
    pub fn wants_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.failure)
    }

    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.success)
    }

    /// The NOTIFY keyword list as the client gave it (for the trace header).
    fn notify_text(&self) -> Option<String> {
        let n = self.notify?;
        let words: Vec<&str> = [
            (n.success, "SUCCESS"),
            (n.failure, "FAILURE"),
            (n.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        Some(if words.is_empty() {
            "NEVER".into()
        } else {
            words.join(",")
        })
    }
}

/// What happened to one recipient's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Not stored: enhanced status code (RFC 3463) and the reason, as an SMTP reply would say.
    Failed {
        status: &'static str,
        reply: String,
    },
}

/// One recipient line of a report (RFC 3464 §2.3).
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub address: &'a str,
    pub dsn: &'a Rcpt,
    pub outcome: &'a Outcome,
}

/// What a report is about.
pub struct Report<'a> {
    /// Our hostname (Reporting-MTA, RFC 3464 §2.2.2).
    pub hostname: &'a str,
    pub envelope: &'a Envelope,
    /// The envelope sender the report goes to.
    pub to: &'a str,
    /// Unix seconds the message arrived (Arrival-Date, RFC 3464 §2.2.5).
    pub arrival: i64,
    pub rows: Vec<Row<'a>>,
    /// The message as it was received.
    pub original: &'a [u8],
    /// A unique token for Message-ID and the boundary.
    pub id: String,
}

impl Report<'_> {
    /// The rows the sender asked to hear about (see the module doc).
    pub fn wanted(rows: Vec<Row<'_>>) -> Vec<Row<'_>> {
        rows.into_iter()
            .filter(|r| match r.outcome {
                Outcome::Delivered => r.dsn.wants_success(),
                Outcome::Failed { .. } => r.dsn.wants_failure(),
            })
            .collect()
    }

    /// The report as an RFC 5322 message (RFC 3464 §2, RFC 6522 multipart/report).
    pub fn render(&self) -> Vec<u8> {
        let failed = self
            .rows
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed { .. }));
        let subject = if failed {
            "Undelivered Mail Returned to Sender"
        } else {
            "Successful Mail Delivery Report"
        };
        let boundary = format!("dsn-{}", self.id);
        let host = clean(self.hostname);
        let mut m = String::new();
        m.push_str(&format!(
            "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n"
        ));
        m.push_str(&format!("To: <{}>\r\n", clean(self.to)));
        m.push_str(&format!("Subject: {subject}\r\n"));
        m.push_str(&format!(
            "Date: {}\r\n",
            crate::deliver::rfc5322_date(self.arrival)
        ));
        m.push_str(&format!("Message-ID: <{}@{host}>\r\n", self.id));
        // RFC 3834 §5: a machine-made answer; autoresponders must not answer it.
        m.push_str("Auto-Submitted: auto-replied\r\n");
        m.push_str("MIME-Version: 1.0\r\n");
        // RFC 6522 §3: report-type names the second part.
        m.push_str(&format!(
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
        ));
        m.push_str("This is a MIME-encapsulated delivery status report.\r\n\r\n");

        // Part 1: for people (RFC 6522 §3).
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        ));
        m.push_str(&format!("This is the mail system at {host}.\r\n\r\n"));
        for r in &self.rows {
            match r.outcome {
                Outcome::Delivered => m.push_str(&format!(
                    "Your message was delivered to <{}>.\r\n",
                    clean(r.address)
                )),
                Outcome::Failed { reply, .. } => m.push_str(&format!(
                    "Your message could not be delivered to <{}>: {}\r\n",
                    clean(r.address),
                    clean(reply)
                )),
            }
        }
        m.push_str("\r\n");

        // Part 2: message/delivery-status (RFC 3464 §2.1): per-message fields, then one
        // block of per-recipient fields each, separated by empty lines.
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        ));
        if let Some(envid) = &self.envelope.envid {
            m.push_str(&format!("Original-Envelope-Id: {}\r\n", clean(envid))); // §2.2.1
        }
        m.push_str(&format!("Reporting-MTA: dns; {host}\r\n")); // §2.2.2
        m.push_str(&format!(
            "Arrival-Date: {}\r\n",
            crate::deliver::rfc5322_date(self.arrival)
        )); // §2.2.5
        for r in &self.rows {
            m.push_str("\r\n");
            if let Some(orcpt) = &r.dsn.orcpt {
                m.push_str(&format!("Original-Recipient: rfc822; {}\r\n", clean(orcpt)));
                // §2.3.1
            }
            m.push_str(&format!(
                "Final-Recipient: rfc822; {}\r\n",
                clean(r.address)
            )); // §2.3.2
            match r.outcome {
                Outcome::Delivered => {
                    m.push_str("Action: delivered\r\n"); // §2.3.3
                    m.push_str("Status: 2.0.0\r\n"); // §2.3.4
                }
                Outcome::Failed { status, reply } => {
                    m.push_str("Action: failed\r\n");
                    m.push_str(&format!("Status: {status}\r\n"));
                    m.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", clean(reply)));
                    // §2.3.6
                }
            }
        }
        m.push_str("\r\n");

        // Part 3: the message, or its header (RFC 3461 §4.3 RET; RFC 6522 §3). Without RET a
        // failure returns the whole message and a success only the header, as Postfix does.
        let full = match self.envelope.ret {
            Some(Ret::Full) => true,
            Some(Ret::Headers) => false,
            None => failed,
        };
        let mut out = m.into_bytes();
        if full {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(self.original);
        } else {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(header_of(self.original));
        }
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        out
    }
}

/// The header block of a message, up to and including the empty line.
fn header_of(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &message[..i + 4],
        None => message,
    }
}

/// Client-supplied text inside a header or report field: no control characters, bounded.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// The trace header that records the DSN parameters the client gave, so a test can see what
/// its application asked for: `X-Mailstack-DSN: ret=FULL; envid=…` and, on the captured copy
/// (which names its recipients anyway), each recipient's NOTIFY and ORCPT. `None` when no
/// DSN parameter was given.
pub fn trace_header(envelope: &Envelope, rcpts: &[(&str, &Rcpt)]) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(ret) = envelope.ret {
        parts.push(format!(
            "ret={}",
            if ret == Ret::Full { "FULL" } else { "HDRS" }
        ));
    }
    if let Some(envid) = &envelope.envid {
        parts.push(format!("envid={}", clean(envid)));
    }
    // Message-level fields on the first line, one folded line per recipient.
    let mut parts = if parts.is_empty() {
        Vec::new()
    } else {
        vec![parts.join("; ")]
    };
    for (address, dsn) in rcpts.iter().filter(|(_, d)| d.given()) {
        let mut p = format!("rcpt=<{}>", clean(address));
        if let Some(n) = dsn.notify_text() {
            p.push_str(&format!(" notify={n}"));
        }
        if let Some(o) = &dsn.orcpt {
            p.push_str(&format!(" orcpt=rfc822;{}", clean(o)));
        }
        parts.push(p);
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("X-Mailstack-DSN: {}\r\n", parts.join(";\r\n\t")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_parameters() {
        let r = Rcpt::from_rcpt(0, None).expect("none");
        assert!(r.wants_failure() && !r.wants_success() && !r.given());
        let r = Rcpt::from_rcpt(RCPT_NOTIFY_NEVER, None).expect("never");
        assert!(!r.wants_failure() && !r.wants_success() && r.given());
        let r = Rcpt::from_rcpt(RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_DELAY, None).expect("s");
        assert!(!r.wants_failure() && r.wants_success());
        assert_eq!(r.notify_text().as_deref(), Some("SUCCESS,DELAY"));
        assert!(Rcpt::from_rcpt(RCPT_NOTIFY_NEVER | RCPT_NOTIFY_SUCCESS, None).is_err());
    }

    fn report<'a>(env: &'a Envelope, rows: Vec<Row<'a>>, original: &'a [u8]) -> String {
        let r = Report {
            hostname: "mx.example.test",
            envelope: env,
            to: "alice@example.test",
            arrival: 0,
            rows,
            original,
            id: "abc".into(),
        };
        String::from_utf8(r.render()).expect("utf8")
    }

    #[test]
    fn success_report_has_the_rfc_3464_fields_and_only_the_header() {
        let env = Envelope {
            ret: None,
            envid: Some("QQ314159".into()),
        };
        let dsn = Rcpt {
            notify: Some(Notify {
                success: true,
                ..Notify::default()
            }),
            orcpt: Some("Bob@Example.test".into()),
        };
        let rows = vec![Row {
            address: "bob@example.test",
            dsn: &dsn,
            outcome: &Outcome::Delivered,
        }];
        let m = report(&env, rows, b"Subject: hi\r\n\r\nsecret body\r\n");
        for want in [
            "Content-Type: multipart/report; report-type=delivery-status;",
            "Auto-Submitted: auto-replied\r\n",
            "Original-Envelope-Id: QQ314159\r\nReporting-MTA: dns; mx.example.test\r\n",
            "\r\nOriginal-Recipient: rfc822; Bob@Example.test\r\nFinal-Recipient: rfc822; \
             bob@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\n\r\n",
            "\r\n--dsn-abc--\r\n",
        ] {
            assert!(m.contains(want), "{want:?} missing from\n{m}");
        }
        assert!(!m.contains("secret body"), "{m}");
    }

    #[test]
    fn failure_report_returns_the_message_unless_ret_hdrs() {
        let dsn = Rcpt::default();
        let failed = Outcome::Failed {
            status: "5.2.2",
            reply: "552 5.2.2 Mailbox full".into(),
        };
        let rows = || {
            vec![Row {
                address: "bob@example.test",
                dsn: &dsn,
                outcome: &failed,
            }]
        };
        let env = Envelope::default();
        let m = report(&env, rows(), b"Subject: hi\r\n\r\nbody\r\n");
        assert!(m.contains("Action: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552"));
        assert!(m.contains("Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n"));
        assert!(m.contains("Subject: Undelivered Mail Returned to Sender"));
        let hdrs = Envelope {
            ret: Some(Ret::Headers),
            envid: None,
        };
        let m = report(&hdrs, rows(), b"Subject: hi\r\n\r\nbody\r\n");
        assert!(!m.contains("\r\nbody\r\n") && !m.contains("Original-Envelope-Id"));
    }

    #[test]
    fn wanted_rows_follow_notify() {
        let never = Rcpt::from_rcpt(RCPT_NOTIFY_NEVER, None).expect("never");
        let plain = Rcpt::default();
        let failed = Outcome::Failed {
            status: "5.2.2",
            reply: "full".into(),
        };
        let rows = vec![
            Row {
                address: "a@x",
                dsn: &never,
                outcome: &failed,
            },
            Row {
                address: "b@x",
                dsn: &plain,
                outcome: &failed,
            },
            Row {
                address: "c@x",
                dsn: &plain,
                outcome: &Outcome::Delivered,
            },
        ];
        let kept: Vec<&str> = Report::wanted(rows).iter().map(|r| r.address).collect();
        assert_eq!(kept, ["b@x"]);
    }

    #[test]
    fn trace_header_names_what_was_asked() {
        assert_eq!(trace_header(&Envelope::default(), &[]), None);
        let env = Envelope {
            ret: Some(Ret::Full),
            envid: Some("id\r\n1".into()),
        };
        let r = Rcpt::from_rcpt(
            RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE,
            Some("o@x".into()),
        )
        .expect("ok");
        assert_eq!(
            trace_header(&env, &[("b@x", &r)]).as_deref(),
            Some("X-Mailstack-DSN: ret=FULL; envid=id1;\r\n\trcpt=<b@x> notify=SUCCESS,FAILURE orcpt=rfc822;o@x\r\n")
        );
    }
}
