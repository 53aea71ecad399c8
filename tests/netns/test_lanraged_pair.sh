#!/usr/bin/env bash
# lanraged <-> lanraged: two engines of ours, both configured only through `wg`.
#
#   +---------------- ns lr-PID-a ----------------+          +---------------- ns lr-PID-b ----------------+
#   |  lrPID-a: lanraged     UDP 51820            |          |  lrPID-b: lanraged      UDP 51821            |
#   |    10.66.0.1/24  fd00:66::1/64              |          |    10.66.0.2/24  fd00:66::2/64              |
#   |        :                                    |          |        :                                    |
#   |  v1-b 192.0.2.1/24  2001:db8:1::1/64 =======|== veth ==|======= v1-a 192.0.2.2/24  2001:db8:1::2/64  |
#   |       (roams to 192.0.2.11)                 |          |       (roams to 192.0.2.12)                 |
#   +---------------------------------------------+          +---------------------------------------------+
#
# The same checks as test_interop_wggo.sh (scenario_basic.sh), with lanraged on both sides, so
# that both the initiator and the responder code paths of lanraged meet each other.
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/scenario_basic.sh"

lab_init
scenario_basic lanraged lanraged
lab_summary
