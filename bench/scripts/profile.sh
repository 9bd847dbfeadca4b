#!/usr/bin/env bash
# Profiles mailstack during one benchmark scenario with perf (Debian's linux-perf):
#
#   bench/scripts/profile.sh SCENARIO [SECONDS] [bench args...]
#
# runs `target/release/bench --only SCENARIO --reps 20 …` (results to a scratch file, not
# latest.md), attaches `perf record -g` to the mailstack server once the scenario starts, and
# writes the flat and call-graph reports to bench/results/profile-SCENARIO.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:?usage: profile.sh SCENARIO [SECONDS] [bench args...]}
secs=${2:-15}
shift $(( $# >= 2 ? 2 : 1 ))
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null; }
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
target/release/bench --only "$scenario" --reps 20 --out "$tmp/result.md" --analysis /dev/null "$@" \
    >"$tmp/bench.out" 2>"$tmp/bench.err" &
bench=$!
for _ in $(seq 600); do
    grep -q "\[$scenario\] " "$tmp/bench.err" 2>/dev/null && break
    sleep 0.5
done
pid=$(pgrep -P "$bench" -f 'mailstack --config' | head -1)
echo "profile: mailstack pid $pid, scenario $scenario, ${secs}s"
data=/tmp/mailstack-profile-$scenario.data
perf record -F 499 -g --call-graph dwarf,16384 -p "$pid" -o "$data" -- sleep "$secs" 2>/dev/null
out=bench/results/profile-$scenario.txt
{
    echo "# perf record -g (dwarf) of mailstack, scenario $scenario, ${secs} s, $(date -u +%F)"
    echo "# self time, top symbols"
    perf report -i "$data" --no-children --sort symbol --stdio -g none --percent-limit 0.7 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | cut -c1-160 | sed 's/ *$//'
    echo
    echo "# inclusive time (children), mailstack's own crates and their libraries, top 40"
    perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' \
        | grep -E '\] (<?(imapd|pop3d|submission|store|auth|net|sled|mail_parser|hashbrown|argon2|rustls)::|.*(fsync|sync_file_range|sendto|recvfrom|write|read)$)' \
        | head -40 | cut -c1-160 | sed 's/ *$//'
} >"$out"
echo "profile: perf data kept in $data (perf report -i $data)"
wait "$bench" || true
rm -rf "$tmp"
echo "profile: wrote $out"
