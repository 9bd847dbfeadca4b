//! The HTTP admin token (REST API, dashboard actions): kept in the data folder so a token a
//! person saved keeps working after a restart, shown when it is made, replaced on request
//! (`mailstack admin-token --rotate`). `[http] admin_token` in the config overrides it.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The file, in the data folder (mode 0600: it is a password).
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// The saved token, or a new one saved now: `(token, made_now)`.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(String, bool)> {
    let file = path(data_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) if is_token(text.trim()) => {
            // Tighten a file someone loosened: the token is a password.
            let mode = std::fs::metadata(&file)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make {} private", file.display()))?;
            }
            Ok((text.trim().to_string(), false))
        }
        Ok(_) => Ok((rotate(data_dir)?, true)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((rotate(data_dir)?, true)),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", file.display())),
    }
}

/// Makes and saves a new token (replacing the old one) and returns it.
pub fn rotate(data_dir: &Path) -> anyhow::Result<String> {
    let token = auth::random_token(16)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let file = path(data_dir);
    let tmp = data_dir.join("admin-token.new");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{token}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    };
    write().with_context(|| format!("cannot write {}", file.display()))?;
    Ok(token)
}

/// What [`auth::random_token`] makes: hex, long enough to be a secret.
fn is_token(text: &str) -> bool {
    text.len() >= 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_private_and_rotated() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let (t1, made) = load_or_create(&data).expect("create");
        assert!(made && is_token(&t1));
        let mode = std::fs::metadata(path(&data))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&data).expect("load"), (t1.clone(), false));
        std::fs::set_permissions(path(&data), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        assert_eq!(load_or_create(&data).expect("load").0, t1);
        let mode = std::fs::metadata(path(&data))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "tightened");
        let t2 = rotate(&data).expect("rotate");
        assert_ne!(t1, t2);
        assert_eq!(load_or_create(&data).expect("load"), (t2, false));
        std::fs::write(path(&data), "\n").expect("empty it");
        assert!(load_or_create(&data).expect("remake").1);
    }
}
