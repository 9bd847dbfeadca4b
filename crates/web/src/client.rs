//! A client of this service's admin API (HTTP/1.1 over loopback, bearer token), for the CLI
//! (`mailstack fault …` against a running server) and the Rust test API (`mailstack-test`).

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Why a call failed (the server could not be reached or spoke no HTTP).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the admin API at {addr} does not answer: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(String),
}

/// The admin API of one server.
#[derive(Clone, Debug)]
pub struct AdminClient {
    pub addr: SocketAddr,
    token: String,
}

impl AdminClient {
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> AdminClient {
        AdminClient {
            addr,
            token: token.into(),
        }
    }

    /// One request with an optional JSON body; the status and the answer (JSON, or the text
    /// as a JSON string, or null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(method, path, "application/json", payload.into_bytes())
            .await
    }

    /// One request with a body of any type (e.g. `message/rfc822`); the answer as in
    /// [`AdminClient::call`].
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        payload: Vec<u8>,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let http = |e: &dyn std::fmt::Display| ClientError::Http(e.to_string());
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| http(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| http(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http(&e))?
            .to_bytes();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            })
        };
        Ok((status, json))
    }
}
