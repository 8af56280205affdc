#!/usr/bin/env bash
# Generates the provider's docs/ with tfplugindocs from the schemas, templates/ and examples/, or
# checks that docs/ is what generation gives (make test fails on stale docs).
#
# The schema comes from the provider itself (provider/cmd/providerschema prints what
# `terraform providers schema -json` would), so neither Terraform nor the network is needed, and
# the result does not depend on the Terraform at hand: Terraform before 1.8 leaves provider
# functions out of its schema output. docs/openapi.json is not tfplugindocs's and is left alone.
#
# usage: scripts/docs.sh generate|check
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
# tfplugindocs renders only below the provider directory, so the check renders into a scratch
# directory inside the repository.
scratch=""
trap 'rm -rf "$tmp" ${scratch:+"$scratch"}' EXIT

go run ./provider/cmd/providerschema -o "$tmp/schema.json"
flags=(--provider-name sip --providers-schema "$tmp/schema.json")

# tfplugindocs is chatty; its output is shown only when it fails.
quiet() { "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; return 1; }; }

case "${1:-}" in
generate)
  quiet go tool tfplugindocs generate "${flags[@]}" --rendered-provider-name sipfed
  echo "docs/ generated"
  ;;
check)
  scratch=$(mktemp -d .docs-check.XXXXXX)
  quiet go tool tfplugindocs generate "${flags[@]}" --rendered-provider-name sipfed --rendered-website-dir "$scratch/docs"
  if ! diff -ru -x openapi.json docs "$scratch/docs" >"$tmp/diff"; then
    echo "docs/ is stale: run 'make docs' (or 'go generate .') and commit the result. Difference:" >&2
    cat "$tmp/diff" >&2
    exit 1
  fi
  quiet go tool tfplugindocs validate "${flags[@]}"
  echo "docs/ is up to date"
  ;;
*)
  echo "usage: $0 generate|check" >&2
  exit 2
  ;;
esac
