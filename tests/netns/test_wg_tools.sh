#!/usr/bin/env bash
# The standard tools against lanraged: wg-quick up/down, wg show/showconf/setconf/syncconf/
# addconf/set, and the daemon's life cycle (detach, SIGTERM, socket removal, device deletion).
#
#   +------------- ns lr-PID-a -------------+        +------------- ns lr-PID-b -------------+
#   | wg-quick up lrPID-a.conf               |        | wg-quick up lrPID-b.conf               |
#   |   -> lanraged lrPID-a (detached)       |        |   -> lanraged lrPID-b (detached)       |
#   |   UDP 51820  10.66.0.1  fd00:66::1     |        |   UDP 51821 -> 51831                   |
#   |   peers: B (PSK, keepalive 25)         |        |   10.66.0.2  fd00:66::2                |
#   |          C, E (keys only, endpoints in |        |   peer: A (PSK)                        |
#   |          203.0.113.0/24: unroutable)   |        | lanraged lrPID-t (detached; SIGTERM)   |
#   |   syncconf -C +D, set -D, addconf +F   |        | lanraged lrPID-s (detached; rm socket) |
#   | v1-b 192.0.2.1  2001:db8:1::1 =========|= veth =|========= v1-a 192.0.2.2  2001:db8:1::2 |
#   +----------------------------------------+        +----------------------------------------+
#   +------ ns lr-PID-r ------+
#   | lanraged -f lrPID-r     |  fresh engine, no links: `wg setconf` of A's `wg showconf`
#   +-------------------------+  must read back identically
#
# wg-quick finds the engine as WG_QUICK_USERSPACE_IMPLEMENTATION=lanraged through PATH (a
# directory holding a `lanraged` symlink to $LANRAGED), the way a distribution would install it;
# the kernel has no WireGuard module here, or wg-quick would not fall back to userspace.
# Config files live in the run's 0700 key directory. B has no PersistentKeepalive on purpose:
# it then sends nothing unprompted, so A's view of B's endpoint only changes when the test
# changes it, and the endpoint comparisons cannot race with a keepalive.
#
# Configurations are compared in a flat, sorted form (one "SECTION<TAB>Key = value" line per
# setting and per allowed IP; see wgt_flat) because wireguard-go lists peers in hash-map order:
# the order of peers and of allowed IPs is not part of the interface.
#
# LANRAGED picks the engine (ctest sets it). LANRAGED=/usr/bin/wireguard-go runs the same checks
# against the reference implementation; wireguard-go 0.0.20220316 then fails the two checks after
# the refused listen-port: it closes its sockets before binding the new port, so after the
# failure it holds no UDP socket at all and reports port 0 (the kernel keeps the old port).
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WGT_PORT_B2=51831    # B's listen port after `wg set listen-port`
WGT_PORT_BUSY=51899  # a port something else holds in B, for the failing `wg set`
WGT_BIN_DIR=""
WGT_ENGINE=""
WGT_IF_R="" WGT_IF_T="" WGT_IF_S=""
declare -gA WGT_PID=()  # IFNAME -> PID of the detached daemon serving it

# ---------------------------------------------------------------------------------------------
# Helpers

# wgt_render FILE: writes stdin to FILE (mode 0600), with {priv:NAME} and {pub:NAME} replaced by
# the keys in the run's key directory. Replaced in bash, so no key reaches any command line.
wgt_render() {
	local line val
	(umask 077 && : >"$1") || lab_die "cannot create $1"
	while IFS= read -r line; do
		while [[ $line =~ \{(priv|pub):([a-z0-9]+)\} ]]; do
			if [[ ${BASH_REMATCH[1]} == priv ]]; then
				val=$(<"$(lab_keyfile "${BASH_REMATCH[2]}")")
			else
				val=$(lab_pubkey "${BASH_REMATCH[2]}")
			fi
			line=${line/"${BASH_REMATCH[0]}"/$val}
		done
		printf '%s\n' "$line"
	done >>"$1"
}

