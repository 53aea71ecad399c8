#!/usr/bin/env bash
# lanraged under hostile input: garbage, bad macs, unknown keys, replays, forged tags, handshake
# floods and malformed UAPI requests must be dropped and counted by cause, never crash the
# engine, never cost an established session, and never keep a legitimate peer out.
#
#                              +-------------- ns lr-PID-b -----------------+
#                              | lrPID-b: wireguard-go  UDP 51821           |
#                   link 1     |   10.66.0.2  (legitimate peer B)           |
#                 +============| v1-a 192.0.2.2                             |
#                 |            |   lr_wgtool connect as peer P (in floods)  |
#                 |            +--------------------------------------------+
#  +------ ns lr-PID-a -------+
#  | lrPID-a: lanraged        |  +-------------- ns lr-PID-c -----------------+
#  |   UDP 51820              |  | attacker: lr_wgtool garbage, empty,        |
#  |   10.66.0.1/24           |  |   initiate-unknown, bad-mac1, flood;       |
#  |   peers: B 10.66.0.2     |  |   replay (as peer P, 10.66.0.3, which       |
#  |          P 10.66.0.3     |  |   then attacks its own session)            |
#  |          D 10.66.0.4     |  | v2-a 198.51.100.3                          |
#  | v1-b 192.0.2.1           |  +--------------------------------------------+
#  | v2-c 198.51.100.1 =======|==== link 2
#  | v3-d 203.0.113.1 ========|==== link 3
#  +--------------------------+  +-------------- ns lr-PID-d -----------------+
#                                | lrPID-d: wireguard-go  UDP 51823           |
#                                |   10.66.0.4  (legitimate peer D: connects  |
#                                |   for the first time during a flood)       |
#                                | v3-a 203.0.113.4                           |
#                                +--------------------------------------------+
#
# Each attack is followed by the same checks: lanraged still runs, A pings B through the tunnel,
# the latest handshake with B is unchanged on both sides (the session survived, no new
# handshake was needed), and the drop counters of get=lanrage-stats moved by exactly what the
# tool predicts from the protocol for every cause it sent. The floods check that lanraged
# answers with cookie replies and that D and P still get in while the flood runs.
# LANRAGED and LR_WGTOOL pick the binaries (ctest sets LANRAGED and LR_BUILD_DIR).
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB_LABEL="bad input"
FLOOD_SECONDS=25  # long enough for wireguard-go's 5 s retransmission after a cookie reply
IN4_P=10.66.0.3
IN4_D=10.66.0.4
PORT_D=51823

lab_init
lab_require_engine lanraged wireguard-go
lab_require_cmds python3 od base64 cmp

