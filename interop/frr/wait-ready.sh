#!/bin/bash
# wait-ready.sh [SECONDS]: wait (default 300 s) for the scenario started by
# up.sh. 0 = ready; 1 = it failed, the guest died or time ran out (the tails
# of the console and the scenario log go to stderr).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
limit=${1:-300}
tails() {
  echo "--- console.log"; tail -n 20 "$IOP_OUT/console.log"
  echo "--- scenario.log"; tail -n 30 "$IOP_OUT/scenario.log"
} 2> /dev/null
while :; do
  [ -f "$IOP_OUT/READY" ] && { echo "interop: ready after ${SECONDS}s: $(cat "$IOP_OUT/READY")"; exit 0; }
  [ -f "$IOP_OUT/FAILED" ] && { echo "interop: $(cat "$IOP_OUT/FAILED")" >&2; tails >&2; exit 1; }
  qemu_pid > /dev/null || { echo "interop: the guest is not running" >&2; tails >&2; exit 1; }
  [ $SECONDS -lt "$limit" ] || { echo "interop: not ready after $limit s" >&2; tails >&2; exit 1; }
  sleep 0.2
done