# wgt_flat: a wg configuration (a file, or `wg showconf` output) on stdin, written as sorted
# lines "SECTION<TAB>Key = value", SECTION being "interface" or the peer's public key, with one
# line per allowed IP. Two configurations are equal iff their flat forms are.
wgt_flat() {
	awk '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
	function flush(   i) {
		for (i = 1; i <= n; i++)
			print (sec == "interface" ? sec : pub) "\t" line[i]
		n = 0
		pub = "?"
	}
	{ sub(/#.*/, ""); $0 = trim($0) }
	$0 == "" { next }
	/^\[/ { flush(); sec = tolower($0) == "[interface]" ? "interface" : "peer"; next }
	{
		i = index($0, "=")
		k = trim(substr($0, 1, i - 1))
		v = trim(substr($0, i + 1))
		if (k == "PublicKey")
			pub = v
		if (k != "AllowedIPs") {
			line[++n] = k " = " v
			next
		}
		m = split(v, ips, ",")
		for (j = 1; j <= m; j++)
			if (trim(ips[j]) != "")
				line[++n] = "AllowedIPs = " trim(ips[j])
	}
	END { flush() }' | LC_ALL=C sort
}

# wgt_showconf_flat HOST IFNAME FILE: `wg showconf` in flat form into FILE (keys: 0600 file).
wgt_showconf_flat() {
	(umask 077 && lab_wg "$1" showconf "$2" | wgt_flat >"$3")
}

# wgt_redact: flat lines on stdin, printable: secrets hidden, public keys named after their
# key files (keys/NAME.pub), so a failure report names peers instead of quoting base64.
wgt_redact() {
	local f names=""
	for f in "$LAB_DIR"/keys/*.pub; do
		names+="$(basename "$f" .pub)=$(<"$f") "
	done
	awk -v names="$names" '
	BEGIN { n = split(names, kv, " "); for (i = 1; i <= n; i++) { j = index(kv[i], "=")
		name[substr(kv[i], j + 1)] = "<" substr(kv[i], 1, j - 1) ">" } }
	{
		for (k in name)
			while ((i = index($0, k)) > 0)
				$0 = substr($0, 1, i - 1) name[k] substr($0, i + length(k))
		if ($0 ~ /\t(PrivateKey|PresharedKey) = /)
			sub(/ = .*/, " = (hidden)")
		print
	}'
}

# wgt_conf_check DESC ACTUAL-FLAT EXPECTED-FLAT: PASS if equal, else FAIL with a redacted diff.
wgt_conf_check() {
	local diffs
	if cmp -s "$2" "$3"; then
		lab_pass "$1"
		return 0
	fi
	mapfile -t diffs < <(diff "$3" "$2" | grep '^[<>]' | wgt_redact | head -n 12 |
		sed 's/^</expected:/; s/^>/actual:  /')
	lab_fail "$1" "configuration differs from the expected one:" "${diffs[@]}"
	return 1
}

# wgt_quick HOST up|down FILE: wg-quick in HOST with lanraged as its userspace implementation.
# Output goes to a file, never a pipe: the detached daemon could inherit and hold a pipe open.
wgt_quick() {
	local host=$1 verb=$2 file=$3 log="$LAB_DIR/log/wg-quick-$1.log"
	printf -- '--- %s: wg-quick %s %s\n' "$(date +%T.%N)" "$verb" "$(basename "$file")" >>"$log"
	# WG_PROCESS_FOREGROUND=1 would keep wireguard-go attached (it is how its daemon child
	# knows it is the child); the daemon must detach here as it would for a user.
	timeout 30 env -u WG_PROCESS_FOREGROUND PATH="$WGT_BIN_DIR:$PATH" \
		WG_QUICK_USERSPACE_IMPLEMENTATION=lanraged \
		ip netns exec "$(lab_ns "$host")" wg-quick "$verb" "$file" >>"$log" 2>&1 </dev/null
}

# wgt_sock_pid HOST IFNAME: PID of the process listening on IFNAME's UAPI socket. Unix sockets
# belong to a network namespace, so this sees only the daemon of this run's namespace.
wgt_sock_pid() {
	lab_exec "$1" ss -Hxlp src "$(lab_sock "$2")" 2>/dev/null |
		grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# wgt_adopt HOST IFNAME: finds the detached daemon of IFNAME and records it, so that cleanup
# stops it if a check leaves it running. Returns 1 if there is none.
wgt_adopt() {
	local pid
	pid=$(wgt_sock_pid "$1" "$2")
	[[ -n $pid ]] || return 1
	lab_track "$pid"
	WGT_PID[$2]=$pid
}

# wgt_start_detached HOST IFNAME: `lanraged IFNAME` without -f; it must return 0 once its socket
# exists. Prints nothing; the caller checks.
wgt_start_detached() {
	local log="$LAB_DIR/log/$1-detached-$2.log"
	LAB_IFACES+=("$2")
	timeout 15 env -u WG_PROCESS_FOREGROUND LOG_LEVEL=verbose \
		ip netns exec "$(lab_ns "$1")" "$WGT_ENGINE" "$2" >>"$log" 2>&1 </dev/null
}

# wgt_hs HOST IFNAME PEER: the peer's latest-handshake from `wg show dump`.
wgt_hs() { lab_peer_field "$1" "$2" "$(lab_pubkey "$3")" handshake; }

# wgt_dump_peer HOST IFNAME PEER: the peer's dump line without its preshared key column.
wgt_dump_peer() {
	lab_wg "$1" show "$2" dump | awk -F '\t' -v pub="$(lab_pubkey "$3")" \
		'NR > 1 && $1 == pub { $2 = "-"; print }' OFS='\t'
}

# wgt_show_peer HOST IFNAME PEER: the peer's paragraph of the human `wg show IF` output.
wgt_show_peer() {
	lab_wg "$1" show "$2" | awk -v hdr="peer: $(lab_pubkey "$3")" \
		'$0 == hdr { on = 1; next } on && /^$/ { exit } on { sub(/^ +/, ""); print }'
}

# wgt_show_has HOST IFNAME PEER REGEX...: every REGEX matches a whole line of the peer's
# paragraph in `wg show IF` (secrets there are "(hidden)"); prints the paragraph otherwise.
wgt_show_has() {
	local para re
	para=$(wgt_show_peer "$1" "$2" "$3")
	shift 3
	for re in "$@"; do
		grep -qxE "$re" <<<"$para" && continue
		printf 'no line matches /%s/ in:\n%s\n' "$re" "$para"
		return 1
	done
}

# wgt_secret_is HOST IFNAME PEER|- KEYNAME: the preshared key of PEER (or with "-" the private
# key) that `wg show IF dump` reports is the one in keys/KEYNAME.key. Compared, never printed.
wgt_secret_is() {
	local got
	if [[ $3 == - ]]; then
		got=$(lab_wg "$1" show "$2" dump | head -n 1 | cut -f 1)
	else
		got=$(lab_wg "$1" show "$2" preshared-keys | awk -v pub="$(lab_pubkey "$3")" \
			'$1 == pub { print $2 }')
	fi
	[[ $got == "$(<"$(lab_keyfile "$4")")" ]]
}

# wgt_link_ok HOST IFNAME: the device is up with the MTU wg-quick picks for a 1500-byte path.
wgt_link_ok() {
	ip -n "$(lab_ns "$1")" link show "$2" | grep -q 'mtu 1420 .*state \(UP\|UNKNOWN\)'
}

# wgt_udp_bound HOST PORT: prints HOST's UDP sockets bound to PORT; fails if there are none.
wgt_udp_bound() {
	lab_exec "$1" ss -Hunl "sport = :$2" | grep .
}

# wgt_present HOST IFNAME: the UAPI socket and the TUN device both exist.
wgt_present() {
	[[ -S $(lab_sock "$2") ]] && ip -n "$(lab_ns "$1")" link show "$2" >/dev/null
}

# wgt_gone HOST IFNAME: lab_engine_gone, allowing 2 s: a thread group leader shows as a zombie
# while its other threads are still exiting and holding the TUN fd.
wgt_gone() {
	local deadline=$((SECONDS + 2))
	until lab_engine_gone "$1" "$2" >/dev/null; do
		((SECONDS < deadline)) || { lab_engine_gone "$1" "$2"; return 1; }
		sleep 0.1
	done
}

# wgt_expect DESC GOT WANT: PASS if the strings are equal.
wgt_expect() {
	if [[ $2 == "$3" ]]; then
		lab_pass "$1"
	else
		lab_fail "$1" "got '$2', expected '$3'"
	fi
}

# ---------------------------------------------------------------------------------------------
# Phases

wgt_write_quick_confs() {
	local dir="$LAB_DIR/keys/quick"
	mkdir -m 700 "$dir" || lab_die "mkdir $dir"
	WGT_CONF_A="$dir/$LAB_IF_A.conf"
	WGT_CONF_B="$dir/$LAB_IF_B.conf"
	wgt_render "$WGT_CONF_A" <<-EOF
	[Interface]
	Address = $LAB_IN4_A/24, $LAB_IN6_A/64
	ListenPort = $LAB_PORT_A
	PrivateKey = {priv:a}

	[Peer]
	PublicKey = {pub:b}
	PresharedKey = {priv:psk}
	AllowedIPs = $LAB_IN4_B/32, $LAB_IN6_B/128
	Endpoint = ${LAB_IP4[b]}:$LAB_PORT_B
	PersistentKeepalive = 25

	[Peer]
	PublicKey = {pub:c}
	AllowedIPs = 10.66.3.0/24
	Endpoint = 203.0.113.3:51823

	[Peer]
	PublicKey = {pub:e}
	PresharedKey = {priv:psk2}
	AllowedIPs = 10.66.5.0/24, fd00:66:5::/48
	Endpoint = 203.0.113.5:51825
	PersistentKeepalive = 30
	EOF
	wgt_render "$WGT_CONF_B" <<-EOF
	[Interface]
	Address = $LAB_IN4_B/24, $LAB_IN6_B/64
	ListenPort = $LAB_PORT_B
	PrivateKey = {priv:b}

	[Peer]
	PublicKey = {pub:a}
	PresharedKey = {priv:psk}
	AllowedIPs = $LAB_IN4_A/32, $LAB_IN6_A/128
	Endpoint = ${LAB_IP4[a]}:$LAB_PORT_A
	EOF
}

# wgt_up HOST IFNAME CONF: wg-quick up, then what it must have left: the daemon, the device.
wgt_up() {
	local host=$1 ifname=$2 conf=$3 rc pid exe want log="$LAB_DIR/log/wg-quick-$1.log"
	LAB_IFACES+=("$ifname")
	wgt_quick "$host" up "$conf"
	rc=$?
	lab_check "wg-quick up $ifname on $host exits 0 (got $rc)" test "$rc" = 0 ||
		lab_die "wg-quick up on $host failed: $(tail -n 3 "$log" | tr '\n' ' ')"
	lab_check "wg-quick on $host fell back to WG_QUICK_USERSPACE_IMPLEMENTATION=lanraged" \
		grep -qx "\[#\] lanraged $ifname" "$log"
	lab_check "wg-quick on $host found the config private (0600 in a 0700 directory)" \
		test -z "$(grep 'world accessible' "$log")"
	if wgt_adopt "$host" "$ifname"; then
		pid=${WGT_PID[$ifname]}
		exe=$(readlink -f "/proc/$pid/exe")
		want=$(readlink -f "$WGT_ENGINE")
		wgt_expect "$ifname's socket is served by a detached $(basename "$want")" \
			"$exe" "$want"
	else
		lab_fail "a daemon listens on $(lab_sock "$ifname") after wg-quick up" \
			"$(ls -l "$(lab_sock "$ifname")" 2>&1)"
	fi
	lab_check "$ifname on $host is up with MTU 1420 (wg-quick: 1500 - 80)" \
		wgt_link_ok "$host" "$ifname"
}

wgt_phase_up() {
	local want now hs line rx tx ka ep ips
	wgt_write_quick_confs
	# B first, so that A's keepalive finds B listening and the handshake happens at once.
	wgt_up b "$LAB_IF_B" "$WGT_CONF_B"
	wgt_up a "$LAB_IF_A" "$WGT_CONF_A"

	# What wg-quick handed to `wg setconf` is exactly what the engine reports back.
	want="$LAB_DIR/keys/strip-a.flat"
	lab_exec a wg-quick strip "$WGT_CONF_A" 2>/dev/null | wgt_flat >"$want"
	wgt_showconf_flat a "$LAB_IF_A" "$LAB_DIR/keys/up-a.flat"
	wgt_conf_check "wg showconf after wg-quick up == wg-quick strip of the file (A)" \
		"$LAB_DIR/keys/up-a.flat" "$want"

	lab_check "ping A -> B over the tunnel, inner IPv4" lab_ping a "$LAB_IN4_B" 10
	lab_check "ping A -> B over the tunnel, inner IPv6" lab_ping a "$LAB_IN6_B" 5
	lab_check "ping B -> A over the tunnel, inner IPv4" lab_ping b "$LAB_IN4_A" 5
	lab_check "ping B -> A over the tunnel, inner IPv6" lab_ping b "$LAB_IN6_A" 5

	# `wg show IF`: the human view of the same state.
	lab_check "wg show: A lists B's handshake, transfer, hidden PSK, keepalive" \
		wgt_show_has a "$LAB_IF_A" b "preshared key: \(hidden\)" \
		"latest handshake: (Now|([0-9]+ (second|minute)s?(, )?)+ ago)" \
		"transfer: [0-9.]+ [KMG]?i?B received, [0-9.]+ [KMG]?i?B sent" \
		"persistent keepalive: every 25 seconds"
	lab_check "wg show: B lists A's handshake and hidden PSK" \
		wgt_show_has b "$LAB_IF_B" a "preshared key: \(hidden\)" "latest handshake: .*"
	lab_check "wg show: C never shook hands" \
		test -z "$(wgt_show_peer a "$LAB_IF_A" c | grep 'latest handshake')"

	# `wg show IF dump`: the machine view; the private key and PSK are compared, never printed.
	line=$(lab_wg a show "$LAB_IF_A" dump | head -n 1 | cut -f 2-4)
	wgt_expect "wg show dump: A's public key, listen port, fwmark" "$line" \
		"$(lab_pubkey a)$(printf '\t')$LAB_PORT_A$(printf '\t')off"
	lab_check "wg show dump: A's private key is the configured one" \
		wgt_secret_is a "$LAB_IF_A" - a
	lab_check "wg show dump: the preshared key on A for B is the configured one" \
		wgt_secret_is a "$LAB_IF_A" b psk
	lab_check "wg show dump: the preshared key on B for A is the configured one" \
		wgt_secret_is b "$LAB_IF_B" a psk
	now=$(date +%s)
	IFS=$'\t' read -r _ _ ep ips hs rx tx ka < <(wgt_dump_peer a "$LAB_IF_A" b)
	ips=$(tr ',' '\n' <<<"$ips" | LC_ALL=C sort | paste -sd,)
	wgt_expect "wg show dump: B's endpoint, allowed IPs and keepalive on A" "$ep $ips $ka" \
		"${LAB_IP4[b]}:$LAB_PORT_B $LAB_IN4_B/32,$LAB_IN6_B/128 25"
	if [[ $hs =~ ^[0-9]+$ ]] && ((hs > 0 && now - hs <= 60)) && ((rx > 0 && tx > 0)); then
		lab_pass "wg show dump: B's handshake $((now - hs)) s ago, rx $rx bytes, tx $tx"
	else
		lab_fail "wg show dump: B's handshake within a minute, rx and tx above 0" \
			"handshake '$hs' (now $now), rx '$rx', tx '$tx'"
	fi
	wgt_expect "wg show dump: C has no handshake and no traffic" \
		"$(wgt_dump_peer a "$LAB_IF_A" c | cut -f 5-7)" "0$(printf '\t')0$(printf '\t')0"
}

# showconf -> setconf on a fresh engine -> showconf gives the same configuration.
wgt_phase_roundtrip() {
	local conf="$LAB_DIR/keys/showconf-a.conf" rc
	(umask 077 && lab_wg a showconf "$LAB_IF_A" >"$conf") || lab_fail "wg showconf on A"
	lab_host r
	lab_start_engine r "$WGT_IF_R" lanraged
	lab_wg r setconf "$WGT_IF_R" "$conf" >>"$LAB_DIR/log/wg.log" 2>&1
	rc=$?
	lab_check "wg setconf of A's showconf on a fresh engine exits 0 (got $rc)" test "$rc" = 0
	wgt_flat <"$conf" >"$LAB_DIR/keys/showconf-a.flat"
	wgt_showconf_flat r "$WGT_IF_R" "$LAB_DIR/keys/showconf-r.flat"
	wgt_conf_check "showconf round trip: setconf(showconf A) on a fresh engine reads back" \
		"$LAB_DIR/keys/showconf-r.flat" "$LAB_DIR/keys/showconf-a.flat"
	lab_stop_engine "$WGT_IF_R"
	rc=$?
	lab_check "the fresh engine exits 0 on SIGTERM (got $rc)" test "$rc" = 0
}

# wgt_strip_unmanaged ACTUAL EXPECTED: drops from ACTUAL the Endpoint, PresharedKey and
# PersistentKeepalive of every peer whose block in EXPECTED has none. syncconf manages all else
# `wg showconf` prints (private key, port, fwmark, the peer set, each peer's allowed IPs), but
# sync_conf() in wireguard-tools' setconf.c sends nothing for a kept peer's absent Endpoint
# (UAPI cannot clear one), and before v1.0.20260223 (commits 780182e, 0a81a17) nothing for an
# absent PresharedKey or PersistentKeepalive either; Debian 12 ships 1.0.20210914.
wgt_strip_unmanaged() {
	awk -F '\t' '
	function key(s) { return substr(s, 1, index(s, " = ") - 1) }
	NR == FNR { has[$1, key($2)] = 1; next }
	!(key($2) ~ /^(Endpoint|PresharedKey|PersistentKeepalive)$/ && !(($1, key($2)) in has))' \
		"$2" "$1"
}

# wgt_addconf_merge BEFORE ADD: what `wg addconf` makes of configuration BEFORE with file ADD
# (both flat): each setting in ADD replaces the same setting of the same section, and a peer
# named in ADD gets exactly ADD's allowed IPs, because every [Peer] section sets
# WGPEER_REPLACE_ALLOWEDIPS (config.c, also in append mode); everything else stays.
wgt_addconf_merge() {
	awk -F '\t' '
	function key(s) { return substr(s, 1, index(s, " = ") - 1) }
	NR == FNR { set[$1, key($2)] = 1; named[$1] = 1; print; next }
	!(($1, key($2)) in set) && !(key($2) == "AllowedIPs" && $1 in named)' "$2" "$1" |
		LC_ALL=C sort -u
}

wgt_phase_syncconf() {
	local sync="$LAB_DIR/keys/sync-a.conf" k="$LAB_DIR/keys" rc hs_a hs_b rx0 rx now
	wgt_render "$sync" <<-EOF
	[Interface]
	PrivateKey = {priv:a}
	ListenPort = $LAB_PORT_A

	# B stays: one allowed IP more, endpoint moved to B's IPv6 address.
	[Peer]
	PublicKey = {pub:b}
	PresharedKey = {priv:psk}
	AllowedIPs = $LAB_IN4_B/32, $LAB_IN6_B/128, 10.66.2.0/24
	Endpoint = [${LAB_IP6[b]}]:$LAB_PORT_B
	PersistentKeepalive = 25

	# E stays: narrower allowed IPs; no PSK and no keepalive any more; endpoint left alone.
	[Peer]
	PublicKey = {pub:e}
	AllowedIPs = 10.66.5.0/25

	# D is new; C is gone.
	[Peer]
	PublicKey = {pub:d}
	AllowedIPs = 10.66.4.0/24, fd00:66:4::/64
	Endpoint = 203.0.113.4:51824
	EOF
	hs_a=$(wgt_hs a "$LAB_IF_A" b)
	hs_b=$(wgt_hs b "$LAB_IF_B" a)
	rx0=$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" rx)
	lab_wg a syncconf "$LAB_IF_A" "$sync" >>"$LAB_DIR/log/wg.log" 2>&1
	rc=$?
	lab_check "wg syncconf on A exits 0 (got $rc)" test "$rc" = 0
	wgt_showconf_flat a "$LAB_IF_A" "$k/sync-a.actual"
	wgt_flat <"$sync" >"$k/sync-a.flat"
	wgt_strip_unmanaged "$k/sync-a.actual" "$k/sync-a.flat" >"$k/sync-a.managed"
	wgt_conf_check "syncconf: A's config is exactly the new file (-C +D, B and E changed)" \
		"$k/sync-a.managed" "$k/sync-a.flat"
	wgt_expect "syncconf: E's endpoint, absent from the file, is left as it was" \
		"$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey e)" endpoint)" "203.0.113.5:51825"

	now=$(date +%s)
	# REKEY_AFTER_TIME is 120 s: past that a new handshake would be legitimate.
	((now - ${hs_a:-0} < 100)) ||
		lab_log "warning: B's session is $((now - ${hs_a:-0})) s old; a rekey may be due"
	lab_check "syncconf: ping A -> B, inner IPv4, after the sync" lab_ping a "$LAB_IN4_B" 5
	lab_check "syncconf: ping A -> B, inner IPv6, after the sync" lab_ping a "$LAB_IN6_B" 5
	lab_check "syncconf: ping B -> A, inner IPv4, after the sync" lab_ping b "$LAB_IN4_A" 5
	wgt_expect "syncconf: B's session survived, no new handshake on A (was $hs_a)" \
		"$(wgt_hs a "$LAB_IF_A" b)" "$hs_a"
	wgt_expect "syncconf: B's session survived, no new handshake on B (was $hs_b)" \
		"$(wgt_hs b "$LAB_IF_B" a)" "$hs_b"
	rx=$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" rx)
	lab_check "syncconf: A's rx counter for B grew ($rx0 -> $rx)" \
		test "${rx:-0}" -gt "${rx0:-0}"
	wgt_expect "syncconf: A sends to B's new IPv6 endpoint" \
		"$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" endpoint)" \
		"[${LAB_IP6[b]}]:$LAB_PORT_B"
	wgt_expect "syncconf: B followed A to its IPv6 address" \
		"$(lab_peer_field b "$LAB_IF_B" "$(lab_pubkey a)" endpoint)" \
		"[${LAB_IP6[a]}]:$LAB_PORT_A"
}

