#!/usr/bin/env bash
# The demo: installs deps, builds LANrage, then measures lanraged tunnels between network namespaces.
#
#   ns a: engine A  10.66.0.1  ==== veth 192.0.2.1 <-> 192.0.2.2 ====  ns b: engine B  10.66.0.2
#
# For each pair of engines (lanraged <-> lanraged, lanraged <-> wireguard-go, and wireguard-go
# <-> wireguard-go as the reference) it prints the handshake (`wg show`), ping min/avg/max and
# iperf3 TCP throughput both ways. Each pair runs as its own lab (`demo.sh --pair KIND KIND
# RESULT-FILE`), so one engine failing cannot disturb the next row, and cleanup always runs.
# Run as root on Debian 12: bash tools/demo.sh. Nothing leaves the machine's own namespaces.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_SECONDS=${LR_DEMO_SECONDS:-4}   # iperf3 time per direction

# --- one pair, inside its own lab ----------------------------------------------------------------

# iperf_mbits HOST ARGS...: Mbit/s received, or "failed (reason)".
iperf_mbits() {
	local host=$1 json
	shift
	json=$(timeout $((DEMO_SECONDS + 20)) ip netns exec "$(lab_ns "$host")" \
		iperf3 -c "$LAB_IN4_B" -p 5201 -t "$DEMO_SECONDS" -J "$@" 2>&1)
	python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    print("failed (iperf3 gave no result)")
    sys.exit(0)
if "error" in d:
    print("failed (%s)" % d["error"][:40])
else:
    print("%.0f Mbit/s" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
' "$json"
}

# The row of the pair being measured; globals, because the EXIT trap writes them out.
ROW_NAME="" ROW_HS="failed" ROW_RTT="-" ROW_AB="-" ROW_BA="-" ROW_FILE=""

write_row() {
	printf '%s|%s|%s|%s|%s\n' "$ROW_NAME" "$ROW_HS" "$ROW_RTT" "$ROW_AB" "$ROW_BA" >"$ROW_FILE"
}

demo_pair() {
	local ka=$1 kb=$2 first deadline
	ROW_NAME="$ka <-> $kb" ROW_FILE=$3
	# shellcheck source=../tests/netns/lib.sh
	. "$REPO/tests/netns/lib.sh"
	LAB_LABEL="$ka<->$kb"
	lab_init
	# Whatever happens below, the lab is torn down first (nothing in the trap may fail before
	# it), then the row gets written; lab_die exits through this trap too.
	trap 'demo_status=$?; lab_cleanup "$demo_status"; write_row' EXIT
	lab_require_engine "$ka" "$kb"
	lab_require_cmds iperf3 python3
	lab_pair_create
	lab_pair_start "$ka" "$kb" ab setconf

	# The first ping waits in A's queue for the handshake, so its RTT includes the handshake.
	first=$(lab_exec a ping -n -c 1 -W 5 "$LAB_IN4_B" | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
	if [[ -n $first ]] && lab_wg a show "$LAB_IF_A" latest-handshakes | awk '$2 > 0 { ok = 1 }
		END { exit !ok }'; then
		ROW_HS="ok, 1st ping $first ms"
	else
		lab_die "no handshake: first ping got no answer"
	fi
	lab_log "$ka <-> $kb: $(lab_wg a show "$LAB_IF_A" | grep -E 'latest handshake|transfer' | xargs)"
	ROW_RTT=$(lab_exec a ping -n -q -c 20 -i 0.1 "$LAB_IN4_B" |
		awk -F '[/ ]' '/^rtt|^round-trip/ { printf "%s / %s / %s", $7, $8, $9 }')
	[[ -n $ROW_RTT ]] || ROW_RTT="failed"

	lab_bg b iperf3-server iperf3 -s -B "$LAB_IN4_B" -p 5201
	deadline=$((SECONDS + 5))
	until lab_exec b ss -Hltn 'sport = :5201' | grep -q . || ((SECONDS > deadline)); do
		sleep 0.05
	done
	ROW_AB=$(iperf_mbits a)
	ROW_BA=$(iperf_mbits a -R)
	[[ $ROW_RTT != failed && $ROW_AB != failed* && $ROW_BA != failed* ]]
}

if [[ ${1:-} == --pair ]]; then
	demo_pair "$2" "$3" "$4"
	exit $?
fi

# --- the demo ------------------------------------------------------------------------------------

cd "$REPO" || exit 1
((EUID == 0)) || { echo "demo: run as root (network namespaces, TUN devices)" >&2; exit 1; }
bash tools/install-deps.sh || exit 1

BUILD_DIR=${LR_BUILD_DIR:-build}
echo "demo: building (cmake -B $BUILD_DIR, Release)"
BUILD_LOG=$(mktemp /tmp/lanrage-demo-build.XXXXXX.log)
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release &&
	cmake --build "$BUILD_DIR" -j "$(nproc)"; } \
	>"$BUILD_LOG" 2>&1; then
	tail -n 30 "$BUILD_LOG"
	echo "demo: build failed (full log: $BUILD_LOG)" >&2
	exit 1
fi
rm -f "$BUILD_LOG"
export LANRAGED=${LANRAGED:-$(cd "$BUILD_DIR" && pwd)/lanraged}

PAIRS=("lanraged lanraged" "lanraged wireguard-go" "wireguard-go wireguard-go")
ROWS=()
status=0
for pair in "${PAIRS[@]}"; do
	read -r ka kb <<<"$pair"
	result=$(mktemp /tmp/lanrage-demo-row.XXXXXX)
	echo "demo: $ka <-> $kb ..."
	bash "$REPO/tools/demo.sh" --pair "$ka" "$kb" "$result" | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	if [[ -s $result ]]; then
		ROWS+=("$(cat "$result")")
	else
		ROWS+=("$ka <-> $kb|skipped (exit $rc)|-|-|-")
	fi
	rm -f "$result"
	# The reference row is there to compare with; only a lanraged row failing fails the demo.
	[[ $rc == 0 || $pair == "wireguard-go wireguard-go" ]] || status=1
done

echo
FORMAT='%-31s  %-26s  %-26s  %-12s  %-12s\n'
printf "$FORMAT" "engines (A <-> B)" "handshake (wg show)" "ping min / avg / max (ms)" \
	"TCP A -> B" "TCP B -> A"
printf '%s\n' "$(printf '%.0s-' {1..115})"
for row in "${ROWS[@]}"; do
	IFS='|' read -r name hs rtt ab ba <<<"$row"
	[[ $name == "wireguard-go <-> wireguard-go" ]] && name="$name *"
	printf "$FORMAT" "$name" "$hs" "$rtt" "$ab" "$ba"
done
echo
echo "A and B are network namespaces on one machine joined by a veth link; 1st ping includes"
echo "the handshake; then 20 pings 0.1 s apart; TCP is iperf3 for ${DEMO_SECONDS} s each way."
echo "* reference: Debian's wireguard-go on both sides."
exit $status
