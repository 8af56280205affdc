#!/usr/bin/env bash
# Makes sure the tools the tests need are present: Terraform (installed into ./bin from source
# when missing; no root needed), for the SIP tests sipp (Debian's sip-tester), and for the cluster
# tests the etcd server binary (Debian's etcd-server, 3.4; the tests also embed the current etcd),
# both installed with apt-get when running as root. Anything it cannot install stops the run with
# a message naming the tool, so that no test skips silently for a missing tool.
#
# usage: scripts/ensure-tools.sh terraform|sipp|etcd ...
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

# apt_install PACKAGE COMMAND: installs a Debian package when COMMAND is missing and we are root.
apt_install() {
  local pkg=$1 cmd=$2
  if command -v "$cmd" >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: $cmd missing; installing Debian package $pkg" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$pkg" >/dev/null; }
  fi
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "ensure-tools: $cmd is missing: install the Debian package $pkg (apt-get install $pkg)" >&2
    exit 1
  fi
}

need_etcd() {
  apt_install etcd-server etcd
  # The package starts a system etcd where systemd runs; the tests start their own on free
  # loopback ports and never use it.
}

for tool in "$@"; do
  case "$tool" in
    terraform) need_terraform ;;
    sipp) need_sipp ;;
    etcd) need_etcd ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