wgt_phase_set() {
	local k="$LAB_DIR/keys" rc pub_b got
	pub_b=$(lab_pubkey b)

	# peer X remove: D disappears, nothing else moves.
	wgt_showconf_flat a "$LAB_IF_A" "$k/set0.flat"
	lab_wg a set "$LAB_IF_A" peer "$(lab_pubkey d)" remove
	rc=$?
	lab_check "wg set A peer D remove exits 0 (got $rc)" test "$rc" = 0
	wgt_showconf_flat a "$LAB_IF_A" "$k/set1.flat"
	grep -v "^$(lab_pubkey d)"$'\t' "$k/set0.flat" >"$k/set1.want"
	wgt_conf_check "wg set peer D remove: D is gone, the rest unchanged" "$k/set1.flat" \
		"$k/set1.want"

	# An all-zero preshared key means "none", and keepalive "off" is 0: E loses both.
	lab_wg a set "$LAB_IF_A" peer "$(lab_pubkey e)" preshared-key /dev/null \
		persistent-keepalive off
	got=$(lab_wg a show "$LAB_IF_A" dump | awk -F '\t' -v pub="$(lab_pubkey e)" \
		'$1 == pub { print ($2 == "(none)" ? "no PSK" : "a PSK"), $8 }')
	wgt_expect "wg set A peer E preshared-key /dev/null persistent-keepalive off: cleared" \
		"$got" "no PSK off"

	# fwmark: shown, harmless to the tunnel, and cleared again with 0.
	lab_wg a set "$LAB_IF_A" fwmark 0x1234
	wgt_expect "wg set A fwmark 0x1234: wg show fwmark" \
		"$(lab_wg a show "$LAB_IF_A" fwmark)" "0x1234"
	lab_check "fwmark 0x1234: ping A -> B still works" lab_ping a "$LAB_IN4_B" 5
	lab_wg a set "$LAB_IF_A" fwmark 0
	wgt_expect "wg set A fwmark 0: wg show fwmark is off again" \
		"$(lab_wg a show "$LAB_IF_A" fwmark)" "off"

	# listen-port: B moves; A reaches it once told the new endpoint.
	lab_wg b set "$LAB_IF_B" listen-port "$WGT_PORT_B2"
	rc=$?
	lab_check "wg set B listen-port $WGT_PORT_B2 exits 0 (got $rc)" test "$rc" = 0
	wgt_expect "wg show B listen-port" "$(lab_wg b show "$LAB_IF_B" listen-port)" "$WGT_PORT_B2"
	lab_check "B has a UDP socket on $WGT_PORT_B2" wgt_udp_bound b "$WGT_PORT_B2"
	lab_check "B has no UDP socket left on $LAB_PORT_B" \
		test -z "$(wgt_udp_bound b "$LAB_PORT_B")"
	lab_wg a set "$LAB_IF_A" peer "$pub_b" endpoint "${LAB_IP4[b]}:$WGT_PORT_B2"
	lab_check "new listen port: ping A -> B, inner IPv4" lab_ping a "$LAB_IN4_B" 5
	lab_check "new listen port: ping B -> A, inner IPv6" lab_ping b "$LAB_IN6_A" 5
	wgt_expect "new listen port: B sees A at its IPv4 endpoint again" \
		"$(lab_peer_field b "$LAB_IF_B" "$(lab_pubkey a)" endpoint)" \
		"${LAB_IP4[a]}:$LAB_PORT_A"
}

