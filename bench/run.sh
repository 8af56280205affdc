#!/usr/bin/env bash
# bench/run.sh: MESSAGE load through sipfed-proxy, one transport at a time.
#
# The proxy runs on core 1 alone (taskset -c 1, GOMAXPROCS=1); the load (sipp, tlsload) on core 0.
# For each transport the rates in RATES are tried in order, each for DURATION seconds on a fresh
# proxy, until one fails: more than 0.5% of the transactions failed, unanswered or later than 1 s,
# or the offered rate was not reached. The highest rate that passed is the result. Then a run at
# 75% of the 14,000/s target gives p50/p99 latency, and for UDP a run of STEADY seconds at the top
# rate measures memory with the 32 s retransmission window full.
#
#   udp: sipp UAC -> internal udp://127.0.0.1:5060 -> static route udp -> sipp UAS (the partner edge)
#   tcp: sipp UAC -> internal tcp://127.0.0.1:5060 -> static route tcp -> sipp UAS
#   tls: tlsload UAC, a partner over mutual TLS -> external tls://127.0.0.1:5061 -> ACL, identity
#        -> internal next hop over TLS -> tlsload UAS (Debian's sipp has no TLS)
#
# Usage: bench/run.sh [udp] [tcp] [tls]          (default: all three)
# Env:   RATES="8000 10000 ..." DURATION=15 STEADY=40 OUT=bin/bench (bin/ is git-ignored)
#        PROFILE=1 saves a CPU profile of the proxy per run (DIR/cpu.pprof; go tool pprof -top)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/sipfed.sh
. bench/lib/sipfed.sh

TRANSPORTS=${*:-udp tcp tls}
RATES=${RATES:-8000 10000 12000 14000 16000 18000 20000 22000 24000}
DURATION=${DURATION:-15}
STEADY=${STEADY:-40}
TARGET=14000
OUT=${OUT:-bin/bench}
SIPP_DIR=$PWD/proxy/relay/testdata/sipp
ADMIN=$SIPFED_ADMIN
HZ=$(getconf CLK_TCK)
# On a shared machine, other work would take the proxy's and the load's cores: raise their
# priority when allowed (NICE= to leave it).
NICE=${NICE--15}
PRIO=""
if [ -n "$NICE" ] && nice -n "$NICE" true 2>/dev/null; then PRIO="nice -n $NICE"; fi

command -v sipp >/dev/null || { echo "bench: sipp is missing (apt-get install sip-tester)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench: taskset is missing (util-linux)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores (proxy on core 1, load on core 0)" >&2; exit 1; }

mkdir -p "$OUT" bin
go build -o bin/sipfed-proxy ./proxy/cmd/sipfed-proxy
go build -o bin/tlsload ./bench/tlsload
PKI=$OUT/pki
mkdir -p "$PKI"
bin/tlsload pki -dir "$PKI"
TOKEN=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
SUMMARY=$OUT/summary.txt
echo "bench $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo nogit) load average before: $(cat /proc/loadavg)" | tee "$SUMMARY"

