//! The service skeleton every mail daemon runs on: what its listeners share
//! ([`ServiceConfig`]), the listener kinds (plain, STARTTLS-capable, implicit TLS — which
//! refuses to start without a certificate), the TLS upgrade as one state transition
//! ([`Connection::upgrade_tls`]), the plaintext-password rule, and one SASL exchange driver
//! with one line limit ([`sasl_exchange`]). A daemon supplies only its protocol state machine
//! and how its replies look.

use auth::sasl::{Credentials, Exchange, Mechanism, SaslError, Step};
use tokio::net::TcpListener;

use crate::conn::{Connection, LineError, Redactor};
use crate::listen::{serve_listener, Limiter, ListenerConfig, Session, Shutdown};
use crate::{Registry, TlsAcceptor};

/// Longest SASL response line, in every protocol (RFC 4954 §4 asks for at least 12,288
/// octets; a PLAIN response with a 1,024-byte password is far below it).
pub const MAX_SASL_LINE: usize = 12_288;

/// What every listener of a daemon shares; each protocol's `Ctx` holds one.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The certificate: offered by STARTTLS/STLS, and the handshake of an implicit-TLS port.
    pub tls: Option<TlsAcceptor>,
    /// Implicit TLS (993, 995, 465): TLS from the first byte. Refused without `tls`.
    pub implicit_tls: bool,
    /// Our name in greetings, EHLO and `Received:`.
    pub hostname: String,
    /// Connection limits, shared by every listener of the process.
    pub limiter: Limiter,
    /// Log every protocol line (`--trace-protocol`), secrets redacted.
    pub trace: bool,
    /// Accept plaintext passwords without TLS from 127.0.0.1/::1 (docs/spec.md §4).
    pub allow_plaintext_from_loopback: bool,
    /// The session registry the dashboard reads (`None`: sessions are not registered).
    pub registry: Option<Registry>,
    /// Fault injection rules (docs/spec.md §7.7), shared by every listener of the process.
    pub faults: crate::faults::Faults,
}

impl ServiceConfig {
    /// Plain listener, no certificate, loopback plaintext allowed, default limits.
    pub fn new(hostname: impl Into<String>) -> ServiceConfig {
        ServiceConfig {
            tls: None,
            implicit_tls: false,
            hostname: hostname.into(),
            limiter: Limiter::default(),
            trace: false,
            allow_plaintext_from_loopback: true,
            registry: None,
            faults: crate::faults::Faults::default(),
        }
    }

    /// docs/spec.md §4: plaintext passwords (LOGIN, PLAIN, USER/PASS) only over TLS or, when
    /// allowed, from loopback.
    pub fn plaintext_ok(&self, conn: &Connection) -> bool {
        conn.tls || (self.allow_plaintext_from_loopback && conn.peer.ip().is_loopback())
    }

    /// Whether STARTTLS/STLS may be offered on this connection now.
    pub fn starttls_offered(&self, conn: &Connection) -> bool {
        self.tls.is_some() && !conn.tls
    }
}

/// A protocol's identity for [`serve_service`].
pub struct Protocol {
    /// Service name of the plain (or STARTTLS-capable) listener: "imap", "pop3", "smtp", …
    pub plain: &'static str,
    /// Service name of its implicit-TLS listener: "imaps", "pop3s", "submissions".
    pub implicit: &'static str,
    /// Sent, then the connection closed, when a connection limit is reached.
    pub busy_reply: &'static [u8],
    /// Rewrites command lines that carry secrets in the trace.
    pub redactor: Redactor,
}

/// Runs the accept loop of one listener of `protocol` until `shutdown`, each session in its
/// own task (connection limits, implicit TLS, tracing span, registry: [`serve_listener`]).
/// An implicit-TLS listener without a certificate is an error, never a plaintext port.
pub async fn serve_service<F, Fut>(
    listener: TcpListener,
    cfg: &ServiceConfig,
    protocol: Protocol,
    shutdown: Shutdown,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let implicit_tls = match (cfg.implicit_tls, &cfg.tls) {
        (false, _) => None,
        (true, Some(t)) => Some(t.clone()),
        (true, None) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} (implicit TLS) needs a TLS certificate",
                    protocol.implicit
                ),
            ))
        }
    };
    let lc = ListenerConfig {
        service: if cfg.implicit_tls {
            protocol.implicit
        } else {
            protocol.plain
        },
        implicit_tls,
        limiter: cfg.limiter.clone(),
        busy_reply: protocol.busy_reply,
        trace: cfg.trace,
        redactor: protocol.redactor,
        registry: cfg.registry.clone(),
        faults: Some(cfg.faults.clone()),
    };
    serve_listener(listener, lc, shutdown, handler).await
}

