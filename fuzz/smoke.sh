#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, starting from the
# checked-in corpus, and fails on a crash. The libFuzzer seed is fixed
# (FUZZ_SEED, default 1) so that a CI failure replays the same inputs; set
# FUZZ_SEED=0 for a fresh random one when hunting. Needs a nightly toolchain and
# cargo-fuzz; without them it says so loudly and exits 0.
#
#   fuzz/smoke.sh [SECONDS]
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
HERE="$(cd "$(dirname "$0")" && pwd)"
TARGETS=(intdecode peer_message peer_handshake proxy_header h1_request h1_response hpack_decode h2_frame engine_http engine_h2 engine_tcp engine_tls client_hello_sni h2_mux dns_response pattern_file)

skip() {
    echo "=================================================================="
    echo "  FUZZ SMOKE SKIPPED: $1"
    echo "  (corpus and regressions are still replayed on stable by"
    echo "   cargo test -p sluice-core --test fuzz_corpus)"
    echo "=================================================================="
    exit 0
}

command -v rustup >/dev/null 2>&1 || skip "rustup not found"
rustup toolchain list | grep -q '^nightly' || skip "no nightly toolchain in 'rustup toolchain list'"
cargo +nightly fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"

cd "$HERE"
# -a: debug assertions and overflow checks on, so bug_on! runs too.
cargo +nightly fuzz build -a

failed=0
for t in "${TARGETS[@]}"; do
    echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
    # A scratch copy of the corpus: the checked-in one only changes on purpose.
    work="$(mktemp -d)"
    log="$(mktemp)"
    cp -r "corpus/$t/." "$work/"
    set +e
    cargo +nightly fuzz run -a "$t" "$work" -- \
        -max_total_time="$SECONDS_PER_TARGET" -seed="${FUZZ_SEED:-1}" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^SUMMARY|panicked at" "$log" || true
    rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        tail -n 30 "$log"
        echo "!! $t crashed (exit $status): the input is in fuzz/artifacts/$t/"
        echo "   add it to fuzz/regressions/$t/ (see fuzz/regressions/README.md)"
        failed=1
    fi
    rm -f "$log"
done
[ "$failed" -eq 0 ] || exit 1
echo "fuzz smoke: every target ran ${SECONDS_PER_TARGET}s without a crash"
