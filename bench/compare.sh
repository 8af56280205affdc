#!/usr/bin/env bash
# bench/compare.sh: the same MESSAGE load through sipfed-proxy and through Kamailio, in one run,
# each proxy alone on the same single core, per transport; prints both sustained rates, their
# ratio, latency, memory, the generators' CPU and the machine's load average.
#
#   udp: sipp UAC -> proxy internal udp 127.0.0.1:5060 -> static route -> sipp UAS :5080
#   tcp: sipp UAC -> proxy internal tcp 127.0.0.1:5060 -> static route -> sipp UAS :5081
#   tls: tlsload UAC (a partner, mutual TLS) -> proxy external tls 127.0.0.1:5061 -> identity and
#        incoming ACL -> internal next hop over TLS -> tlsload UAS :5090 (Debian's sipp has no TLS)
#
# sipfed-proxy is configured by bench/lib/sipfed.sh (flags and admin API, as bench/run.sh does);
# Kamailio by bench/kamailio/kamailio.cfg, which mirrors it. The proxy under test runs on
# PROXY_CORE (all of Kamailio's processes; sipfed with GOMAXPROCS=1), the generators on LOAD_CORE.
#
# A step: a fresh proxy, a fresh UAS, the UAC at a fixed rate for DURATION seconds. It passes when
# under 0.5% of the requests failed, went unanswered or were answered later than 1 s, and at least
# 95% of the rate was offered. A step whose generators (UAC and UAS together: they share one core)
# used 90% or more of their core is marked gen-bound: its rate is a lower bound, not a result. The
# load core's total busy share (other work included) is printed beside it.
#
# Per transport: a ramp over RATES, both proxies at each rate in turn, each until its first
# failure; one step half-way between a proxy's last pass and its failure (REFINE); a step at 75% of
# sipfed's top rate for both (latency at equal load); with OVERLOAD=1, steps at 1.5x and 2x each
# proxy's own capacity (goodput: 200s within 1 s per second, and the share of 503s).
#
# Usage: bench/compare.sh [udp] [tcp] [tls]        (default: all three; about 10 minutes)
# Env:   DURATION=8  RATES="2000 4000 ..."  REFINE=1  LATENCY=1  OVERLOAD=0  PROXIES="sipfed kamailio"
#        QUICK=1     smoke run: 3 s steps, rates 2000 and 5000, no refinement
#        QUOTA=40    each proxy capped at 40% of its core (a CPU cgroup, cgroup v1 or v2; root):
#                    on a machine whose generators cannot saturate a whole core's worth of proxy,
#                    both proxies are compared on the same fraction of one; the ratio holds, the
#                    rates are that fraction of a core's. Default: no cap.
#        BUSY=1      a CPU hog (busy loop, nice 0) on the proxy's core during every step, and the
#                    proxies at nice 0 too (they otherwise run at NICE)
#        NICE=-15    priority of proxies and generators (each in a scheduler autogroup of its own)
#        CHILDREN=4  Kamailio's children and tcp_children; KAM_SHM=4096 KAM_PKG=64 (MiB; see below)
#        TLS_CONNS=1 TLS connections from the partner UAC (sipp uses one socket for udp and tcp)
#        PROFILE=1   a CPU profile of sipfed-proxy over the middle third of each of its steps (DIR/cpu.pprof),
#                    and its 503s, UDP drops and next-hop failures by reason at the step's end (DIR/metrics.txt)
#        OUT=bin/compare (git-ignored): compare.txt (this output), steps.tsv, one directory per step
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib/sipfed.sh
. bench/lib/sipfed.sh

TRANSPORTS=${*:-udp tcp tls}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-3}
	RATES=${RATES:-2000 5000}
	REFINE=${REFINE:-0}
fi
DURATION=${DURATION:-8}
RATES=${RATES:-2000 4000 6000 8000 10000 12000 14000 16000 20000 24000 28000 32000}
REFINE=${REFINE:-1}
LATENCY=${LATENCY:-1}
OVERLOAD=${OVERLOAD:-0}
BUSY=${BUSY:-0}
PROFILE=${PROFILE:-0}
QUOTA=${QUOTA:-}
PROXIES=${PROXIES:-sipfed kamailio}
NICE=${NICE--15}
if [ "$BUSY" = 1 ]; then PROXY_NICE=${PROXY_NICE:-0}; else PROXY_NICE=${PROXY_NICE:-$NICE}; fi
HOG_NICE=${HOG_NICE:-0}
CHILDREN=${CHILDREN:-4}
# Issue 11 ran Kamailio with -m 1024; here that runs out of shared memory near 15,000/s (tm keeps
# each transaction 5 s after its answer), so Kamailio would be measured by its memory setting, not
# its core. 4096 lets it run until the core (or the generator) is the limit. KAM_SHM=1024 for
# issue 11's setting; a step in which Kamailio ran out of shared memory is marked SHM-FULL.
KAM_SHM=${KAM_SHM:-4096}
KAM_PKG=${KAM_PKG:-64}
TLS_CONNS=${TLS_CONNS:-1}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
OUT=${OUT:-bin/compare}
PASS_BAD=0.5      # % of requests not answered 200 within 1 s
PASS_ACHIEVED=95  # % of the rate offered
GEN_BOUND=90      # % of the load core used by the generators
HZ=$(getconf CLK_TCK)
PORTS="5060 5061 5080 5081 5090 7000 7080"

