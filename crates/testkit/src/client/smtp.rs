//! [`Smtp`]: the line client with SMTP's shape — reply codes, multi-line replies, AUTH PLAIN,
//! STARTTLS, one whole transaction — and [`smtp_send`].

use std::path::Path;

use super::Line;

/// A scripted SMTP client (RFC 5321).
pub struct Smtp {
    line: Line,
}

impl Smtp {
    /// Connects to `127.0.0.1:port` in clear (the greeting is not read).
    pub async fn connect(port: u16) -> Smtp {
        Smtp {
            line: Line::connect(port).await,
        }
    }

    /// Connects and reads the `220` greeting.
    pub async fn greeted(port: u16) -> Smtp {
        let mut c = Smtp::connect(port).await;
        c.expect(220).await;
        c
    }

    /// Connects to the implicit-TLS port (465) and reads the `220` greeting.
    pub async fn greeted_tls(port: u16, ca: &Path) -> Smtp {
        let mut c = Smtp {
            line: Line::connect_tls(port, ca).await,
        };
        c.expect(220).await;
        c
    }

    /// The underlying line client.
    pub fn wire(&mut self) -> &mut Line {
        &mut self.line
    }

    /// Sends raw bytes.
    pub async fn raw(&mut self, bytes: &[u8]) {
        self.line.send(bytes).await.expect("write");
    }

    /// Sends one command line (CRLF added).
    pub async fn send(&mut self, line: &str) {
        self.raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Reads one (possibly multi-line) reply: (code, text of all lines joined by '\n').
    pub async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let line = self.line.raw_line().await.unwrap_or_else(|| {
                panic!("connection closed while waiting for a reply (got so far: {text:?})")
            });
            let line = String::from_utf8_lossy(&line).into_owned();
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let code: u16 = line[..3].parse().expect("code");
            text.push_str(line[4..].trim_end());
            if line.as_bytes()[3] == b' ' {
                return (code, text);
            }
            text.push('\n');
        }
    }

    /// Reads a reply and checks its code; returns its text.
    pub async fn expect(&mut self, code: u16) -> String {
        let (got, text) = self.reply().await;
        assert_eq!(got, code, "unexpected reply: {got} {text}");
        text
    }

    /// Sends a command and checks the reply code.
    pub async fn cmd(&mut self, line: &str, code: u16) -> String {
        self.send(line).await;
        self.expect(code).await
    }

    pub async fn ehlo(&mut self) -> String {
        self.cmd("EHLO client.example", 250).await
    }

    /// AUTH PLAIN with an initial response and [`crate::PASSWORD`].
    pub async fn login(&mut self, user: &str) {
        self.login_as(user, crate::PASSWORD).await;
    }

    /// AUTH PLAIN with an initial response.
    pub async fn login_as(&mut self, user: &str, password: &str) {
        let ir = auth::sasl::encode_base64(format!("\0{user}\0{password}").as_bytes());
        self.cmd(&format!("AUTH PLAIN {ir}"), 235).await;
    }

    /// STARTTLS (after the 220 is read) and the handshake.
    pub async fn starttls(mut self, ca: &Path) -> Smtp {
        self.cmd("STARTTLS", 220).await;
        self.into_tls(ca).await
    }

    /// The TLS handshake on this connection (the 220 to STARTTLS has been read).
    pub async fn into_tls(mut self, ca: &Path) -> Smtp {
        self.line.upgrade(ca).await;
        self
    }

    /// True when the server closed the connection (EOF).
    pub async fn closed(&mut self) -> bool {
        self.line.raw_line().await.is_none()
    }

    /// One whole transaction via DATA; returns the final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], body: &str) -> (u16, String) {
        self.cmd(&format!("MAIL FROM:<{from}>"), 250).await;
        for r in to {
            self.cmd(&format!("RCPT TO:<{r}>"), 250).await;
        }
        self.cmd("DATA", 354).await;
        self.raw(body.as_bytes()).await;
        self.raw(b".\r\n").await;
        self.reply().await
    }
}

/// Sends one message (`msg`, CRLF line ends, not dot-stuffed) from `bob@elsewhere.test` to `to`
/// over SMTP on `port` and QUITs; returns the last line of the reply to the end of DATA, or of
/// the first refusal (RCPT).
pub async fn smtp_send(port: u16, to: &str, msg: &[u8]) -> String {
    let last = |reply: String| reply.lines().last().unwrap_or_default().to_string();
    let mut c = Line::connect(port).await;
    c.smtp_reply().await;
    assert!(c.smtp("EHLO client.test").await.starts_with("250"));
    assert!(c
        .smtp("MAIL FROM:<bob@elsewhere.test>")
        .await
        .starts_with("250"));
    let r = last(c.smtp(&format!("RCPT TO:<{to}>")).await);
    if !r.starts_with("250") {
        return r;
    }
    assert!(c.smtp("DATA").await.starts_with("354"));
    let mut body = msg.to_vec();
    body.extend_from_slice(b".\r\n");
    c.send(&body).await.expect("write");
    let r = last(c.smtp_reply().await);
    c.smtp("QUIT").await;
    r
}
