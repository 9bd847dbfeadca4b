//! The CLI's channel to a running server (docs/spec.md §7.1): its HTTP admin API on loopback,
//! found through `admin-endpoint` in the data folder (written by `serve` once its HTTP
//! listener is bound) and authorised with the admin token (`[http] admin_token`, or the
//! `admin-token` file beside it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::Config;

/// The file in the data folder naming the running server's HTTP admin address.
pub fn endpoint_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-endpoint")
}

/// Records where this server's admin API listens (`serve`, once bound). An unspecified
/// bind address (`0.0.0.0`, `::`) is reached through loopback.
pub fn write_endpoint(data_dir: &Path, bound: SocketAddr) -> std::io::Result<()> {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    std::fs::write(endpoint_file(data_dir), format!("{addr}\n"))
}

/// A running server's admin API.
pub struct Live {
    client: web::client::AdminClient,
}

impl Live {
    /// The running server of `config`'s data folder, or an error saying how to start one.
    pub fn find(config: &Config) -> anyhow::Result<Live> {
        let file = endpoint_file(&config.data_dir);
        let text = std::fs::read_to_string(&file).map_err(|_| {
            anyhow::anyhow!(
                "no running server with an HTTP listener for {} (no {}); start `mailstack \
                 serve` with [listeners] http set",
                config.data_dir.display(),
                file.display()
            )
        })?;
        let addr: SocketAddr = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not an address", file.display()))?;
        let token = match &config.http.admin_token {
            Some(t) if !t.is_empty() => t.clone(),
            _ => std::fs::read_to_string(crate::token::path(&config.data_dir))
                .context("cannot read the admin token of the running server")?
                .trim()
                .to_string(),
        };
        Ok(Live {
            client: web::client::AdminClient::new(addr, token),
        })
    }

    /// One request; the JSON answer with its status. Errors when the server cannot be
    /// reached or refuses the token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.checked(self.client.call(method, path, body).await)
    }

    /// [`Live::call`] with a body of any type (a message for `deliver`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        payload: Vec<u8>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.checked(self.client.send(method, path, content_type, payload).await)
    }

    /// A `GET` whose successful answer is streamed into `out` (an export); the status, and
    /// the error answer when it failed.
    pub async fn download(
        &self,
        path: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.checked(self.client.download(path, out).await)
    }

    fn checked(
        &self,
        answer: Result<(u16, serde_json::Value), web::client::ClientError>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let (status, json) = answer.with_context(|| {
            format!(
                "the server's admin API at {} does not answer (is `mailstack serve` running?)",
                self.client.addr
            )
        })?;
        if status == 401 {
            bail!(
                "the running server refused the admin token (was it rotated? restart the server)"
            );
        }
        Ok((status, json))
    }
}

/// The reason in an error answer (`{"error": …}`), or the answer itself.
pub fn error_text(body: &serde_json::Value) -> String {
    body["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string())
}
