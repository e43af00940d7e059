#!/bin/bash
# down.sh: power the guest off (asked through the share, then SIGTERM and
# SIGKILL of this work dir's QEMU only) and delete the host netns. What was
# built and the last run's $IOP_OUT stay.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if pid=$(qemu_pid); then
  touch "$IOP_CMD/poweroff"
  for signal in none TERM KILL; do
    [ $signal = none ] || kill -$signal "$pid" 2> /dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2> /dev/null || break 2; sleep 0.1; done
  done
fi
rm -f "$IOP_PID" "$IOP_CMD/poweroff" "$IOP_OUT/READY"
ip netns del "$IOP_NS" 2> /dev/null
exit 0
