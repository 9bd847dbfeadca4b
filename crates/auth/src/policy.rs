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

/// The test policy of `serve --ephemeral` (docs/spec.md §7.2): any non-empty password. The
/// limits every protocol needs stay: at most 1024 bytes, no control characters (a CR or LF
/// could not be sent in a command line).
pub fn check_test_password_policy(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("password must not be empty".into());
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
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
    fn test_policy_takes_any_non_empty_password() {
        for pw in ["secret", "x", "alice", "alice@example.test"] {
            assert!(check_test_password_policy(pw).is_ok(), "{pw}");
        }
        assert!(check_test_password_policy("")
            .unwrap_err()
            .contains("empty"));
        assert!(check_test_password_policy("a\nb").is_err());
        assert!(check_test_password_policy(&"x".repeat(1025)).is_err());
    }

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
