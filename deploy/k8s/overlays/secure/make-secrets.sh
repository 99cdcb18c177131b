#!/usr/bin/env bash
# Makes fresh CurveZMQ key pairs with tq-keygen and prints the three Secrets
# the secure overlay mounts (tq-broker-keys, tq-worker-keys, tq-client-keys)
# as YAML on stdout. The secret keys exist only in a temporary directory
# and in the output. Usage:
#   make-secrets.sh [NAMESPACE] | kubectl apply -f -
# Requires tq-keygen and kubectl (only for its offline --dry-run=client).
set -euo pipefail
namespace="${1:-tq}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for name in broker worker client; do
  tq-keygen "$name" --out-dir="$dir" >/dev/null
done
secret() {
  kubectl create secret generic "$1" --namespace="$namespace" \
    --dry-run=client -o yaml "${@:2}"
}
secret tq-broker-keys --from-file="$dir/broker.key" \
  --from-file="$dir/client.pub" --from-file="$dir/worker.pub"
echo "---"
secret tq-worker-keys --from-file="$dir/worker.key" --from-file="$dir/broker.pub"
echo "---"
secret tq-client-keys --from-file="$dir/client.key" --from-file="$dir/broker.pub"
