# shellcheck shell=bash
# shellcheck disable=SC2034  # the globals here are read by the scripts that source this file
# The two-host scenario shared by test_interop_wggo.sh and test_lanraged_pair.sh: handshakes
# both ways, pings, 100 MB transfers with counters, roaming, an IPv6 outer endpoint, rekeying.
#
# Source after lib.sh and call `scenario_basic KIND_A KIND_B`; A is the engine under test.
# Every check prints one PASS/FAIL line; the caller ends with lab_summary.

SC_BYTES=$((100 * 1000 * 1000))   # "100 MB" per transfer direction
SC_TCP_PORT=5001

# sc_check_handshake HOST IFNAME PEER DESC: the peer's latest handshake is set, under a minute old.
sc_check_handshake() {
	local host=$1 ifname=$2 peer=$3 desc=$4 hs now
	hs=$(lab_peer_field "$host" "$ifname" "$(lab_pubkey "$peer")" handshake)
	now=$(date +%s)
	if [[ ${hs:-0} =~ ^[0-9]+$ ]] && ((hs > 0 && now - hs <= 60)); then
		lab_pass "$desc (on $host: $((now - hs)) s ago)"
	else
		lab_fail "$desc" "latest-handshake on $host for peer $peer: '${hs:-}' (now $now)"
	fi
}

# sc_check_endpoint HOST IFNAME PEER EXPECTED DESC: `wg show IF endpoints` lists EXPECTED.
sc_check_endpoint() {
	local host=$1 ifname=$2 peer=$3 want=$4 desc=$5 got
	got=$(lab_wg "$host" show "$ifname" endpoints |
		awk -F '\t' -v pub="$(lab_pubkey "$peer")" '$1 == pub { print $2 }')
	if [[ $got == "$want" ]]; then
		lab_pass "$desc ($host sees $got)"
	else
		lab_fail "$desc" "wg show $ifname endpoints on $host: '$got', expected '$want'"
	fi
}

# sc_check_stop KIND_A KIND_B: both engines exited 0 on SIGTERM and removed socket and device.
sc_check_stop() {
	local ra rb
	lab_pair_stop
	read -r ra rb <<<"$LAB_STOP_STATUS"
	lab_check "A ($1) exits with status 0 on SIGTERM (got $ra)" test "$ra" = 0
	lab_check "B ($2) exits with status 0 on SIGTERM (got $rb)" test "$rb" = 0
	lab_check "A ($1) removed its UAPI socket and TUN device" lab_engine_gone a "$LAB_IF_A"
	lab_check "B ($2) removed its UAPI socket and TUN device" lab_engine_gone b "$LAB_IF_B"
}

# sc_counters HOST IFNAME PEER: "rx tx" bytes of that peer from `wg show IF dump`.
sc_counters() {
	printf '%s %s\n' "$(lab_peer_field "$1" "$2" "$(lab_pubkey "$3")" rx)" \
		"$(lab_peer_field "$1" "$2" "$(lab_pubkey "$3")" tx)"
}

# sc_retrans HOST: TCP segments HOST has retransmitted so far (RetransSegs, /proc/net/snmp).
sc_retrans() {
	lab_exec "$1" awk '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 }
		else print $col["RetransSegs"] }' /proc/net/snmp
}