PROXY=""
LOADPIDS=()
cleanup() {
	for p in "${LOADPIDS[@]}" $PROXY; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

start_proxy() {
	stop_proxy
	rm -rf "$OUT/data"
	mkdir -p "$OUT/data"
	sipfed_args "$OUT/data" "$PKI"
	SIPFED_TOKEN=$TOKEN GOMAXPROCS=1 $PRIO taskset -c 1 bin/sipfed-proxy "${SIPFED_ARGS[@]}" >>"$OUT/proxy.log" 2>&1 &
	PROXY=$!
	sipfed_configure "$TOKEN"
}

stop_proxy() {
	if [ -n "$PROXY" ]; then
		kill "$PROXY" 2>/dev/null || true
		wait "$PROXY" 2>/dev/null || true
		PROXY=""
	fi
}

stop_load() {
	for p in "${LOADPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LOADPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	LOADPIDS=()
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# sample_rss PID FILE: the peak RSS, sampled every 200 ms until killed.
sample_rss() {
	local max=0 r
	while sleep 0.2; do
		r=$(rss_kib "$1" 2>/dev/null || echo 0)
		[ "$r" -gt "$max" ] && max=$r && echo "$max" >"$2"
	done
}

# run TRANSPORT RATE SECONDS: one measured run on a fresh proxy; prints a result line
# "transport rate pass achieved bad% p50 p99 cpu% rss_mib" and returns 0 when it passed.
run() {
	local tr=$1 rate=$2 secs=$3 dir="$OUT/$1-$2-$3s"
	rm -rf "$dir"
	mkdir -p "$dir"
	start_proxy
	local domain port mode
	case $tr in
	udp) domain=partner-udp.example port=5080 mode=u1 ;;
	tcp) domain=partner-tcp.example port=5081 mode=t1 ;;
	esac
	if [ "$tr" = tls ]; then
		$PRIO taskset -c 0 bin/tlsload uas -listen 127.0.0.1:5090 -cert "$PKI/internal.crt" -key "$PKI/internal.key" -ca "$PKI/ca.crt" >"$dir/uas.log" 2>&1 &
	else
		(cd "$dir" && exec $PRIO taskset -c 0 sipp -sf "$SIPP_DIR/uas_message.xml" -t $mode -i 127.0.0.1 -p $port -mp 7300 \
			-buff_size 4194304 -nostdin >uas.log 2>&1) &
	fi
	LOADPIDS+=($!)
	sleep 0.5
	local t0 t1 rssf="$dir/rss"
	echo 0 >"$rssf"
	sample_rss "$PROXY" "$rssf" &
	local sampler=$!
	t0=$(cpu_ticks "$PROXY")
	local start end
	start=$(date +%s.%N)
	# PROFILE=1: a CPU profile of the proxy over the middle of the run, for a rate that fails.
	if [ -n "${PROFILE:-}" ]; then
		(sleep $((secs / 3)); curl -fsS -H "Authorization: Bearer $TOKEN" -o "$dir/cpu.pprof" \
			"http://$ADMIN/debug/pprof/profile?seconds=$((secs / 3))" || true) &
	fi
	if [ "$tr" = tls ]; then
		GOMAXPROCS=1 $PRIO taskset -c 0 bin/tlsload uac -target 127.0.0.1:5061 -rate "$rate" -duration "${secs}s" \
			-cert "$PKI/partner.crt" -key "$PKI/partner.key" -ca "$PKI/ca.crt" >"$dir/uac.json" 2>"$dir/uac.log" || true
	else
		(cd "$dir" && $PRIO taskset -c 0 sipp -sf "$SIPP_DIR/uac_message.xml" -t $mode -i 127.0.0.1 -p 7000 -mp 7100 \
			-buff_size 4194304 -s bob -key domain $domain -r "$rate" -m $((rate * secs)) -l 100000 \
			-nostdin -trace_screen -screen_file screen.txt -trace_rtt -rtt_freq 200 -timeout $((secs + 10))s \
			127.0.0.1:5060 >uac.log 2>&1) || true
	fi
	end=$(date +%s.%N)
	t1=$(cpu_ticks "$PROXY")
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	local rss
	rss=$(cat "$rssf")
	stop_load
	stop_proxy
	local wall cpu
	wall=$(echo "$end - $start" | bc -l)
	cpu=$(echo "100 * ($t1 - $t0) / $HZ / $wall" | bc -l)

	# achieved: the rate the generator offered (sipp slows down when it cannot keep up).
	local sent ok failed late p50 p99 achieved
	if [ "$tr" = tls ]; then
		read -r sent ok failed late p50 p99 achieved < <(python3 -c '
import json,sys
s=json.load(open(sys.argv[1]))
print(s["sent"], s["ok"], s["failed"]+s["unanswered"], s["late"], s["p50_ms"], s["p99_ms"], s["sent"]/max(s["seconds"],1e-9))' "$dir/uac.json" 2>/dev/null || echo "0 0 0 0 0 0 0")
	else
		sent=$((rate * secs))
		ok=$(awk -F'|' '/Successful call/{gsub(/ /,"",$3); v=$3} END{print v+0}' "$dir/screen.txt" 2>/dev/null || echo 0)
		achieved=$(awk -F'|' '/Call Rate/{gsub(/[ a-z]/,"",$3); v=$3} END{print v+0}' "$dir/screen.txt" 2>/dev/null || echo 0)
		cat "$dir"/*_rtt.csv 2>/dev/null | awk -F';' 'NR>1 && $2 ~ /^[0-9.]+$/ {print $2}' | sort -g >"$dir/rt.txt" || true
		local n
		n=$(wc -l <"$dir/rt.txt")
		late=$(awk '$1 > 1000' "$dir/rt.txt" | wc -l)
		failed=$((sent - ok))
		if [ "$n" -gt 0 ]; then
			p50=$(sed -n "$(((n + 1) / 2))p" "$dir/rt.txt")
			p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$dir/rt.txt")
		else
			p50=NA p99=NA
		fi
	fi
	local bad pass=FAIL
	bad=$(echo "if ($sent > 0) 100 * ($failed + $late) / $sent else 100" | bc -l)
	if [ "$(echo "$bad < 0.5 && $achieved >= $rate * 0.97" | bc -l)" = 1 ]; then
		pass=PASS
	fi
	printf "%-4s rate=%-6s %s sent=%-7s ok=%-7s bad=%.3f%% p50=%sms p99=%sms proxy_cpu=%.0f%% proxy_rss=%.0fMiB achieved=%.0f/s\n" \
		"$tr" "$rate" "$pass" "$sent" "$ok" "$bad" "$p50" "$p99" "$cpu" "$(echo "$rss / 1024" | bc -l)" "$achieved" | tee -a "$SUMMARY"
	[ "$pass" = PASS ]
}

for tr in $TRANSPORTS; do
	top=0
	for rate in $RATES; do
		if run "$tr" "$rate" "$DURATION"; then top=$rate; else break; fi
	done
	echo "== $tr: highest rate sustained ${DURATION}s: ${top}/s (target ${TARGET}/s)" | tee -a "$SUMMARY"
	run "$tr" $((TARGET * 3 / 4)) "$DURATION" || true
	if [ "$tr" = udp ] && [ "$top" -gt 0 ] && [ "$STEADY" -gt 0 ]; then
		# Memory with the 32 s window full, at the top rate; if that rate does not hold
		# that long, at the target.
		for steady in $top $TARGET; do
			echo "== udp: ${STEADY}s at ${steady}/s, the 32 s retransmission window full" | tee -a "$SUMMARY"
			ok=0
			run udp "$steady" "$STEADY" && ok=1
			rss=$(cat "$OUT/udp-$steady-${STEADY}s/rss")
			live=$((steady * (STEADY < 32 ? STEADY : 32)))
			echo "== udp: $((rss * 1024 / live)) bytes of RSS per live transaction ($live live)" | tee -a "$SUMMARY"
			[ $ok = 1 ] && break
		done
	fi
done
echo "load average during the runs (other processes share both cores): $(cat /proc/loadavg)" | tee -a "$SUMMARY"
echo "summary: $SUMMARY"