wgt_phase_bad_set() {
	local k="$LAB_DIR/keys" rc err pid
	err="$LAB_DIR/log/wg-bad-set.log"

	# Rejected by wg itself before the engine hears of it.
	wgt_showconf_flat a "$LAB_IF_A" "$k/bad0.flat"
	lab_wg a set "$LAB_IF_A" peer "$(lab_pubkey b)" allowed-ips 10.0.0.0/33 >"$err" 2>&1
	rc=$?
	if ((rc != 0)) && [[ -s $err ]]; then
		lab_pass "wg set ... allowed-ips 10.0.0.0/33 fails (exit $rc): $(head -n 1 "$err")"
	else
		lab_fail "wg set A ... allowed-ips 10.0.0.0/33 fails with an error" "exit $rc"
	fi
	wgt_showconf_flat a "$LAB_IF_A" "$k/bad1.flat"
	wgt_conf_check "the rejected allowed-ips changed nothing on A" "$k/bad1.flat" "$k/bad0.flat"

	# Rejected by the engine: the port is taken. The same request also sets a keepalive, which
	# must not be applied either: wg sends the port first, and the kernel then refuses the whole
	# request.
	lab_bg b busy-port socat -u "UDP6-RECV:$WGT_PORT_BUSY" /dev/null
	pid=$LAB_BG_PID
	local deadline=$((SECONDS + 5))
	until lab_exec b ss -Hunl "sport = :$WGT_PORT_BUSY" | grep -q .; do
		((SECONDS < deadline)) || lab_die "socat did not bind UDP $WGT_PORT_BUSY in b"
		sleep 0.05
	done
	wgt_showconf_flat b "$LAB_IF_B" "$k/bad2.flat"
	lab_wg b set "$LAB_IF_B" listen-port "$WGT_PORT_BUSY" peer "$(lab_pubkey a)" \
		persistent-keepalive 7 >"$err" 2>&1
	rc=$?
	if ((rc != 0)) && [[ -s $err ]]; then
		lab_pass "wg set B listen-port <in use> fails (exit $rc): $(head -n 1 "$err")"
	else
		lab_fail "wg set B listen-port <in use> fails with an error" "exit $rc"
	fi
	wgt_showconf_flat b "$LAB_IF_B" "$k/bad3.flat"
	wgt_conf_check "the refused listen-port changed nothing on B (port, keepalive)" \
		"$k/bad3.flat" "$k/bad2.flat"
	lab_check "B still answers on UDP $WGT_PORT_B2: ping A -> B" lab_ping a "$LAB_IN4_B" 5
	kill -TERM "$pid" 2>/dev/null
	lab_reap "$pid" 5
	# An engine that failed the check above may have lost its socket; setting the port again
	# (a no-op otherwise) keeps that one failure from cascading into the checks that follow.
	lab_wg b set "$LAB_IF_B" listen-port "$WGT_PORT_B2"
}

