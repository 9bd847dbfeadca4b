#!/usr/bin/env bash
# `make bench`: install the peers (Debian packages, no service started), build mailstack and
# the load generator in release mode, and run every scenario. Extra arguments go to the bench
# binary (e.g. `bench/scripts/run.sh --quick`, `--only 1,4`). Results: bench/results/latest.md.
# Then the model-checking stress client side by side (`bench stress --target both`, see
# bench/scripts/stress.sh): its row and section go into latest.md, details into
# bench/results/stress.md; STRESS_SECONDS=0 skips it. Then `bench nodes` (sled vs PostgreSQL,
# 1/2/4 nodes on one PostgreSQL): bench/results/nodes.md; NODES_SECONDS=0 skips it.
#
# Process-wide settings for the run, restored afterwards:
# - `ulimit -n` raised to the hard limit (10,000 IDLE connections need 10,000+ descriptors on
#   each side);
# - fs.inotify.max_user_instances raised (Dovecot's one-imap-process-per-connection IDLE takes
#   one inotify instance per connection; above the default 128 it falls back to polling every
#   30 s and the push row would measure that fallback instead of Dovecot).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
bash bench/scripts/install.sh

hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
echo "bench: fd limit $(ulimit -n)"

inotify=/proc/sys/fs/inotify/max_user_instances
old_inotify=""
if [ -w "$inotify" ]; then
    old_inotify=$(cat "$inotify")
    if [ "$old_inotify" -lt 32768 ]; then
        echo 32768 >"$inotify" 2>/dev/null || old_inotify=""
    else
        old_inotify=""
    fi
fi
restore() {
    if [ -n "$old_inotify" ]; then echo "$old_inotify" >"$inotify" 2>/dev/null || true; fi
}
trap restore EXIT

$CARGO build --release -p mailstack -p bench
target/release/bench --mailstack target/release/mailstack --scripts bench/scripts \
    --out bench/results/latest.md --analysis bench/results/analysis.md "$@"
if [ "${STRESS_SECONDS:-600}" -gt 0 ]; then
    # Errors of the stress run are reported in its row and in stress.md; they do not stop
    # the benchmark.
    target/release/bench stress --target both --mailstack target/release/mailstack \
        --scripts bench/scripts --sessions "${STRESS_SESSIONS:-50}" \
        --seconds "${STRESS_SECONDS:-600}" --checkpoint "${STRESS_CHECKPOINT:-5}" \
        --pop3 1 --smtp-rate 2 --out bench/results/stress.md \
        --latest bench/results/latest.md ||
        echo "bench: the stress run reported errors (bench/results/stress.md)"
fi
if [ "${NODES_SECONDS:-10}" -gt 0 ]; then
    target/release/bench nodes --mailstack target/release/mailstack \
        --seconds "${NODES_SECONDS:-10}" --out bench/results/nodes.md ||
        echo "bench: the nodes run reported errors (bench/results/nodes.md)"
fi
