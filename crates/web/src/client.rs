//! A client of this service's admin API (HTTP/1.1 over loopback, bearer token), for the CLI
//! (its verbs against a running server; exports streamed to a file) and the Rust test API
//! (`mailstack-test`).

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
        let resp = self.request(method, path, content_type, payload).await?;
        let status = resp.status().as_u16();
        Ok((status, json_of(resp).await?))
    }

    /// A `GET` whose successful (2xx) answer is streamed into `out` (an export); an error
    /// answer is returned as in [`AdminClient::call`] and nothing is written. The status and
    /// the error (null after a success).
    pub async fn download(
        &self,
        path: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let resp = self
            .request("GET", path, "application/json", Vec::new())
            .await?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Ok((status, json_of(resp).await?));
        }
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data)
                    .map_err(|e| ClientError::Http(format!("cannot write the answer: {e}")))?;
            }
        }
        Ok((status, serde_json::Value::Null))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        payload: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
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
        sender.send_request(req).await.map_err(|e| http(&e))
    }
}

/// The answer as JSON, or its text as a JSON string, or null when empty.
async fn json_of(
    resp: hyper::Response<hyper::body::Incoming>,
) -> Result<serde_json::Value, ClientError> {
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes();
    Ok(if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        })
    })
}
