#!/usr/bin/env python3
"""Rewrite citations of the design documents that used to live outside the repository into
citations of the sections in docs/ (docs/spec.md, docs/architecture.md, docs/conventions.md).

Old style (the three upper-case design documents with a .md suffix) → new style:

    <spec>  §8            → docs/spec.md §8           (same numbers; checked against docs/spec.md)
    <spec>  §4, §8        → docs/spec.md §4, §8
    <style> rule 4        → docs/conventions.md §4    (rule N is §N)
    <arch>  "Heading"     → docs/architecture.md §N "Heading"   (by heading title)
    <arch>  (no section)  → docs/architecture.md §N   (by keywords on the line, see KEYWORDS)

New-style citations by heading title (`docs/architecture.md, "Blob store"`) get their section
number inserted (`docs/architecture.md §5, "Blob store"`); so do bare ones a keyword rule
recognises (`docs/architecture.md ordering rule`).

Section numbers and titles are read from docs/*.md at run time, so the script keeps working
when sections are added. It is idempotent: a second run changes nothing. Citations it cannot
map are listed (file:line) and the exit status is 1; the others are still rewritten.

Usage (from anywhere inside the repository):
    python3 docs/tools/rewrite-citations.py            rewrite in place
    python3 docs/tools/rewrite-citations.py --check    change nothing; exit 1 if a file would change
    python3 docs/tools/rewrite-citations.py FILE...    only these files
"""

import argparse
import os
import re
import subprocess
import sys

# Old document name (upper case, the ".md" suffix is added below) → file in docs/.
OLD_DOCS = {
    "SPEC": "spec.md",
    "ARCHITECTURE": "architecture.md",
    "STYLE": "conventions.md",
}
NEW_DOCS = sorted(set(OLD_DOCS.values()))

# Old section numbers that moved. Empty: spec keeps the old numbering, and conventions' §N is
# the old "rule N". Add entries here if a section is ever renumbered: (file, "old") → "new".
RENUMBERED = {}

# Headings of the old architecture document (and other names people use) → the start of the
# current heading's title in docs/architecture.md. Looked up case-insensitively; a quoted
# title that is the start of a current heading needs no entry.
TITLE_ALIASES = {
    "architecture.md": {
        "layout": "Crates and what each may depend on",
        "layout (top level fixed by the product's design card)": "Crates and what each may depend on",
        "one store handle, one or many processes": "One process, one store",
        "data model": "Data model",
        "data model (sled trees; keys big-endian so ranges scan in order)": "Data model",
        "sessions": "Sessions and the service skeleton",
        "ordering rule": "Live updates and the ordering rule",
        "the ordering rule": "Live updates and the ordering rule",
        "expunged messages": "Expunged messages and blob release",
        "blob release": "Expunged messages and blob release",
        "change feed": "Change feed",
        "backends": "Backends",
        "dependencies": "Chosen dependencies",
    },
}

# Whole phrases whose meaning changes with the rewrite, replaced before anything else.
# (regex, replacement template with {file} and {title:...} lookups resolved below)
PHRASES = [
    (
        re.compile(r"\b" + "ARCHITECTURE" + r"\.md names mail-parser for this job\."),
        "architecture.md",
        "MIME structure",
        "The design (docs/architecture.md §{n}) first named mail-parser for this job.",
    ),
]

# Citations without a section: (file, regex on the line, start of the target heading title).
# The first rule that matches the line wins.
KEYWORDS = [
    ("architecture.md", re.compile(r"ordering rule|what a session is told", re.I),
     "Live updates and the ordering rule"),
    ("architecture.md", re.compile(r"imap-codec|grammar|mail-parser|smtp-proto|sled 0\.34|"
                                   r"\bpins?\b|dependenc", re.I),
     "Chosen dependencies"),
    ("architecture.md", re.compile(r"one process|one store", re.I), "One process, one store"),
    ("architecture.md", re.compile(r"blob|segment", re.I), "Blob store"),
    ("architecture.md", re.compile(r"durab|fsync|flush", re.I), "Durability"),
    ("architecture.md", re.compile(r"expunged message|RFC 2180", re.I),
     "Expunged messages and blob release"),
]

