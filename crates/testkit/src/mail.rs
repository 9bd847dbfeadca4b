//! Test messages: [`message`] for a plain one, [`Message`] when a test checks particular
//! header values (an ENVELOPE, a date search, the REST API's `from`).

/// A message built header by header; headers come out in the order From, To, Subject, Date,
/// Message-ID, with CRLF line ends. The body is taken as given.
#[derive(Clone, Debug)]
#[must_use]
pub struct Message {
    from: String,
    to: String,
    subject: String,
    date: Option<String>,
    message_id: String,
    body: String,
}

impl Message {
    /// From `sender@example.test` to `rcpt@example.test`, Message-ID `<subject@example.test>`
    /// (spaces as dots), no Date, empty body.
    pub fn new(subject: &str) -> Message {
        Message {
            from: "sender@example.test".into(),
            to: "rcpt@example.test".into(),
            subject: subject.into(),
            date: None,
            message_id: format!("<{}@example.test>", subject.replace(' ', ".")),
            body: String::new(),
        }
    }

    pub fn from(mut self, from: &str) -> Message {
        self.from = from.into();
        self
    }

    pub fn to(mut self, to: &str) -> Message {
        self.to = to.into();
        self
    }

    pub fn date(mut self, date: &str) -> Message {
        self.date = Some(date.into());
        self
    }

    /// The Message-ID header's value, brackets included.
    pub fn message_id(mut self, id: &str) -> Message {
        self.message_id = id.into();
        self
    }

    /// The body, byte for byte.
    pub fn body(mut self, body: &str) -> Message {
        self.body = body.into();
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let date = self
            .date
            .as_ref()
            .map(|d| format!("Date: {d}\r\n"))
            .unwrap_or_default();
        format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\n{date}Message-ID: {}\r\n\r\n{}",
            self.from, self.to, self.subject, self.message_id, self.body
        )
        .into_bytes()
    }
}

/// A plain message (see [`Message::new`]) whose body gets CRLF line ends.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    Message::new(subject).body(&body).bytes()
}

/// A message from `Bob <bob@example.test>` to alice, dated Tue, 1 Jul 2003 10:52:37 +0200, with
/// Message-ID `<subject@x>` and `body` plus a final CRLF: what IMAP tests search, FETCH and
/// compare ENVELOPEs on.
pub fn dated(subject: &str, body: &str) -> Vec<u8> {
    Message::new(subject)
        .from("Bob <bob@example.test>")
        .to("alice@example.test")
        .date("Tue, 1 Jul 2003 10:52:37 +0200")
        .message_id(&format!("<{subject}@x>"))
        .body(&format!("{body}\r\n"))
        .bytes()
}

/// A message from `Sender <sender@remote.test>` with a fixed Date and a Message-ID and body
/// made from `subject`: what the REST API and dashboard tests read back field by field.
pub fn remote(subject: &str) -> String {
    let m = Message::new(subject)
        .from("Sender <sender@remote.test>")
        .to(&format!("someone@{}", crate::DOMAIN))
        .date("Mon, 1 Jan 2024 10:00:00 +0000")
        .message_id(&format!("<{subject}@remote.test>"))
        .body(&format!("body of {subject}\r\n"))
        .bytes();
    String::from_utf8(m).expect("UTF-8 subject")
}

/// What follows the trace header fields the SMTP server added to a stored message
/// (`Return-Path:`, then a `Received:` folded over lines that start with a TAB): the message
/// as the client sent it.
pub fn strip_trace(msg: &[u8]) -> &[u8] {
    assert!(
        msg.starts_with(b"Return-Path: <"),
        "no Return-Path: {:?}",
        String::from_utf8_lossy(&msg[..msg.len().min(200)])
    );
    let mut pos = 0;
    let mut seen_received = false;
    loop {
        let end = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .expect("line");
        let line = &msg[pos..end];
        if line.starts_with(b"Received: ") {
            seen_received = true;
        } else if !(line.starts_with(b"Return-Path: ") || line.starts_with(b"\t")) {
            break;
        }
        pos = end;
    }
    assert!(seen_received, "no Received header");
    &msg[pos..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message() {
        assert_eq!(
            message("two words", "a\nb\r\n"),
            b"From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: two words\r\n\
              Message-ID: <two.words@example.test>\r\n\r\na\r\nb\r\n"
        );
        let m = Message::new("s")
            .date("Mon, 1 Jan 2024 10:00:00 +0000")
            .bytes();
        assert!(String::from_utf8_lossy(&m).contains("Subject: s\r\nDate: Mon, 1 Jan 2024"));
    }
}
