#!/usr/bin/env bash
# HAProxy 2.6.12's own regression tests (VTest) as Sluice's conformance suite
# (issue 14, docs/regtests.md). Runs every in-scope test against proxy-mio
# with ../shared/conformance/run-regtests.sh and compares each result with
# tests/regtests-expected.tsv (test, expected result, why it fails):
#
#   - a test expected to pass that does not: failure (a regression);
#   - a test expected to fail that passes: failure too, so that the change
#     that makes it pass records it (set its line to `pass`);
#   - `flaky`: either result is accepted (say why in the reason column);
#   - a test missing from the file, or a line naming no test: failure.
#
#   tests/regtests.sh [PROGRAM]        default: builds target/debug/proxy-mio
#   REGTESTS_BLESS=1 tests/regtests.sh rewrites the expected column from this
#                                       run (reasons kept; new failures get
#                                       "(reason to write)")
# Env: JOBS (default 6: the tests mostly wait on timers), TIMEOUT (default 10 s
# per test, as HAProxy's own runner), CONFORMANCE (default ../shared/conformance
# beside the checkout, or /work/shared/conformance).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
expected="$root/tests/regtests-expected.tsv"
conf=${CONFORMANCE:-}
if [ -z "$conf" ]; then
    for d in "$root/../shared/conformance" /work/shared/conformance; do
        [ -x "$d/run-regtests.sh" ] && { conf=$d; break; }
    done
fi
if [ -z "$conf" ] || [ ! -x "$conf/run-regtests.sh" ]; then
    echo "=================================================================="
    echo "  REG-TESTS SKIPPED: no ../shared/conformance/run-regtests.sh"
    echo "=================================================================="
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi
prog=${1:-}
if [ -z "$prog" ]; then
    # The dev profile is optimised (Cargo.toml): the binary the tests use.
    (cd "$root" && cargo build --quiet -p sluice-mio --bin proxy-mio)
    prog="$root/target/debug/proxy-mio"
fi
out=$(mktemp -d /tmp/sluice-regtests.XXXXXX)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
JOBS=${JOBS:-6} TIMEOUT=${TIMEOUT:-10} "$conf/run-regtests.sh" "$prog" "$out" >"$out/run.txt" 2>&1 || {
    cat "$out/run.txt"
    echo "reg-tests: the runner failed"
    exit 1
}
echo "reg-tests: $(tail -1 "$out/run.txt" | sed 's/ (results in.*//') in $(($(date +%s) - start)) s"

# run-regtests.sh runs VTest with -q, which hides why a test stopped: a test
# skipped for a lacking feature (`feature cmd ...`) is reported `fail`. Tests
# expected to skip are run again verbosely to tell a skip from a failure.
src="$out/src"
mkdir -p "$src"
tar -xJf "$conf/haproxy-2.6.12-reg-tests.tar.xz" -C "$src"
vtest=${CACHE:-$HOME/.cache/sluice-conformance}/vtest/vtest
python3 - "$expected" "$out/summary.tsv" "$out/log.txt" "$src" "$vtest" "$prog" <<'EOF'
import os, subprocess, sys
exp_path, got_path, log_path, src, vtest, prog = sys.argv[1:7]
exp, order = {}, []
for line in open(exp_path):
    if line.startswith('#') or not line.strip():
        continue
    f = line.rstrip('\n').split('\t')
    if len(f) < 2 or f[1] not in ('pass', 'fail', 'skip', 'flaky'):
        sys.exit(f"bad line in {exp_path}: {line!r}")
    exp[f[0]] = (f[1], f[2] if len(f) > 2 else '')
    order.append(f[0])
got = {}
for line in open(got_path):
    t, r, _ = line.rstrip('\n').split('\t')
    got[t] = r
for t, r in got.items():
    if r == 'fail' and exp.get(t, ('',))[0] == 'skip':
        v = subprocess.run([vtest, '-v', '-t', '10', 'reg-tests/' + t], cwd=src,
                           env=dict(os.environ, HAPROXY_PROGRAM=prog),
                           capture_output=True, text=True, timeout=60)
        if 'SKIPPING test' in v.stdout + v.stderr:
            got[t] = 'skip'