die() { echo "compare: $*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------------------
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (proxy on one, load generators on the other)"
for c in taskset setsid curl python3 ss go; do
	command -v $c >/dev/null || die "$c is missing"
done
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need_pkgs() {
	local missing=() p
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} = 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
	fi
	echo "compare: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; } ||
		die "could not install ${missing[*]}"
}
case " $TRANSPORTS " in *" udp "* | *" tcp "*) need_pkgs sip-tester ;; esac
case " $PROXIES " in *" kamailio "*) need_pkgs kamailio kamailio-tls-modules ;; esac

# cpu_cap: the cgroup a proxy runs in when QUOTA is set; CAP_CMD is the prefix that puts a
# command in it (its children follow it). A 10 ms period keeps the throttled gaps short, so the
# cap costs latency no more than a busy core would.
CGROUP="" CAP_CMD=()
if [ -n "$QUOTA" ]; then
	[ "$(id -u)" = 0 ] || die "QUOTA needs root (a CPU cgroup)"
	case $QUOTA in *[!0-9]* | "") die "QUOTA is a percentage of one core, 1 to 100" ;; esac
	[ "$QUOTA" -ge 1 ] && [ "$QUOTA" -le 100 ] || die "QUOTA is a percentage of one core, 1 to 100"
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		CGROUP=/sys/fs/cgroup/sipfed-compare
		mkdir -p "$CGROUP"
		echo "+cpu" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
		echo "$((QUOTA * 100)) 10000" >"$CGROUP/cpu.max" || die "could not set $CGROUP/cpu.max"
	elif [ -d /sys/fs/cgroup/cpu ]; then
		CGROUP=/sys/fs/cgroup/cpu/sipfed-compare
		mkdir -p "$CGROUP"
		echo 10000 >"$CGROUP/cpu.cfs_period_us"
		echo "$((QUOTA * 100))" >"$CGROUP/cpu.cfs_quota_us" || die "could not set $CGROUP/cpu.cfs_quota_us"
	else
		die "QUOTA: no CPU cgroup controller under /sys/fs/cgroup"
	fi
	CAP_CMD=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGROUP")
fi

busy_ports() {
	local p f=""
	for p in $PORTS; do f="$f${f:+ or }sport = :$p"; done
	ss -Hlntu "( $f )" 2>/dev/null || true
}
wait_ports_free() {
	local i b
	for i in $(seq 100); do
		b=$(busy_ports)
		[ -z "$b" ] && return 0
		[ "$i" = 100 ] && die "ports still in use (another benchmark or a Kamailio service?):
$b"
		sleep 0.1
	done
}
wait_ports_free

