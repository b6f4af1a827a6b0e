#!/usr/bin/env bash
# HTTPS keep-alive (tlska) and a full TLS 1.3 handshake per request (tlshs,
# ECDSA P-256), proxy-mio vs HAProxy 2.6 (OpenSSL) and nginx, side by side in
# one run of ../shared/bench/bench-proxy.sh. Judge tlshs by CPU per request
# (`cpu_vs_haproxy`): the client spends as much per handshake as the proxy.
#   benches/bench-tls.sh [OUT_DIR]     (REPS, DURATION, SUITES from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench/bench-proxy.sh}
cargo build --release -p sluice-mio --bin proxy-mio
export PROXY_CMD="$PWD/target/release/proxy-mio -q -f {CONF}"
export PROXY_CONF_TEMPLATE="$PWD/benches/proxy-mio-https.cfg.tmpl"
export PROXY_MODES="https" PROXY_NAME=proxy-mio
export SUITES=${SUITES:-"tlska tlshs"} TARGETS=${TARGETS:-"haproxy nginx proxy-mio"}
export REPS=${REPS:-5} DURATION=${DURATION:-10}
export OUT_DIR=${1:-$(mktemp -d /tmp/bench-tls.XXXXXX)}
"$BENCH"
echo "results: $OUT_DIR/results.md"
