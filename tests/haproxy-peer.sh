#!/usr/bin/env bash
# haproxy-peer.sh -- run ONE real HAProxy (2.6, Debian build) as a member of a
# two-member "peers" section, on loopback only, for capture / interop tests.
#
# Usage:
#   haproxy-peer.sh [--daemon|--master-worker] [LOCAL_NAME LOCAL_PORT REMOTE_NAME REMOTE_ADDR REMOTE_PORT WORKDIR]
#
# Every positional argument can also be given through the environment
# (positional arguments win):
#   PEER_LOCAL_NAME   local peer name                     (default: A)
#   PEER_LOCAL_PORT   TCP port the local peer listens on  (default: 10401)
#   PEER_REMOTE_NAME  remote peer name                    (default: B)
#   PEER_REMOTE_ADDR  remote peer address (127.x only)    (default: 127.0.0.1)
#   PEER_REMOTE_PORT  remote peer port                    (default: 10402)
#   PEER_WORKDIR      directory for config, socket, pid   (default: ./peer-<LOCAL_NAME>)
#   PEER_HTTP_PORT    HTTP port of a small frontend that tracks the request
#                     header "x-bin" into the binary table (default: LOCAL_PORT+100;
#                     set to 0 to disable)
#   PEER_STICK_PORT   HTTP port of a frontend whose backend "be_stick" has a
#                     "stick on src" table shared through the peers section
#                     (stores server_id + server_key, i.e. the dictionary type);
#                     its only server is the tracking frontend above
#                     (default: HTTP_PORT+100; 0 disables; needs PEER_HTTP_PORT)
#   PEER_SECTION      name of the peers section           (default: mesh)
#   PEER_EXPIRE       stick-table expire                  (default: 10m)
#   HAPROXY           haproxy binary                      (default: haproxy)
#   PEER_EXTRA_TABLES extra lines for the peers section, one per line, each
#                     indented by the script (e.g. "table t_all type ...")
#                     (default: none)
#   PEER_EXTRA_CONFIG text appended to the end of the configuration, as is
#                     (extra frontends...) (default: none)
#
# This is a copy of the shared ../shared/peers/haproxy-peer.sh used to make the
# protocol captures; the two PEER_EXTRA_* variables are the only additions, and
# without them the generated configuration is the same.
#
# Files created in WORKDIR:
#   haproxy.cfg   the generated configuration
#   admin.sock    stats socket, level admin (use: socat - UNIX-CONNECT:WORKDIR/admin.sock)
#   haproxy.pid   pid of haproxy (in the foreground modes the script writes its own pid
#                 right before exec'ing haproxy, so it is the same process)
#
# Modes:
#   default   : foreground. The script writes its own pid to haproxy.pid and then
#               exec's haproxy -db, so "$!" of a caller that started the script with
#               '&' IS the haproxy pid. Stop it with: kill "$(cat WORKDIR/haproxy.pid)"
#               (haproxy may need a second or two to exit after SIGTERM).
#   --daemon  : haproxy -D -p WORKDIR/haproxy.pid ; the script returns once started.
#   --master-worker : foreground master-worker mode (haproxy -W -db); haproxy.pid
#               holds the MASTER pid. "kill -USR2 <pid>" reloads: the old worker
#               then pushes its tables to the new one over the peers protocol
#               (hello from "<LOCAL_NAME>" to "<LOCAL_NAME>"). Stop with kill <pid>.
#
# Tables (CLI/config name "<section>/<name>", e.g. mesh/t_ip; wire name "/<name>", e.g. /t_ip):
#   t_ip   type ip                 store server_id,gpc0,conn_cnt,conn_rate(10s),http_req_rate(10s),bytes_in_cnt,gpt0
#   t_int  type integer            (same store list)
#   t_str  type string len 32      (same store list)   -> key_size on the wire is 33
#   t_bin  type binary len 16      (same store list)   -> keys only through the HTTP frontend
#   t_ip6  type ipv6               store gpt(2),gpc(2),gpc_rate(2,10s),conn_cur,http_fail_cnt,bytes_out_rate(1m)
#   be_stick (backend table, wire name "be_stick" without "/"): type ip, server_id + server_key
#
# Examples (CLI):
#   echo "set table mesh/t_ip key 127.0.0.10 data.gpc0 42" | socat - UNIX-CONNECT:peer-A/admin.sock
#   echo "show table mesh/t_ip" | socat - UNIX-CONNECT:peer-A/admin.sock
#   curl -s -H 'x-bin: abc' http://127.0.0.1:10501/      # creates key "abc\0\0..." in mesh/t_bin
#   curl -s --interface 127.0.0.2 http://127.0.0.1:10601/ # creates key 127.0.0.2 -> server s1 in be_stick
set -euo pipefail

