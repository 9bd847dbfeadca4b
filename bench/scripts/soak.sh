#!/usr/bin/env bash
# `make soak`: SOAK_SESSIONS (200) concurrent mixed SMTP/IMAP/POP3 sessions against a release
# `mailstack serve` for SOAK_SECONDS (600), every reply checked, the server's RSS sampled.
# Fails on any protocol error or when RSS is not flat after warm-up (see bench/src/soak/mod.rs).
# Extra arguments go to `bench soak` (e.g. `--keep`). Results: bench/results/soak.md.
# The server's data folder stays within ~2 × the live mail + 64 MiB (docs/architecture.md §5.4)
# but peaks near 150 MiB under this load; it is removed at the end unless --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-target}

hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

$CARGO build --release -p mailstack -p bench
# Private copies: a shared target directory may be rebuilt by another checkout meanwhile.
bin=$(mktemp -d "${TMPDIR:-/tmp}/mailstack-soak-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
cp "$target/release/mailstack" "$target/release/bench" "$bin/"
"$bin/bench" soak --mailstack "$bin/mailstack" --out bench/results/soak.md "$@"
