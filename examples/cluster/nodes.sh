#!/usr/bin/env bash
# Starts a cluster on this machine, on loopback: one etcd and three sipfed-proxy nodes sharing it,
# each with its own admin API (7181-7183) and internal SIP listener (5161-5163/tcp); etcd listens
# on 23790. Ctrl-C stops
# everything. Needs bin/sipfed-proxy (make build) and etcd (apt-get install etcd-server).
#
# usage: examples/cluster/nodes.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
echo "cluster:$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" > "$WORK/tokens"
chmod 600 "$WORK/tokens"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

# etcd, with its history compacted hourly: the proxies need only what they have not read yet.
etcd --name sipfed --data-dir "$WORK/etcd" \
  --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster sipfed=http://127.0.0.1:23800 \
  --auto-compaction-mode periodic --auto-compaction-retention 1h --log-level warn \
  >"$WORK/etcd.log" 2>&1 &
pids+=($!)

for i in 1 2 3; do
  # Flags that must agree across nodes: --local-domain, --default-federation-routing-domain.
  # Per node: --node-fqdn, listeners, certificates, --internal-next-hop, --public-address.
  bin/sipfed-proxy serve \
    --store etcd --etcd-endpoints http://127.0.0.1:23790 --etcd-prefix /sipfed/ \
    --data-dir "$WORK/node$i" --admin-addr "127.0.0.1:718$i" --admin-token-file "$WORK/tokens" \
    --node-fqdn "imp$i.example.com" --local-domain example.com \
    --sip-internal "tcp://127.0.0.1:516$i" --internal-next-hop "sip:127.0.0.1:5070;transport=tcp" \
    --public-address "192.0.2.1$i" \
    >"$WORK/node$i.log" 2>&1 &
  pids+=($!)
done

export SIPFED_TOKEN=${SIPFED_TOKEN:-$(cut -d: -f2 "$WORK/tokens")}
for i in 1 2 3; do
  for try in $(seq 100); do
    curl -fsS "http://127.0.0.1:718$i/readyz" >/dev/null 2>&1 && break
    if [ "$try" = 100 ]; then
      echo "node $i is not ready; its log:" >&2
      tail -n 20 "$WORK/node$i.log" >&2
      exit 1
    fi
    sleep 0.1
  done
done
echo "three nodes up; logs in $WORK"
echo "export SIPFED_TOKEN=$SIPFED_TOKEN"
curl -fsS -H "Authorization: Bearer $SIPFED_TOKEN" http://127.0.0.1:7181/v1/cluster
echo
if [ -t 0 ]; then
  echo "Ctrl-C stops the cluster"
  wait
fi
