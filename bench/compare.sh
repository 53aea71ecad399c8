#!/usr/bin/env bash
# Side by side: lanraged <-> lanraged, wireguard-go <-> wireguard-go and the bare veth, one table.
#
#   +------------ ns lr-PID-a -------------+           +------------ ns lr-PID-b -------------+
#   |  engine A (lanraged | wireguard-go)  |           |  engine B (the same kind as A)       |
#   |    10.66.0.1/24     iperf3 -c, ping  |           |    10.66.0.2/24     iperf3 -s        |
#   |        :                             |           |        :                             |
#   |  v1-b 192.0.2.1/24 ==================|== veth ===|================== v1-a 192.0.2.2/24  |
#   +--------------------------------------+           +--------------------------------------+
#
# "raw veth" runs the same measurements between 192.0.2.1 and 192.0.2.2 with no engine at all,
# the ceiling any tunnel on this machine is held against. Each setup is its own lab (this
# script runs itself as `compare.sh --setup KIND DIR SECONDS`), built and torn down before the
# next one starts, so that no two setups compete for the CPUs and a failing setup cannot
# disturb the others. Per setup:
#   - TCP throughput, one stream, iperf3 A -> B and B -> A (-R), SECONDS each after a 1 s -O;
#   - 64-byte UDP datagrams delivered per second: iperf3 -u -l 64 -b 0 A -> B, counted by the
#     receiver (what arrived, not what was sent), for SECONDS/2 (at least 2 s);
#   - idle RTT: 200 pings 10 ms apart, p50 and p99 of the individual times;
#   - RTT under load: the same pings while a bulk TCP stream A -> B fills the tunnel.
# bench/compare_report.py turns the raw outputs into the markdown table (or JSON).
#
# Usage: bash bench/compare.sh [--seconds N] [--only lanraged|wireguard-go|veth] [--out FILE]
#                              [--json]
# Root, Debian 12; takes the engine from $LANRAGED, else build/lanraged (build it first:
# cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && make -C build lanraged). Progress goes to
# stderr, the table (or with --json the JSON) to stdout; --out FILE also writes the markdown
# table there. Nothing leaves the namespaces this script creates.
# shellcheck source-path=SCRIPTDIR
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SETUPS_ALL=(lanraged wireguard-go veth)
IPERF_PORT=5201
PING_COUNT=200
PING_INTERVAL=0.01
LOAD_RAMP=1.5          # seconds the bulk stream runs before the loaded pings start