# Not scanned: this tool, the citation test (both spell the old names on purpose), the docs
# themselves (written by hand), generated and third-party folders, fuzz/test inputs.
SKIP_FILES = {"docs/tools/rewrite-citations.py", "tests/tests/doc_citations.rs"}
SKIP_DIRS = ("docs/", "target/", "fuzz/target/", "fuzz/corpus/", "fuzz/artifacts/",
             "fuzz/regressions/", "tests/corpus/", "tests/browser/node_modules/",
             "crates/store/tests/data/")
SKIP_SUFFIXES = (".png", ".jpg", ".ico", ".lock", ".eml", ".bin", ".der", ".gz")

SEC = r"§\d+(?:\.\d+)*"
# A list of sections after the first: ", §8", " and §8", " / §8", "–§8", ", and §8".
SEC_LIST = r"(?:\s*(?:,\s*and|,|and|/|–|-|&)\s*" + SEC + r")*"
OLD_NAME = "|".join(OLD_DOCS)
# An old citation: optional path before the name (dropped), the name, then what it cites.
OLD_RE = re.compile(
    r"(?<![\w-])(?P<prefix>(?:[\w.~-]*/)*)(?P<name>" + OLD_NAME + r")(?P<md>\.md)?(?![\w-])"
    r"(?P<rest>"
    r"(?P<secs>[ \t]*" + SEC + SEC_LIST + r")"
    r"|(?P<rule>[ \t]+rules?[ \t]+\d+(?:(?:\s*,\s*|\s+and\s+)\d+)*)"
    r"|(?P<quote>(?P<qsep>,?[ \t]*)\"(?P<title>[^\"\n]+)\")"
    r")?"
)
# A new-style citation that names no section number.
NEW_RE = re.compile(
    r"(?<![\w/.-])docs/(?P<file>" + "|".join(re.escape(d) for d in NEW_DOCS) + r")"
    r"(?![\w.-]*§)(?P<rest>(?P<quote>(?P<qsep>,?[ \t]*)\"(?P<title>[^\"\n]+)\")|(?![ \t]*§))"
)


class Docs:
    """Section numbers and titles of docs/*.md."""

    HEADING = re.compile(r"^#{1,6}[ \t]+§(\d+(?:\.\d+)*)[ \t]+(.+?)[ \t]*#*[ \t]*$")

    def __init__(self, root):
        self.sections = {}  # file → {number: title}
        for name in NEW_DOCS:
            path = os.path.join(root, "docs", name)
            secs = {}
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        m = self.HEADING.match(line.rstrip("\n"))
                        if m:
                            secs[m.group(1)] = m.group(2)
            except FileNotFoundError:
                pass
            self.sections[name] = secs

    def has(self, file, number):
        return number in self.sections.get(file, {})

    def by_title(self, file, title):
        """The section whose title starts with `title` (after aliases), or None."""
        want = title.strip().strip(".").lower()
        want = TITLE_ALIASES.get(file, {}).get(want, want).lower()
        hits = [n for n, t in self.sections.get(file, {}).items() if t.lower().startswith(want)]
        if not hits:
            hits = [n for n, t in self.sections.get(file, {}).items() if want in t.lower()]
        # The shortest number is the section itself rather than a sub-section of it.
        return min(hits, key=lambda n: (n.count("."), [int(x) for x in n.split(".")]), default=None)


def keyword_section(docs, file, line):
    for kfile, rx, title in KEYWORDS:
        if kfile == file and rx.search(line):
            return docs.by_title(file, title)
    return None


