//! Every citation of the design documents points at a section that exists
//! (docs/conventions.md §15).
//!
//! - In the code (`crates/`, `bench/`, `tests/`, `fuzz/`, `.ci/`, `config/`, `README.md`,
//!   `Makefile`, `Cargo.toml`, `deny.toml`, `clippy.toml`): every `docs/<file>.md` named exists;
//!   every section it cites (`docs/spec.md §8`, `docs/spec.md §4, §8`, `docs/spec.md §5.3`)
//!   is a heading of that file (`## §8 …`, `### §5.3 …`); a quoted title right after the file
//!   name (`docs/architecture.md, "Blob store"`) is a heading of it; and no citation points
//!   at the design documents that used to live outside the repository (their upper-case
//!   names). `docs/tools/rewrite-citations.py` rewrites those.
//! - In `docs/` itself: cross-references (`architecture §7`, `spec §3.1`, `conventions
//!   §1–§8`) and bare section numbers in spec.md, architecture.md and conventions.md (`§4.5`,
//!   same document) exist; RFC sections (`RFC 3501 §7.4.1`) are not ours and are skipped.
//! - Section numbers are unique within each document.
//!
//! Plain std: no parser crates, just a small scanner.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The documents code may cite by section.
const DOCS: [&str; 3] = ["spec.md", "architecture.md", "conventions.md"];
/// Scanned folders and files, relative to the repository root.
const SCAN_DIRS: [&str; 6] = ["crates", "bench", "tests", "fuzz", ".ci", "config"];
const SCAN_FILES: [&str; 5] = [
    "README.md",
    "Makefile",
    "Cargo.toml",
    "deny.toml",
    "clippy.toml",
];
/// Folders never scanned: build output, third-party code, test and fuzz inputs.
const SKIP_DIRS: [&str; 8] = [
    "target",
    "node_modules",
    ".git",
    "__pycache__",
    "corpus",
    "artifacts",
    "regressions",
    "data",
];
const SKIP_SUFFIXES: [&str; 6] = [".png", ".lock", ".eml", ".ico", ".der", ".gz"];
/// This file names the old documents and invalid citations on purpose (in its own tests).
const SELF: &str = "tests/tests/doc_citations.rs";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the repository")
        .to_path_buf()
}

/// The upper-case names of the design documents that lived outside the repository.
fn old_names() -> Vec<String> {
    ["SPEC", "ARCHITECTURE", "STYLE"]
        .iter()
        .map(|n| format!("{n}.md"))
        .collect()
}

/// Numbered headings of one document: section number → title.
type Sections = BTreeMap<String, String>;

/// `## §8 Limits and bad input` → ("8", "Limits and bad input").
fn heading(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start_matches('#');
    if rest.len() == line.len() || !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('§')?;
    let (number, len) = section_number(rest)?;
    let title = rest[len..].trim().trim_end_matches('#').trim();
    Some((number, title.to_string()))
}

/// Parses `8`, `5.3`, `4.1.1` at the start of `s` (a trailing `.` is punctuation, not part of
/// the number). Returns the number and how many bytes it took.
fn section_number(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 {
        return None;
    }
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    Some((s[..i].to_string(), i))
}

/// The section numbers of a list starting at a `§`: `§4, §8`, `§1–§8`, `§3 and §4`,
/// `§5 / §6`. Stops at anything else (a quote, `/ RFC`, the end of a sentence).
fn section_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(after) = rest.strip_prefix('§') {
        let Some((number, len)) = section_number(after) else {
            break;
        };
        out.push(number);
        rest = &after[len..];
        // A separator, then another `§`, or the list ends.
        let t = rest.trim_start();
        let t = [", and", ",", "and", "/", "–", "-", "&"]
            .iter()
            .find_map(|sep| t.strip_prefix(sep))
            .map(str::trim_start);
        match t {
            Some(next) if next.starts_with('§') => rest = next,
            _ => break,
        }
    }
    out
}