# --- build, certificates, output -------------------------------------------------------------
mkdir -p "$OUT" bin
rm -rf "$OUT/steps" "$OUT/data" "$OUT/kamailio"
mkdir -p "$OUT/steps" "$OUT/kamailio"
OUT=$(cd "$OUT" && pwd)
go build -o bin/sipfed-proxy ./proxy/cmd/sipfed-proxy
go build -o bin/tlsload ./bench/tlsload
PKI=$OUT/pki
mkdir -p "$PKI"
bin/tlsload pki -dir "$PKI"
sed "s#@PKI@#$PKI#g" bench/kamailio/tls.cfg.in >"$OUT/kamailio/tls.cfg"
TOKEN=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
REPORT=$OUT/compare.txt
TSV=$OUT/steps.tsv
: >"$REPORT"
printf 'kind\tproxy\ttransport\trate\tresult\tgen_bound\tsent\tok\tlate\tshed\tother\tunanswered\tbad_pct\tshed_pct\tgoodput\tachieved\tp50_ms\tp99_ms\tproxy_cpu\tproxy_core_busy\tproxy_core_steal\trss_kib\tpss_kib\tgen_cpu\tload_core_busy\tloadavg_before\tloadavg_after\n' >"$TSV"
say() { echo "$*" | tee -a "$REPORT"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# --- processes -------------------------------------------------------------------------------
PROXY="" UAS="" UAC="" HOG="" SAMPLER=""
cleanup() {
	local p
	for p in $SAMPLER $HOG $UAC $UAS $PROXY; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$CGROUP" ]; then rmdir "$CGROUP" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'echo "compare: stopped at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

# launch DIR CORE NICE CMD...: CMD in DIR, in a session (so a scheduler autogroup) of its own,
# pinned to CORE, at priority NICE; LAUNCHED is its pid, a child of this shell. With autogroups
# (the Debian default) a process's nice does not count against other sessions' work; its
# autogroup's nice does, so both are set.
launch() {
	local dir=$1 core=$2 nice=$3
	shift 3
	if [ -n "$nice" ] && [ "$nice" != 0 ]; then
		setsid env -C "$dir" nice -n "$nice" taskset -c "$core" "$@" &
	else
		setsid env -C "$dir" taskset -c "$core" "$@" &
	fi
	LAUNCHED=$!
	[ -n "$nice" ] && [ -w "/proc/$LAUNCHED/autogroup" ] || return 0
	# Only once the child has its own session: before that it shares this shell's autogroup,
	# whose nice must stay as it is.
	local i sid
	for i in $(seq 100); do
		sid=$(awk '{print $6}' "/proc/$LAUNCHED/stat" 2>/dev/null) || return 0
		if [ "$sid" = "$LAUNCHED" ]; then
			if [ "$(cut -d' ' -f1 "/proc/$LAUNCHED/autogroup")" != "$(cut -d' ' -f1 /proc/$$/autogroup)" ]; then
				echo "$nice" >"/proc/$LAUNCHED/autogroup" 2>/dev/null || true
			fi
			return 0
		fi
		sleep 0.01
	done
}

# tree PID: PID and its children (Kamailio's processes; sipfed is one process).
tree() {
	echo "$1"
	cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d' || true
}
ticks() { # PIDS...: CPU ticks used so far
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		t=$((t + v))
	done
	echo "$t"
}
core_ticks() { # CORE: "busy total steal" ticks of one core (steal: time the hypervisor took)
	awk -v c="cpu$1" '$1 == c {t=0; for (i=2; i<=9; i++) t+=$i; print t-$5-$6, t, $9}' /proc/stat
}
mem_kib() { # PIDS...: "rss pss" summed over the processes (RSS counts shared pages once per process)
	local p
	for p in "$@"; do
		awk '/^Rss:/{r=$2} /^Pss:/{s=$2} END{print r+0, s+0}' "/proc/$p/smaps_rollup" 2>/dev/null || true
	done | awk '{r+=$1; s+=$2} END{print r+0, s+0}'
}
# sample_mem FILE PIDS...: the peak "rss pss" into FILE, every second until killed.
sample_mem() {
	local f=$1 mr=0 mp=0 r p
	shift
	while :; do
		r=0 p=0
		read -r r p < <(mem_kib "$@") || true
		[ "$r" -gt "$mr" ] && mr=$r
		[ "$p" -gt "$mp" ] && mp=$p
		echo "$mr $mp" >"$f.new" && mv -f "$f.new" "$f" # whole, even when killed meanwhile
		sleep 1
	done
}

start_sipfed() { # DIR
	rm -rf "$OUT/data"
	mkdir -p "$OUT/data"
	sipfed_args "$OUT/data" "$PKI"
	SIPFED_TOKEN=$TOKEN GOMAXPROCS=1 launch "$ROOT" "$PROXY_CORE" "$PROXY_NICE" "${CAP_CMD[@]}" bin/sipfed-proxy "${SIPFED_ARGS[@]}" >>"$1/proxy.log" 2>&1
	PROXY=$LAUNCHED
	sipfed_configure "$TOKEN" || die "sipfed-proxy: see $1/proxy.log"
}

KAM_ARGS=(-f "$ROOT/bench/kamailio/kamailio.cfg" -DD -E -x tlsf -X tlsf -m "$KAM_SHM" -M "$KAM_PKG"
	-Y "$OUT/kamailio" -A "TLS_CONFIG=\"$OUT/kamailio/tls.cfg\"" -A "CHILDREN=$CHILDREN")
start_kamailio() { # DIR
	OPENSSL_CONF=$ROOT/bench/kamailio/openssl.cnf launch "$ROOT" "$PROXY_CORE" "$PROXY_NICE" "${CAP_CMD[@]}" kamailio "${KAM_ARGS[@]}" >>"$1/proxy.log" 2>&1
	PROXY=$LAUNCHED
	local i
	for i in $(seq 100); do
		kill -0 "$PROXY" 2>/dev/null || die "kamailio exited: see $1/proxy.log"
		if [ -n "$(ss -Hltn 'sport = :5061')" ] && [ -n "$(ss -Hlnu 'sport = :5060')" ] &&
			[ "$(tree "$PROXY" | wc -l)" -gt "$CHILDREN" ]; then
			sleep 0.3
			return 0
		fi
		sleep 0.1
	done
	die "kamailio did not get ready: see $1/proxy.log"
}

# stop_proxy: after the measurement. sipfed's graceful stop waits for transactions in flight
# (seconds), which no result depends on; Kamailio's main process must stop its children itself.
stop_proxy() {
	if [ -n "$PROXY" ] && [ "$(cat "/proc/$PROXY/comm" 2>/dev/null)" = sipfed-proxy ]; then
		kill -9 "$PROXY" 2>/dev/null || true
		wait "$PROXY" 2>/dev/null || true
	else
		stop_pid "$PROXY"
	fi
	PROXY=""
}
stamp() { echo "$(date +%s.%N) $2" >>"$1/timing"; }

stop_pid() { # PID: TERM, wait, then KILL
	local p=$1 i
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# Commands, as printed in the report.
uas_cmd() { # TRANSPORT
	case $1 in
	udp) UAS_CMD=(sipp -sf "$ROOT/proxy/relay/testdata/sipp/uas_message.xml" -t u1 -i 127.0.0.1 -p 5080 -mp 7300 -buff_size 4194304 -nostdin) ;;
	tcp) UAS_CMD=(sipp -sf "$ROOT/proxy/relay/testdata/sipp/uas_message.xml" -t t1 -i 127.0.0.1 -p 5081 -mp 7300 -buff_size 4194304 -nostdin) ;;
	tls) UAS_CMD=(env GOMAXPROCS=1 "$ROOT/bin/tlsload" uas -listen 127.0.0.1:5090 -cert "$PKI/internal.crt" -key "$PKI/internal.key" -ca "$PKI/ca.crt") ;;
	esac
}
uac_cmd() { # TRANSPORT RATE SECONDS
	local mode=u1 domain=partner-udp.example
	[ "$1" = tcp ] && mode=t1 domain=partner-tcp.example
	case $1 in
	udp | tcp) UAC_CMD=(sipp -sf "$ROOT/bench/sipp/uac_message.xml" -t "$mode" -i 127.0.0.1 -p 7000 -mp 7100
		-buff_size 4194304 -s bob -key domain "$domain" -r "$2" -m $(($2 * $3)) -l 200000 -recv_timeout 2000
		-nostdin -trace_screen -screen_file screen.txt -trace_stat -fd 1 -stf stat.csv -trace_rtt -rtt_freq 200
		-timeout $(($3 + 15))s 127.0.0.1:5060) ;;
	tls) UAC_CMD=(env GOMAXPROCS=1 "$ROOT/bin/tlsload" uac -target 127.0.0.1:5061 -conns "$TLS_CONNS" -rate "$2"
		-duration "${3}s" -drain 3s -cert "$PKI/partner.crt" -key "$PKI/partner.key" -ca "$PKI/ca.crt") ;;
	esac
}

