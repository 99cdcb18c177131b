#!/usr/bin/env bash
# Multi-host: broker, two workers and a client each on its own host — network
# namespaces this test creates, joined by a bridge in a fifth ("switch")
# namespace, addresses from 192.0.2.0/24 (TEST-NET-1) that exist only inside
# them. The job can only finish if workers on other hosts do its chunks: a
# built-in task from tq-client, and a Python function from tq.Pool (shipped
# by value from the client host; the workers run it in their runners).
#   multi_host_test.sh BROKER_BIN WORKER_BIN CLIENT_BIN PYTHON_PACKAGE_DIR
# Exits 77 (skipped) without root or iproute2.
set -euo pipefail
broker_bin=$1 worker_bin=$2 client_bin=$3 python_dir=$4
python=/usr/bin/python3

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "skipped: needs root and iproute2 (ip netns)"; exit 77
fi

tag="tq$$"
switch="${tag}s"
hosts=(b w1 w2 c)
declare -A addr=([b]=192.0.2.1 [w1]=192.0.2.2 [w2]=192.0.2.3 [c]=192.0.2.4)
work=$(mktemp -d)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for h in "${hosts[@]}"; do ip netns del "${tag}$h" 2>/dev/null || true; done
  ip netns del "$switch" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }

ip netns add "$switch"
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
for h in "${hosts[@]}"; do
  ns="${tag}$h"
  ip netns add "$ns"
  ip link add "h${tag}$h" type veth peer name "s${tag}$h"
  ip link set "h${tag}$h" netns "$ns"
  ip link set "s${tag}$h" netns "$switch"
  ip -n "$switch" link set "s${tag}$h" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${addr[$h]}/24" dev "h${tag}$h"
  ip -n "$ns" link set "h${tag}$h" up
done

# The broker on host b, on an ephemeral port of its namespace address; its
# first stdout line names the endpoint.
mkfifo "$work/broker.out"
# Code is allowed beyond loopback here only because these hosts exist inside
# this test alone (the flag says so).
ip netns exec "${tag}b" "$broker_bin" --listen="tcp://${addr[b]}:*" \
  --allow-code=python --allow-code-insecure \
  >"$work/broker.out" 2>"$work/broker.log" &
pids+=($!)
exec 3<"$work/broker.out"
read -r -t 10 -u 3 line || fail "broker did not report its endpoint"
endpoint=${line#listening on }
echo "broker on host b at $endpoint"

for h in w1 w2; do
  PYTHONPATH="$python_dir" ip netns exec "${tag}$h" "$worker_bin" \
    --broker="$endpoint" --threads=1 --name="host-$h" \
    --allow-code=python --python="$python" 2>"$work/worker-$h.log" &
  pids+=($!)
done

# The client on host c: a count and a full listing, against references
# computed by the embedded cluster on this machine.
count=$(timeout 60 ip netns exec "${tag}c" "$client_bin" --broker="$endpoint" \
  map primes 1 1000000 --format=count 2>"$work/client.log") || fail "count job failed"
[ "$count" = "78498" ] || fail "count across hosts: got '$count', want 78498"

timeout 60 ip netns exec "${tag}c" "$client_bin" --broker="$endpoint" \
  map factor 1 20000 --chunk-size=500 >"$work/remote.tsv" 2>>"$work/client.log" \
  || fail "factor job failed"
timeout 60 "$client_bin" map factor 1 20000 >"$work/local.tsv" \
  || fail "embedded factor job failed"
cmp -s "$work/remote.tsv" "$work/local.tsv" || fail "results across hosts differ from embedded"

# A Python function defined on the client host only (in __main__), mapped
# across the worker hosts; the result must match the same map run locally.
cat >"$work/job.py" <<'PY'
import sys
import tq

def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps

with tq.Pool(broker=sys.argv[1]) as pool:
    remote = pool.map(collatz_steps, range(1, 20001), chunksize=500)
local = [collatz_steps(n) for n in range(1, 20001)]
assert remote == local, "remote results differ from local ones"
print(sum(remote))
PY
steps=$(cd "$work" && PYTHONPATH="$python_dir" timeout 120 ip netns exec "${tag}c" \
  "$python" job.py "$endpoint" 2>>"$work/client.log") || fail "python job failed"
[ "$steps" = "1834634" ] || fail "python job across hosts: got '$steps', want 1834634"
echo "PASS: 3 passed, 0 failed"
