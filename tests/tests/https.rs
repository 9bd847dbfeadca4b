//! The optional `https` listener: the same HTTP service over TLS with the mail listeners'
//! generated certificate, checked with curl against the generated CA.

use std::process::Command;

use testkit::Mailstack;

fn curl(server: &Mailstack, args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(server.ca())
        .args(args)
        .output()
        .expect("curl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn https_serves_autoconfig_and_password_change() {
    // The generated config lists https (so does --ephemeral).
    let server = Mailstack::builder().persistent().start();
    let port = server.port("https");
    let base = format!("https://localhost:{port}");
    let (ok, xml) = curl(
        &server,
        &[&format!(
            "{base}/mail/config-v1.1.xml?emailaddress=alice@example.test"
        )],
    );
    assert!(ok && xml.contains("<clientConfig"), "{xml}");
    assert!(
        xml.contains(&format!("<port>{}</port>", server.port("imaps"))),
        "{xml}"
    );
    // Roundcube-style form over TLS: wrong current password → 403, right one → ok.
    let (_, body) = curl(
        &server,
        &[
            "-d",
            "user=bob@example.test&curpass=not-the-password&newpass=a-brand-new-secret",
            "-w",
            " %{http_code}",
            &format!("{base}/api/password"),
        ],
    );
    assert!(body.ends_with(" 403"), "{body}");
    let form = format!(
        "user=bob@example.test&curpass={}&newpass=a-brand-new-secret",
        testkit::BOB.1
    );
    let (ok, body) = curl(&server, &["-d", &form, &format!("{base}/api/password")]);
    assert!(ok && body.trim() == "ok", "{body}");
    // Plain HTTP on the TLS port is not answered as HTTP.
    let (_, body) = curl(
        &server,
        &[&format!("http://127.0.0.1:{port}/mail/config-v1.1.xml")],
    );
    assert!(!body.contains("<clientConfig"), "{body}");
}
