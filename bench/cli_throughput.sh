#!/usr/bin/env bash
# Measures produce and consume throughput of one local node through the
# runnel CLI and prints a markdown table row per scenario.
#   bench/cli_throughput.sh [RECORDS] [RECORD_BYTES]
# Starts its own runneld on a free loopback port in a temporary directory
# ($TMPDIR, else /tmp) and stops it (by PID) when done.  The binaries come from
# $RUNNEL_BUILD_DIR (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-2000000}
size=${2:-100}
build=${RUNNEL_BUILD_DIR:-build}
runneld=$build/broker/runneld
runnel=$build/clients/runnel
[ -x "$runneld" ] && [ -x "$runnel" ] || { echo "build first: ./scripts/setup.sh" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/runnel-bench-XXXXXX")
# A port below the kernel's ephemeral range, so no outgoing connection holds it.
port=$(python3 -c '
import random, socket
for _ in range(500):
    p = random.randint(20000, 32000)
    try:
        socket.socket().bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break')
addr=127.0.0.1:$port
"$runneld" --listen "$addr" --data-dir "$work/data" >"$work/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do "$runnel" -b "$addr" topic list >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$records" "$size" >"$work/input" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
line = ("x" * size + "\n").encode()
out = sys.stdout.buffer
for _ in range(n // 10000):
    out.write(line * 10000)
out.write(line * (n % 10000))
PY

now() { date +%s.%N; }
rate() { python3 -c "import sys; n,s,t=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]); print('| %s | %d | %d B | %.2f s | %.0f records/s | %.1f MB/s |' % (sys.argv[4], n, s, t, n/t, n*s/t/1e6))" "$@"; }

echo "| scenario | records | record size | time | records/s | MB/s |"
echo "|---|---|---|---|---|---|"
for acks in 1 all; do
  topic=bench-acks-$acks
  "$runnel" -b "$addr" topic create "$topic" -p 1 >/dev/null
  t0=$(now); "$runnel" -b "$addr" produce "$topic" --acks "$acks" <"$work/input"; t1=$(now)
  rate "$records" "$size" "$(python3 -c "print($t1-$t0)")" "produce, 1 partition, acks=$acks"
done
t0=$(now); got=$("$runnel" -b "$addr" consume bench-acks-1 -o beginning -e | wc -l); t1=$(now)
[ "$got" -eq "$records" ] || { echo "consumed $got of $records records" >&2; exit 1; }
rate "$records" "$size" "$(python3 -c "print($t1-$t0)")" "consume, 1 partition"
