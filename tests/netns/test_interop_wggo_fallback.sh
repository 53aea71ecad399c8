#!/usr/bin/env bash
# lanraged <-> wireguard-go on the fallback paths: one worker, no TUN or UDP offloads (plain
# packets, no GSO/GRO), single-shot reads instead of multishot, task work without deferral.
# Same checks as test_interop_wggo.sh, whose topology drawing applies.
export LR_WORKERS=1 LR_NO_OFFLOAD=1 LR_NO_MULTISHOT=1 LR_NO_DEFER_TASKRUN=1
exec bash "$(dirname "${BASH_SOURCE[0]}")/test_interop_wggo.sh" "$@"