secs_of_times() { # the children line of bash's `times`: user and system, summed, in seconds
	sed -n 2p "$1" 2>/dev/null | tr -d 's' | awk '{n=0; for (i=1; i<=2; i++) {split($i, a, "m"); n+=a[1]*60+a[2]} print n}'
}

STEP=0
# step KIND PROXY TRANSPORT RATE: one measured step; prints its line, appends to steps.tsv, sets
# S_PASS (1/0), S_GEN (1 when gen-bound), S_P50 S_P99 S_RSS S_PSS S_GOODPUT S_SHED.
step() {
	local kind=$1 proxy=$2 tr=$3 rate=$4 secs=$DURATION
	STEP=$((STEP + 1))
	local dir
	dir=$OUT/steps/$(printf '%03d' $STEP)-$tr-$proxy-$rate
	mkdir -p "$dir"
	stamp "$dir" begin
	wait_ports_free
	local la0
	la0=$(loadavg)
	"start_$proxy" "$dir"
	stamp "$dir" proxy-ready
	local pids
	mapfile -t pids < <(tree "$PROXY")
	if [ "$BUSY" = 1 ]; then
		launch / "$PROXY_CORE" "$HOG_NICE" sh -c 'while :; do :; done' >/dev/null 2>&1
		HOG=$LAUNCHED
	fi
	uas_cmd "$tr"
	launch "$dir" "$LOAD_CORE" "$NICE" "${UAS_CMD[@]}" >"$dir/uas.out" 2>"$dir/uas.log"
	UAS=$LAUNCHED
	sleep 0.3
	echo "0 0" >"$dir/mem"
	sample_mem "$dir/mem" "${pids[@]}" &
	SAMPLER=$!

	# CPU is measured over the sending window: from the UAC's start for DURATION seconds.
	uac_cmd "$tr" "$rate" "$secs"
	printf '%q ' "${UAC_CMD[@]}" >"$dir/uac.cmd"
	local p0 u0 l0 lt0 c0 ct0 cs0 start
	start=$(date +%s.%N)
	p0=$(ticks "${pids[@]}")
	u0=$(ticks "$UAS")
	read -r l0 lt0 _ < <(core_ticks "$LOAD_CORE")
	read -r c0 ct0 cs0 < <(core_ticks "$PROXY_CORE")
	# The UAC runs under a bash that reports its CPU time (times) when it ends.
	launch "$dir" "$LOAD_CORE" "$NICE" bash -c '"$@" >uac.out 2>uac.log; times >uac.times' uac "${UAC_CMD[@]}"
	UAC=$LAUNCHED
	if [ "$PROFILE" = 1 ] && [ "$proxy" = sipfed ]; then
		# The middle third of the sending window (go tool pprof -top bin/sipfed-proxy DIR/cpu.pprof).
		(sleep $((secs / 3)); curl -fsS -H "Authorization: Bearer $TOKEN" -o "$dir/cpu.pprof" \
			"http://$SIPFED_ADMIN/debug/pprof/profile?seconds=$((secs / 3))" || true) &
	fi
	sleep "$(awk -v s="$start" -v n="$(date +%s.%N)" -v d="$secs" 'BEGIN{r=s+d-n; print (r > 0 ? r : 0)}')"
	local p1 u1 l1 lt1 c1 ct1 cs1 end
	p1=$(ticks "${pids[@]}")
	u1=$(ticks "$UAS")
	read -r l1 lt1 _ < <(core_ticks "$LOAD_CORE")
	read -r c1 ct1 cs1 < <(core_ticks "$PROXY_CORE")
	end=$(date +%s.%N)
	# sipp gives up 15 s after the window, tlsload 5 s; a UAC still there after 30 s is killed.
	local i
	for i in $(seq 300); do
		kill -0 "$UAC" 2>/dev/null || break
		[ "$i" = 300 ] && { echo "compare: the UAC hung; killed" >>"$dir/uac.log"; kill -9 "$UAC" 2>/dev/null || true; }
		sleep 0.1
	done
	wait "$UAC" || true
	UAC=""
	stamp "$dir" uac-done
	local mr=0 mp=0
	read -r mr mp < <(mem_kib "${pids[@]}") || true
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=""
	local pr=0 pp=0
	read -r pr pp <"$dir/mem" || true
	pr=${pr:-0} pp=${pp:-0}
	[ "$mr" -gt "$pr" ] && pr=$mr
	[ "$mp" -gt "$pp" ] && pp=$mp
	if [ "$PROFILE" = 1 ] && [ "$proxy" = sipfed ]; then
		curl -fsS -H "Authorization: Bearer $TOKEN" "http://$SIPFED_ADMIN/metrics" 2>/dev/null |
			grep -E '^sipfed_(sip_shed_total|sip_udp_drops_total|next_hop_failures_total)' >"$dir/metrics.txt" || true
	fi
	stop_pid "$UAS"
	UAS=""
	stop_pid "$HOG"
	HOG=""
	stop_proxy
	stamp "$dir" stopped
	local la1
	la1=$(loadavg)

	local sent ok late shed other unans bad shedp goodput achieved p50 p99 res_line
	if [ "$tr" = tls ]; then
		res_line=$(python3 bench/lib/result.py tlsload "$dir/uac.out" || echo "0 0 0 0 0 0 100 0 0 0 NA NA")
	else
		res_line=$(python3 bench/lib/result.py sipp "$dir" || echo "0 0 0 0 0 0 100 0 0 0 NA NA")
	fi
	read -r sent ok late shed other unans bad shedp goodput achieved p50 p99 <<<"$res_line"
	# CPU shares of one core over the sending window.
	local wall uac_s cpu gen uacp uasp lcore pcore psteal
	wall=$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')
	if [ "$tr" = tls ]; then # tlsload measures its own sending window
		uac_s=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("cpu_seconds", 0))' "$dir/uac.out" 2>/dev/null || echo 0)
	else # sipp: its whole life (it idles after the window, waiting for the last answers)
		uac_s=$(secs_of_times "$dir/uac.times")
	fi
	cpu=$(awk -v d=$((p1 - p0)) -v hz="$HZ" -v s="$wall" 'BEGIN{printf "%.0f", 100*d/hz/s}')
	uacp=$(awk -v u="${uac_s:-0}" -v s="$secs" 'BEGIN{printf "%.0f", 100*u/s}')
	uasp=$(awk -v d=$((u1 - u0)) -v hz="$HZ" -v s="$wall" 'BEGIN{printf "%.0f", 100*d/hz/s}')
	gen=$((uacp + uasp))
	lcore=$(awk -v b=$((l1 - l0)) -v t=$((lt1 - lt0)) 'BEGIN{printf "%.0f", t ? 100*b/t : 0}')
	pcore=$(awk -v b=$((c1 - c0)) -v t=$((ct1 - ct0)) 'BEGIN{printf "%.0f", t ? 100*b/t : 0}')
	psteal=$(awk -v b=$((cs1 - cs0)) -v t=$((ct1 - ct0)) 'BEGIN{printf "%.0f", t ? 100*b/t : 0}')

	S_PASS=0 S_GEN=0
	if [ "$(awk -v b="$bad" -v a="$achieved" -v r="$rate" -v pb=$PASS_BAD -v pa=$PASS_ACHIEVED \
		'BEGIN{print (b < pb && a >= r*pa/100) ? 1 : 0}')" = 1 ]; then
		S_PASS=1
	fi
	if [ "$gen" -ge $GEN_BOUND ]; then S_GEN=1; fi
	local res=FAIL
	[ $S_PASS = 1 ] && res=PASS
	local mark=""
	[ $S_GEN = 1 ] && mark=",GEN-BOUND"
	if [ "$proxy" = kamailio ] && grep -q -m1 'could not allocate shared memory\|out of mem\|not enough memory' "$dir/proxy.log"; then
		mark="$mark,SHM-FULL"
		SHM_FULL=1
	fi
	S_P50=$p50 S_P99=$p99 S_RSS=$pr S_PSS=$pp S_GOODPUT=$goodput S_SHED=$shedp
	local extra=""
	if [ "$tr" = tls ]; then
		extra=$(python3 -c 'import json,sys
try:
    s=json.load(open(sys.argv[1])); u=json.load(open(sys.argv[2]))
    print(" tls=%s conns=%d+%d/%d%s" % ((s.get("tls") or ["?"])[0].replace(" ","_"), s.get("conns",0), s.get("inbound_conns",0), u.get("conns",0),
        (" uac-error=" + s["error"].replace(" ","_")) if s.get("error") else ""))
except Exception: pass' "$dir/uac.out" "$dir/uas.out" 2>/dev/null || true)
	fi
	say "$(printf '%-3s %-8s %-12s %6s/s %-14s bad %s%% 503 %s%% goodput %s/s offered %s/s p50 %s p99 %s ms | proxy cpu %s%% core%s %s%% steal %s%% rss %d pss %d MiB | gen %s%% (uac %s uas %s) core%s %s%% | load %s -> %s%s' \
		"$tr" "$proxy" "$kind" "$rate" "$res$mark" "$bad" "$shedp" "$goodput" "$achieved" "$p50" "$p99" \
		"$cpu" "$PROXY_CORE" "$pcore" "$psteal" $((pr / 1024)) $((pp / 1024)) "$gen" "$uacp" "$uasp" "$LOAD_CORE" "$lcore" "$la0" "$la1" "$extra")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$kind" "$proxy" "$tr" "$rate" "$res" "$S_GEN" "$sent" "$ok" "$late" "$shed" "$other" "$unans" "$bad" "$shedp" "$goodput" "$achieved" \
		"$p50" "$p99" "$cpu" "$pcore" "$psteal" "$pr" "$pp" "$gen" "$lcore" "$la0" "$la1" >>"$TSV"
}

