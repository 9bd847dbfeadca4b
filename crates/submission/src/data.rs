//! Message content: DATA (RFC 5321 §4.1.1.4, dot transparency §4.5.2) and BDAT chunks
//! (RFC 3030 §2).
//!
//! The DATA reader sits directly on [`net::Connection`] rather than smtp-proto's
//! `DataReceiver`, because that receiver accepts bare LF and bare CR silently. Here only
//! `CRLF . CRLF` ends the data, and any bare LF or bare CR makes the message rejected once the
//! data has ended (the "SMTP smuggling" defence, docs/spec.md §8): a message whose end-of-data
//! marker other servers would read differently is never accepted.

use net::{Connection, LineError};

/// Longest DATA line we buffer. RFC 5321 §4.5.3.1.6 allows 1000; real mail is sometimes
/// longer, so we are generous. A longer line makes the message rejected.
pub const MAX_DATA_LINE: usize = 1 << 20;

/// What reading the DATA content produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// The message, dot-unstuffed, ending with its last CRLF.
    Message(Vec<u8>),
    /// More than the SIZE limit arrived (read to the end and dropped).
    TooBig,
    /// A bare LF or CR was seen (read to the end and dropped).
    BareLineEnding,
    /// A line was longer than [`MAX_DATA_LINE`] (read to the end and dropped).
    LineTooLong,
}

/// Reads DATA content up to `CRLF.CRLF` (the 354 has been sent). `max` is the SIZE limit.
/// The protocol trace is paused so message bodies reach the logs only with `--trace-bodies`.
pub async fn read_data(conn: &mut Connection, max: u64) -> Result<Content, LineError> {
    let tracing = conn.tracing();
    conn.set_trace(tracing && net::conn::trace_bodies(), crate::redact);
    let r = read_data_inner(conn, max).await;
    conn.set_trace(tracing, crate::redact);
    r
}

async fn read_data_inner(conn: &mut Connection, max: u64) -> Result<Content, LineError> {
    let mut body = Vec::new();
    let mut verdict: Option<Content> = None;
    // The data starts right after the DATA command's CRLF, so the first line is at a CRLF
    // boundary.
    let mut after_crlf = true;
    loop {
        let line = match conn.read_line(MAX_DATA_LINE).await {
            Ok(l) => l,
            Err(LineError::TooLong) => {
                verdict.get_or_insert(Content::LineTooLong);
                // The rest of the line is dropped by the next read; it did not end in CRLF
                // as far as we know, so it cannot be followed by the end marker.
                after_crlf = false;
                continue;
            }
            Err(e) => return Err(e),
        };
        // RFC 5321 §4.1.1.4: the data ends with CRLF "." CRLF, and only that.
        if after_crlf && line == b".\r\n" {
            break;
        }
        let ends_crlf = line.ends_with(b"\r\n");
        let content = if ends_crlf {
            &line[..line.len() - 2]
        } else {
            &line[..line.len() - 1]
        };
        // RFC 5321 §2.3.8: CR and LF only as CRLF. A bare LF ends this line; a bare CR is
        // inside it.
        if !ends_crlf || content.contains(&b'\r') {
            verdict.get_or_insert(Content::BareLineEnding);
        }
        after_crlf = ends_crlf;
        if verdict.is_some() {
            continue;
        }
        // RFC 5321 §4.5.2: a leading period is removed (dot transparency).
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if body.len() as u64 + unstuffed.len() as u64 > max {
            // RFC 1870 §6: too big; keep reading to the end so the session stays in sync.
            verdict = Some(Content::TooBig);
            body = Vec::new();
            continue;
        }
        body.extend_from_slice(unstuffed);
    }
    Ok(verdict.unwrap_or(Content::Message(body)))
}

/// Reads and drops `n` bytes (a BDAT chunk we refuse): RFC 3030 §2 requires reading the
/// chunk whatever the reply, so the command stream stays in sync.
pub async fn discard(conn: &mut Connection, mut n: usize) -> Result<(), LineError> {
    const STEP: usize = 64 * 1024;
    while n > 0 {
        let take = n.min(STEP);
        conn.read_exact(take).await?;
        n -= take;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::AsyncWriteExt;

    async fn feed(input: &[u8], max: u64, chunk: usize) -> (Content, Vec<u8>) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut conn = Connection::new(server, addr, addr, false);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            let mut client = client;
            for piece in input.chunks(chunk) {
                client.write_all(piece).await.expect("write");
            }
            client
        });
        let content = read_data(&mut conn, max).await.expect("data");
        let _client = writer.await.expect("join");
        // Whatever follows the data is the next command.
        let next = conn.read_line(100).await.unwrap_or_default();
        (content, next)
    }

    #[tokio::test]
    async fn table() {
        let cases: &[(&[u8], Content)] = &[
            (
                b"a\r\nb\r\n.\r\nNOOP\r\n",
                Content::Message(b"a\r\nb\r\n".to_vec()),
            ),
            (b".\r\nNOOP\r\n", Content::Message(vec![])),
            (
                b"..x\r\n...\r\n.\r\nNOOP\r\n",
                Content::Message(b".x\r\n..\r\n".to_vec()),
            ),
            // Smuggling attempts: \n.\n and \n.\r\n and \r\n.\n do not end the data.
            (
                b"a\n.\nMAIL FROM:<x@y>\r\n.\r\nNOOP\r\n",
                Content::BareLineEnding,
            ),
            (b"a\n.\r\nRCPT\r\n.\r\nNOOP\r\n", Content::BareLineEnding),
            (b"a\r\n.\nRCPT\r\n.\r\nNOOP\r\n", Content::BareLineEnding),
            (b"a\rb\r\n.\r\nNOOP\r\n", Content::BareLineEnding),
            (b"a\r\r\n.\r\nNOOP\r\n", Content::BareLineEnding),
            (
                b"0123456789\r\n0123456789\r\n.\r\nNOOP\r\n",
                Content::TooBig,
            ),
        ];
        for (input, want) in cases {
            for chunk in [1, 2, 3, 7, 512] {
                let (got, next) = feed(input, 20, chunk).await;
                assert_eq!(
                    &got,
                    want,
                    "{:?} chunk {chunk}",
                    String::from_utf8_lossy(input)
                );
                assert_eq!(next, b"NOOP\r\n", "{:?}", String::from_utf8_lossy(input));
            }
        }
    }
}
