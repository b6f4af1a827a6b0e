#!/usr/bin/env bash
# Instructions per item of a micro-benchmark case, counted by callgrind
# (stable on a shared, noisy machine where wall-clock time is not).
#
#   benches/callgrind.sh BENCH FILTER     e.g. benches/callgrind.sh stick_table lookup_touch_local
#
# Runs the case in fixed mode (SLUICE_BENCH_ITERS) twice, with 5 and 25
# calls, and divides the difference in instructions by the difference in
# items: set-up and warm-up cancel out.
set -euo pipefail
BENCH="${1:?bench name: peers_codec, stick_table, freq_ctr}"
FILTER="${2:?a case name (or part of one)}"
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install -y valgrind)"; exit 1; }
cargo bench --bench "$BENCH" --no-run 2>&1 | tail -n 1
BIN="$(ls -t target/release/deps/"$BENCH"-* | grep -v '\.d$' | head -n 1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
count() {
    SLUICE_BENCH_ITERS="$1" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
        "$BIN" "$FILTER" 2>"$tmp/err.$1" >/dev/null
    grep -m1 '^summary:' "$tmp/cg.$1" | awk '{print $2}'
}
lo=5
hi=25
i_lo="$(count $lo)"
i_hi="$(count $hi)"
items="$(grep -Eo '[0-9]+ items' "$tmp/err.$hi" | head -n 1 | awk '{print $1}')"
cases="$(grep -c ' items' "$tmp/err.$hi")"
if [ "$cases" -ne 1 ]; then
    echo "the filter '$FILTER' matches $cases cases; name one" >&2
    grep ' items' "$tmp/err.$hi" >&2
    exit 1
fi
awk -v a="$i_lo" -v b="$i_hi" -v n="$items" -v d=$((hi - lo)) -v f="$BENCH/$FILTER" \
    'BEGIN { printf "%s: %.1f instructions per item\n", f, (b - a) / (d * n) }'
