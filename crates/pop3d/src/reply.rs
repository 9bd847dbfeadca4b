//! What handlers answer: [`Reply`] (success), [`CmdError`] (failure) and the RFC 2449 / RFC 3206
//! response codes ([`RespCode`]). Only the session writes them to the wire.

use store::BlobId;

/// Extended response codes (RFC 2449 §8, RFC 3206 §4–§5), written in brackets after `-ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespCode {
    /// RFC 2449 §8.1.2: the maildrop is locked by another POP3 session.
    InUse,
    /// RFC 3206 §5: authentication failed because of the credentials.
    Auth,
    /// RFC 3206 §4: a temporary server fault; retrying later may work.
    SysTemp,
    /// RFC 3206 §4: a permanent server fault; retrying will not help.
    SysPerm,
    /// RFC 2449 §8.1.1: the account logged in too recently (LOGIN-DELAY).
    LoginDelay,
}

impl RespCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::Auth => "AUTH",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::LoginDelay => "LOGIN-DELAY",
        }
    }
}

/// "1 message", "2 messages": a count with its noun in the right number, for reply texts
/// people read (RFC 1939 leaves the text after `+OK` free).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK text`.
    Ok(String),
    /// `+OK text`, the lines (dot-stuffed by the writer), then `.` (RFC 1939 §3).
    Multi(String, Vec<String>),
    /// `+OK text`, then the message (all of it, or its header and the first `top` body lines,
    /// RFC 1939 §7 TOP) dot-stuffed and terminated by `.`.
    Message {
        text: String,
        blob: BlobId,
        size: u64,
        top: Option<u32>,
    },
}

/// Why a command failed (docs/conventions.md §4).
#[derive(Debug)]
pub enum CmdError {
    /// A user error: `-ERR [code] text`; the session goes on.
    No {
        code: Option<RespCode>,
        text: String,
    },
    /// Unknown command, bad syntax or a command not valid in this state: `-ERR text`, and it
    /// counts towards the limit of bad commands.
    Bad(String),
    /// A server fault: logged, the client gets `-ERR [SYS/TEMP]` and the session goes on.
    Internal(store::Error),
}

impl CmdError {
    pub fn no(text: impl Into<String>) -> CmdError {
        CmdError::No {
            code: None,
            text: text.into(),
        }
    }

    pub fn code(code: RespCode, text: impl Into<String>) -> CmdError {
        CmdError::No {
            code: Some(code),
            text: text.into(),
        }
    }

    /// The `-ERR` line for this error (with CRLF).
    pub fn line(&self) -> String {
        match self {
            CmdError::No {
                code: Some(c),
                text,
            } => format!("-ERR [{}] {text}\r\n", c.as_str()),
            CmdError::No { code: None, text } | CmdError::Bad(text) => format!("-ERR {text}\r\n"),
            CmdError::Internal(_) => {
                "-ERR [SYS/TEMP] internal server error; try again later\r\n".into()
            }
        }
    }
}

impl From<store::Error> for CmdError {
    fn from(e: store::Error) -> Self {
        CmdError::Internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines() {
        assert_eq!(
            CmdError::code(RespCode::InUse, "locked").line(),
            "-ERR [IN-USE] locked\r\n"
        );
        assert_eq!(
            CmdError::no("no such message").line(),
            "-ERR no such message\r\n"
        );
        assert_eq!(
            CmdError::Bad("unknown command".into()).line(),
            "-ERR unknown command\r\n"
        );
        assert!(CmdError::Internal(store::Error::NoSuchMailbox)
            .line()
            .starts_with("-ERR [SYS/TEMP]"));
        assert_eq!(RespCode::SysPerm.as_str(), "SYS/PERM");
        assert_eq!(RespCode::Auth.as_str(), "AUTH");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(2, "message"), "2 messages");
    }
}
