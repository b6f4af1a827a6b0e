#!/usr/bin/env bash
# HTTP/1.1 request rate (keep-alive and close) and bulk, proxy-mio vs
# HAProxy 2.6 and nginx, side by side in one run of
# ../shared/bench/bench-proxy.sh.
#   benches/bench-http.sh [OUT_DIR]     (REPS, DURATION, SUITES from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench/bench-proxy.sh}
cargo build --release -p sluice-mio --bin proxy-mio
export PROXY_CMD="$PWD/target/release/proxy-mio -q -f {CONF}"
export PROXY_CONF_TEMPLATE="$PWD/benches/proxy-mio-http.cfg.tmpl"
export PROXY_MODES="http" PROXY_NAME=proxy-mio
export SUITES=${SUITES:-"h1ka h1close httpbulk"} TARGETS=${TARGETS:-"direct haproxy nginx proxy-mio"}
export REPS=${REPS:-5} DURATION=${DURATION:-10}
export OUT_DIR=${1:-$(mktemp -d /tmp/bench-http.XXXXXX)}
"$BENCH"
echo "results: $OUT_DIR/results.md"
