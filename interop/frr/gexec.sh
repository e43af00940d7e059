#!/bin/bash
# gexec.sh 'COMMAND LINE': run it with bash in the guest, as root, and print
# its output (stdout and stderr together); the exit status is the command's,
# or 124 after GEXEC_TIMEOUT seconds (default 120), 125 if the guest is down.
#   gexec.sh 'ip netns exec hub vtysh -N hub -c "show ip nhrp cache"'
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -gt 0 ] || fail "usage: gexec.sh 'COMMAND'"
qemu_pid > /dev/null || { echo "gexec: the guest is not running" >&2; exit 125; }
id=$$.$RANDOM
printf '%s\n' "$*" > "$IOP_CMD/$id.tmp" && mv "$IOP_CMD/$id.tmp" "$IOP_CMD/$id.req" || exit 125
status=124
deadline=$((SECONDS + ${GEXEC_TIMEOUT:-120}))
while [ $SECONDS -lt $deadline ]; do
  if [ -e "$IOP_CMD/$id.status" ]; then status=$(cat "$IOP_CMD/$id.status"); break; fi
  qemu_pid > /dev/null || { echo "gexec: the guest stopped" >&2; status=125; break; }
  sleep 0.05
done
cat "$IOP_CMD/$id.out" 2> /dev/null
rm -f "$IOP_CMD/$id".*
exit "$status"