usage() {
	sed -n '/^# Usage:/,/^# table there/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

say() { printf 'compare: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# One setup, inside its own lab. Every measurement writes its raw output into OUT; one that
# fails leaves its file missing or unparsable, which the report shows as "failed", and the
# others still run.

# engine_cpu_ticks: user + system clock ticks of all engines of this lab so far (0 for veth).
# /proc/PID/stat counts every thread of the process; fields 14 and 15, cut after the last ')'.
engine_cpu_ticks() {
	local pid total=0 t
	for pid in "${LAB_ENGINE_PID[@]}"; do
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null)
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# udp_rcvbuf_drops HOST: UDP datagrams HOST's kernel dropped so far because a socket's receive
# buffer was full (RcvbufErrors of Udp and Udp6). In a tunnel setup during a TCP run the only
# UDP socket busy at the receiver is its engine's, so this is what its engine could not drain.
udp_rcvbuf_drops() {
	# shellcheck disable=SC2016  # awk's own $ fields
	lab_exec "$1" awk '
		$1 == "Udp:" && !seen++ { for (i = 2; i <= NF; i++) col[$i] = i; next }
		$1 == "Udp:" { n += $col["RcvbufErrors"] }
		$1 == "Udp6RcvbufErrors" { n += $2 }
		END { print n + 0 }' /proc/net/snmp /proc/net/snmp6 2>/dev/null || echo 0
}

# mark NAME: appends "NAME ENGINE-TICKS WALL A-RCVBUF-DROPS B-RCVBUF-DROPS" to OUT/marks.tsv;
# the report diffs the NAME.begin and NAME.end lines.
mark() {
	printf '%s %s %s %s %s\n' "$1" "$(engine_cpu_ticks)" "$(date +%s.%N)" \
		"$(udp_rcvbuf_drops a)" "$(udp_rcvbuf_drops b)" >>"$OUT/marks.tsv"
}

# engine_stats HOST IFNAME: lanraged's drop counters (UAPI get=lanrage-stats) into
# OUT/stats-HOST.txt, for the report's notes. wireguard-go has no such readout.
engine_stats() {
	python3 - "$(lab_sock "$2")" >"$OUT/stats-$1.txt" 2>&1 <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"get=lanrage-stats\n\n")
buf = b""
while not buf.endswith(b"\n\n"):
    data = s.recv(65536)
    if not data:
        break
    buf += data
sys.stdout.write(buf.decode(errors="replace"))
PY
}

# iperf_client NAME SECONDS ARGS...: one iperf3 run from A to the target, JSON in OUT/NAME.json.
iperf_client() {
	local name=$1 secs=$2
	shift 2
	say "[$KIND] $name: iperf3 $*"
	mark "$name.begin"
	timeout $((secs + 20)) ip netns exec "$(lab_ns a)" iperf3 -c "$TARGET" -p "$IPERF_PORT" \
		-t "$secs" -J "$@" >"$OUT/$name.json" 2>"$OUT/$name.err"
	mark "$name.end"
	sleep 0.5   # let the queues drain before the next measurement
}

# ping_run NAME: PING_COUNT pings from A, per-packet output in OUT/NAME.txt. The deadline
# bounds a run whose replies stop coming; the late ones count as lost.
ping_run() {
	local deadline
	deadline=$(awk -v c="$PING_COUNT" -v i="$PING_INTERVAL" 'BEGIN { printf "%d", c * i + 3 }')
	say "[$KIND] $1: ping -i $PING_INTERVAL -c $PING_COUNT"
	lab_exec a ping -n -i "$PING_INTERVAL" -c "$PING_COUNT" -w "$deadline" "$TARGET" \
		>"$OUT/$1.txt" 2>&1
}

# wait_listen HOST PORT: until a TCP socket listens on PORT in HOST (5 s at most).
wait_listen() {
	local deadline=$((SECONDS + 5))
	until lab_exec "$1" ss -Hltn "sport = :$2" | grep -q .; do
		((SECONDS <= deadline)) || return 1
		sleep 0.05
	done
}

# loaded_ping: pings while a bulk TCP stream A -> B runs; the stream starts LOAD_RAMP seconds
# earlier so that its window has opened and the queues have filled, and outlasts the pings.
loaded_ping() {
	local secs pid
	secs=$(awk -v c="$PING_COUNT" -v i="$PING_INTERVAL" -v r="$LOAD_RAMP" \
		'BEGIN { printf "%d", r + c * i + 2.5 }')
	say "[$KIND] rtt_load: bulk iperf3 for $secs s, pings after $LOAD_RAMP s"
	lab_bg a load-tcp iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$secs" -J
	pid=$LAB_BG_PID
	sleep "$LOAD_RAMP"
	ping_run rtt_load
	lab_reap "$pid" $((secs + 20))
	cp "$LAB_DIR/log/load-tcp.log" "$OUT/load_tcp.json"
	sleep 0.5
}

measure_setup() {
	KIND=$1 OUT=$2
	local secs=$3 udp_secs
	udp_secs=$(((secs + 1) / 2))
	((udp_secs >= 2)) || udp_secs=2
	# shellcheck source=../tests/netns/lib.sh
	. "$REPO/tests/netns/lib.sh"
	# shellcheck disable=SC2034  # read by lib.sh's PASS/FAIL lines
	LAB_LABEL="compare:$KIND"
	lab_init
	lab_require_cmds iperf3
	mkdir -p "$OUT" || lab_die "mkdir $OUT"
	cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg"
	if [[ $KIND == veth ]]; then
		lab_host a
		lab_host b
		lab_link a b
		TARGET=${LAB_IP4[b]}
	else
		lab_require_engine "$KIND"
		lab_pair_create
		lab_pair_start "$KIND" "$KIND" ab setconf
		TARGET=$LAB_IN4_B
		# The first ping waits for the handshake; after it, every packet has a session.
		lab_ping a "$TARGET" 10 || lab_die "no ping through the $KIND tunnel"
	fi
	lab_bg b iperf3-server iperf3 -s -B "$TARGET" -p "$IPERF_PORT"
	wait_listen b "$IPERF_PORT" || lab_die "iperf3 server did not start"

	iperf_client tcp_ab "$secs" -O 1
	iperf_client tcp_ba "$secs" -O 1 -R
	iperf_client udp64 "$udp_secs" -u -l 64 -b 0
	ping_run rtt_idle
	loaded_ping
	cut -d' ' -f1-3 /proc/loadavg >>"$OUT/loadavg"
	if [[ $KIND == lanraged ]]; then
		engine_stats a "$LAB_IF_A"
		engine_stats b "$LAB_IF_B"
	fi
	# Engines still alive after all that is part of the result: a crash shows in the report.
	local ifname
	for ifname in "${!LAB_ENGINE_PID[@]}"; do
		lab_pid_alive "${LAB_ENGINE_PID[$ifname]}" ||
			echo "$ifname (${LAB_ENGINE_KIND[$ifname]}) died during the run" >>"$OUT/problems"
	done
	[[ ! -s $OUT/problems ]] || cp "$LAB_DIR"/log/*-"$KIND".log "$OUT/" 2>/dev/null
	[[ ! -s $OUT/problems ]]
}

if [[ ${1:-} == --setup ]]; then
	measure_setup "$2" "$3" "$4"
	exit $?
fi

# ---------------------------------------------------------------------------------------------
# The driver: options, one child per setup, the report.

SECS=10
ONLY=""
OUT_FILE=""
JSON=0
CMDLINE="bash bench/compare.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--seconds)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { say "--seconds needs a positive integer"; exit 2; }
		SECS=$2
		shift
		;;
	--only)
		[[ " ${SETUPS_ALL[*]} " == *" ${2:-} "* ]] ||
			{ say "--only takes one of: ${SETUPS_ALL[*]}"; exit 2; }
		ONLY=$2
		shift
		;;
	--out)
		[[ -n ${2:-} ]] || { say "--out needs a file name"; exit 2; }
		OUT_FILE=$2
		shift
		;;
	--json) JSON=1 ;;
	-h | --help) usage; exit 0 ;;
	*) say "unknown option '$1'"; usage >&2; exit 2 ;;
	esac
	shift
done

((EUID == 0)) || { say "run as root (network namespaces, TUN devices)"; exit 1; }
for cmd in ip wg iperf3 ping python3 timeout; do
	command -v "$cmd" >/dev/null ||
		{ say "'$cmd' not installed (bash tools/install-deps.sh)"; exit 1; }
done
export LANRAGED=${LANRAGED:-$REPO/build/lanraged}
[[ $LANRAGED == /* ]] || LANRAGED=$PWD/$LANRAGED
WGGO=$(command -v "${WIREGUARD_GO:-wireguard-go}" || echo /usr/bin/wireguard-go)
SETUPS=("${SETUPS_ALL[@]}")
[[ -z $ONLY ]] || SETUPS=("$ONLY")
if [[ " ${SETUPS[*]} " == *" lanraged "* && ! -x $LANRAGED ]]; then
	say "no engine at $LANRAGED: build it (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&" \
		"make -C build lanraged) or set LANRAGED"
	exit 1
fi

RESULTS=$(mktemp -d /tmp/lanrage-compare.XXXXXX) || exit 1
trap 'rm -rf "$RESULTS"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
status=0
for kind in "${SETUPS[@]}"; do
	say "setup $kind ..."
	t0=$SECONDS
	# The child owns its lab; stdout goes to stderr too, so that ours carries only the table.
	bash "${BASH_SOURCE[0]}" --setup "$kind" "$RESULTS/$kind" "$SECS" 2>&1 | sed 's/^/    /' >&2
	rc=${PIPESTATUS[0]}
	mkdir -p "$RESULTS/$kind"
	echo "$rc" >"$RESULTS/$kind/status"
	say "setup $kind done in $((SECONDS - t0)) s (exit $rc)"
	((rc == 0)) || status=1
done

report=(python3 "$BENCH_DIR/compare_report.py" --results "$RESULTS" --cmdline "$CMDLINE"
	--date "$DATE" --seconds "$SECS" --lanraged "$LANRAGED" --wireguard-go "$WGGO"
	--setups "${SETUPS[*]}")
if [[ -n $OUT_FILE ]]; then
	"${report[@]}" >"$OUT_FILE" || status=1
fi
if ((JSON)); then
	"${report[@]}" --json || status=1
elif [[ -n $OUT_FILE ]]; then
	cat "$OUT_FILE"
else
	"${report[@]}" || status=1
fi
exit $status