# A test expected to pass that failed is run once more, alone and verbosely:
# on a loaded 2-core machine a timing-sensitive test can fail once. Failing
# twice is a regression; passing the second time is reported (and the
# verbose log of a second failure is what gets printed below).
retried, vlogs = [], {}
for t, r in sorted(got.items()):
    if r == 'fail' and exp.get(t, ('',))[0] == 'pass':
        v = subprocess.run([vtest, '-v', '-t', '10', 'reg-tests/' + t], cwd=src,
                           env=dict(os.environ, HAPROXY_PROGRAM=prog),
                           capture_output=True, text=True, timeout=60)
        if v.returncode == 0:
            got[t] = 'pass'
            retried.append(t)
        else:
            out = v.stdout + v.stderr
            vlogs[t] = '\n'.join(l for l in out.split('\n')
                                 if not l.startswith('**** '))[-6000:]
for t in retried:
    print(f"reg-tests: {t} failed once and passed when run again alone (timing under load)")
bad = []
for t, r in sorted(got.items()):
    e = exp.get(t)
    if e is None:
        bad.append(f"{t}: {r}, not in {os.path.basename(exp_path)}")
    elif e[0] == 'flaky':
        continue
    elif e[0] != r:
        what = 'REGRESSION' if e[0] == 'pass' else ('NEWLY PASSING, record it' if r == 'pass' else 'changed')
        bad.append(f"{t}: expected {e[0]}, got {r} ({what})")
for t in order:
    if t not in got:
        bad.append(f"{t}: in {os.path.basename(exp_path)} but not run")
if os.environ.get('REGTESTS_BLESS') == '1':
    with open(exp_path) as f:
        head = [l for l in f if l.startswith('#')]
    with open(exp_path, 'w') as f:
        f.writelines(head)
        for t in sorted(got):
            old = exp.get(t, ('', ''))
            r = 'flaky' if old[0] == 'flaky' else got[t]
            why = '' if r == 'pass' else (old[1] or '(reason to write)')
            f.write(f"{t}\t{r}\t{why}\n".replace('\t\n', '\n'))
    print(f"reg-tests: {exp_path} rewritten")
    sys.exit(0)
if bad:
    print("reg-tests differ from tests/regtests-expected.tsv:")
    for b in bad:
        print("  " + b)
    log = open(log_path, errors='replace').read()
    for b in bad:
        t = b.split(':')[0]
        if t in vlogs:
            print(f"== {t}, run again alone with -v:")
            print(vlogs[t])
            continue
        key = '== reg-tests_' + t.replace('/', '_') + '.log'
        i = log.find(key)
        if i >= 0:
            print(log[i:i + 2000].split('\n== ')[0])
    sys.exit(1)
n = sum(1 for r in got.values() if r == 'pass')
print(f"reg-tests: as expected ({n} of {len(got)} pass)")
EOF

# HAProxy 3.x's own reverse HTTP reg-tests (issue 10), from the HAProxy 3.5
# source that ../shared/haproxy3/build.sh unpacked beside its binary
# ($HAPROXY3, exported by .ci/run): Sluice must pass them as HAProxy 3.5
# does. Their `version_atleast(2.9-dev0)` gate is dropped (proxy-mio reports
# HAProxy 2.6's version). `reverse_server_name.vtc` is left out: it names
# connections with `ssl sni EXPR` on the rhttp@ server, which Sluice refuses
# (docs/reverse-http.md: use pool-conn-name), and uses 3.x's ca-verify-file.
if [ -n "${HAPROXY3:-}" ] && [ -d "$(dirname "$HAPROXY3")/reg-tests/connection" ]; then
    r3="$(dirname "$HAPROXY3")/reg-tests/connection"
    mkdir -p "$out/rhttp"
    for t in reverse_server reverse_connect_full; do
        grep -v 'version_atleast' "$r3/$t.vtc" >"$out/rhttp/$t.vtc"
        if HAPROXY_PROGRAM=$prog "$vtest" -q -t 10 "$out/rhttp/$t.vtc" >"$out/rhttp/$t.log" 2>&1; then
            echo "reg-tests: HAProxy 3.5's connection/$t.vtc passes"
        else
            HAPROXY_PROGRAM=$prog "$vtest" -v -t 10 "$out/rhttp/$t.vtc" 2>&1 | grep -v '^\*\*\*\* ' | tail -40
            echo "reg-tests: HAProxy 3.5's connection/$t.vtc FAILED"
            exit 1
        fi
    done
else
    echo "=================================================================="
    echo "  HAProxy 3.5 reverse HTTP reg-tests SKIPPED: no \$HAPROXY3 source"
    echo "=================================================================="
    [ "${CI:-}" = true ] && exit 1
fi