# --- header ----------------------------------------------------------------------------------
say "== compare: sipfed-proxy vs Kamailio, one core each, $(date -u +%FT%TZ)"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
say "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
say "load average at start: $(loadavg) (other work shares both cores; rates are only compared within this run)"
say "versions: $(go version | cut -d' ' -f3), kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $3}'), $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1)"
say "proxy core $PROXY_CORE (nice $PROXY_NICE), generators core $LOAD_CORE (nice $NICE); sipfed GOMAXPROCS=1; kamailio: ${CHILDREN} children + ${CHILDREN} tcp_children and its helper processes on the one core"
[ -n "$QUOTA" ] && say "CPU CAP: each proxy (all its processes) limited to ${QUOTA}% of one core by the cgroup $CGROUP (period 10 ms); rates are that share of a core's"
[ "$BUSY" = 1 ] && say "HOST BUSY: a busy loop (sh -c 'while :; do :; done', nice $HOG_NICE, autogroup of its own) on core $PROXY_CORE during every step"
say "steps of ${DURATION}s on a fresh proxy; pass: bad < ${PASS_BAD}% (not a 200 within 1 s) and achieved >= ${PASS_ACHIEVED}% of the rate; gen-bound: generators (UAC + UAS) >= ${GEN_BOUND}% of core $LOAD_CORE"
say "rates: $RATES; refine=$REFINE latency=$LATENCY overload=$OVERLOAD; TLS connections from the partner: $TLS_CONNS"
say ""
say "commands (each in its own session, pinned with taskset, at the nice above; the UAS answers 200 to everything):"
sipfed_args "$OUT/data" "$PKI"
say "  sipfed:   SIPFED_TOKEN=... GOMAXPROCS=1 taskset -c $PROXY_CORE bin/sipfed-proxy ${SIPFED_ARGS[*]}"
say "            then bench/lib/sipfed.sh's admin API calls: 3 federated domains, 2 static routes, 1 TLS peer subject"
say "  kamailio: OPENSSL_CONF=bench/kamailio/openssl.cnf taskset -c $PROXY_CORE kamailio ${KAM_ARGS[*]}"
for tr in $TRANSPORTS; do
	uas_cmd "$tr"
	uac_cmd "$tr" 1000 "$DURATION"
	say "  $tr uas: ${UAS_CMD[*]}"
	say "  $tr uac: ${UAC_CMD[*]}   (shown at 1000/s)"