wgt_phase_addconf() {
	local k="$LAB_DIR/keys" add="$LAB_DIR/keys/add-a.conf" rc
	# F is new; B keeps its allowed IPs and gains one (addconf replaces a named peer's list,
	# so the file repeats the old ones); E only changes its keepalive.
	wgt_render "$add" <<-EOF
	[Peer]
	PublicKey = {pub:f}
	AllowedIPs = 10.66.6.0/24
	Endpoint = 203.0.113.6:51826

	[Peer]
	PublicKey = {pub:b}
	AllowedIPs = $LAB_IN4_B/32, $LAB_IN6_B/128, 10.66.2.0/24, 10.66.7.0/24

	[Peer]
	PublicKey = {pub:e}
	AllowedIPs = 10.66.5.0/25
	PersistentKeepalive = 15
	EOF
	wgt_showconf_flat a "$LAB_IF_A" "$k/add0.flat"
	lab_wg a addconf "$LAB_IF_A" "$add" >>"$LAB_DIR/log/wg.log" 2>&1
	rc=$?
	lab_check "wg addconf on A exits 0 (got $rc)" test "$rc" = 0
	wgt_showconf_flat a "$LAB_IF_A" "$k/add1.flat"
	wgt_flat <"$add" >"$k/add.flat"
	wgt_addconf_merge "$k/add0.flat" "$k/add.flat" >"$k/add1.want"
	wgt_conf_check "addconf: F added, B's allowed IPs extended, E's keepalive set, rest kept" \
		"$k/add1.flat" "$k/add1.want"
	lab_check "addconf: ping A -> B still works" lab_ping a "$LAB_IN4_B" 5
}

