#!/usr/bin/env bash
# TCP-mode bulk throughput, proxy-mio vs HAProxy 2.6 (with and without
# splice), side by side in one run of ../shared/bench/bench-proxy.sh.
#   benches/bench-tcp.sh [OUT_DIR]     (REPS, DURATION from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench/bench-proxy.sh}
cargo build --release -p sluice-mio --bin proxy-mio
export PROXY_CMD="$PWD/target/release/proxy-mio -q -f {CONF}"
export PROXY_CONF_TEMPLATE="$PWD/benches/proxy-mio.cfg.tmpl"
export PROXY_MODES="tcp" PROXY_NAME=proxy-mio
export SUITES=tcpbulk TARGETS="haproxy haproxy_splice proxy-mio"
export REPS=${REPS:-5} DURATION=${DURATION:-10}
export OUT_DIR=${1:-$(mktemp -d /tmp/bench-tcp.XXXXXX)}
"$BENCH"
echo "results: $OUT_DIR/results.md"