done
say ""
say "each step: transport proxy kind rate result | bad: % not answered 200 within 1 s; 503: % answered 503; goodput: 200s within 1 s"
say "per second; offered: requests per second; p50/p99 of the 200s (sipp: whole ms, 0 is under 1 ms) | proxy cpu: % of a core"
say "(Kamailio: all its processes), its core's busy and steal share (all work), peak RSS/PSS | gen: UAC + UAS CPU, % of"
say "their one core; that core's busy share (all work) | load average before -> after the step | tls: negotiated suite,"
say "conns=UAC's connections to the proxy + the proxy's own back to the UAC / the proxy's to the UAS"

# --- the run ---------------------------------------------------------------------------------
declare -A TOP FAIL BOUND P50 P99 RSS PSS PEAKRSS PEAKPSS LAT OVL
summary_mem() { # PROXY TRANSPORT: keep the peak
	local k="$1,$2"
	[ "${PEAKRSS[$k]:-0}" -lt "$S_RSS" ] && PEAKRSS[$k]=$S_RSS
	[ "${PEAKPSS[$k]:-0}" -lt "$S_PSS" ] && PEAKPSS[$k]=$S_PSS
	return 0
}
round() { awk -v x="$1" -v q="$2" 'BEGIN{printf "%d", int(x/q+0.5)*q}'; }