/// Reads every document's numbered headings; duplicate numbers are reported as problems.
fn load_docs(root: &Path, problems: &mut Vec<String>) -> BTreeMap<String, Sections> {
    let mut docs = BTreeMap::new();
    for name in DOCS {
        let path = root.join("docs").join(name);
        let Ok(text) = fs::read_to_string(&path) else {
            problems.push(format!("docs/{name}: missing"));
            continue;
        };
        let mut sections = Sections::new();
        let mut in_fence = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
            }
            if in_fence {
                continue;
            }
            if let Some((number, title)) = heading(line) {
                if sections.insert(number.clone(), title).is_some() {
                    problems.push(format!(
                        "docs/{name}:{}: section §{number} is numbered twice",
                        i + 1
                    ));
                }
            }
        }
        if sections.is_empty() {
            problems.push(format!("docs/{name}: no numbered headings (`## §1 …`)"));
        }
        docs.insert(name.to_string(), sections);
    }
    docs
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Checks one line of code for `docs/…` citations and old names; pushes what is wrong.
fn check_code_line(
    root: &Path,
    docs: &BTreeMap<String, Sections>,
    line: &str,
    at: &str,
    problems: &mut Vec<String>,
) {
    for old in old_names() {
        if line.contains(&old) {
            problems.push(format!(
                "{at}: cites {old}, a document outside the repository; cite docs/ instead \
                 (python3 docs/tools/rewrite-citations.py)"
            ));
        }
    }
    if line.contains("SPEC §") {
        problems.push(format!("{at}: cites \"SPEC §\"; cite docs/spec.md instead"));
    }
    let mut from = 0;
    while let Some(pos) = line[from..].find("docs/") {
        let start = from + pos;
        from = start + "docs/".len();
        if line[..start].chars().next_back().is_some_and(is_path_char) {
            continue; // some other folder's docs/
        }
        let path: String = line[start..]
            .chars()
            .take_while(|&c| is_path_char(c))
            .collect();
        let path = path.trim_end_matches('.');
        if !path.ends_with(".md") {
            continue;
        }
        let file = path.trim_start_matches("docs/");
        if !root.join(path).is_file() {
            problems.push(format!("{at}: {path} does not exist"));
            continue;
        }
        let after = &line[start + path.len()..];
        let t = after.trim_start();
        if t.starts_with('§') {
            let Some(sections) = docs.get(file) else {
                problems.push(format!("{at}: {path} has no numbered sections to cite"));
                continue;
            };
            for number in section_list(t) {
                if !sections.contains_key(&number) {
                    problems.push(format!("{at}: {path} §{number}: no such section"));
                }
            }
            continue;
        }
        // `docs/architecture.md, "Blob store"`: the title of a heading.
        let q = after.strip_prefix(',').unwrap_or(after).trim_start();
        if let Some(quoted) = q.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                continue;
            };
            let title = quoted[..end].to_lowercase();
            let found = docs
                .get(file)
                .is_some_and(|s| s.values().any(|t| t.to_lowercase().contains(&title)));
            if !found {
                problems.push(format!(
                    "{at}: {path} has no heading titled \"{}\"",
                    &quoted[..end]
                ));
            }
        }
    }
}

/// Every scanned file under `dir`, recursively, in a stable order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(&path, out);
            }
        } else if kind.is_file() && !SKIP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            out.push(path);
        }
    }
}

fn scanned_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in SCAN_DIRS {
        walk(&root.join(d), &mut files);
    }
    files.extend(SCAN_FILES.iter().map(|f| root.join(f)));
    files
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn code_cites_only_sections_that_exist() {
    let root = root();
    let mut problems = Vec::new();
    let docs = load_docs(&root, &mut problems);
    let mut citations = 0;
    for path in scanned_files(&root) {
        let name = rel(&root, &path);
        if name == SELF {
            continue;
        }
        // Large generated files and binary data are not code.
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            citations += line.matches("docs/").count();
            check_code_line(
                &root,
                &docs,
                line,
                &format!("{name}:{}", i + 1),
                &mut problems,
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} citation problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    // The scan found the code: if this drops to zero, the scan is broken, not the code clean.
    assert!(citations > 20, "only {citations} docs/ references found");
}

/// The document a bare word before a `§` names, if any.
fn named_doc(before: &str) -> Option<&'static str> {
    let word: String = before
        .trim_end()
        .chars()
        .rev()
        .take_while(|&c| is_path_char(c))
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    let word = word.trim_start_matches("docs/").trim_end_matches(".md");
    DOCS.into_iter().find(|d| d.trim_end_matches(".md") == word)
}

/// Whether the text before a `§` ends with `RFC <number>`: not one of our sections.
fn after_rfc(before: &str) -> bool {
    let t = before.trim_end();
    let digits = t.len() - t.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && t[..t.len() - digits].trim_end().ends_with("RFC")
}

/// Checks the cross-references inside one document. `own` is the document bare numbers
/// refer to (None: bare numbers are not checked, as in docs/README.md).
fn check_doc_text(
    docs: &BTreeMap<String, Sections>,
    name: &str,
    text: &str,
    own: Option<&str>,
    problems: &mut Vec<String>,
) {
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || heading(line).is_some() {
            continue;
        }
        let mut consumed = 0;
        for (pos, _) in line.match_indices('§') {
            if pos < consumed {
                continue; // part of a list already checked
            }
            let before = &line[..pos];
            let list = section_list(&line[pos..]);
            // The end of the list, so its later items are not checked again on their own.
            consumed = pos + 1;
            let mut rest = &line[pos..];
            for n in &list {
                if let Some(p) = rest.find(&format!("§{n}")) {
                    consumed = line.len() - rest.len() + p + '§'.len_utf8() + n.len();
                    rest = &rest[p + '§'.len_utf8() + n.len()..];
                }
            }
            if after_rfc(before) {
                continue;
            }
            let in_code = before.matches('`').count() % 2 == 1;
            let target = match named_doc(before) {
                Some(d) => d,
                None if in_code => continue,
                None => match own {
                    Some(d) => d,
                    None => continue,
                },
            };
            let Some(sections) = docs.get(target) else {
                continue;
            };
            for n in list {
                if !sections.contains_key(&n) {
                    problems.push(format!(
                        "docs/{name}:{}: §{n} of {target}: no such section",
                        i + 1
                    ));
                }
            }
        }
    }
}

