#!/usr/bin/env bash
# Makes sure the tools the tests need are present: Terraform (installed into ./bin from source
# when missing; no root needed) and, for the SIP tests, sipp (Debian's sip-tester, installed with
# apt-get when running as root). Anything it cannot install stops the run with a message naming
# the tool, so that no test skips silently for a missing tool.
#
# usage: scripts/ensure-tools.sh terraform|sipp ...
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
export PATH="$BIN:$PATH"
TERRAFORM_FALLBACK=github.com/hashicorp/terraform@v1.5.7

need_terraform() {
  if command -v terraform >/dev/null 2>&1; then
    return
  fi
  echo "ensure-tools: terraform not on PATH; building $TERRAFORM_FALLBACK into $BIN (about 5 minutes)" >&2
  mkdir -p "$BIN"
  if ! GOBIN="$BIN" go install "$TERRAFORM_FALLBACK"; then
    echo "ensure-tools: could not install terraform; install Terraform >= 1.5 and put it on PATH" >&2
    exit 1
  fi
}

need_sipp() {
  if command -v sipp >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: sipp missing; installing Debian package sip-tester" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q sip-tester >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q sip-tester >/dev/null; }
  fi
  if ! command -v sipp >/dev/null 2>&1; then
    echo "ensure-tools: sipp is missing: install the Debian package sip-tester (apt-get install sip-tester)" >&2
    exit 1
  fi
}

for tool in "$@"; do
  case "$tool" in
    terraform) need_terraform ;;
    sipp) need_sipp ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
