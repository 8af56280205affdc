#!/usr/bin/env bash
# Benchmark of the Terraform provider at scale: `terraform apply` of N federated domains and N
# static routes (default 1,000 each) against a local sipfed-proxy on its embedded store, then a
# `terraform plan` that refreshes all of them and must find nothing to change. It reports the wall
# time of each and the share spent in the provider (from terraform-plugin-go's per-RPC logs) and in
# the admin API (from the proxy's sipfed_admin_request_duration_seconds histogram).
#
# Two passes on fresh proxies: the first, without logging, gives the wall times; the second, with
# the provider's protocol logs on, gives the breakdown (logging slows it a little; its own wall
# times are printed for comparison).
#
# usage: bench/terraform/bench.sh [N]     env: BENCH_N, BENCH_PARALLELISM (Terraform's, default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${1:-${BENCH_N:-1000}}
PAR=${BENCH_PARALLELISM:-10}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipfed-tfbench.XXXXXX")
BIN=$WORK/bin
export PATH="$ROOT/bin:$PATH"

proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

command -v terraform >/dev/null || scripts/ensure-tools.sh terraform
echo "building into $BIN"
go build -o "$BIN/sipfed-proxy" ./proxy/cmd/sipfed-proxy
go build -o "$BIN/terraform-provider-sip" .
go build -o "$BIN/analyze" ./bench/terraform/analyze

TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'bench:%s\n' "$TOKEN" >"$WORK/tokens"
cat >"$WORK/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/sipfed/sip" = "$BIN"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$WORK/terraformrc TF_IN_AUTOMATION=1 SIPFED_TOKEN=$TOKEN

# start_proxy DIR: a fresh proxy on a free port; sets proxy_pid and SIPFED_ENDPOINT.
start_proxy() {
  local port
  port=$("$BIN/analyze" freeport)
  "$BIN/sipfed-proxy" serve --data-dir "$1/data" --admin-addr "127.0.0.1:$port" --admin-token-file "$WORK/tokens" \
    --node-fqdn imp1.example.com --local-domain example.com --log-level warn >"$1/proxy.log" 2>&1 &
  proxy_pid=$!
  export SIPFED_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    "$BIN/analyze" api "$SIPFED_ENDPOINT/metrics" >/dev/null 2>&1 && return
    sleep 0.1
  done
  cat "$1/proxy.log" >&2
  echo "proxy did not start" >&2
  exit 1
}

stop_proxy() { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""; }

# write_config DIR: N partner domains, each with a static route toward its edge.
write_config() {
  cat >"$1/main.tf" <<TF
terraform {
  required_providers {
    sip = { source = "sipfed/sip" }
  }
}

provider "sip" {}

locals {
  partners = toset([for i in range($N) : format("partner%05d.example", i)])
}

resource "sip_federated_domain" "partner" {
  for_each    = local.partners
  domain      = each.key
  description = "Benchmark partner \${each.key}"
  type        = "lync"
}

resource "sip_static_route" "partner" {
  for_each            = local.partners
  destination_pattern = ".example.\${trimsuffix(each.key, ".example")}.*"
  next_hop            = "edge.\${each.key}"
  priority            = 1
  weight              = 10
  description         = "Edge of \${each.key}"
  depends_on          = [sip_federated_domain.partner]
}
TF
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
api_seconds() { "$BIN/analyze" api "$SIPFED_ENDPOINT/metrics"; }

# run PASS: apply then plan on a fresh proxy; prints wall times and API time of each.
run() {
  local pass=$1 dir=$WORK/$1
  mkdir -p "$dir"
  start_proxy "$dir"
  write_config "$dir"
  cd "$dir"
  local a0 a1 p0 p1 api0 api1 api2
  api0=$(api_seconds)
  a0=$(now)
  terraform apply -auto-approve -input=false -no-color -parallelism="$PAR" >apply.out 2>&1 || { tail -n 30 apply.out; exit 1; }
  a1=$(now)
  api1=$(api_seconds)
  [ -n "${TF_LOG_PATH:-}" ] && mv "$TF_LOG_PATH" "$dir/apply.tflog"
  p0=$(now)
  local rc=0
  terraform plan -input=false -no-color -detailed-exitcode -parallelism="$PAR" >plan.out 2>&1 || rc=$?
  p1=$(now)
  api2=$(api_seconds)
  [ -n "${TF_LOG_PATH:-}" ] && mv "$TF_LOG_PATH" "$dir/plan.tflog"
  if [ "$rc" != 0 ]; then
    echo "plan after apply was not empty (exit $rc):" >&2; tail -n 30 plan.out >&2; exit 1
  fi
  cd "$ROOT"
  stop_proxy
  APPLY_WALL=$(elapsed "$a0" "$a1")
  PLAN_WALL=$(elapsed "$p0" "$p1")
  read -r s0 c0 <<<"$api0"; read -r s1 c1 <<<"$api1"; read -r s2 c2 <<<"$api2"
  APPLY_API=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }')
  APPLY_CALLS=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%d", b - a }')
  PLAN_API=$(awk -v a="$s1" -v b="$s2" 'BEGIN { printf "%.3f", b - a }')
  PLAN_CALLS=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%d", b - a }')
}

share() { awk -v part="$1" -v whole="$2" 'BEGIN { printf "%.0f%%", 100 * part / whole }'; }

terraform version | sed -n 1p # sed reads to the end: head would leave terraform a SIGPIPE, and pipefail the run
echo "resources: $N sip_federated_domain + $N sip_static_route; terraform -parallelism=$PAR; $(nproc) CPUs"

echo
echo "== pass 1: wall time (no logging)"
run clean
printf '  terraform apply  %8ss   admin API: %5d requests, %6ss summed\n' "$APPLY_WALL" "$APPLY_CALLS" "$APPLY_API"
printf '  terraform plan   %8ss   admin API: %5d requests, %6ss summed\n' "$PLAN_WALL" "$PLAN_CALLS" "$PLAN_API"
CLEAN_APPLY=$APPLY_WALL CLEAN_PLAN=$PLAN_WALL

echo
echo "== pass 2: where the time goes (provider protocol logs on)"
export TF_LOG=trace TF_LOG_CORE=off TF_LOG_SDK_FRAMEWORK=off TF_LOG_PATH=$WORK/current.tflog
run traced
unset TF_LOG TF_LOG_CORE TF_LOG_SDK_FRAMEWORK TF_LOG_PATH
for phase in apply plan; do
  if [ "$phase" = apply ]; then wall=$APPLY_WALL api=$APPLY_API; else wall=$PLAN_WALL api=$PLAN_API; fi
  echo "-- terraform $phase: ${wall}s wall (with logging)"
  "$BIN/analyze" rpcs "$WORK/traced/$phase.tflog" | tee "$WORK/traced/$phase.rpcs" | grep -v '^PROVIDER_'
  busy=$(grep '^PROVIDER_BUSY_SECONDS=' "$WORK/traced/$phase.rpcs" | cut -d= -f2)
  sum=$(grep '^PROVIDER_SUM_SECONDS=' "$WORK/traced/$phase.rpcs" | cut -d= -f2)
  printf '  admin API time, summed:                %ss\n' "$api"
  printf '  share of wall time with a provider RPC in flight: %s; API time / provider RPC time: %s\n' \
    "$(share "$busy" "$wall")" "$(share "$api" "$sum")"
done

echo
echo "summary: apply ${CLEAN_APPLY}s, plan ${CLEAN_PLAN}s for $N domains + $N routes (logs and state in $WORK)"
