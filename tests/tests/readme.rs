//! The README shows what the program does: the mail client settings table against the shipped
//! configs and the TLS mode `serve` announces per listener, the configuration example against
//! the config parser, and the demo excerpt against the demo's transcript.

use std::path::{Path, PathBuf};

use testkit::{Mailstack, MAIL_SERVICES};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The body of the first fenced block with `fence` (e.g. "```toml") after `heading`.
fn block_after(text: &str, heading: &str, fence: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} missing"));
    let open = from + text[from..].find(fence).expect("fence") + fence.len();
    let close = open + text[open..].find("\n```").expect("closing fence");
    text[open..close].trim_start_matches('\n').to_string()
}

/// The port of `service` in a shipped config (`[listeners] service = "ip:port"`).
fn config_port(file: &str, service: &str) -> u16 {
    let text = std::fs::read_to_string(root().join("config").join(file)).expect("config");
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == service).then(|| v.split('"').nth(1).map(str::to_string))?
        })
        .and_then(|a| a.rsplit(':').next().and_then(|p| p.parse().ok()))
        .unwrap_or_else(|| panic!("no {service} listener in config/{file}"))
}

#[test]
fn client_settings_table_matches_configs_and_serve() {
    // Persistent (`serve --json`): the usual `mailstack: …` lines are what this checks.
    let server = Mailstack::builder().persistent().start();
    let text = readme();
    let from = text.find("## Mail client settings").expect("section");
    let rows: Vec<Vec<String>> = text[from..]
        .lines()
        .skip_while(|l| !l.starts_with("| what"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 8, "{rows:?}");
    for row in &rows {
        let (what, ports, security) = (&row[0], &row[2], &row[3]);
        let implicit = security == "SSL/TLS";
        let service = match (what.as_str(), implicit) {
            ("IMAP", true) => "imaps",
            ("IMAP", false) => "imap",
            ("POP3", true) => "pop3s",
            ("POP3", false) => "pop3",
            ("SMTP (sending)", true) => "submissions",
            ("SMTP (sending)", false) => "submission",
            ("SMTP (receiving, MX)", _) => "smtp",
            ("ManageSieve (filters, vacation)", _) => "managesieve",
            other => panic!("unknown row {other:?}"),
        };
        let (dev, prod) = ports.split_once(" / ").expect("dev / production");
        assert_eq!(
            dev.parse::<u16>().ok(),
            Some(config_port("mailstack.toml", service)),
            "{row:?}"
        );
        assert_eq!(
            prod.parse::<u16>().ok(),
            Some(config_port("production.toml", service)),
            "{row:?}"
        );
        // What `serve` says about that listener.
        let line = server
            .stdout
            .iter()
            .find(|l| l.starts_with(&format!("mailstack: {service} listening on ")))
            .unwrap_or_else(|| panic!("no line for {service}: {:?}", server.stdout));
        if implicit {
            assert!(line.ends_with("(implicit TLS)"), "{row:?}: {line}");
        } else {
            let upgrade = if service == "pop3" {
                "STLS"
            } else {
                "STARTTLS"
            };
            assert!(
                line.contains(upgrade) && security.contains("STARTTLS"),
                "{row:?}: {line}"
            );
        }
    }
}

#[test]
fn configuration_example_is_a_valid_config() {
    let text = readme();
    let example = block_after(&text, "## Configuration", "```toml");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("readme.toml");
    std::fs::write(&path, &example).expect("write");
    // dns-records loads and validates the whole config without binding anything.
    let o = testkit::process::cli(&path, &["dns-records"], "");
    assert_eq!(
        o.status.code(),
        Some(0),
        "the README's configuration example does not load:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Its listeners are the development config's.
    for service in MAIL_SERVICES.into_iter().chain(["http"]) {
        let want = format!(
            "{service} = \"127.0.0.1:{}\"",
            config_port("mailstack.toml", service)
        );
        assert!(
            example.lines().any(|l| l.starts_with(&want)),
            "{want} not in the example"
        );
    }
}

/// A literal size at the end of a line (`{329}`) as the golden file masks it (`{N}`).
fn mask_size(line: &str) -> String {
    match line.find(" {") {
        Some(i) if line.ends_with('}') => format!("{} {{N}}", &line[..i]),
        _ => line.to_string(),
    }
}

#[test]
fn demo_excerpt_lines_are_what_the_demo_prints() {
    let text = readme();
    let excerpt = block_after(&text, "## POP3 or IMAP?", "```text");
    let golden =
        std::fs::read_to_string(root().join("tests/golden/demo.txt")).expect("golden transcript");
    let mut checked = 0;
    for line in excerpt.lines().filter(|l| l.trim() != "...") {
        let want = mask_size(line);
        assert!(
            golden.lines().any(|g| g == want),
            "README demo line not in tests/golden/demo.txt: {line:?}"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked} lines");
}

/// The HAProxy example of "When one machine is not enough" balances every mail listener of
/// `config/production.toml` on its port (ManageSieve and HTTP are named apart).
#[test]
fn haproxy_example_covers_every_mail_port() {
    let text = readme();
    let block = block_after(&text, "## When one machine is not enough", "```haproxy");
    for service in MAIL_SERVICES {
        let port = config_port("production.toml", service);
        assert!(
            block.contains(&format!("listen {service}\n    bind :{port}\n")),
            "no `listen {service}` on :{port} in the HAProxy example"
        );
        assert!(block.contains(&format!("server a 10.0.0.1:{port} check")));
    }
}
