#!/usr/bin/env bash
# User-space instructions per request of proxy-mio and of HAProxy 2.6, each
# fed the same haproxy.cfg and the same h2load client on loopback, counted by
# callgrind: stable on a shared, noisy machine where wall-clock figures are
# not. Kernel work (two thirds of a keep-alive request's CPU, see
# docs/performance.md) is not counted, by either proxy.
#
#   benches/callgrind-proxy.sh [SUITE...]     SUITE: h1ka | h2 | h2h2 (default: all)
#
#   h1ka  HTTP/1.1 keep-alive in front (h2load --h1 -c10), H1 keep-alive behind
#   h2    h2c prior knowledge in front (h2load -c10 -m10), H1 keep-alive behind
#         (the `h2` suite of ../shared/bench/bench-proxy.sh)
#   h2h2  h2c in front and `proto h2` to the origin
#
# Each proxy runs twice under callgrind, for LO and HI requests; the
# difference in instructions over the difference in requests cancels start-up
# and shutdown. The origin is a HAProxy 2.6 answering 100 bytes itself
# (`http-request return`), outside valgrind. With KEEP=DIR the callgrind
# profiles are kept in DIR (for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(h1ka h2 h2h2)
LO=${LO:-2000}
HI=${HI:-10000}
for c in valgrind h2load haproxy python3; do
    command -v "$c" >/dev/null || { echo "missing: $c (apt-get install -y valgrind nghttp2-client haproxy)"; exit 1; }
done
cargo build --release -p sluice-mio --bin proxy-mio 2>&1 | tail -n 1
SLUICE="$PWD/target/release/proxy-mio"
HAPROXY="$(command -v haproxy)"

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened"; exit 1
}

origin_cfg() { # SUITE PORT
    local proto=""
    [ "$1" = h2h2 ] && proto="proto h2"
    cat <<EOF
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend origin
    bind 127.0.0.1:$2 $proto
    http-request return status 200 content-type text/plain string "$(printf 'x%.0s' $(seq 1 100))"
EOF
}

proxy_cfg() { # SUITE LISTEN ORIGIN
    local bproto="" sproto=""
    [ "$1" != h1ka ] && bproto="proto h2"
    [ "$1" = h2h2 ] && sproto="proto h2"
    cat <<EOF
global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:$2 $bproto
    default_backend be
backend be
    http-reuse always
    server s1 127.0.0.1:$3 $sproto
EOF
}

client() { # SUITE PORT N
    if [ "$1" = h1ka ]; then
        h2load --h1 -n "$3" -c 10 "http://127.0.0.1:$2/" >"$tmp/h2load.out"
    else
        h2load -n "$3" -c 10 -m 10 "http://127.0.0.1:$2/" >"$tmp/h2load.out"
    fi
    grep -q "succeeded, 0 failed, 0 errored" "$tmp/h2load.out" || {
        grep "requests:" "$tmp/h2load.out"; echo "the client saw failures"; exit 1;
    }
    grep -Eo "requests: $3 total, $3 started, $3 done, $3 succeeded" "$tmp/h2load.out" >/dev/null
}

count() { # NAME BIN SUITE N -> instructions
    local port out pid
    port="$(free_port)"
    proxy_cfg "$3" "$port" "$ORIGIN" >"$tmp/proxy.cfg"
    out="$tmp/cg.$1.$3.$4"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$2" -db -f "$tmp/proxy.cfg" \
        >"$tmp/$1.log" 2>&1 &
    pid=$!
    wait_port "$port"
    client "$3" "$port" "$4"
    kill -USR1 "$pid"
    wait "$pid" || true
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$out" "$KEEP/"
    grep -m1 '^summary:' "$out" | awk '{print $2}'
}

printf '%-6s %-10s %14s %12s\n' suite proxy instr/request vs-haproxy
for suite in "${SUITES[@]}"; do
    ORIGIN="$(free_port)"
    origin_cfg "$suite" "$ORIGIN" >"$tmp/origin.cfg"
    "$HAPROXY" -db -f "$tmp/origin.cfg" >"$tmp/origin.log" 2>&1 &
    opid=$!
    pids+=("$opid")
    wait_port "$ORIGIN"
    declare -A per=()
    for p in haproxy proxy-mio; do
        bin="$HAPROXY"
        [ "$p" = proxy-mio ] && bin="$SLUICE"
        lo="$(count "$p" "$bin" "$suite" "$LO")"
        hi="$(count "$p" "$bin" "$suite" "$HI")"
        per[$p]=$(( (hi - lo) / (HI - LO) ))
    done
    printf '%-6s %-10s %14s %12s\n' "$suite" haproxy "${per[haproxy]}" 1.00
    printf '%-6s %-10s %14s %12s\n' "$suite" proxy-mio "${per[proxy-mio]}" \
        "$(python3 -c "print(f'{${per[proxy-mio]}/${per[haproxy]}:.2f}')")"
    kill "$opid" 2>/dev/null || true
    wait "$opid" 2>/dev/null || true
    unset per
done