# wgt_down HOST IFNAME CONF: wg-quick down; device, daemon and socket must all go.
wgt_down() {
	local host=$1 ifname=$2 conf=$3 rc pid=${WGT_PID[$2]:-}
	wgt_quick "$host" down "$conf"
	rc=$?
	lab_check "wg-quick down $ifname on $host exits 0 (got $rc)" test "$rc" = 0
	lab_check "wg-quick down: $ifname is gone from $host" \
		test -z "$(ip -n "$(lab_ns "$host")" link show "$ifname" 2>/dev/null)"
	if [[ -z $pid ]]; then
		lab_fail "wg-quick down: the daemon of $ifname exits" "its PID was never found"
	elif lab_wait_dead 5 "$pid"; then
		lab_pass "wg-quick down: the daemon of $ifname (PID $pid) exited"
	else
		lab_fail "wg-quick down: the daemon of $ifname (PID $pid) exits within 5 s" \
			"still running: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	fi
	lab_check "wg-quick down: $(lab_sock "$ifname") is removed" \
		test ! -e "$(lab_sock "$ifname")"
	lab_check "wg-quick down: wg show interfaces no longer lists $ifname" \
		test -z "$(lab_wg "$host" show interfaces | tr ' ' '\n' | grep -x "$ifname")"
}