def rewrite_line(line, docs, problems, where):
    for rx, file, title, template in PHRASES:
        def phrase(m, file=file, title=title, template=template):
            n = docs.by_title(file, title)
            if n is None:
                problems.append(f"{where}: no section titled {title!r} in docs/{file}")
                return m.group(0)
            return template.format(n=n)
        line = rx.sub(phrase, line)

    def old(m):
        name, rest = m.group("name"), m.group("rest")
        if m.group("md") is None and not (
            (name == "SPEC" and m.group("secs")) or (name == "STYLE" and m.group("rule"))
        ):
            return m.group(0)  # a bare upper-case word, not a citation
        file = OLD_DOCS[name]
        text = m.group(0).strip()
        if m.group("secs"):
            out, bad = [], False
            for part in re.split(r"(" + SEC + r")", m.group("secs")):
                if part.startswith("§"):
                    n = RENUMBERED.get((file, part[1:]), part[1:])
                    if not docs.has(file, n):
                        bad = True
                    out.append("§" + n)
                else:
                    out.append(part)
            if bad:
                problems.append(f"{where}: {text!r}: no such section in docs/{file}")
                return m.group(0)
            return f"docs/{file}" + "".join(out)
        if m.group("rule"):
            nums = re.findall(r"\d+", m.group("rule"))
            if file != "conventions.md" or not all(docs.has(file, n) for n in nums):
                problems.append(f"{where}: {text!r}: no such rule in docs/{file}")
                return m.group(0)
            lead = re.match(r"[ \t]*", m.group("rule")).group(0) or " "
            return f"docs/{file}{lead}" + ", ".join("§" + n for n in nums)
        if m.group("quote"):
            n = docs.by_title(file, m.group("title"))
            if n is None:
                problems.append(f"{where}: {text!r}: no heading like it in docs/{file}")
                return m.group(0)
            return f"docs/{file} §{n}{m.group('qsep') or ' '}\"{m.group('title')}\""
        n = keyword_section(docs, file, line)
        if n is None:
            problems.append(f"{where}: {text!r}: no section given and no keyword rule matches")
            return m.group(0)
        return f"docs/{file} §{n}"

    line = OLD_RE.sub(old, line)

    def new(m):
        file = m.group("file")
        if m.group("quote"):
            n = docs.by_title(file, m.group("title"))
            if n is None:
                problems.append(f"{where}: {m.group(0)!r}: no heading like it in docs/{file}")
                return m.group(0)
            return f"docs/{file} §{n}{m.group('qsep')}\"{m.group('title')}\""
        n = keyword_section(docs, file, line)
        if n is None:
            return m.group(0)  # a plain reference to the whole file is fine
        return f"docs/{file} §{n}"

    return NEW_RE.sub(new, line)


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.abspath(os.path.join(here, "..", ".."))


def candidate_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"],
                             capture_output=True, check=True).stdout
        files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if x not in (".git", "target", "node_modules")]
            for n in names:
                files.append(os.path.relpath(os.path.join(d, n), root))
    for f in sorted(files):
        f = f.replace(os.sep, "/")
        if f in SKIP_FILES or f.startswith(SKIP_DIRS) or f.endswith(SKIP_SUFFIXES):
            continue
        yield f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if any file would change or cannot be mapped")
    ap.add_argument("files", nargs="*", help="files to rewrite (default: the whole repository)")
    args = ap.parse_args()

    root = repo_root()
    docs = Docs(root)
    missing = [f for f in NEW_DOCS if not docs.sections[f]]
    if missing:
        sys.exit(f"rewrite-citations: no numbered headings in docs/{', docs/'.join(missing)}")

    files = [os.path.relpath(os.path.abspath(f), root) for f in args.files] or list(
        candidate_files(root))
    problems, changed = [], []
    for rel in files:
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        lines = text.splitlines(keepends=True)
        new_lines = [rewrite_line(line, docs, problems, f"{rel}:{i}")
                     for i, line in enumerate(lines, 1)]
        new_text = "".join(new_lines)
        if new_text != text:
            changed.append(rel)
            for i, (a, b) in enumerate(zip(lines, new_lines), 1):
                if a != b:
                    print(f"{rel}:{i}: {b.strip()}")
            if not args.check:
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(new_text)

    verb = "would change" if args.check else "changed"
    print(f"rewrite-citations: {verb} {len(changed)} file(s)", file=sys.stderr)
    if problems:
        print(f"rewrite-citations: {len(problems)} citation(s) could not be mapped:",
              file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    if args.check and changed:
        sys.exit(1)


if __name__ == "__main__":
    main()