impl Connection {
    /// The TLS upgrade (RFC 3501 §6.2.1, RFC 2595 §4, RFC 3207 §4.2): sends the protocol's
    /// go-ahead in clear, then the handshake. Input pipelined behind the command is discarded,
    /// never executed (docs/spec.md §8). After `Ok` the session starts over in its
    /// not-authenticated state; after `Err` the connection is unusable.
    pub async fn upgrade_tls(
        &mut self,
        acceptor: &TlsAcceptor,
        go_ahead: &[u8],
    ) -> std::io::Result<()> {
        self.send(go_ahead).await?;
        let dropped = self.start_tls(acceptor).await?;
        if dropped > 0 {
            tracing::info!(dropped, "discarded input pipelined after the TLS command");
        }
        Ok(())
    }
}

/// How a SASL exchange ended.
#[derive(Debug)]
pub enum SaslOutcome {
    /// The client's credentials; the protocol verifies them.
    Credentials(Credentials),
    /// A bad response, or "*" (cancel).
    Failed(SaslError),
    /// A response line over [`MAX_SASL_LINE`] (its rest was discarded).
    TooLong,
}

/// How a protocol frames the client's SASL responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responses {
    /// A bare base64 line (IMAP, POP3, SMTP).
    Lines,
    /// A string: `"base64"` or a literal `{n+}`/`{n}` (ManageSieve, RFC 5804 §2.1).
    Strings,
}

/// Runs one SASL exchange (RFC 4422) in any protocol: `challenge` frames a base64 challenge
/// as the protocol's continuation line (`+ …` in IMAP and POP3, `334 …` in SMTP). Responses
/// are marked secret for the trace. I/O errors and timeouts end it with `Err`.
pub async fn sasl_exchange(
    conn: &mut Connection,
    mechanism: Mechanism,
    initial: Option<&[u8]>,
    challenge: fn(&str) -> String,
) -> Result<SaslOutcome, LineError> {
    sasl_exchange_framed(conn, mechanism, initial, challenge, Responses::Lines).await
}

/// [`sasl_exchange`] with the protocol's framing of responses.
pub async fn sasl_exchange_framed(
    conn: &mut Connection,
    mechanism: Mechanism,
    initial: Option<&[u8]>,
    challenge: fn(&str) -> String,
    responses: Responses,
) -> Result<SaslOutcome, LineError> {
    let (mut ex, mut step) = Exchange::start(mechanism, initial);
    loop {
        match step {
            Step::Challenge(b64) => {
                conn.write(challenge(&b64).as_bytes());
                conn.flush().await?;
                conn.expect_secret();
                let line = match conn.read_line(MAX_SASL_LINE).await {
                    Ok(l) => l,
                    Err(LineError::TooLong) => return Ok(SaslOutcome::TooLong),
                    Err(e) => return Err(e),
                };
                let line = crate::trim_eol(&line);
                step = match responses {
                    Responses::Lines => ex.respond(line),
                    Responses::Strings => match string_response(conn, line).await? {
                        Some(data) => ex.respond(&data),
                        None => Step::Failed(SaslError::Malformed("expected a string")),
                    },
                };
            }
            Step::Done(creds) => return Ok(SaslOutcome::Credentials(creds)),
            Step::Failed(e) => return Ok(SaslOutcome::Failed(e)),
        }
    }
}