wgtool_bin() {
	local dir=${LR_BUILD_DIR:-build}
	[[ $dir == /* ]] || dir="$LAB_REPO_DIR/$dir"
	printf '%s\n' "${LR_WGTOOL:-$dir/lr_wgtool}"
}
WGTOOL=$(wgtool_bin)
[[ -x $WGTOOL ]] || lab_skip "lr_wgtool '$WGTOOL' not built (make lr_wgtool, or set LR_WGTOOL)"

# ---------------------------------------------------------------------------------------------
# UAPI access beyond `wg`: one request per connection, the reply up to its "errno=N" line.

UAPI_PY='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().replace(b"\\n", b"\n"))
buf = b""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    buf += d
    i = buf.rfind(b"errno=")
    if i >= 0 and buf.endswith(b"\n\n") and b"\n" not in buf[i:-2]:
        break
sys.stdout.write(buf.decode(errors="replace"))
'

# uapi_raw IFNAME REQUEST: REQUEST with "\n" escapes; prints the reply.
uapi_raw() {
	python3 -c "$UAPI_PY" "$(lab_sock "$1")" "$2"
}

uapi_errno() {
	awk -F= '$1 == "errno" { e = $2 } END { print (e == "" ? "none" : e) }'
}

# stats_take NAME: saves get=lanrage-stats of A as data/stats.NAME; fails without errno=0.
stats_take() {
	local f="$LAB_DIR/data/stats.$1"
	uapi_raw "$LAB_IF_A" 'get=lanrage-stats\n\n' >"$f" 2>&1
	[[ $(uapi_errno <"$f") == 0 ]] && grep -q '^drop_' "$f"
}

stat_of() {
	awk -F= -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? "missing" : v) }' \
		"$LAB_DIR/data/stats.$1"
}

# stat_delta FROM TO KEY
stat_delta() {
	local a b
	a=$(stat_of "$1" "$3")
	b=$(stat_of "$2" "$3")
	[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || { echo "missing"; return 1; }
	echo $((b - a))
}

# udp_rcvbuf_errors HOST: datagrams the host's kernel dropped for a full socket buffer, which no
# engine counter can see (context for a counter that falls short).
udp_rcvbuf_errors() {
	lab_exec "$1" awk '$1 == "Udp:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 }
		else print $col["RcvbufErrors"] }' /proc/net/snmp
}

# tool_val OUTFILE KEY: a key=value line of lr_wgtool's output.
tool_val() {
	awk -F= -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? "missing" : v) }' "$1"
}

# ---------------------------------------------------------------------------------------------
# The invariants every attack must leave intact.

A_PID=""
HS_A0=""  # A's latest handshake with B once the session is up
HS_B0=""  # B's latest handshake with A

check_alive() {
	if lab_pid_alive "$A_PID"; then
		lab_pass "lanraged still running after $1"
	else
		wait "$A_PID" 2>/dev/null
		lab_fail "lanraged still running after $1" "lanraged exited with status $?" \
			"$(tail -n 5 "$LAB_DIR/log/a-lanraged.log" | tr '\n' ' ')"
		lab_summary
		exit 1
	fi
}

check_session_kept() {
	local what=$1 hs_a hs_b
	lab_check "A pings B through the tunnel after $what" lab_ping a "$LAB_IN4_B" 3
	hs_a=$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" handshake)
	hs_b=$(lab_peer_field b "$LAB_IF_B" "$(lab_pubkey a)" handshake)
	if [[ $hs_a == "$HS_A0" && $hs_b == "$HS_B0" ]]; then
		lab_pass "A<->B session survived $what without a new handshake"
	else
		lab_fail "A<->B session survived $what without a new handshake" \
			"latest handshake on A: $HS_A0 -> $hs_a, on B: $HS_B0 -> $hs_b"
	fi
}

# wait_expected BEFORE OUTFILE: takes stats "after" until every expect_X of the tool is reached
# (handshake messages are counted by the control thread, after the tool has returned), then
# once more a moment later so that an over-count shows too.
wait_expected() {
	local before=$1 out=$2 deadline=$((SECONDS + 5)) key want got short
	while :; do
		stats_take after || return 1
		short=0
		while IFS='=' read -r key want; do
			# A missing counter is reported by check_counters, not waited for.
			got=$(stat_delta "$before" after "drop_${key#expect_}") || continue
			((got < want)) && short=1
		done < <(grep '^expect_' "$out")
		((short == 0 || SECONDS >= deadline)) && break
		sleep 0.2
	done
	sleep 0.3
	stats_take after
}

# check_counters WHAT BEFORE OUTFILE: every cause the tool predicts moved by exactly that much.
check_counters() {
	local what=$1 before=$2 out=$3 key want got rcvbuf
	if ! wait_expected "$before" "$out"; then
		lab_fail "$what: get=lanrage-stats readable" "$(head -c 300 "$LAB_DIR/data/stats.after")"
		return
	fi
	while IFS='=' read -r key want; do
		key=drop_${key#expect_}
		got=$(stat_delta "$before" after "$key")
		if [[ $got == "$want" ]]; then
			lab_pass "$what: $key +$got as predicted"
		else
			rcvbuf=$(($(udp_rcvbuf_errors a) - ${RCVBUF_BEFORE:-0}))
			lab_fail "$what: $key +$want" "counter moved by '$got', expected exactly $want" \
				"(A's kernel dropped $rcvbuf UDP datagrams for a full socket buffer meanwhile)"
		fi
	done < <(grep '^expect_' "$out")
}

# tool_check OUTFILE KEY WANT DESC
tool_check() {
	local got
	got=$(tool_val "$1" "$2")
	if [[ $got == "$3" ]]; then
		lab_pass "$4"
	else
		lab_fail "$4" "lr_wgtool reported $2=$got, expected $3"
	fi
}

# attack NAME DESC SUBCOMMAND ARGS...: runs lr_wgtool on the attacker host C, then the checks.
attack() {
	local name=$1 desc=$2 out="$LAB_DIR/log/wgtool-$1.out" rc key
	shift 2
	stats_take "before-$name" || lab_die "get=lanrage-stats on A: $(head -c 200 \
		"$LAB_DIR/data/stats.before-$name")"
	RCVBUF_BEFORE=$(udp_rcvbuf_errors a)
	lab_exec c "$WGTOOL" "$@" >"$out" 2>&1
	rc=$?
	if ((rc != 0)); then
		lab_fail "$desc: lr_wgtool $1 ran" "exit $rc: $(tail -n 3 "$out" | tr '\n' ' ')"
		return 1
	fi
	check_alive "$desc"
	check_counters "$desc" "before-$name" "$out"
	for key in replies_cookie replies_response replies_other; do
		[[ $(tool_val "$out" "$key") == missing ]] && continue
		tool_check "$out" "$key" 0 "$desc: lanraged sent nothing back ($key)"
	done
}

# ---------------------------------------------------------------------------------------------
# Set-up: A (lanraged) and B (wireguard-go) as in the interop test, plus C and D on their own
# links to A, and peers P (lr_wgtool's key) and D configured on A.

lab_pair_create
lab_host c
lab_host d
lab_link a c 2
lab_link a d 3
IF_D=$(lab_ifname d)
A_ON_C="$(lab_net4 2).1"
A_ON_D="$(lab_net4 3).1"
A_ON_B="$(lab_net4 1).1"
lab_genkey p
lab_genkey d
lab_pair_start lanraged wireguard-go ab setconf
A_PID=${LAB_ENGINE_PID[$LAB_IF_A]}
lab_wg a set "$LAB_IF_A" peer "$(lab_pubkey p)" allowed-ips "$IN4_P/32" \
	peer "$(lab_pubkey d)" allowed-ips "$IN4_D/32" || lab_die "wg set peers P and D on A"
PUB_A=$(lab_pubkey a)

lab_check "A pings B through the tunnel (session established)" lab_ping a "$LAB_IN4_B" 10 ||
	lab_die "no A<->B session to attack"
HS_A0=$(lab_peer_field a "$LAB_IF_A" "$(lab_pubkey b)" handshake)
HS_B0=$(lab_peer_field b "$LAB_IF_B" "$(lab_pubkey a)" handshake)
[[ ${HS_A0:-0} -gt 0 && ${HS_B0:-0} -gt 0 ]] || lab_die "no latest handshake: A '$HS_A0' B '$HS_B0'"
stats_take start || lab_die "get=lanrage-stats on A: $(head -c 200 "$LAB_DIR/data/stats.start")"
# The readout lists every cause of the X-macro in dataplane/stats.h, and the two totals.
missing=()
for key in $(sed -n 's/^[[:space:]]*X(\([a-z0-9_]*\),.*/drop_\1/p' "$LAB_REPO_DIR/dataplane/stats.h") \
	handshakes_completed cookies_sent; do
	[[ $(stat_of start "$key") =~ ^[0-9]+$ ]] || missing+=("$key")
done
if ((${#missing[@]} == 0)); then
	lab_pass "get=lanrage-stats reports every drop cause of stats.h and both totals"
else
	lab_fail "get=lanrage-stats reports every drop cause of stats.h and both totals" \
		"missing: ${missing[*]}"
fi

# ---------------------------------------------------------------------------------------------
# Stateless attacks from C.

attack garbage "garbage datagrams" garbage "$A_ON_C" "$LAB_PORT_A" 1000
check_session_kept "garbage datagrams"
attack empty "zero-length datagrams" empty "$A_ON_C" "$LAB_PORT_A" 50
attack unknown "initiations from unknown keys" initiate-unknown "$A_ON_C" "$LAB_PORT_A" "$PUB_A" 200
attack badmac1 "handshakes with a wrong mac1" bad-mac1 "$A_ON_C" "$LAB_PORT_A" "$PUB_A" 200
check_session_kept "bad handshakes"

# ---------------------------------------------------------------------------------------------
# Attacks from inside a session: lr_wgtool becomes peer P, then replays and forges.

out="$LAB_DIR/log/wgtool-replay.out"
attack replay "attacks from inside P's session" replay "$A_ON_C" "$LAB_PORT_A" \
	"$PUB_A" "$(lab_keyfile p)" "$IN4_P" "$LAB_IN4_A" "$LAB_IN4_B" 40
tool_check "$out" handshake ok "lr_wgtool completes a handshake with lanraged as peer P"
tool_check "$out" echo_replies 40 "P's 40 genuine pings are answered"
tool_check "$out" replies_to_replays 0 "replayed pings are not answered"
tool_check "$out" echo_after_bad_tags ok "forged tags under far-ahead counters do not move the window"
tool_check "$out" echo_after_jump ok "a genuine counter 10000 ahead is accepted"
tool_check "$out" replies_to_too_old 0 "a counter fallen out of the window is refused"
tool_check "$out" replies_to_exhausted 0 "a counter at REJECT_AFTER_MESSAGES is refused"
tool_check "$out" responses_to_replayed_initiation 0 "P's replayed initiation is not answered"
tool_check "$out" echo_at_end ok "P's session still works after the attacks on it"
check_session_kept "the in-session attacks"

# ---------------------------------------------------------------------------------------------
# Malformed UAPI set requests: each refused with a non-zero errno, nothing applied.

hex_of() { base64 -d <<<"$1" | od -An -v -tx1 | tr -d ' \n'; }

uapi_phase() {
	local before="$LAB_DIR/keys/showconf.before" after="$LAB_DIR/keys/showconf.after"
	local hex_b hex_new req desc e long
	hex_b=$(hex_of "$(lab_pubkey b)")
	lab_genkey x
	hex_new=$(hex_of "$(lab_pubkey x)")
	long=$(head -c 5000 /dev/zero | tr '\0' a)
	# showconf holds A's private key: it stays in the 0600 keys directory.
	(umask 077 && lab_wg a showconf "$LAB_IF_A" >"$before") || lab_die "wg showconf on A"
	while IFS='|' read -r desc req; do
		e=$(uapi_raw "$LAB_IF_A" "set=1\\n${req}\\n\\n" | uapi_errno)
		if [[ $e =~ ^-?[0-9]+$ && $e != 0 ]]; then
			lab_pass "UAPI refuses $desc (errno=$e)"
		else
			lab_fail "UAPI refuses $desc" "request: set=1 / $req; reply errno: $e"
		fi
	done <<EOF
a private key that is not hex|private_key=$(printf 'g%.0s' {1..64})
a public key of 2 bytes|public_key=abcd
an unknown key|no_such_key=1
allowed_ip before any public_key|allowed_ip=10.9.0.0/16
listen_port=70000|listen_port=70000
a line without '='|listen_port
a /33 prefix after valid lines (all or nothing)|listen_port=40000\\nreplace_peers=true\\npublic_key=$hex_new\\nallowed_ip=10.9.0.0/33
an endpoint that is no address|public_key=$hex_b\\nendpoint=999.1.1.1:1
persistent_keepalive_interval=70000|public_key=$hex_b\\npersistent_keepalive_interval=70000
remove=yes (only 'true' is a boolean)|public_key=$hex_b\\nremove=yes
a 5000-byte line|private_key=$long
EOF
	e=$(uapi_raw "$LAB_IF_A" 'get=1\n\n' | uapi_errno)
	lab_check "UAPI still answers get=1 after the malformed requests (errno=$e)" test "$e" = 0
	(umask 077 && lab_wg a showconf "$LAB_IF_A" >"$after") || lab_die "wg showconf on A"
	if cmp -s "$before" "$after"; then
		lab_pass "wg showconf is byte-identical before and after the malformed requests"
	else
		lab_fail "wg showconf is byte-identical before and after the malformed requests" \
			"changed lines (keys masked): $(diff "$before" "$after" | grep '^[<>]' |
				sed 's/Key = .*/Key = (masked)/' | head -n 6 | tr '\n' ' ')"
	fi
	check_alive "malformed UAPI requests"
}
uapi_phase

# ---------------------------------------------------------------------------------------------
# Floods of initiations from C; legitimate peers must still get in while they run.

# d_session_start: (re)configures D's peer A from scratch, so D's next packet needs a handshake.
d_session_start() {
	lab_wg d set "$IF_D" peer "$PUB_A" remove 2>/dev/null
	lab_wg d set "$IF_D" listen-port "$PORT_D" private-key "$(lab_keyfile d)" \
		peer "$PUB_A" allowed-ips "$LAB_IN4_A/32" endpoint "$A_ON_D:$LAB_PORT_A"
}

# flood_phase NAME DESC [honour]
flood_phase() {
	local name=$1 desc=$2 mode=${3:-} out="$LAB_DIR/log/wgtool-$1.out" flood_pid p_pid t0 rc
	local p_out="$LAB_DIR/log/wgtool-$1-connect.out" d_ok=0 d_secs flood_alive
	stats_take "before-$name" || lab_die "get=lanrage-stats before $desc"
	lab_bg c "wgtool-$name" "$WGTOOL" flood "$A_ON_C" "$LAB_PORT_A" "$PUB_A" "$FLOOD_SECONDS" \
		${mode:+"$mode"}
	flood_pid=$LAB_BG_PID
	sleep 2
	stats_take "mid-$name" || lab_die "get=lanrage-stats during $desc"
	t0=$SECONDS
	# P connects from B's host with lr_wgtool, which resends at once on a cookie reply.
	lab_exec b "$WGTOOL" connect "$A_ON_B" "$LAB_PORT_A" "$PUB_A" "$(lab_keyfile p)" "$IN4_P" \
		"$LAB_IN4_A" 15 >"$p_out" 2>&1 &
	p_pid=$!
	lab_track "$p_pid"
	# D is wireguard-go: it retries 5 s after a cookie reply, with mac2. 20 s gives it four
	# tries (on the 2-core CI machine the flooder takes a whole core, and a try whose
	# initiation is lost to the full queue costs 5 s) and still ends 3 s before the flood
	# does; the check below insists the flood was still running.
	d_session_start || lab_die "wg set on D"
	lab_ping d "$LAB_IN4_A" 20 && d_ok=1
	d_secs=$((SECONDS - t0))
	lab_pid_alive "$flood_pid" && flood_alive=1 || flood_alive=0
	if ((d_ok && flood_alive)); then
		lab_pass "$desc: wireguard-go peer D connects during the flood ($d_secs s)"
	else
		lab_fail "$desc: wireguard-go peer D connects during the flood" \
			"ping D -> A: $( ((d_ok)) && echo ok || echo failed) after $d_secs s;" \
			"flood still running then: $flood_alive"
	fi
	lab_check "$desc: A pings B during the flood" lab_ping a "$LAB_IN4_B" 3
	lab_reap "$p_pid" 20
	rc=$?
	lab_pid_alive "$flood_pid" && flood_alive=1 || flood_alive=0
	if ((rc == 0 && flood_alive)); then
		lab_pass "$desc: peer P (lr_wgtool) connects during the flood" \
			"($(tool_val "$p_out" handshake_ms) ms, $(tool_val "$p_out" cookie_replies) cookie replies)"
	else
		lab_fail "$desc: peer P (lr_wgtool) connects during the flood" \
			"connect exit $rc, flood still running: $flood_alive;" \
			"$(tr '\n' ' ' <"$p_out" | head -c 300)"
	fi
	lab_reap "$flood_pid" $((FLOOD_SECONDS + 10))
	rc=$?
	cp "$LAB_DIR/log/wgtool-$name.log" "$out"
	lab_check "$desc: lr_wgtool flood ran (exit $rc)" test "$rc" = 0
	lab_log "$desc: $(tr '\n' ' ' <"$out")"
	check_alive "$desc"
	stats_take "after-$name" || lab_die "get=lanrage-stats after $desc"
	flood_check_cookies "$name" "$desc" "$out"
	[[ -z $mode ]] || flood_check_ratelimited "$name" "$desc" "$out"
	check_session_kept "$desc"
}

# An attacker that honours cookies proves its address, and is then held to a per-source rate.
flood_check_ratelimited() {
	local name=$1 desc=$2 out=$3 limited honoured
	limited=$(stat_delta "before-$name" "after-$name" drop_handshake_ratelimited)
	honoured=$(tool_val "$out" honoured)
	if [[ $limited =~ ^[0-9]+$ && $honoured =~ ^[0-9]+$ ]] && ((honoured > 0 && limited > 0)); then
		lab_pass "$desc: initiations with a valid mac2 beyond the source's rate are dropped" \
			"(drop_handshake_ratelimited +$limited)"
	else
		lab_fail "$desc: initiations with a valid mac2 beyond the source's rate are dropped" \
			"the flooder re-MACed $honoured messages with its cookie;" \
			"drop_handshake_ratelimited +$limited"
	fi
}

flood_check_cookies() {
	local name=$1 desc=$2 out=$3 sent valid req key
	sent=$(stat_delta "before-$name" "after-$name" cookies_sent)
	req=$(stat_delta "before-$name" "after-$name" drop_cookie_required)
	valid=$(tool_val "$out" cookie_valid)
	for key in drop_handshake_queue_full drop_handshake_ratelimited drop_unknown_peer \
		handshakes_completed; do
		lab_log "$desc: $key +$(stat_delta "before-$name" "after-$name" "$key")"
	done
	if [[ $sent =~ ^[0-9]+$ && $req =~ ^[0-9]+$ ]] && ((sent > 0 && req > 0)); then
		lab_pass "$desc: lanraged answers with cookie replies (cookies_sent +$sent)"
	else
		lab_fail "$desc: lanraged answers with cookie replies" \
			"cookies_sent +$sent, drop_cookie_required +$req"
	fi
	if [[ $valid =~ ^[0-9]+$ ]] && ((valid > 0)); then
		lab_pass "$desc: the flooder authenticated $valid cookie replies"
	else
		lab_fail "$desc: the flooder authenticated cookie replies" \
			"cookie_replies=$(tool_val "$out" cookie_replies) cookie_valid=$valid"
	fi
}

lab_start_engine d "$IF_D" wireguard-go
lab_tunnel_up d "$IF_D" 4 || lab_die "tunnel address on D"
flood_phase flood "initiation flood"
# The same flood from an attacker that honours cookie replies: its initiations then carry a
# valid mac2 and each costs the responder two X25519 operations; the kernel (ratelimiter.c)
# and wireguard-go (ratelimiter.go) limit those per source address so that one host cannot
# starve the handshake queue.
flood_phase flood-honour "cookie-honouring initiation flood" honour

lab_summary