# A detached daemon: it returns once its socket exists, and exits on SIGTERM or socket removal.
wgt_phase_detached() {
	local rc pid ifname

	for ifname in "$WGT_IF_T" "$WGT_IF_S"; do
		wgt_start_detached b "$ifname"
		rc=$?
		lab_check "detached start of $ifname returns 0 (got $rc)" test "$rc" = 0
		lab_check "on return, $(lab_sock "$ifname") exists and so does the device" \
			wgt_present b "$ifname"
		wgt_adopt b "$ifname" || lab_fail "a daemon listens on $(lab_sock "$ifname")"
	done

	pid=${WGT_PID[$WGT_IF_T]:-}
	if [[ -n $pid ]]; then
		kill -TERM "$pid"
		if lab_wait_dead 5 "$pid"; then
			lab_pass "SIGTERM: the detached daemon of $WGT_IF_T (PID $pid) exited"
		else
			lab_fail "SIGTERM: the detached daemon of $WGT_IF_T exits within 5 s"
		fi
		lab_check "SIGTERM: socket and device of $WGT_IF_T are removed" \
			wgt_gone b "$WGT_IF_T"
	fi

	pid=${WGT_PID[$WGT_IF_S]:-}
	if [[ -n $pid ]]; then
		rm -f "$(lab_sock "$WGT_IF_S")"
		if lab_wait_dead 3 "$pid"; then
			lab_pass "rm socket: the daemon of $WGT_IF_S (PID $pid) exited within 3 s"
		else
			lab_fail "rm socket: the daemon of $WGT_IF_S exits within 3 s" \
				"still running: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
		fi
		lab_check "rm socket: the device $WGT_IF_S is removed" wgt_gone b "$WGT_IF_S"
	fi
}

