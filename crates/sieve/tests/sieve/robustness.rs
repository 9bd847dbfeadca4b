//! Parsing and running never panic, whatever the input, and stay fast: random bytes,
//! every truncation and random mutations of valid scripts, large and deep inputs.

use super::*;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Scripts that parse, covering every command, test and tag.
const SEEDS: &[&str] = &[
    include_str!("../data/full.sieve"),
    "require [\"fileinto\",\"copy\"];\n# rule:[a]\nif header :contains \"subject\" \"x\"\n{\n\tfileinto :copy \"Lists\";\n\tstop;\n}\n",
    "require \"vacation\";\nvacation :days 3 :subject \"s\" text:\nline\n..dot\n.\n;\n",
];

/// Messages the parsed scripts run against.
fn messages() -> Vec<Vec<u8>> {
    vec![
        MSG.to_vec(),
        Vec::new(),
        b"\r\n".to_vec(),
        b"Subject: only a header".to_vec(),
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=c\r\n\r\n--c\r\n\r\nSubject: x\r\n\r\ny\r\n--c--\r\n--b".to_vec(),
        vec![0xff; 300],
    ]
}

fn run_all(script: &sieve::Script) {
    let env_null = sieve::Envelope { from: "", to: "" };
    for m in messages() {
        let out = sieve::execute(script, &ENV, &m, &ctx());
        assert!(!out.actions.is_empty());
        let out = sieve::execute(script, &env_null, &m, &ctx());
        for a in &out.actions {
            if let sieve::Action::Vacation(v) = a {
                let _ = sieve::vacation::reply_to(v, &env_null, &m, &["a@b"]);
                let _ = sieve::vacation::build_reply(v, "a@b", "c@d", &m, 0, "id");
            }
        }
    }
}

#[test]
fn seeds_parse() {
    for s in SEEDS {
        run_all(&parse(s));
    }
}

#[test]
fn every_truncation_of_valid_scripts() {
    for s in SEEDS {
        for (i, _) in s.char_indices() {
            if let Ok(script) = sieve::parse(&s[..i]) {
                run_all(&script);
            }
        }
    }
}

#[test]
fn random_mutations_of_valid_scripts() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let alphabet: Vec<char> = "{}[]();,:\"\\#/* \n\tabcxyz0123456789K$@.-é"
        .chars()
        .collect();
    let start = Instant::now();
    for round in 0..3000 {
        let seed = SEEDS[round % SEEDS.len()];
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = alphabet[rng.below(alphabet.len())],
                _ => chars.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        let src: String = chars.into_iter().collect();
        if let Ok(script) = sieve::parse(&src) {
            run_all(&script);
        }
    }
    assert!(start.elapsed() < Duration::from_secs(120));
}

#[test]
fn random_bytes() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Ok(script) = sieve::parse(&String::from_utf8_lossy(&bytes)) {
            run_all(&script);
        }
        // Random bytes as the message, too.
        let s = parse(SEEDS[0]);
        let _ = sieve::execute(&s, &ENV, &bytes, &ctx());
    }
}

#[test]
fn large_inputs_stay_linear() {
    let timed = |src: &str| {
        let t = Instant::now();
        let _ = sieve::parse(src);
        t.elapsed()
    };
    let n = 200_000;
    for src in [
        "keep;".repeat(n),
        format!(
            "if header :is \"a\" [{}\"x\"] {{ keep; }}",
            "\"x\",".repeat(n)
        ),
        "# c\n".repeat(n),
        format!("\"{}\"", "\\\"".repeat(n)),
        "${".repeat(n),
        format!("require \"variables\"; set \"a\" \"{}\";", "${".repeat(n)),
        format!(
            "require \"encoded-character\"; set \"a\" \"{}\";",
            "${hex:".repeat(n)
        ),
        "if true {".repeat(n),
        format!("if {} {{}}", "not ".repeat(n)),
        format!("keep; /*{}", "*".repeat(n)),
        format!(
            "require \"vacation\"; vacation text:\n{}.\n;",
            "line\n".repeat(n)
        ),
    ] {
        let d = timed(&src);
        assert!(
            d < Duration::from_secs(5),
            "{d:?} for input starting {:?}",
            &src[..40.min(src.len())]
        );
    }
}

#[test]
fn large_messages_and_patterns_stay_fast() {
    let body = "a".repeat(200_000);
    let msg = format!("Subject: {}\r\n\r\n{body}\r\n", "a".repeat(50_000));
    let src = format!(
        "require [\"body\", \"variables\"];\nif anyof(header :matches \"subject\" \"{p}\", body :matches \"{p}\") {{ discard; }}",
        p = format!("{}b", "*a".repeat(30))
    );
    let t = Instant::now();
    assert_eq!(run_on(&src, msg.as_bytes()).actions, [keep()]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
