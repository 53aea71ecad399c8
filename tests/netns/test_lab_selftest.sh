#!/usr/bin/env bash
# Tests the lab itself with wireguard-go on both sides: hosts, links, engines, `wg`, cleanup.
#
#   +------------------ ns lr-PID-a ------------------+     +------------------ ns lr-PID-b ------------------+
#   | lrPID-a (wireguard-go)  10.66.0.1  fd00:66::1   |     | lrPID-b (wireguard-go)  10.66.0.2  fd00:66::2   |
#   |   UDP 51820                                     |     |   UDP 51821                                     |
#   | v1-b  192.0.2.1/24  2001:db8:1::1/64  ==========|=veth=|==========  v1-a  192.0.2.2/24  2001:db8:1::2/64 |
#   +-------------------------------------------------+     +-------------------------------------------------+
#
# Proves the lab works independently of lanraged, so a failing lanraged scenario points at the
# engine and not at the lab. Then checks that cleanup leaves nothing behind, both after a normal
# exit and after a run killed by SIGTERM in the middle of its work.
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB_LABEL="lab selftest"
lab_init
lab_require_engine wireguard-go

# What a run with id $1 may leave behind: namespaces, sockets, processes.
leftovers() {
	local id=$1 out=()
	mapfile -t ns < <(ip netns list | awk -v p="lr-$id-" 'index($1, p) == 1 { print $1 }')
	((${#ns[@]})) && out+=("namespaces: ${ns[*]}")
	compgen -G "$LAB_WG_RUN_DIR/lr$id-*.sock" >/dev/null && out+=("sockets: $(echo "$LAB_WG_RUN_DIR"/lr"$id"-*.sock)")
	((${#out[@]} == 0)) && return 0
	printf '%s\n' "${out[@]}"
	return 1
}

lab_pair_create
lab_pair_start wireguard-go wireguard-go a setconf
lab_check "a and b are separate namespaces with their own devices" \
	bash -c "! ip -n $(lab_ns a) link show $LAB_IF_B >/dev/null 2>&1"
lab_check "ping a -> b over the tunnel (IPv4)" lab_ping a "$LAB_IN4_B" 5
hs=$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" handshake)
if [[ ${hs:-0} -gt 0 ]]; then
	lab_pass "wg show dump reports a handshake on a"
else
	lab_fail "wg show dump reports a handshake on a" "latest-handshake: '${hs:-}'"
fi
lab_check "ping b -> a over the tunnel (IPv6)" lab_ping b "$LAB_IN6_A" 5
lab_check "b learned a's endpoint from the handshake" \
	bash -c "[[ \$(ip netns exec $(lab_ns b) wg show $LAB_IF_B endpoints | cut -f2) == $(lab_endpoint a 4 "$LAB_PORT_A") ]]"
key_mode=$(stat -c %a "$(lab_keyfile a)")
lab_check "key files are private (mode $key_mode)" test "$key_mode" = 600

# A child run of the lab that gets SIGTERM while its engines run must still clean up.
child_out="$LAB_DIR/log/child.out"
bash -c '
	. "$1/lib.sh"
	lab_init
	lab_pair_create
	lab_pair_start wireguard-go wireguard-go ab set
	lab_bg a sleeper sleep 600
	echo "id $LAB_ID $LAB_DIR"
	kill -TERM $$
	sleep 30
	echo "still running after SIGTERM"
' _ "$LAB_LIB_DIR" >"$child_out" 2>&1
child_rc=$?
read -r child_id child_dir < <(awk '$1 == "id" { print $2, $3 }' "$child_out")
if [[ -n $child_id ]]; then
	lab_check "a run killed by SIGTERM exits 143 (got $child_rc)" test "$child_rc" = 143
	lab_check "a run killed by SIGTERM leaves no namespace or socket" leftovers "$child_id"
	lab_check "a run killed by SIGTERM keeps its logs, and no key" \
		bash -c "[[ -d $child_dir/log && ! -e $child_dir/keys ]]"
	rm -rf "$child_dir"
else
	lab_fail "child lab run started" "$(tail -n 5 "$child_out")"
fi

# Our own cleanup, called early: engines stop, names vanish, a second call is harmless.
pids=("${LAB_PIDS[@]%%:*}")
lab_cleanup 0
lab_check "cleanup leaves no namespace or socket of this run" leftovers "$LAB_ID"
lab_check "cleanup ended every process of this run" bash -c "! kill -0 ${pids[*]} 2>/dev/null"
lab_check "cleanup is idempotent" lab_cleanup 0
lab_summary