# sc_check_counter DESC DELTA [RETRANS]: SIZE <= DELTA <= SIZE * 1.2 + RETRANS * 1452.
# Why these bounds: the counters count WireGuard data messages (16-byte header + ciphertext +
# 16-byte tag; the kernel and wireguard-go leave out the outer IP/UDP headers). Every payload
# byte is inside some ciphertext, so no counter can be below the transfer size. Above it: at
# MTU 1420 a full segment carries 1368 payload bytes (1420 - 20 IP - 20 TCP - 12 timestamp
# option) in a 1452-byte message, +6.1%; the rest of the 20% is room for keepalives, handshakes,
# pings, and an engine that also counts outer headers (+28 bytes a packet, +8.2% in all). The
# sender also counts what the path lost and TCP sent again (wireguard-go on 2 cores drops over
# a tenth of a fast stream), so its bound adds one full message per retransmitted segment, read
# from the sender's TCP statistics. An engine that counts a packet twice lands far outside.
sc_check_counter() {
	local desc=$1 delta=$2 retrans=${3:-0} max why=""
	max=$((SC_BYTES * 12 / 10 + retrans * 1452))
	[[ -n ${3:-} ]] && why=", $retrans TCP segments retransmitted"
	if [[ $delta =~ ^[0-9]+$ ]] && ((delta >= SC_BYTES && delta <= max)); then
		lab_pass "$desc: $delta bytes, $((delta * 1000 / SC_BYTES)) per mille of the transfer" \
			"(bound $SC_BYTES..$max$why)"
	else
		lab_fail "$desc" "counter grew by '$delta' bytes; expected $SC_BYTES..$max$why"
	fi
}

# sc_transfer FROM TO DST-ADDRESS: SC_BYTES of random data over TCP through the tunnel; the
# SHA-256 of what TO received must match what FROM sent, and both sides' counters must agree.
sc_transfer() {
	local from=$1 to=$2 addr=$3 if_from if_to src dst pid rc t0 ms
	local before_from before_to after_from after_to rx tx rx0 tx0 sum_src sum_dst retrans
	if_from=$(lab_ifname "$from")
	if_to=$(lab_ifname "$to")
	src="$LAB_DIR/data/payload-$from.bin"
	dst="$LAB_DIR/data/received-$to.bin"
	dd if=/dev/urandom of="$src" bs=1000000 count=$((SC_BYTES / 1000000)) status=none ||
		lab_die "cannot write $src"
	before_from=$(sc_counters "$from" "$if_from" "$to")
	before_to=$(sc_counters "$to" "$if_to" "$from")
	retrans=$(sc_retrans "$from")
	lab_bg "$to" "socat-recv-$to" socat -u "TCP-LISTEN:$SC_TCP_PORT,bind=$addr,reuseaddr" \
		"CREATE:$dst"
	pid=$LAB_BG_PID
	local deadline=$((SECONDS + 5))
	until lab_exec "$to" ss -Hltn "sport = :$SC_TCP_PORT" | grep -q .; do
		((SECONDS < deadline)) || break
		sleep 0.05
	done
	t0=$(date +%s%N)
	timeout 120 ip netns exec "$(lab_ns "$from")" socat -u "OPEN:$src,rdonly" \
		"TCP:$addr:$SC_TCP_PORT,connect-timeout=10" >>"$LAB_DIR/log/socat-send-$from.log" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	lab_reap "$pid" 30
	sum_src=$(sha256sum <"$src" | cut -d' ' -f1)
	sum_dst=$(sha256sum <"$dst" 2>/dev/null | cut -d' ' -f1)
	if ((rc == 0)) && [[ $sum_src == "$sum_dst" ]]; then
		lab_pass "100 MB TCP $from -> $to, SHA-256 matches ($ms ms," \
			"$((SC_BYTES * 8 / 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
	else
		lab_fail "100 MB TCP $from -> $to, SHA-256 matches" "sender exit $rc after $ms ms;" \
			"received $(stat -c %s "$dst" 2>/dev/null || echo 0) of $SC_BYTES bytes;" \
			"sha256 sent $sum_src received ${sum_dst:-none}"
	fi
	rm -f "$src" "$dst"
	after_from=$(sc_counters "$from" "$if_from" "$to")
	after_to=$(sc_counters "$to" "$if_to" "$from")
	retrans=$(($(sc_retrans "$from") - retrans))
	read -r rx0 tx0 <<<"$before_from"
	read -r rx tx <<<"$after_from"
	sc_check_counter "tx counter on $from (wg show dump) for $from -> $to" $((tx - tx0)) \
		"$retrans"
	read -r rx0 tx0 <<<"$before_to"
	read -r rx tx <<<"$after_to"
	sc_check_counter "rx counter on $to (wg show dump) for $from -> $to" $((rx - rx0))
}