MODE=fg
case "${1:-}" in
  --daemon) MODE=daemon; shift ;;
  --master-worker) MODE=mw; shift ;;
esac

LOCAL_NAME=${1:-${PEER_LOCAL_NAME:-A}}
LOCAL_PORT=${2:-${PEER_LOCAL_PORT:-10401}}
REMOTE_NAME=${3:-${PEER_REMOTE_NAME:-B}}
REMOTE_ADDR=${4:-${PEER_REMOTE_ADDR:-127.0.0.1}}
REMOTE_PORT=${5:-${PEER_REMOTE_PORT:-10402}}
WORKDIR=${6:-${PEER_WORKDIR:-./peer-${LOCAL_NAME}}}
HTTP_PORT=${PEER_HTTP_PORT:-$((LOCAL_PORT + 100))}
STICK_PORT=${PEER_STICK_PORT:-$((HTTP_PORT + 100))}
SECTION=${PEER_SECTION:-mesh}
EXPIRE=${PEER_EXPIRE:-10m}
HAPROXY=${HAPROXY:-haproxy}

case "$REMOTE_ADDR" in
  127.*) ;;
  *) echo "refusing non-loopback remote address: $REMOTE_ADDR" >&2; exit 2 ;;
esac
if [ "$LOCAL_NAME" = "$REMOTE_NAME" ]; then
  echo "local and remote peer names must differ" >&2; exit 2
fi

mkdir -p "$WORKDIR"
# WORKDIR is used as given: a relative WORKDIR is relative to the directory the
# script is started from (haproxy does not chdir), and keeps the config free of
# absolute paths.
CFG="$WORKDIR/haproxy.cfg"
SOCK="$WORKDIR/admin.sock"
PIDFILE="$WORKDIR/haproxy.pid"

STORE='server_id,gpc0,conn_cnt,conn_rate(10s),http_req_rate(10s),bytes_in_cnt,gpt0'

cat > "$CFG" <<CFGEOF
global
    localpeer ${LOCAL_NAME}
    nbthread 1
    stats socket unix@${SOCK} mode 600 level admin
    stats timeout 1m

defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s

peers ${SECTION}
    peer ${LOCAL_NAME} 127.0.0.1:${LOCAL_PORT}
    peer ${REMOTE_NAME} ${REMOTE_ADDR}:${REMOTE_PORT}
    table t_ip  type ip size 1k expire ${EXPIRE} store ${STORE}
    table t_int type integer size 1k expire ${EXPIRE} store ${STORE}
    table t_str type string len 32 size 1k expire ${EXPIRE} store ${STORE}
    table t_bin type binary len 16 size 1k expire ${EXPIRE} store ${STORE}
    table t_ip6 type ipv6 size 1k expire ${EXPIRE} store gpt(2),gpc(2),gpc_rate(2,10s),conn_cur,http_fail_cnt,bytes_out_rate(1m)
CFGEOF

if [ -n "${PEER_EXTRA_TABLES:-}" ]; then
  printf '%s\n' "$PEER_EXTRA_TABLES" | sed -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*/    /' >> "$CFG"
fi

if [ "$HTTP_PORT" != "0" ]; then
cat >> "$CFG" <<CFGEOF

frontend fe_track
    mode http
    bind 127.0.0.1:${HTTP_PORT}
    http-request track-sc0 req.hdr(x-bin) table ${SECTION}/t_bin if { req.hdr(x-bin) -m found }
    http-request sc-inc-gpc0(0) if { req.hdr(x-bin) -m found }
    http-request return status 200 content-type text/plain string "ok\n"
CFGEOF
  if [ "$STICK_PORT" != "0" ]; then
cat >> "$CFG" <<CFGEOF

frontend fe_stick
    mode http
    bind 127.0.0.1:${STICK_PORT}
    default_backend be_stick

backend be_stick
    mode http
    stick-table type ip size 1k expire ${EXPIRE} peers ${SECTION}
    stick on src
    server s1 127.0.0.1:${HTTP_PORT}
CFGEOF
  fi
fi

if [ -n "${PEER_EXTRA_CONFIG:-}" ]; then
  printf '\n%s\n' "$PEER_EXTRA_CONFIG" >> "$CFG"
fi

"$HAPROXY" -c -q -f "$CFG" || { "$HAPROXY" -c -f "$CFG"; exit 1; }

case "$MODE" in
  daemon) exec "$HAPROXY" -D -p "$PIDFILE" -f "$CFG" ;;
  mw)     echo $$ > "$PIDFILE"; exec "$HAPROXY" -W -db -f "$CFG" ;;
  *)      echo $$ > "$PIDFILE"; exec "$HAPROXY" -db -f "$CFG" ;;
esac
