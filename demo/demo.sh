#!/usr/bin/env bash
# make demo: the whole job on one machine, needing only Go (Terraform is built into ./bin when
# missing). It builds both programs, starts the proxy on its embedded store, applies
# examples/federation through a dev_overrides CLI configuration, sends one SIP MESSAGE from an
# enterprise user agent through the proxy to a stand-in for an AOL-hosted partner's edge (mutual
# TLS), prints the route it took and the response, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
BIN=$ROOT/bin
export PATH="$BIN:$PATH"

say() { printf '\n==> %s\n' "$*"; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say "building sipfed-proxy, terraform-provider-sip and the demo's user agents"
go build -o "$BIN/sipfed-proxy" ./proxy/cmd/sipfed-proxy
go build -o "$BIN/terraform-provider-sip" .
go build -o "$BIN/sipfed-demo-ua" ./demo/ua
scripts/ensure-tools.sh terraform

rm -rf "$DEMO"
mkdir -p "$DEMO/pki" "$DEMO/data"
cat > "$DEMO/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/sipfed/sip" = "$BIN"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$DEMO/terraformrc
terraform version | sed -n 1p
UA=$BIN/sipfed-demo-ua

# The partners, as examples/federation names them.
AOL_DOMAIN=hosted-partner.example
AOL_EDGE=edge.hosted-partner.example
LYNC_DOMAIN=lync-partner.example
LYNC_EDGE=sip.lync-partner.example
ROUTING_FQDN=imp-public.example.com

ADMIN_PORT=$($UA freeport); SIP_PORT=$($UA freeport); SIPS_PORT=$($UA freeport)
EDGE_PORT=$($UA freeport); LYNC_PORT=$($UA freeport); DNS_PORT=$($UA freeport); INTERNAL_PORT=$($UA freeport)

say "making a demo CA and certificates for the proxy and the partner edges"
$UA certs -dir "$DEMO/pki" -proxy "imp1.example.com,$ROUTING_FQDN" -edge "$AOL_EDGE"
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'demo:%s\n' "$TOKEN" > "$DEMO/tokens"
chmod 600 "$DEMO/tokens"

say "starting the partners' stand-ins: an edge on tls://127.0.0.1:$EDGE_PORT and their public DNS on udp://127.0.0.1:$DNS_PORT"
$UA edge -listen "127.0.0.1:$EDGE_PORT" -name "$AOL_EDGE" \
  -cert "$DEMO/pki/edge.crt" -key "$DEMO/pki/edge.key" -ca "$DEMO/pki/edge-ca.crt" > "$DEMO/edge.log" 2>&1 &
pids+=($!)
$UA dns -listen "127.0.0.1:$DNS_PORT" \
  -srv "_sipfederationtls._tcp.$LYNC_DOMAIN=$LYNC_EDGE:$LYNC_PORT" -a "$LYNC_EDGE=127.0.0.1" > "$DEMO/dns.log" 2>&1 &
pids+=($!)

say "starting sipfed-proxy on its embedded store ($DEMO/data)"
sipfed-proxy serve \
  --data-dir "$DEMO/data" \
  --admin-addr "127.0.0.1:$ADMIN_PORT" --admin-token-file "$DEMO/tokens" \
  --sip-internal "tcp://127.0.0.1:$SIP_PORT" \
  --sip-external "tls://127.0.0.1:$SIPS_PORT" \
  --internal-next-hop "sip:127.0.0.1:$INTERNAL_PORT;transport=tcp" \
  --local-domain example.com --node-fqdn imp1.example.com \
  --dns-server "127.0.0.1:$DNS_PORT" \
  --tls-cert "$DEMO/pki/proxy.crt" --tls-key "$DEMO/pki/proxy.key" --tls-ca "$DEMO/pki/proxy-ca.crt" \
  > "$DEMO/proxy.log" 2>&1 &
pids+=($!)
if ! $UA wait -url "http://127.0.0.1:$ADMIN_PORT/readyz" -timeout 30s; then
  cat "$DEMO/proxy.log"; exit 1
fi
echo "admin API on http://127.0.0.1:$ADMIN_PORT, SIP on tcp://127.0.0.1:$SIP_PORT and tls://127.0.0.1:$SIPS_PORT"

say "terraform apply examples/federation (provider from ./bin through dev_overrides)"
export SIPFED_ENDPOINT="http://127.0.0.1:$ADMIN_PORT" SIPFED_TOKEN="$TOKEN"
export TF_IN_AUTOMATION=1
mkdir -p "$DEMO/examples"
cp -r examples/federation examples/modules "$DEMO/examples/"
cd "$DEMO/examples/federation"
# Only the local module needs installing: the provider comes from dev_overrides.
terraform get -no-color >/dev/null
terraform apply -auto-approve -input=false -no-color -compact-warnings \
  -var "aol_partner_domain=$AOL_DOMAIN" \
  -var "aol_partner_next_hop=127.0.0.1" \
  -var "aol_partner_next_hop_port=$EDGE_PORT" \
  -var "aol_partner_protocol=tls" \
  -var "aol_partner_tls_subject=$AOL_EDGE" \
  -var "lync_partner_domain=$LYNC_DOMAIN" \
  -var "lync_partner_tls_subject=$LYNC_EDGE" \
  -var "federation_routing_fqdn=$ROUTING_FQDN"
cd "$ROOT"

say "how the proxy routes sip:alice@$AOL_DOMAIN (sipfed-proxy route)"
sipfed-proxy route --endpoint "$SIPFED_ENDPOINT" "sip:alice@$AOL_DOMAIN"

say "and the Lync partner, found through DNS SRV (sipfed-proxy route)"
sipfed-proxy route --endpoint "$SIPFED_ENDPOINT" "sip:carol@$LYNC_DOMAIN"

say "sending one SIP MESSAGE through the proxy"
$UA send -proxy "127.0.0.1:$SIP_PORT" -from "sip:bob@example.com" -to "sip:alice@$AOL_DOMAIN" -body "Hello from sipfed"
sleep 0.2
cat "$DEMO/edge.log"

say "demo done; stopping the proxy and the stand-ins (logs in .demo/)"