# sc_roam HOST NEW-ADDRESS OTHER: HOST's outer IPv4 address moves (new one added, old one
# deleted, so nothing can still reach the old one); HOST pings OTHER and OTHER must follow.
sc_roam() {
	local host=$1 new=$2 other=$3 old port ns ifname inner=$LAB_IN4_A
	old=${LAB_IP4[$host]}
	ns=$(lab_ns "$host")
	ifname=$(lab_ifname "$host")
	[[ $host == a ]] && port=$LAB_PORT_A || port=$LAB_PORT_B
	[[ $other == b ]] && inner=$LAB_IN4_B
	ip -n "$ns" addr add "$new/24" dev "${LAB_DEV[$host]}" || lab_die "add $new on $host"
	ip -n "$ns" addr del "$old/24" dev "${LAB_DEV[$host]}" || lab_die "del $old on $host"
	LAB_IP4[$host]=$new
	if [[ ${LAB_ENGINE_KIND[$ifname]} == wireguard-go ]]; then
		# wireguard-go 0.0.20220316 pins each peer's source address (sticky sockets) and drops
		# a stale one only when sendmsg says EINVAL; for a deleted address the kernel says
		# ENETUNREACH, so it would keep failing. Changing the fwmark makes it forget cached
		# sources (device.BindSetMark). The kernel's WireGuard checks the address before use.
		lab_wg "$host" set "$ifname" fwmark 0x66 && lab_wg "$host" set "$ifname" fwmark off
	fi
	lab_check "roaming: $host moved $old -> $new, ping $host -> $other still works" \
		lab_ping "$host" "$inner" 5
	sc_check_endpoint "$other" "$(lab_ifname "$other")" "$host" "$new:$port" \
		"roaming: $other's endpoint for $host follows to $new"
}

# sc_rekey: with every protocol timer divided by 20 (REKEY_AFTER_TIME 120 s -> 6 s), 20 s of
# pings every 0.2 s must see A's latest handshake change at least twice and lose at most 2.
sc_rekey() {
	local pub first last changes=0 hs pid sent recv lost log
	pub=$(lab_pubkey b)
	lab_check "rekey phase: handshake, A initiates" lab_ping a "$LAB_IN4_B" 10
	first=$(lab_peer_field a "$LAB_IF_A" "$pub" handshake)
	last=$first
	log="$LAB_DIR/log/rekey-ping.log"
	lab_bg a rekey-ping ping -n -i 0.2 -c 100 -W 1 "$LAB_IN4_B"
	pid=$LAB_BG_PID
	while lab_pid_alive "$pid"; do
		hs=$(lab_peer_field a "$LAB_IF_A" "$pub" handshake)
		if [[ -n $hs && $hs != "$last" ]]; then
			changes=$((changes + 1))
			last=$hs
		fi
		sleep 0.5
	done
	lab_reap "$pid" 5
	sent=$(grep -oE '[0-9]+ packets transmitted' "$log" | grep -oE '^[0-9]+')
	recv=$(grep -oE '[0-9]+ received' "$log" | grep -oE '^[0-9]+')
	lost=$((${sent:-0} - ${recv:-0}))
	if ((changes >= 2)); then
		lab_pass "rekey: A's latest handshake changed $changes times in 20 s (divisor 20)"
	else
		lab_fail "rekey: A's latest handshake changed at least twice in 20 s (divisor 20)" \
			"changed $changes times: first $first, last $last;" \
			"LR_TEST_TIMER_DIVISOR=20 was set; an engine that ignores it rekeys only every 120 s"
	fi
	if [[ -n $sent ]] && ((sent >= 95 && lost <= 2)); then
		lab_pass "rekey: $lost of $sent pings lost across the rekeys"
	else
		lab_fail "rekey: at most 2 pings lost across the rekeys" "$(tail -n 3 "$log")"
	fi
}

