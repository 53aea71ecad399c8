# shellcheck shell=bash
# shellcheck disable=SC2034  # the globals here are read by the scripts that source this file
# The netns lab: hosts as network namespaces on veth links, WireGuard engines driven only by `wg`.
#
# Source this file, call lab_init, build hosts and links, start engines, check, and let the EXIT
# trap tear everything down. Every name is unique per run (the shell's PID is in it) because two
# things are global although the hosts are not: /var/run/netns/NAME and the UAPI sockets in
# /var/run/wireguard/IFNAME.sock, which `wg` finds by interface name whatever the namespace.
#
# Addresses: the "internet" between hosts uses the documentation ranges (RFC 5737, RFC 3849):
# link 1 is 192.0.2.0/24 + 2001:db8:1::/64, link 2 is 198.51.100.0/24 + 2001:db8:2::/64,
# link 3 is 203.0.113.0/24 + 2001:db8:3::/64; a host's address on a link ends in its index.
# The tunnel is 10.66.0.0/24 + fd00:66::/64; those only ever exist inside our namespaces.
#
# Nothing here sends a packet anywhere but to loopback and to namespaces this run created.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO_DIR=$(cd "$LAB_LIB_DIR/../.." && pwd)

LAB_ID=$$
LAB_NS_PREFIX="lr-$LAB_ID-"
LAB_WG_RUN_DIR=/var/run/wireguard
LAB_DIR=""             # this run's directory: logs, keys, data (empty = lab not initialised)
LAB_LABEL=""           # prefix of PASS/FAIL lines, e.g. "lanraged<->wireguard-go"
LAB_PASSES=0
LAB_FAILS=0
LAB_HOSTS=()           # short host names, in creation order (index = position + 1)
LAB_IFACES=()          # every engine interface name this run used (their sockets are global)
LAB_PIDS=()            # PID:STARTTIME of every live background process of this run
LAB_BG_PID=""          # PID of the last lab_bg / lab_start_engine, for the caller
LAB_PSK=""             # key name: lab_configure_* also set this preshared key when non-empty
declare -gA LAB_ENGINE_PID=()   # IFNAME -> PID
declare -gA LAB_ENGINE_HOST=()  # IFNAME -> host
declare -gA LAB_ENGINE_KIND=()  # IFNAME -> lanraged | wireguard-go
declare -gA LAB_IP4=()          # host -> IPv4 address on its first link
declare -gA LAB_IP6=()          # host -> IPv6 address on its first link
declare -gA LAB_DEV=()          # host -> veth device of its first link

# ---------------------------------------------------------------------------------------------
# Reporting

lab_log() { printf 'lab: %s\n' "$*"; }

lab_skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

lab_die() {
	printf 'FAIL: %s%s (setup error, aborting)\n' "${LAB_LABEL:+[$LAB_LABEL] }" "$*"
	LAB_FAILS=$((LAB_FAILS + 1))
	exit 1
}

lab_pass() {
	LAB_PASSES=$((LAB_PASSES + 1))
	printf 'PASS: %s%s\n' "${LAB_LABEL:+[$LAB_LABEL] }" "$*"
}

# lab_fail DESCRIPTION [CONTEXT-LINE...]: the context says what was seen, so a CI log is enough.
lab_fail() {
	local line
	LAB_FAILS=$((LAB_FAILS + 1))
	printf 'FAIL: %s%s\n' "${LAB_LABEL:+[$LAB_LABEL] }" "$1"
	shift
	for line in "$@"; do
		[[ -z $line ]] || printf '      %s\n' "$line"
	done
}

# lab_check DESCRIPTION COMMAND...: PASS if the command succeeds, else FAIL with its last output.
lab_check() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		lab_pass "$desc"
		return 0
	fi
	lab_fail "$desc" "command: $* (exit $rc)" "$(printf '%s\n' "$out" | tail -n 5)"
	return 1
}

# lab_summary: prints the totals; returns 1 when anything failed.
lab_summary() {
	printf 'lab: %d passed, %d failed%s\n' "$LAB_PASSES" "$LAB_FAILS" \
		"${LAB_LABEL:+ [$LAB_LABEL]}"
	((LAB_FAILS == 0))
}

# ---------------------------------------------------------------------------------------------
# Preconditions: a test that cannot run here says why and exits 77 (ctest SKIP_RETURN_CODE).

lab_require_root() {
	((EUID == 0)) || lab_skip "needs root (network namespaces, TUN devices)"
}