for tr in $TRANSPORTS; do
	declare -A done_=()
	for p in $PROXIES; do
		TOP[$p,$tr]=0 FAIL[$p,$tr]="" BOUND[$p,$tr]="" done_[$p]=0
	done
	for rate in $RATES; do
		any=0
		for p in $PROXIES; do
			[ "${done_[$p]}" = 1 ] && continue
			any=1
			step ramp "$p" "$tr" "$rate"
			summary_mem "$p" "$tr"
			if [ $S_PASS = 1 ]; then
				TOP[$p,$tr]=$rate P50[$p,$tr]=$S_P50 P99[$p,$tr]=$S_P99 RSS[$p,$tr]=$S_RSS PSS[$p,$tr]=$S_PSS
				# A generator at its limit cannot show more: the proxy holds at least this.
				[ $S_GEN = 1 ] && BOUND[$p,$tr]=gen done_[$p]=1
			else
				FAIL[$p,$tr]=$rate done_[$p]=1
				[ $S_GEN = 1 ] && BOUND[$p,$tr]=gen
			fi
		done
		[ $any = 0 ] && break
	done
	for p in $PROXIES; do
		# Never failed within RATES: the top is a lower bound.
		[ -z "${FAIL[$p,$tr]}" ] && [ -z "${BOUND[$p,$tr]}" ] && BOUND[$p,$tr]=rates
	done
	if [ "$REFINE" = 1 ]; then
		for p in $PROXIES; do
			f=${FAIL[$p,$tr]} t=${TOP[$p,$tr]}
			if [ -z "$f" ] || [ -n "${BOUND[$p,$tr]}" ]; then continue; fi
			mid=$(round $(((t + f) / 2)) 500)
			if [ "$mid" -le "$t" ] || [ "$mid" -ge "$f" ]; then continue; fi
			step refine "$p" "$tr" "$mid"
			summary_mem "$p" "$tr"
			if [ $S_PASS = 1 ]; then
				TOP[$p,$tr]=$mid P50[$p,$tr]=$S_P50 P99[$p,$tr]=$S_P99 RSS[$p,$tr]=$S_RSS PSS[$p,$tr]=$S_PSS
			else
				FAIL[$p,$tr]=$mid
			fi
			[ $S_GEN = 1 ] && BOUND[$p,$tr]=gen
		done
	fi
	if [ "$LATENCY" = 1 ] && [ "${TOP[sipfed,$tr]:-0}" -gt 0 ]; then
		lr=$(round $((TOP[sipfed,$tr] * 3 / 4)) 100)
		for p in $PROXIES; do
			step latency "$p" "$tr" "$lr"
			summary_mem "$p" "$tr"
			LAT[$p,$tr]="$lr/s: p50 ${S_P50}ms p99 ${S_P99}ms"
			[ $S_PASS = 1 ] || LAT[$p,$tr]="${LAT[$p,$tr]} (FAIL)"
		done
	fi
	if [ "$OVERLOAD" = 1 ]; then
		for p in $PROXIES; do
			cap=${TOP[$p,$tr]}
			[ "$cap" -gt 0 ] || continue
			OVL[$p,$tr]=""
			for f in 1.5 2; do
				r=$(round "$(awk -v c="$cap" -v f=$f 'BEGIN{print c*f}')" 100)
				step "overload${f}x" "$p" "$tr" "$r"
				summary_mem "$p" "$tr"
				gb=""
				[ $S_GEN = 1 ] && gb=" GEN-BOUND"
				OVL[$p,$tr]="${OVL[$p,$tr]}  ${f}x=${r}/s: goodput ${S_GOODPUT}/s ($(awk -v g="$S_GOODPUT" -v c="$cap" 'BEGIN{printf "%.0f", 100*g/c}')% of capacity), 503 ${S_SHED}%$gb"
			done
		done
	fi
	unset done_