scenario_basic() {
	local ka=$1 kb=$2
	LAB_LABEL="$ka<->$kb"
	lab_require_engine "$ka" "$kb"
	lab_require_cmds socat dd
	lab_pair_create

	# Phase 1: only A knows B's endpoint, so only A can initiate.
	lab_pair_start "$ka" "$kb" a setconf
	lab_check "B ($kb) has no endpoint before A's first packet" \
		bash -c "[[ \$(ip netns exec $(lab_ns b) wg show $LAB_IF_B endpoints | cut -f2) == '(none)' ]]"
	lab_check "handshake, A ($ka) initiates: ping A -> B" lab_ping a "$LAB_IN4_B" 10
	sc_check_handshake a "$LAB_IF_A" b "handshake, A initiates: A reports it"
	sc_check_handshake b "$LAB_IF_B" a "handshake, A initiates: B reports it"
	sc_check_endpoint b "$LAB_IF_B" a "$(lab_endpoint a 4 "$LAB_PORT_A")" \
		"handshake, A initiates: B learned A's endpoint"
	sc_check_stop "$ka" "$kb"

	# Phase 2: restarted from scratch; only B knows A's endpoint, so only B can initiate. Both
	# sides also mix in a preshared key: if either ignored it, no handshake could complete.
	LAB_PSK=psk
	lab_pair_start "$ka" "$kb" b set
	LAB_PSK=""
	lab_check "handshake with a preshared key, B ($kb) initiates: ping B -> A" \
		lab_ping b "$LAB_IN4_A" 10
	sc_check_handshake a "$LAB_IF_A" b "handshake, B initiates: A reports it"
	sc_check_handshake b "$LAB_IF_B" a "handshake, B initiates: B reports it"
	sc_check_endpoint a "$LAB_IF_A" b "$(lab_endpoint b 4 "$LAB_PORT_B")" \
		"handshake, B initiates: A learned B's endpoint"
	lab_check "ping A -> B, inner IPv4" lab_ping a "$LAB_IN4_B" 3
	lab_check "ping A -> B, inner IPv6" lab_ping a "$LAB_IN6_B" 3
	lab_check "ping B -> A, inner IPv4" lab_ping b "$LAB_IN4_A" 3
	lab_check "ping B -> A, inner IPv6" lab_ping b "$LAB_IN6_A" 3
	sc_transfer a b "$LAB_IN4_B"
	sc_transfer b a "$LAB_IN4_A"
	sc_roam b 192.0.2.12 a
	sc_roam a 192.0.2.11 b

	# IPv6 outer endpoint: A points its peer at B's IPv6 address; B must answer there.
	lab_wg a set "$LAB_IF_A" peer "$(lab_pubkey b)" endpoint "$(lab_endpoint b 6 "$LAB_PORT_B")"
	lab_check "IPv6 outer endpoint: ping A -> B, inner IPv4" lab_ping a "$LAB_IN4_B" 5
	sc_check_endpoint b "$LAB_IF_B" a "$(lab_endpoint a 6 "$LAB_PORT_A")" \
		"IPv6 outer endpoint: B learned A's IPv6 endpoint"
	lab_check "IPv6 outer endpoint: ping B -> A, inner IPv6" lab_ping b "$LAB_IN6_A" 5
	lab_pair_stop

	# Phase 3: the test-only timer divisor makes rekeying observable within seconds.
	# The endpoints configured now are the roamed addresses (LAB_IP4 follows sc_roam).
	lab_pair_start "$ka" "$kb" ab setconf LR_TEST_TIMER_DIVISOR=20
	sc_rekey
	sc_check_stop "$ka" "$kb"
	lab_check_no_secret_in_logs
}
