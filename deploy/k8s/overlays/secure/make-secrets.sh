#!/usr/bin/env bash
# Makes fresh CurveZMQ key pairs with tq-keygen and prints the Secrets the
# secure overlay mounts (tq-broker-keys, tq-worker-keys, tq-client-keys) as
# YAML on stdout. With --code-client it also makes the pair of a client that
# may submit code (the python overlay): code-client.pub joins tq-broker-keys
# and the Secret tq-code-client-keys holds code-client.key. The secret keys
# exist only in a temporary directory and in the output. Usage:
#   make-secrets.sh [--code-client] [NAMESPACE] | kubectl apply -f -
# Requires tq-keygen and kubectl (only for its offline --dry-run=client).
set -euo pipefail
code_client=false
if [ "${1:-}" = "--code-client" ]; then
  code_client=true
  shift
fi
namespace="${1:-tq}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
names=(broker worker client)
if $code_client; then names+=(code-client); fi
for name in "${names[@]}"; do
  tq-keygen "$name" --out-dir="$dir" >/dev/null
done
secret() {
  kubectl create secret generic "$1" --namespace="$namespace" \
    --dry-run=client -o yaml "${@:2}"
}
broker_pubs=(--from-file="$dir/client.pub" --from-file="$dir/worker.pub")
if $code_client; then broker_pubs+=(--from-file="$dir/code-client.pub"); fi
secret tq-broker-keys --from-file="$dir/broker.key" "${broker_pubs[@]}"
echo "---"
secret tq-worker-keys --from-file="$dir/worker.key" --from-file="$dir/broker.pub"
echo "---"
secret tq-client-keys --from-file="$dir/client.key" --from-file="$dir/broker.pub"
if $code_client; then
  echo "---"
  secret tq-code-client-keys --from-file="$dir/code-client.key" --from-file="$dir/broker.pub"
fi