done

# --- summary ---------------------------------------------------------------------------------
say ""
say "== results: highest passing rate per proxy, one core each (>=: a lower bound; gen: the generators were saturated, rates: RATES ran out)"
printf -v line '%-4s %-22s %-22s %-16s %s' transport sipfed kamailio sipfed/kamailio "p50/p99 at top (sipfed | kamailio)"
say "$line"
for tr in $TRANSPORTS; do
	s=${TOP[sipfed,$tr]:-0} k=${TOP[kamailio,$tr]:-0}
	sb=${BOUND[sipfed,$tr]:-} kb=${BOUND[kamailio,$tr]:-}
	sv="$s/s" kv="$k/s"
	[ -n "$sb" ] && sv=">=$sv ($sb)"
	[ -n "$kb" ] && kv=">=$kv ($kb)"
	ratio=NA
	if [ "$k" -gt 0 ] && [ "$s" -gt 0 ]; then
		ratio=$(awk -v a="$s" -v b="$k" 'BEGIN{printf "%.2f", a/b}')
		if [ -n "$sb" ] && [ -n "$kb" ]; then
			ratio="? (both bounds)"
		elif [ -n "$sb" ]; then
			ratio=">=$ratio"
		elif [ -n "$kb" ]; then
			ratio="<=$ratio"
		fi
	fi
	printf -v line '%-4s %-22s %-22s %-16s %s | %s' "$tr" "$sv" "$kv" "$ratio" \
		"${P50[sipfed,$tr]:-NA}/${P99[sipfed,$tr]:-NA} ms" "${P50[kamailio,$tr]:-NA}/${P99[kamailio,$tr]:-NA} ms"
	say "$line"
done
say ""
say "== memory: at the top rate, and the peak over all steps (RSS summed over processes counts shared pages once per process; PSS does not)"
for tr in $TRANSPORTS; do
	for p in $PROXIES; do
		say "$(printf '%-4s %-8s top: rss %4d MiB pss %4d MiB   peak: rss %4d MiB pss %4d MiB' "$tr" "$p" \
			$((${RSS[$p,$tr]:-0} / 1024)) $((${PSS[$p,$tr]:-0} / 1024)) $((${PEAKRSS[$p,$tr]:-0} / 1024)) $((${PEAKPSS[$p,$tr]:-0} / 1024)))"
	done
done
if [ "$LATENCY" = 1 ]; then
	say ""
	say "== latency at 75% of sipfed's top rate, both proxies at the same rate"
	for tr in $TRANSPORTS; do
		for p in $PROXIES; do
			[ -n "${LAT[$p,$tr]:-}" ] && say "$(printf '%-4s %-8s %s' "$tr" "$p" "${LAT[$p,$tr]}")"
		done
	done
fi
if [ "$OVERLOAD" = 1 ]; then
	say ""
	say "== overload: goodput (200s within 1 s per second) at 1.5x and 2x each proxy's own capacity"
	for tr in $TRANSPORTS; do
		for p in $PROXIES; do
			[ -n "${OVL[$p,$tr]:-}" ] && say "$(printf '%-4s %-8s cap %s/s%s' "$tr" "$p" "${TOP[$p,$tr]}" "${OVL[$p,$tr]}")"
		done
	done
fi
if [ "${SHM_FULL:-0}" = 1 ]; then
	say ""
	say "SHM-FULL: Kamailio ran out of its ${KAM_SHM} MiB of shared memory in some steps (see their proxy.log): those are memory-bound, not CPU-bound"
fi
say ""
say "load average at the end: $(loadavg)"
say "report: $REPORT; per step: $TSV and $OUT/steps/"