/// RFC 5804 §2.1: a client response is a quoted string or a literal (whose bytes follow the
/// line; at most [`MAX_SASL_LINE`]). `None` when it is neither.
async fn string_response(conn: &mut Connection, line: &[u8]) -> Result<Option<Vec<u8>>, LineError> {
    if let [b'"', inner @ .., b'"'] = line {
        let mut out = Vec::with_capacity(inner.len());
        let mut escaped = false;
        for &b in inner {
            match (escaped, b) {
                (false, b'\\') => escaped = true,
                (false, b'"') => return Ok(None),
                _ => {
                    out.push(b);
                    escaped = false;
                }
            }
        }
        return Ok((!escaped).then_some(out));
    }
    let Some(spec) = line.strip_prefix(b"{").and_then(|l| l.strip_suffix(b"}")) else {
        return Ok(None);
    };
    let digits = spec.strip_suffix(b"+").unwrap_or(spec);
    let n = match std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
    {
        Some(n) if n <= MAX_SASL_LINE && !digits.is_empty() => n,
        _ => return Ok(None),
    };
    conn.expect_secret();
    let data = conn.read_exact(n).await?;
    // The literal ends the response: only the line terminator follows.
    let rest = conn.read_line(MAX_SASL_LINE).await?;
    Ok(crate::trim_eol(&rest).is_empty().then_some(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn conn(stream: tokio::io::DuplexStream, peer: [u8; 4]) -> Connection {
        let peer = std::net::SocketAddr::from((peer, 40000));
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 143));
        Connection::new(stream, peer, local, false)
    }

    /// docs/spec.md §3: an implicit-TLS listener never serves plaintext.
    #[tokio::test]
    async fn implicit_tls_without_a_certificate_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut cfg = ServiceConfig::new("localhost");
        cfg.implicit_tls = true;
        let protocol = Protocol {
            plain: "imap",
            implicit: "imaps",
            busy_reply: b"busy\r\n",
            redactor: |_| None,
        };
        let r = serve_service(l, &cfg, protocol, Shutdown::never(), |_| async {}).await;
        let e = r.expect_err("refused");
        assert!(e.to_string().contains("imaps"), "{e}");
    }

    /// docs/spec.md §4: plaintext only over TLS or from loopback (when allowed).
    #[test]
    fn plaintext_rule() {
        let (_, a) = tokio::io::duplex(64);
        let (_, b) = tokio::io::duplex(64);
        let mut cfg = ServiceConfig::new("h");
        let loopback = conn(a, [127, 0, 0, 1]);
        let remote = conn(b, [192, 0, 2, 1]);
        assert!(cfg.plaintext_ok(&loopback));
        assert!(!cfg.plaintext_ok(&remote));
        cfg.allow_plaintext_from_loopback = false;
        assert!(!cfg.plaintext_ok(&loopback));
        assert!(
            !cfg.starttls_offered(&loopback),
            "no certificate, no STARTTLS"
        );
    }

    /// One SASL driver: LOGIN's two challenges framed by the protocol, a response over
    /// MAX_SASL_LINE refused, "*" cancels.
    #[tokio::test]
    async fn sasl_exchange_frames_limits_and_cancels() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut c = conn(server, [127, 0, 0, 1]);
        let driver = tokio::spawn(async move {
            let login = sasl_exchange(&mut c, Mechanism::Login, None, |b| format!("334 {b}\r\n"))
                .await
                .expect("io");
            let long = sasl_exchange(&mut c, Mechanism::Plain, None, |b| format!("+ {b}\r\n"))
                .await
                .expect("io");
            let cancel = sasl_exchange(&mut c, Mechanism::Plain, None, |b| format!("+ {b}\r\n"))
                .await
                .expect("io");
            (login, long, cancel)
        });
        let user = auth::sasl::encode_base64(b"alice@example.test");
        let pass = auth::sasl::encode_base64(b"a long password");
        let mut input = format!("{user}\r\n{pass}\r\n").into_bytes();
        input.extend(std::iter::repeat_n(b'A', MAX_SASL_LINE + 10));
        input.extend_from_slice(b"\r\n*\r\n");
        client.write_all(&input).await.expect("write");
        let (login, long, cancel) = driver.await.expect("driver");
        match login {
            SaslOutcome::Credentials(c) => assert_eq!(c.username, "alice@example.test"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(long, SaslOutcome::TooLong), "{long:?}");
        assert!(
            matches!(cancel, SaslOutcome::Failed(SaslError::Cancelled)),
            "{cancel:?}"
        );
        let mut out = vec![0; 4096];
        let n = client.read(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out[..n]);
        assert!(
            text.starts_with("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n+ \r\n"),
            "{text}"
        );
    }

    /// RFC 5804 §2.1: ManageSieve responses are strings, quoted or literal; anything else
    /// fails the exchange.
    #[tokio::test]
    async fn sasl_string_responses() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut c = conn(server, [127, 0, 0, 1]);
        let sieve = |b: &str| format!("\"{b}\"\r\n");
        let driver = tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..3 {
                let o =
                    sasl_exchange_framed(&mut c, Mechanism::Login, None, sieve, Responses::Strings)
                        .await
                        .expect("io");
                out.push(o);
            }
            out
        });
        let user = auth::sasl::encode_base64(b"alice@example.test");
        let pass = auth::sasl::encode_base64(b"pw");
        let input = format!(
            "\"{user}\"\r\n{{{}+}}\r\n{pass}\r\n{user}\r\n\"*\"\r\n",
            pass.len()
        );
        client.write_all(input.as_bytes()).await.expect("write");
        let outcomes = driver.await.expect("driver");
        match &outcomes[0] {
            SaslOutcome::Credentials(c) => assert_eq!(c.username, "alice@example.test"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(outcomes[1], SaslOutcome::Failed(SaslError::Malformed(_))),
            "a bare line is not a string: {:?}",
            outcomes[1]
        );
        assert!(
            matches!(outcomes[2], SaslOutcome::Failed(SaslError::Cancelled)),
            "{:?}",
            outcomes[2]
        );
    }
}
