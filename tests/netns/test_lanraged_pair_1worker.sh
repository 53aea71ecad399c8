#!/usr/bin/env bash
# lanraged <-> lanraged with one worker each (offloads on); test_lanraged_pair.sh runs the
# default of one worker per CPU. Same checks and topology as that script.
export LR_WORKERS=1
exec bash "$(dirname "${BASH_SOURCE[0]}")/test_lanraged_pair.sh" "$@"
