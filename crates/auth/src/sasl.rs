//! SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) decoding, shared by IMAP
//! AUTHENTICATE, POP3 AUTH and SMTP AUTH. Protocols only frame the challenges ("+ " or "334 ").
//!
//! ```text
//! message = [authzid] UTF8NUL authcid UTF8NUL passwd     ; RFC 4616 §2
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::Secret;

/// Supported mechanisms, in the order servers advertise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub const ALL: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

    /// Case-insensitive mechanism name.
    pub fn parse(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// Decoded credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("invalid base64")]
    Base64,
    #[error("malformed SASL message: {0}")]
    Malformed(&'static str),
    /// The client answered "*" (RFC 4954 §4, RFC 5034 §4, RFC 3501 §6.2.2).
    #[error("authentication cancelled")]
    Cancelled,
    #[error("authorization identity differs from the user name (proxy login is not supported)")]
    Authzid,
}

/// Decodes a client response; "=" is the empty response (RFC 4954 §4).
pub fn decode_base64(data: &[u8]) -> Result<Vec<u8>, SaslError> {
    let data = data.trim_ascii();
    if data == b"*" {
        return Err(SaslError::Cancelled);
    }
    if data == b"=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(data).map_err(|_| SaslError::Base64)
}

/// Encodes a server challenge.
pub fn encode_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes a base64 PLAIN message.
pub fn decode_plain(b64: &[u8]) -> Result<Credentials, SaslError> {
    let raw = decode_base64(b64)?;
    let mut fields = raw.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN needs authzid NUL authcid NUL password",
        ));
    };
    let utf8 =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed("not UTF-8"));
    let (authzid, username, password) = (utf8(authzid)?, utf8(authcid)?, utf8(password)?);
    if username.is_empty() {
        return Err(SaslError::Malformed("empty user name"));
    }
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::Authzid);
    }
    Ok(Credentials {
        username,
        password: Secret::new(password),
    })
}

/// One SASL exchange, whatever the protocol framing.
#[derive(Debug)]
pub struct Exchange {
    mechanism: Mechanism,
    username: Option<String>,
}

/// What the server does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this base64 challenge (may be empty) and read one response line.
    Challenge(String),
    /// The client's credentials are complete; verify them.
    Done(Credentials),
    Failed(SaslError),
}

/// LOGIN's challenges, "Username:" and "Password:" in base64.
pub const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

impl Exchange {
    /// Starts an exchange, with the initial response if the client sent one (SASL-IR,
    /// RFC 4954 §4, RFC 5034 §4).
    pub fn start(mechanism: Mechanism, initial: Option<&[u8]>) -> (Exchange, Step) {
        let mut ex = Exchange {
            mechanism,
            username: None,
        };
        let step = match initial {
            Some(ir) => ex.respond(ir),
            None => match mechanism {
                Mechanism::Plain => Step::Challenge(String::new()),
                Mechanism::Login => Step::Challenge(LOGIN_USERNAME.into()),
            },
        };
        (ex, step)
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Feeds one client response line (base64, or "*").
    pub fn respond(&mut self, line: &[u8]) -> Step {
        match self.mechanism {
            Mechanism::Plain => match decode_plain(line) {
                Ok(c) => Step::Done(c),
                Err(e) => Step::Failed(e),
            },
            Mechanism::Login => {
                let data = match decode_base64(line) {
                    Ok(d) => d,
                    Err(e) => return Step::Failed(e),
                };
                let Ok(text) = String::from_utf8(data) else {
                    return Step::Failed(SaslError::Malformed("not UTF-8"));
                };
                match self.username.take() {
                    None if text.is_empty() => {
                        Step::Failed(SaslError::Malformed("empty user name"))
                    }
                    None => {
                        self.username = Some(text);
                        Step::Challenge(LOGIN_PASSWORD.into())
                    }
                    Some(username) => Step::Done(Credentials {
                        username,
                        password: Secret::new(text),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> Vec<u8> {
        encode_base64(s).into_bytes()
    }

    #[test]
    fn plain() {
        let c = decode_plain(&b64(b"\0alice@example.test\0secret")).expect("plain");
        assert_eq!(c.username, "alice@example.test");
        assert_eq!(c.password.expose(), "secret");
        // authzid equal to authcid is fine; different is proxy auth, refused.
        assert!(decode_plain(&b64(b"alice@x\0alice@x\0pw")).is_ok());
        assert_eq!(
            decode_plain(&b64(b"bob@x\0alice@x\0pw")),
            Err(SaslError::Authzid)
        );
        assert_eq!(decode_plain(b"%%%notbase64"), Err(SaslError::Base64));
        assert!(matches!(
            decode_plain(&b64(b"no nul at all")),
            Err(SaslError::Malformed(_))
        ));
        assert!(matches!(
            decode_plain(&b64(b"a\0b\0c\0d")),
            Err(SaslError::Malformed(_))
        ));
        assert!(matches!(
            decode_plain(&b64(b"\0\0pw")),
            Err(SaslError::Malformed(_))
        ));
        assert!(matches!(
            decode_plain(&b64(b"\0u\0\xff")),
            Err(SaslError::Malformed(_))
        ));
        assert_eq!(decode_plain(b"*"), Err(SaslError::Cancelled));
        assert!(format!("{c:?}").contains("<redacted>") && !format!("{c:?}").contains("secret"));
    }

    #[test]
    fn exchanges() {
        let (mut ex, step) = Exchange::start(Mechanism::Login, None);
        assert_eq!(step, Step::Challenge(LOGIN_USERNAME.into()));
        assert_eq!(
            ex.respond(&b64(b"alice@x")),
            Step::Challenge(LOGIN_PASSWORD.into())
        );
        let Step::Done(c) = ex.respond(&b64(b"pw")) else {
            panic!("not done")
        };
        assert_eq!(
            (c.username.as_str(), c.password.expose().as_str()),
            ("alice@x", "pw")
        );

        let (mut ex, step) = Exchange::start(Mechanism::Plain, None);
        assert_eq!(step, Step::Challenge(String::new()));
        assert!(matches!(ex.respond(&b64(b"\0u@x\0p")), Step::Done(_)));

        let (_, step) = Exchange::start(Mechanism::Plain, Some(&b64(b"\0u@x\0p")));
        assert!(matches!(step, Step::Done(_)));
        let (mut ex, _) = Exchange::start(Mechanism::Login, None);
        assert_eq!(ex.respond(b"*"), Step::Failed(SaslError::Cancelled));
        assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::parse("CRAM-MD5"), None);
    }
}
