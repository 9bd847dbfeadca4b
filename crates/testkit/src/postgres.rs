//! A private PostgreSQL for tests of the PostgreSQL backend: `initdb` into a temporary folder,
//! the server listening on a Unix socket in it (no TCP port at all), run as an unprivileged
//! user (PostgreSQL refuses root: as root, the `postgres` user of Debian's package), one fresh
//! database per test. A watchdog stops the server and removes the folder when the test
//! process ends. [`store`] returns `None` (the test skips) when PostgreSQL is not installed,
//! except under CI, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// One running cluster (per test process).
pub struct Cluster {
    /// Where the server's socket is (the URL's `host`).
    pub socket_dir: PathBuf,
    /// The port: the socket's name, and the TCP port of a [`TlsCluster`].
    pub port: u16,
    bin: PathBuf,
    user: Option<String>,
    /// The shell that runs the server and stops it when this process is gone (it outlives
    /// the process on purpose, so it is never waited for).
    watchdog: Option<std::process::Child>,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The PostgreSQL binaries (`initdb`, `postgres`, `createdb`) of Debian's package.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // The real user id, without libc: /proc/self/status "Uid:\treal\teffective…".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command as `user` (util-linux `setpriv`, which execs it).
fn setpriv_args(user: &str) -> Vec<String> {
    let (uid, gid) = ids_of(user).expect("the postgres user of Debian's package");
    vec![
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--clear-groups".into(),
    ]
}

/// uid and gid of `user` from /etc/passwd.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

impl Cluster {
    /// The cluster of this test process, started on first use; `None` without PostgreSQL.
    pub fn get() -> Option<&'static Cluster> {
        CLUSTER
            .get_or_init(|| {
                let Some(bin) = bin_dir() else {
                    let msg = "PostgreSQL is not installed (make deps installs postgresql)";
                    assert!(std::env::var_os("CI").is_none(), "{msg}");
                    eprintln!("SKIPPED: {msg}");
                    return None;
                };
                Some(Cluster::start(bin, None))
            })
            .as_ref()
    }

    /// A cluster of its own that also listens on 127.0.0.1 (a free port) and accepts TCP
    /// connections over TLS only (`hostssl` in pg_hba.conf, certificates from
    /// [`crate::tls::generate`]); `None` without PostgreSQL.
    pub fn start_tls() -> Option<TlsCluster> {
        let bin = bin_dir()?;
        let certs_dir = tempfile::tempdir().expect("certs dir");
        let certs = crate::tls::generate(certs_dir.path(), &[]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster::start(bin, Some((port, &certs.cert, &certs.key)));
        let ca = cluster.socket_dir.join("ca.crt");
        std::fs::copy(&certs.ca, &ca).expect("copy the CA");
        Some(TlsCluster { cluster, ca })
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args(setpriv_args(u)).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn start(bin: PathBuf, tls: Option<(u16, &Path, &Path)>) -> Cluster {
        let user = is_root().then(|| "postgres".to_string());
        // Not a TempDir: the watchdog removes it after the server stopped.
        let dir = std::env::temp_dir().join(format!(
            "mailstack-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("postgres temp dir");
        if let Some(u) = &user {
            let (uid, gid) = ids_of(u).expect("the postgres user of Debian's package");
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown");
        }
        let mut cluster = Cluster {
            socket_dir: dir.clone(),
            port: tls.map_or(5432, |t| t.0),
            bin,
            user,
            watchdog: None,
        };
        let data = dir.join("data");
        let out = cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // TCP with TLS only: the certificate and key where the server user may read them
        // (the key private to it, as PostgreSQL insists), and no plain `host` line.
        let net = match tls {
            None => "-c listen_addresses=''".to_string(),
            Some((port, cert, key)) => {
                let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
                std::fs::copy(cert, &c).expect("copy cert");
                std::fs::copy(key, &k).expect("copy key");
                std::fs::set_permissions(&k, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .expect("chmod key");
                if let Some(u) = &cluster.user {
                    let (uid, gid) = ids_of(u).expect("the postgres user");
                    for f in [&c, &k] {
                        std::os::unix::fs::chown(f, Some(uid), Some(gid)).expect("chown");
                    }
                }
                std::fs::write(
                    data.join("pg_hba.conf"),
                    "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
                )
                .expect("pg_hba.conf");
                format!(
                    "-c listen_addresses=127.0.0.1 -p {port} -c ssl=on -c ssl_cert_file='{}' \
                     -c ssl_key_file='{}'",
                    c.display(),
                    k.display()
                )
            }
        };
        let server = cluster.bin.join("postgres");
        // setpriv execs (no parent left between the watchdog and the server).
        let runas = cluster
            .user
            .as_ref()
            .map(|u| format!("setpriv {} ", setpriv_args(u).join(" ")))
            .unwrap_or_default();
        // The server and its watchdog: when this process is gone, stop the server (fast
        // shutdown) and remove the folder.
        let script = format!(
            "{runas}'{server}' -D '{data}' -k '{sock}' {net} -c fsync=off \
             -c max_connections=400 -c shared_buffers=16MB >'{dir}/log' 2>&1 & pg=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 1; done; \
             kill -INT $pg 2>/dev/null; wait $pg; rm -rf '{dir}'",
            server = server.display(),
            data = data.display(),
            sock = dir.display(),
            dir = dir.display(),
            parent = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        cluster.watchdog = Some(watchdog);
        let socket = dir.join(format!(".s.PGSQL.{}", cluster.port));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "postgres did not start: {}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster
    }

    /// A new, empty database; its connection string.
    pub fn database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            // The socket file appears a moment before the server takes connections.
            let out = self
                .command("createdb")
                .args(["-h"])
                .arg(&self.socket_dir)
                .args(["-p", &self.port.to_string(), "-U", "postgres", &name])
                .output()
                .expect("run createdb");
            if out.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "createdb: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.port == 5432 {
            url(&self.socket_dir, &name)
        } else {
            format!("{} port={}", url(&self.socket_dir, &name), self.port)
        }
    }
}

/// A cluster reached over TCP with TLS ([`Cluster::start_tls`]).
pub struct TlsCluster {
    pub cluster: Cluster,
    /// The CA certificate (PEM) the server's certificate chains to.
    pub ca: PathBuf,
}

impl TlsCluster {
    /// A new, empty database; its connection string over TCP with `sslmode=require`.
    pub fn database(&self) -> String {
        let socket_url = self.cluster.database();
        let name = socket_url
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("dbname="))
            .unwrap_or_default();
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={name} sslmode=require",
            self.cluster.port
        )
    }
}

/// The connection string of database `name` on the socket in `dir`.
pub fn url(dir: &Path, name: &str) -> String {
    format!("host={} user=postgres dbname={name}", dir.display())
}

/// A store on a fresh database of this process's cluster; `None` without PostgreSQL.
pub fn store() -> Option<store::Store> {
    let cluster = Cluster::get()?;
    Some(store::Store::open_postgres(&cluster.database()).expect("open the PostgreSQL store"))
}
