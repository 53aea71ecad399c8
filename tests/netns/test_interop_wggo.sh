#!/usr/bin/env bash
# lanraged <-> wireguard-go: the standard userspace peer, both configured only through `wg`.
#
#   +---------------- ns lr-PID-a ----------------+          +---------------- ns lr-PID-b ----------------+
#   |  lrPID-a: lanraged     UDP 51820            |          |  lrPID-b: wireguard-go  UDP 51821            |
#   |    10.66.0.1/24  fd00:66::1/64              |          |    10.66.0.2/24  fd00:66::2/64              |
#   |        :                                    |          |        :                                    |
#   |  v1-b 192.0.2.1/24  2001:db8:1::1/64 =======|== veth ==|======= v1-a 192.0.2.2/24  2001:db8:1::2/64  |
#   |       (roams to 192.0.2.11)                 |          |       (roams to 192.0.2.12)                 |
#   +---------------------------------------------+          +---------------------------------------------+
#
# Checks (scenario_basic.sh): handshake initiated by A, then after a restart by B; inner IPv4 and
# IPv6 pings both ways; 100 MB TCP each way with SHA-256 and `wg show dump` counters; roaming of
# B then A; an IPv6 outer endpoint; clean exit on SIGTERM; rekeying with LR_TEST_TIMER_DIVISOR=20.
# LANRAGED picks the engine binary (ctest sets it); LR_INTEROP_A=wireguard-go runs the same
# scenario with wireguard-go on both sides to validate the lab (its rekey check then fails:
# wireguard-go ignores the divisor).
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenario_basic.sh"

lab_init
scenario_basic "${LR_INTEROP_A:-lanraged}" wireguard-go
lab_summary