lab_require_cmds() {
	local cmd
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null 2>&1 || lab_skip "'$cmd' not installed (bash tools/install-deps.sh)"
	done
}

# lab_engine_bin KIND: prints the binary for an engine kind.
lab_engine_bin() {
	case $1 in
	lanraged)
		local dir=${LR_BUILD_DIR:-build}
		[[ $dir == /* ]] || dir=$LAB_REPO_DIR/$dir
		printf '%s\n' "${LANRAGED:-$dir/lanraged}"
		;;
	wireguard-go) command -v "${WIREGUARD_GO:-wireguard-go}" || printf '%s\n' /usr/bin/wireguard-go ;;
	*) return 1 ;;
	esac
}

lab_require_engine() {
	local kind bin
	for kind in "$@"; do
		bin=$(lab_engine_bin "$kind") || lab_die "unknown engine kind '$kind'"
		[[ -x $bin ]] || lab_skip "$kind binary '$bin' not found or not executable"
	done
}

# ---------------------------------------------------------------------------------------------
# Life cycle

lab_ns() { printf '%s%s\n' "$LAB_NS_PREFIX" "$1"; }

# A run killed by SIGKILL leaves its namespaces, engines and sockets behind. Their names carry
# that run's PID, which is now ours, so no live run can own them: free them.
lab_remove_stale() {
	local ns sock pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns == "$LAB_NS_PREFIX"* ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	for sock in "$LAB_WG_RUN_DIR/lr$LAB_ID-"*.sock; do
		[[ -S $sock ]] && rm -f "$sock"
	done
	return 0
}

lab_init() {
	lab_require_root
	lab_require_cmds ip wg ping ss sha256sum timeout awk
	lab_remove_stale
	LAB_DIR=$(mktemp -d "${LR_LAB_ROOT:-${TMPDIR:-/tmp}}/lanrage-lab.$LAB_ID.XXXXXX") ||
		lab_die "cannot create the run directory"
	chmod 700 "$LAB_DIR"
	mkdir -m 700 "$LAB_DIR/log" "$LAB_DIR/keys" "$LAB_DIR/data"
	trap 'lab_cleanup $?' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# lab_pid_stat PID: "STATE STARTTIME" from /proc (fields 3 and 22; the command name before
# them may contain spaces, so cut at the last ')').
lab_pid_stat() {
	awk '{ sub(/^.*\) /, ""); print $1, $20 }' "/proc/$1/stat" 2>/dev/null
}

lab_pid_alive() {
	local st
	st=$(lab_pid_stat "$1") || return 1
	# A zombie (Z) has exited; bash may not have reaped it yet.
	[[ -n $st && $st != Z* ]]
}

# Background processes are remembered as PID:STARTTIME, so that cleanup never signals a
# process that merely inherited a recycled PID.
lab_track() {
	local st
	st=$(lab_pid_stat "$1")
	LAB_PIDS+=("$1:${st#* }")
}

lab_untrack() {
	local i
	for i in "${!LAB_PIDS[@]}"; do
		[[ ${LAB_PIDS[i]%%:*} == "$1" ]] && unset "LAB_PIDS[i]"
	done
	LAB_PIDS=("${LAB_PIDS[@]}")
}

# lab_tracked_alive PID:STARTTIME: the very process we started is still running.
lab_tracked_alive() {
	local st
	st=$(lab_pid_stat "${1%%:*}") || return 1
	[[ -n $st && $st != Z* && ${st#* } == "${1#*:}" ]]
}

# lab_wait_dead TIMEOUT-SECONDS PID...: returns 0 once all are gone, 1 on timeout.
lab_wait_dead() {
	local deadline=$((SECONDS + $1)) pid alive
	shift
	while :; do
		alive=0
		for pid in "$@"; do
			lab_pid_alive "$pid" && alive=1
		done
		((alive == 0)) && return 0
		((SECONDS >= deadline)) && return 1
		sleep 0.1
	done
}

# lab_cleanup [STATUS]: idempotent; the EXIT trap calls it, also after a failure or a signal.
lab_cleanup() {
	local status=${1:-0} pid ns ifname live=()
	[[ -n $LAB_DIR ]] || return 0
	trap '' INT TERM
	for pid in "${LAB_PIDS[@]}"; do
		lab_tracked_alive "$pid" && kill -TERM "${pid%%:*}" 2>/dev/null && live+=("$pid")
	done
	if ((${#live[@]})) && ! lab_wait_dead 5 "${live[@]%%:*}"; then
		for pid in "${live[@]}"; do
			lab_tracked_alive "$pid" && kill -KILL "${pid%%:*}" 2>/dev/null
		done
		lab_wait_dead 2 "${live[@]%%:*}"
	fi
	# Reap only our own; a bare `wait` would also block on a caller's unrelated jobs.
	((${#live[@]} == 0)) || wait "${live[@]%%:*}" 2>/dev/null
	for ns in "${LAB_HOSTS[@]}"; do
		ns=$(lab_ns "$ns")
		# A process we did not record (a grandchild) would keep the namespace alive.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	for ifname in "${LAB_IFACES[@]}"; do
		rm -f "$LAB_WG_RUN_DIR/$ifname.sock"
	done
	rm -rf "$LAB_DIR/keys" "$LAB_DIR/data"
	# Logs stay after a failure; a pass, or a skip before anything was logged, leaves nothing.
	if { ((status == 0 && LAB_FAILS == 0)) && [[ -z ${LR_LAB_KEEP:-} ]]; } ||
		[[ -z $(ls -A "$LAB_DIR/log") ]]; then
		rm -rf "$LAB_DIR"
	else
		lab_log "logs kept in $LAB_DIR/log"
	fi
	LAB_DIR="" LAB_HOSTS=() LAB_IFACES=() LAB_PIDS=()
	LAB_ENGINE_PID=() LAB_ENGINE_HOST=() LAB_ENGINE_KIND=()
	trap - INT TERM
	return 0
}

# ---------------------------------------------------------------------------------------------
# Hosts and links

lab_host() {
	local host=$1 ns
	[[ $host =~ ^[a-z][a-z0-9]{0,4}$ ]] || lab_die "host name '$host' must be [a-z][a-z0-9]{0,4}"
	ns=$(lab_ns "$host")
	ip netns add "$ns" || lab_die "ip netns add $ns"
	LAB_HOSTS+=("$host")
	ip -n "$ns" link set lo up || lab_die "lo up in $ns"
	# No DAD: addresses are usable at once instead of after a second of "tentative".
	# promote_secondaries: deleting a host's first address (roaming) keeps the others and the
	# subnet route instead of flushing them. rp_filter off: a new namespace inherits the host's
	# IPv4 settings, and a strict filter would drop the asymmetric paths roaming creates.
	ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 net.ipv4.conf.all.promote_secondaries=1 \
		net.ipv4.conf.default.promote_secondaries=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null || lab_die "sysctl in $ns"
}

lab_host_index() {
	local i
	for i in "${!LAB_HOSTS[@]}"; do
		[[ ${LAB_HOSTS[i]} == "$1" ]] && { echo $((i + 1)); return 0; }
	done
	return 1
}

lab_exec() {
	local host=$1
	shift
	ip netns exec "$(lab_ns "$host")" "$@"
}

lab_wg() {
	local host=$1
	shift
	ip netns exec "$(lab_ns "$host")" wg "$@"
}

lab_net4() { case $1 in 1) echo 192.0.2 ;; 2) echo 198.51.100 ;; 3) echo 203.0.113 ;; *) return 1 ;; esac; }
lab_net6() { echo "2001:db8:$1:"; }

# lab_link A B [NET]: a veth pair between hosts A and B on documentation network NET (1..3),
# created inside the namespaces so that no name ever appears in the root namespace.
lab_link() {
	local a=$1 b=$2 net=${3:-1} h peer idx dev v4 v6
	lab_net4 "$net" >/dev/null || lab_die "lab_link: network $net not in 1..3"
	ip -n "$(lab_ns "$a")" link add "v$net-$b" type veth peer name "v$net-$a" \
		netns "$(lab_ns "$b")" || lab_die "veth $a<->$b"
	for h in "$a" "$b"; do
		[[ $h == "$a" ]] && peer=$b || peer=$a
		idx=$(lab_host_index "$h") || lab_die "unknown host $h"
		dev="v$net-$peer"
		v4="$(lab_net4 "$net").$idx"
		v6="$(lab_net6 "$net"):$idx"
		ip -n "$(lab_ns "$h")" addr add "$v4/24" dev "$dev" || lab_die "addr $v4 on $h"
		ip -n "$(lab_ns "$h")" addr add "$v6/64" dev "$dev" nodad || lab_die "addr $v6 on $h"
		ip -n "$(lab_ns "$h")" link set "$dev" up || lab_die "link up $dev on $h"
		[[ -n ${LAB_IP4[$h]:-} ]] || { LAB_IP4[$h]=$v4 LAB_IP6[$h]=$v6 LAB_DEV[$h]=$dev; }
	done
	# The link is ready when each side answers over both families (carrier, ARP/ND done).
	lab_ping "$a" "$(lab_net4 "$net").$(lab_host_index "$b")" 5 ||
		lab_die "link $a<->$b: no IPv4 ping"
	lab_ping "$a" "$(lab_net6 "$net"):$(lab_host_index "$b")" 5 ||
		lab_die "link $a<->$b: no IPv6 ping"
}

# lab_ping HOST DESTINATION [TRIES]: succeeds on the first echo reply, one second per try.
lab_ping() {
	local host=$1 dst=$2 tries=${3:-10} i
	for ((i = 0; i < tries; i++)); do
		lab_exec "$host" ping -n -q -c 1 -W 1 "$dst" >/dev/null 2>&1 && return 0
	done
	return 1
}

# ---------------------------------------------------------------------------------------------
# Processes: everything runs in the background with a log file and is killed by PID at cleanup.

# lab_bg HOST NAME COMMAND...: start COMMAND in HOST, log to log/NAME.log, PID in LAB_BG_PID.
# Must run in the main shell (not in $(...)) so that the PID is recorded and waitable.
lab_bg() {
	local host=$1 name=$2
	shift 2
	ip netns exec "$(lab_ns "$host")" "$@" >>"$LAB_DIR/log/$name.log" 2>&1 </dev/null &
	LAB_BG_PID=$!
	lab_track "$LAB_BG_PID"
}

# lab_reap PID [TIMEOUT]: waits for a process of ours and returns its exit status; kills it
# (status 124, like timeout(1)) if it outlives TIMEOUT seconds.
lab_reap() {
	local pid=$1 timeout=${2:-10} rc
	if ! lab_wait_dead "$timeout" "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
	else
		wait "$pid" 2>/dev/null
		rc=$?
	fi
	lab_untrack "$pid"
	return $rc
}

lab_sock() { printf '%s/%s.sock\n' "$LAB_WG_RUN_DIR" "$1"; }

# lab_ifname HOST: this run's engine interface name for HOST ("lr<pid>-<host>", <= 15 chars).
lab_ifname() { printf 'lr%s-%s\n' "$LAB_ID" "$1"; }

# lab_start_engine HOST IFNAME KIND [VAR=VALUE...]: runs `ENGINE -f IFNAME` in HOST with the
# given environment and waits for its UAPI socket and its TUN device.
lab_start_engine() {
	local host=$1 ifname=$2 kind=$3 bin pid log deadline
	shift 3
	((${#ifname} <= 15)) || lab_die "interface name '$ifname' longer than IFNAMSIZ-1"
	bin=$(lab_engine_bin "$kind") || lab_die "unknown engine kind '$kind'"
	log="$LAB_DIR/log/$host-$kind.log"
	LAB_IFACES+=("$ifname")
	printf -- '--- %s: %s -f %s %s\n' "$(date +%T.%N)" "$bin" "$ifname" "$*" >>"$log"
	# WG_PROCESS_FOREGROUND=1 only silences wireguard-go's "use the kernel module" banner;
	# -f is what keeps it in the foreground. LOG_LEVEL=verbose logs handshakes, not keys.
	env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose "$@" \
		ip netns exec "$(lab_ns "$host")" "$bin" -f "$ifname" >>"$log" 2>&1 </dev/null &
	pid=$!
	lab_track "$pid"
	LAB_BG_PID=$pid
	LAB_ENGINE_PID[$ifname]=$pid
	LAB_ENGINE_HOST[$ifname]=$host
	LAB_ENGINE_KIND[$ifname]=$kind
	deadline=$((SECONDS + 10))
	until [[ -S $(lab_sock "$ifname") ]] && ip -n "$(lab_ns "$host")" link show "$ifname" \
		>/dev/null 2>&1; do
		if ! lab_pid_alive "$pid"; then
			wait "$pid"
			lab_die "$kind on $host exited with status $? before creating $ifname;" \
				"log: $(tail -n 5 "$log" | tr '\n' ' ')"
		fi
		((SECONDS < deadline)) || lab_die "$kind on $host: no $(lab_sock "$ifname") after 10 s"
		sleep 0.05
	done
}

# lab_stop_engine IFNAME [TIMEOUT]: SIGTERM, then the engine's exit status (124 = had to kill).
lab_stop_engine() {
	local ifname=$1 pid
	pid=${LAB_ENGINE_PID[$ifname]:-}
	[[ -n $pid ]] || return 1
	kill -TERM "$pid" 2>/dev/null
	lab_reap "$pid" "${2:-10}"
	local rc=$?
	unset "LAB_ENGINE_PID[$ifname]"
	return $rc
}

# lab_engine_gone HOST IFNAME: the socket and the TUN device are both gone.
lab_engine_gone() {
	local left=()
	[[ -e $(lab_sock "$2") ]] && left+=("socket $(lab_sock "$2")")
	ip -n "$(lab_ns "$1")" link show "$2" >/dev/null 2>&1 && left+=("device $2")
	((${#left[@]} == 0)) && return 0
	echo "left behind: ${left[*]}"
	return 1
}

# ---------------------------------------------------------------------------------------------
# Keys: files of mode 0600 in the run directory; a key never appears in argv, output or a log.

lab_genkey() {
	local name=$1
	(umask 077 && wg genkey >"$LAB_DIR/keys/$name.key") || lab_die "wg genkey"
	wg pubkey <"$LAB_DIR/keys/$name.key" >"$LAB_DIR/keys/$name.pub" || lab_die "wg pubkey"
}

lab_keyfile() { printf '%s\n' "$LAB_DIR/keys/$1.key"; }
lab_pubkey() { cat "$LAB_DIR/keys/$1.pub"; }

# lab_peer_field HOST IFNAME PUBKEY FIELD: one field of the peer's line in `wg show IF dump`
# (endpoint, handshake, rx, tx). The dump's first line holds the private key: never print it.
lab_peer_field() {
	local col
	case $4 in
	endpoint) col=3 ;;
	handshake) col=5 ;;
	rx) col=6 ;;
	tx) col=7 ;;
	*) return 1 ;;
	esac
	lab_wg "$1" show "$2" dump 2>/dev/null |
		awk -F '\t' -v pub="$3" -v col="$col" 'NR > 1 && $1 == pub { print $col; found = 1 }
			END { exit !found }'
}

# ---------------------------------------------------------------------------------------------
# Tunnel set-up shared by the scenarios and the demo: hosts "a" and "b" on link 1, engine
# interfaces LAB_IF_A / LAB_IF_B, inner addresses 10.66.0.1|2 and fd00:66::1|2.

LAB_PORT_A=51820
LAB_PORT_B=51821
LAB_IN4_A=10.66.0.1
LAB_IN4_B=10.66.0.2
LAB_IN6_A=fd00:66::1
LAB_IN6_B=fd00:66::2

lab_pair_create() {
	lab_host a
	lab_host b
	lab_link a b
	LAB_IF_A=$(lab_ifname a)
	LAB_IF_B=$(lab_ifname b)
	lab_genkey a
	lab_genkey b
	lab_genkey psk   # a private key's format is a valid preshared key
}

# lab_endpoint HOST FAMILY PORT: "ip:port" or "[ip6]:port" of HOST's current outer address.
lab_endpoint() {
	if [[ $2 == 6 ]]; then
		printf '[%s]:%s\n' "${LAB_IP6[$1]}" "$3"
	else
		printf '%s:%s\n' "${LAB_IP4[$1]}" "$3"
	fi
}

# lab_configure_setconf HOST IFNAME KEYNAME PORT PEERKEY ALLOWED [ENDPOINT]: whole config
# through `wg setconf` (UAPI set with replace_peers); the file holding the key is 0600. With
# LAB_PSK set, the peer also gets the preshared key in keys/$LAB_PSK.key.
lab_configure_setconf() {
	local host=$1 ifname=$2 key=$3 port=$4 peer=$5 allowed=$6 endpoint=${7:-} conf
	conf="$LAB_DIR/keys/$ifname.conf"
	(
		umask 077
		printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n\n' \
			"$(cat "$(lab_keyfile "$key")")" "$port"
		printf '[Peer]\nPublicKey = %s\nAllowedIPs = %s\n' "$(lab_pubkey "$peer")" "$allowed"
		[[ -z $endpoint ]] || printf 'Endpoint = %s\n' "$endpoint"
		[[ -z ${LAB_PSK:-} ]] || printf 'PresharedKey = %s\n' "$(cat "$(lab_keyfile "$LAB_PSK")")"
	) >"$conf"
	lab_wg "$host" setconf "$ifname" "$conf"
}

# lab_configure_set: the same configuration through `wg set` (keys read from the 0600 files).
lab_configure_set() {
	local host=$1 ifname=$2 key=$3 port=$4 peer=$5 allowed=$6 endpoint=${7:-} psk=""
	[[ -z ${LAB_PSK:-} ]] || psk=$(lab_keyfile "$LAB_PSK")
	lab_wg "$host" set "$ifname" listen-port "$port" private-key "$(lab_keyfile "$key")" \
		peer "$(lab_pubkey "$peer")" allowed-ips "$allowed" ${endpoint:+endpoint "$endpoint"} \
		${psk:+preshared-key "$psk"}
}

# lab_check_no_secret_in_logs: no private or preshared key of this run, in base64 or in the
# UAPI's hex, appears in any log. Prints only file names, never a key.
lab_check_no_secret_in_logs() {
	local keyfile patterns="$LAB_DIR/keys/patterns" hits
	(
		umask 077
		for keyfile in "$LAB_DIR"/keys/*.key; do
			cat "$keyfile"
			base64 -d <"$keyfile" | od -An -tx1 | tr -d ' \n'
			echo
		done
	) >"$patterns"
	# Patterns from a file, so that no key shows up in a command line either.
	hits=$(grep -rlF -f "$patterns" "$LAB_DIR/log" | sed 's|.*/||' | sort -u | xargs)
	rm -f "$patterns"
	if [[ -z $hits ]]; then
		lab_pass "no private or preshared key in any log of this run"
	else
		lab_fail "no private or preshared key in any log of this run" "a key appears in: $hits"
	fi
}

# lab_tunnel_up HOST IFNAME N: inner addresses 10.66.0.N/24 and fd00:66::N/64, MTU 1420 (what
# wg-quick picks for a 1500-byte path: 1500 - 80 bytes of worst-case IPv6+UDP+WireGuard).
lab_tunnel_up() {
	local ns
	ns=$(lab_ns "$1")
	ip -n "$ns" addr add "10.66.0.$3/24" dev "$2" || return 1
	ip -n "$ns" addr add "fd00:66::$3/64" dev "$2" nodad || return 1
	ip -n "$ns" link set "$2" mtu 1420 up
}

# lab_pair_start KIND_A KIND_B ENDPOINTS CONF_A [VAR=VALUE...]: starts both engines, configures
# them through `wg` and brings the tunnel up. ENDPOINTS: "ab" both know the other's endpoint,
# "a" only A knows B's (so only A can initiate), "b" only B knows A's. CONF_A: "setconf" or
# "set" for A; B gets the other, so both UAPI paths run on each side over a scenario.
lab_pair_start() {
	local kind_a=$1 kind_b=$2 eps=$3 conf_a=$4 conf_b ep_a="" ep_b=""
	shift 4
	[[ $conf_a == setconf ]] && conf_b="set" || conf_b="setconf"
	[[ $eps == *a* ]] && ep_a=$(lab_endpoint b 4 "$LAB_PORT_B")
	[[ $eps == *b* ]] && ep_b=$(lab_endpoint a 4 "$LAB_PORT_A")
	lab_start_engine a "$LAB_IF_A" "$kind_a" "$@"
	lab_start_engine b "$LAB_IF_B" "$kind_b" "$@"
	"lab_configure_$conf_a" a "$LAB_IF_A" a "$LAB_PORT_A" b "$LAB_IN4_B/32,$LAB_IN6_B/128" \
		"$ep_a" || lab_die "wg $conf_a on a ($kind_a)"
	"lab_configure_$conf_b" b "$LAB_IF_B" b "$LAB_PORT_B" a "$LAB_IN4_A/32,$LAB_IN6_A/128" \
		"$ep_b" || lab_die "wg $conf_b on b ($kind_b)"
	lab_tunnel_up a "$LAB_IF_A" 1 || lab_die "tunnel addresses on a"
	lab_tunnel_up b "$LAB_IF_B" 2 || lab_die "tunnel addresses on b"
}

# lab_pair_stop: stops both engines; LAB_STOP_STATUS="A-status B-status" (0 = clean exit).
lab_pair_stop() {
	local ra rb
	lab_stop_engine "$LAB_IF_A"
	ra=$?
	lab_stop_engine "$LAB_IF_B"
	rb=$?
	LAB_STOP_STATUS="$ra $rb"
}
