//! Password policy (docs/spec.md §4): at least `min` characters, not containing the address's local
//! part, at most 1024 bytes. The error names the rule that failed.

/// Longest password accepted, in bytes (docs/spec.md §4).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks `password` for `address`; `Err` says which rule failed.
pub fn check_password_policy(address: &str, password: &str, min: usize) -> Result<(), String> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if password.chars().count() < min {
        return Err(format!("password must be at least {min} characters long"));
    }
    let local = address.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 3 && password.to_lowercase().contains(&local) {
        return Err("password must not contain the address's user name".into());
    }
    if password.chars().any(|c| c.is_control()) {
        return Err("password must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let a = "alice@example.test";
        assert!(check_password_policy(a, "correct horse battery", 12).is_ok());
        assert!(check_password_policy(a, "short", 12)
            .unwrap_err()
            .contains("at least 12"));
        assert!(check_password_policy(a, "xxAlice-is-me-2026", 12)
            .unwrap_err()
            .contains("user name"));
        assert!(check_password_policy(a, &"x".repeat(1025), 12)
            .unwrap_err()
            .contains("1024"));
        assert!(check_password_policy(a, &"x".repeat(1024), 12).is_ok());
        assert!(check_password_policy(a, "tab\there-is-long", 12).is_err());
        // Counting characters, not bytes: 12 two-byte characters pass.
        assert!(check_password_policy(a, &"é".repeat(12), 12).is_ok());
        assert!(check_password_policy(a, "fourteen chars", 16).is_err());
    }
}
