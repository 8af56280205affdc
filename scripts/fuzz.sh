#!/usr/bin/env bash
# Runs every Go fuzz target of the module, each for FUZZTIME (default 30s), one after the other.
# Targets are found by `go test -list '^Fuzz'`, so a target added anywhere (the SIP parser's in
# proxy/relay or its successor included) is run without a change here. Seed corpora live in each
# package's testdata/fuzz; a failing input is written there by go test, to be committed with its fix.
#
#   FUZZTIME=5m scripts/fuzz.sh            every target, five minutes each
#   FUZZ='Admin' scripts/fuzz.sh           only targets whose name matches
#   FUZZFLAGS='-parallel 2' scripts/fuzz.sh
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
# New-coverage inputs are minimized too; the default (60s each) stalls short runs.
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
FUZZ=${FUZZ:-.}
read -r -a extra <<<"${FUZZFLAGS:-}"

targets=()
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in "${names[@]}"; do
			if [[ $n =~ $FUZZ ]]; then targets+=("$pkg $n"); fi
		done
		names=()
		;;
	*) names=() ;;
	esac
done < <("$GO" test -list '^Fuzz' ./...)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz target matches '$FUZZ'" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "=== $name ($pkg)"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "${extra[@]}" "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
