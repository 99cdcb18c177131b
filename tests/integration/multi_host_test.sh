#!/usr/bin/env bash
# Multi-host: broker, two workers and a client each on its own host — network
# namespaces this test creates, joined by a bridge in a fifth ("switch")
# namespace, addresses from 192.0.2.0/24 (TEST-NET-1) that exist only inside
# them. The job can only finish if workers on other hosts do its chunks.
#   multi_host_test.sh BROKER_BIN WORKER_BIN CLIENT_BIN
# Exits 77 (skipped) without root or iproute2.
set -euo pipefail
broker_bin=$1 worker_bin=$2 client_bin=$3

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
ip netns exec "${tag}b" "$broker_bin" --listen="tcp://${addr[b]}:*" \
  >"$work/broker.out" 2>"$work/broker.log" &
pids+=($!)
exec 3<"$work/broker.out"
read -r -t 10 -u 3 line || fail "broker did not report its endpoint"
endpoint=${line#listening on }
echo "broker on host b at $endpoint"

for h in w1 w2; do
  ip netns exec "${tag}$h" "$worker_bin" --broker="$endpoint" --threads=1 \
    --name="host-$h" 2>"$work/worker-$h.log" &
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

echo "PASS: 2 passed, 0 failed"
