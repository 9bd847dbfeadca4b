//! Every SMTP reply this server sends, as a named constant: the reply code (RFC 5321 §4.2),
//! the enhanced status code (RFC 3463, announced with ENHANCEDSTATUSCODES, RFC 2034) and the
//! default text. Handlers pick a constant and, where it helps the user, a more precise text.

use std::borrow::Cow;

/// One reply kind: basic code + enhanced status code + default text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: u16,
    /// Enhanced status code `class.subject.detail` (RFC 3463 §2).
    pub status: &'static str,
    pub text: &'static str,
}

impl Code {
    /// The reply with its default text.
    pub fn reply(self) -> Reply {
        Reply {
            code: self,
            text: Cow::Borrowed(self.text),
        }
    }

    /// The reply with a specific text.
    pub fn with(self, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code: self,
            text: text.into(),
        }
    }
}

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: Code,
    pub text: Cow<'static, str>,
}

impl Reply {
    /// The wire form: `code SP status SP text CRLF` (RFC 2034 §4).
    pub fn to_bytes(&self) -> Vec<u8> {
        // CR/LF in a text would split the reply: never let one through.
        let text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{} {} {}\r\n", self.code.code, self.code.status, text).into_bytes()
    }

    /// Whether the reply is a permanent error (5yz), which counts toward the error limit.
    pub fn is_error(&self) -> bool {
        self.code.code >= 500
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal $status:literal $text:literal;)*) => {
        $($(#[$doc])* pub const $name: Code = Code { code: $code, status: $status, text: $text };)*
    };
}

codes! {
    // --- Connection ---
    /// RFC 5321 §4.2.3 (220 greeting); RFC 3207 §4 (220 before the TLS handshake).
    READY_TLS = 220 "2.0.0" "Ready to start TLS";
    /// RFC 5321 §4.2.3: 221 closing.
    BYE = 221 "2.0.0" "Bye";
    /// RFC 5321 §3.8, RFC 3463 §3.5 (4.3.2 system not accepting messages).
    SHUTTING_DOWN = 421 "4.3.2" "Server shutting down, try again later";
    /// RFC 5321 §4.5.3.2.7 (server timeout), RFC 3463 §3.5 (4.4.2 bad connection).
    IDLE_TIMEOUT = 421 "4.4.2" "Idle timeout, closing connection";
    /// RFC 5321 §3.8: the server may close after too many errors.
    TOO_MANY_ERRORS = 421 "4.7.0" "Too many errors, closing connection";

    // --- Success ---
    /// RFC 5321 §4.2.3: 250 requested action okay.
    OK = 250 "2.0.0" "OK";
    /// RFC 3463 §3.2 (2.1.0 originator ok).
    SENDER_OK = 250 "2.1.0" "Sender OK";
    /// RFC 3463 §3.2 (2.1.5 destination address valid).
    RECIPIENT_OK = 250 "2.1.5" "Recipient OK";
    /// RFC 3463 §3.7 (2.6.0 message accepted).
    QUEUED = 250 "2.6.0" "Message accepted";
    /// RFC 5321 §4.2.3: 214 help message.
    HELP = 214 "2.0.0" "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT";
    /// RFC 5321 §3.5.3: 252 cannot VRFY (no user enumeration).
    CANNOT_VRFY = 252 "2.5.0" "Cannot VRFY user, but will accept message and attempt delivery";
    /// RFC 4954 §6: 235 2.7.0 Authentication successful.
    AUTH_OK = 235 "2.7.0" "Authentication successful";
    /// RFC 5321 §4.2.3: 354 start mail input.
    START_DATA = 354 "2.0.0" "Start mail input; end with <CRLF>.<CRLF>";

    // --- Syntax and sequence (RFC 5321 §4.2.4) ---
    /// RFC 5321 §4.2.4: 500 command unrecognized.
    UNKNOWN_COMMAND = 500 "5.5.1" "Command unrecognized";
    /// RFC 5321 §4.5.3.1.4 (line too long), RFC 3463 §3.6 (5.5.2 syntax error).
    LINE_TOO_LONG = 500 "5.5.2" "Line too long";
    /// RFC 5321 §4.2.4: 501 syntax error in parameters or arguments.
    SYNTAX = 501 "5.5.4" "Syntax error in parameters or arguments";
    /// RFC 3463 §3.2 (5.1.7 bad sender mailbox syntax).
    BAD_SENDER_SYNTAX = 501 "5.1.7" "Bad sender address syntax";
    /// RFC 3463 §3.2 (5.1.3 bad destination mailbox syntax).
    BAD_RECIPIENT_SYNTAX = 501 "5.1.3" "Bad recipient address syntax";
    /// RFC 4954 §4: 501 5.5.2 for a response that is not base64.
    BAD_BASE64 = 501 "5.5.2" "Invalid base64 or malformed SASL response";
    /// RFC 4954 §4: 501 when the client cancels with "*".
    AUTH_CANCELLED = 501 "5.0.0" "Authentication cancelled";
    /// RFC 5321 §4.2.4: 502 command not implemented.
    NOT_IMPLEMENTED = 502 "5.5.1" "Command not implemented";
    /// RFC 5321 §4.2.4: 503 bad sequence of commands.
    BAD_SEQUENCE = 503 "5.5.1" "Bad sequence of commands";
    /// RFC 4954 §4: 504 5.5.4 unrecognized authentication type.
    UNKNOWN_MECHANISM = 504 "5.5.4" "Unrecognized authentication type";
    /// RFC 5321 §4.1.1.11: 555 MAIL/RCPT parameters not recognized or not implemented.
    UNKNOWN_PARAMETER = 555 "5.5.4" "Parameter not recognized or not implemented";

    // --- Policy ---
    /// RFC 4954 §6: 530 5.7.0 Authentication required.
    AUTH_REQUIRED = 530 "5.7.0" "Authentication required (POP-before-SMTP is not supported)";
    /// RFC 4954 §6: 535 5.7.8 authentication credentials invalid.
    AUTH_FAILED = 535 "5.7.8" "Authentication credentials invalid";
    /// RFC 4954 §6: 538 5.7.11 encryption required for requested authentication mechanism.
    ENCRYPTION_REQUIRED = 538 "5.7.11" "Encryption required for requested authentication mechanism";
    /// RFC 4954 §6: 454 4.7.0 temporary authentication failure.
    AUTH_TEMPORARY = 454 "4.7.0" "Temporary authentication failure, try again later";
    /// RFC 3207 §4: 454 TLS not available due to temporary reason.
    TLS_UNAVAILABLE = 454 "4.7.0" "TLS not available";
    /// RFC 3463 §3.8 (5.7.1 delivery not authorized): the server never relays.
    RELAY_DENIED = 550 "5.7.1" "Relaying denied";
    /// RFC 3463 §3.2 (5.1.1 bad destination mailbox address).
    NO_SUCH_USER = 550 "5.1.1" "Mailbox unavailable";
    /// RFC 6409 §6.1, RFC 3463 §3.8 (5.7.1): sender address not owned by the user.
    SENDER_NOT_OWNED = 553 "5.7.1" "Sender address not owned by user";
    /// RFC 6531 §3.5, RFC 6533 §3 (5.6.7): non-ASCII address without SMTPUTF8.
    NEEDS_SMTPUTF8 = 553 "5.6.7" "Non-ASCII address requires the SMTPUTF8 parameter";
    /// RFC 3463 §3.4 (5.2.2 mailbox full).
    OVER_QUOTA = 552 "5.2.2" "Mailbox full: quota exceeded";
    /// RFC 1870 §6, RFC 3463 §3.5 (5.3.4 message too big for system).
    TOO_BIG = 552 "5.3.4" "Message size exceeds fixed maximum message size";
    /// RFC 5321 §2.3.8 (CRLF only), RFC 3463 §3.7 (5.6.0 other media error): SMTP smuggling.
    BARE_LINE_ENDING = 550 "5.6.0" "Bare LF or CR in message data; lines must end with CRLF";
    /// RFC 5321 §4.5.3.1.10, RFC 3463 §3.6 (4.5.3 too many recipients).
    TOO_MANY_RECIPIENTS = 452 "4.5.3" "Too many recipients";
    /// RFC 5321 §4.2.2 451: local error in processing (details logged).
    LOCAL_ERROR = 451 "4.3.0" "Local error in processing, try again later";
}

/// Sent when the connection limit is reached (docs/spec.md §8), before closing.
pub const BUSY: &[u8] = b"421 4.7.0 Too many connections, try again later\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        assert_eq!(AUTH_REQUIRED.with("x").to_bytes(), b"530 5.7.0 x\r\n");
        assert_eq!(OK.reply().to_bytes(), b"250 2.0.0 OK\r\n");
        assert_eq!(OK.with("a\r\nb").to_bytes(), b"250 2.0.0 a  b\r\n");
        assert!(RELAY_DENIED.reply().is_error() && !TOO_MANY_RECIPIENTS.reply().is_error());
    }
}