# ---------------------------------------------------------------------------------------------

lab_init
lab_require_cmds wg-quick socat
lab_require_engine lanraged
WGT_ENGINE=$(lab_engine_bin lanraged)
LAB_LABEL="wg tools/$(basename "$(readlink -f "$WGT_ENGINE")")"
# The fallback in wg-quick only happens without the module; with it, wg-quick would test the
# kernel instead of the engine.
[[ -e /sys/module/wireguard ]] &&
	lab_skip "the wireguard kernel module is loaded; wg-quick would use it, not the engine"

WGT_BIN_DIR="$LAB_DIR/bin"
mkdir -m 700 "$WGT_BIN_DIR" || lab_die "cannot create $WGT_BIN_DIR"
ln -s "$(readlink -f "$WGT_ENGINE")" "$WGT_BIN_DIR/lanraged" || lab_die "cannot link the engine"
lab_pair_create
for name in psk2 c d e f; do
	lab_genkey "$name"
done
WGT_IF_R=$(lab_ifname r)
WGT_IF_T=$(lab_ifname t)
WGT_IF_S=$(lab_ifname s)

wgt_phase_up
wgt_phase_syncconf  # early: the "no new handshake" check needs a session well below 120 s old
wgt_phase_roundtrip
wgt_phase_set
wgt_phase_bad_set
wgt_phase_addconf
wgt_down a "$LAB_IF_A" "$WGT_CONF_A"
wgt_down b "$LAB_IF_B" "$WGT_CONF_B"
wgt_phase_detached
lab_check_no_secret_in_logs
lab_summary