#[test]
fn docs_cross_references_exist() {
    let root = root();
    let mut problems = Vec::new();
    let docs = load_docs(&root, &mut problems);
    let Ok(entries) = fs::read_dir(root.join("docs")) else {
        panic!("docs/ is missing");
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        let text = fs::read_to_string(root.join("docs").join(&name)).expect("read docs file");
        let own = DOCS.into_iter().find(|d| *d == name);
        check_doc_text(&docs, &name, &text, own, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} cross-reference problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn readme_links_the_documentation() {
    let root = root();
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.contains("(docs/README.md)"),
        "README.md must link docs/README.md"
    );
    assert!(root.join("docs/README.md").is_file(), "docs/README.md");
}

// The scanner itself, on made-up lines (this file is not scanned, so they may be invalid).

fn fake_docs() -> BTreeMap<String, Sections> {
    let mut spec = Sections::new();
    for n in ["4", "8", "5", "5.3"] {
        spec.insert(n.into(), format!("Section {n}"));
    }
    let mut arch = Sections::new();
    arch.insert("5".into(), "Blob store".into());
    let mut docs = BTreeMap::new();
    docs.insert("spec.md".to_string(), spec);
    docs.insert("architecture.md".to_string(), arch);
    docs
}

fn code_problems(line: &str) -> Vec<String> {
    let mut problems = Vec::new();
    check_code_line(&root(), &fake_docs(), line, "x", &mut problems);
    problems
}

#[test]
fn scanner_parses_headings_and_lists() {
    assert_eq!(
        heading("## §8 Limits and bad input"),
        Some(("8".into(), "Limits and bad input".into()))
    );
    assert_eq!(
        heading("### §5.3 Default mailboxes"),
        Some(("5.3".into(), "Default mailboxes".into()))
    );
    assert_eq!(heading("## Limits"), None);
    assert_eq!(heading("#§8 no space"), None);
    assert_eq!(section_list("§4, §8: limits"), vec!["4", "8"]);
    assert_eq!(section_list("§1–§8."), vec!["1", "8"]);
    assert_eq!(section_list("§5.3 and §4"), vec!["5.3", "4"]);
    assert_eq!(section_list("§8 / RFC 2177 §3"), vec!["8"]);
    assert_eq!(section_list("§9's 200 MiB"), vec!["9"]);
    assert!(after_rfc("as RFC 3501 "));
    assert!(!after_rfc("spec "));
    assert_eq!(named_doc("see architecture "), Some("architecture.md"));
    assert_eq!(named_doc("(docs/spec.md "), Some("spec.md"));
    assert_eq!(named_doc("the rule "), None);
}

#[test]
fn scanner_accepts_good_and_reports_bad_citations() {
    assert!(code_problems("// docs/spec.md §8: 64 KiB").is_empty());
    assert!(code_problems("// (docs/spec.md §4, §8) and docs/spec.md §5.3.").is_empty());
    assert!(code_problems("//! restart (docs/architecture.md, \"Blob store\")").is_empty());
    assert!(code_problems("// docs/architecture.md §5, \"Blob store\"").is_empty());
    assert!(code_problems("// see crates/x/docs/whatever.md").is_empty());
    assert_eq!(code_problems("// docs/spec.md §4, §9").len(), 1);
    assert_eq!(code_problems("// docs/spec.md §5.4").len(), 1);
    assert_eq!(code_problems("// docs/nowhere.md §1").len(), 1);
    assert_eq!(
        code_problems("// docs/architecture.md, \"Sessions\"").len(),
        1
    );
    let old = format!("// {} §8", old_names()[0]);
    assert_eq!(code_problems(&old).len(), 1);
    assert_eq!(code_problems("// inside SPEC §9's 200 MiB").len(), 1);
}

#[test]
fn scanner_checks_document_cross_references() {
    let docs = fake_docs();
    let check = |text: &str, own: Option<&str>| {
        let mut p = Vec::new();
        check_doc_text(&docs, "t.md", text, own, &mut p);
        p
    };
    assert!(check("as §4.5 says", None).is_empty());
    assert!(check("see §8 and RFC 3501 §7.4.1", Some("spec.md")).is_empty());
    assert!(check("see architecture §5; §4, §8", Some("spec.md")).is_empty());
    assert!(check("`### §7.7 …` is a heading", Some("spec.md")).is_empty());
    assert_eq!(check("see §4, §9", Some("spec.md")).len(), 1);
    assert_eq!(check("see architecture §6", Some("spec.md")).len(), 1);
    assert_eq!(check("(spec §5.4)", None).len(), 1);
}
