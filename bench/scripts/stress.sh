#!/usr/bin/env bash
# `make stress`: the model-checking stress client (`bench stress`) side by side — mailstack
# (release build), then Dovecot (bench/scripts/dovecot.sh) — with the same workload:
# STRESS_SESSIONS (50) IMAP sessions on one mailbox for STRESS_SECONDS (600) each, checkpoints
# every STRESS_CHECKPOINT (5) seconds, plus one POP3 session and 2 deliveries/s. Fails on any
# error. Results: bench/results/stress.md, and the stress row of bench/results/latest.md.
# Extra arguments go to `bench stress` (e.g. `--seed 7`, `--target mailstack`, `--keep`).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-target}

hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

$CARGO build --release -p mailstack -p bench
# Private copies: a shared target directory may be rebuilt by another checkout meanwhile.
bin=$(mktemp -d "${TMPDIR:-/tmp}/mailstack-stress-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
cp "$target/release/mailstack" "$target/release/bench" "$bin/"
"$bin/bench" stress --target both --mailstack "$bin/mailstack" --scripts bench/scripts \
    --sessions "${STRESS_SESSIONS:-50}" --seconds "${STRESS_SECONDS:-600}" \
    --checkpoint "${STRESS_CHECKPOINT:-5}" --pop3 1 --smtp-rate 2 \
    --out bench/results/stress.md --latest bench/results/latest.md "$@"
