# Shared settings of the FRR interop harness; sourced by the other scripts.
# Nothing is ever written below interop/frr/: every artefact lives in $IOP_WORK,
# so the scripts also run from a read-only checkout.
IOP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IOP_WORK=$(realpath -m "${DMVPN_INTEROP_DIR:-/var/tmp/dmvpn-interop}")
# Downloaded .debs (QEMU, kernel) and debootstrap's package cache. Point several
# work dirs (or CI runs) at one directory to download each package only once.
IOP_DEBS=$(realpath -m "${DMVPN_INTEROP_DEBS:-$IOP_WORK/debs}")
# Host netns that owns tap0 and the underlay bridge the guest is plugged into.
IOP_NS=${DMVPN_INTEROP_NETNS:-frrhost}
IOP_SHARE=$IOP_WORK/share          # 9p export, mounted at /mnt/share in the guest
IOP_OUT=$IOP_SHARE/out             # logs, captures, READY / FAILED
IOP_CMD=$IOP_SHARE/cmd             # request/answer files for gexec.sh
IOP_QEMU=$IOP_WORK/qemu/usr/bin/qemu-system-x86_64
IOP_PID=$IOP_WORK/qemu.pid
IOP_SCENARIOS="frr-hub frr-hub-nat frr-hub-ipsec frr-spokes frr-spokes-nat frr-spokes-ipsec"
# Host end of the underlay (tap0's bridge in $IOP_NS).
IOP_HOST_NBMA=192.0.2.100

fail() { echo "interop: $*" >&2; exit 1; }

# PID of the QEMU started from this work dir, if it still runs. The command line
# is checked so that a pid reused by another process is never taken for ours.
qemu_pid() {
  local pid
  pid=$(cat "$IOP_PID" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qxF -- "$IOP_WORK/initramfs.gz" || return 1
  echo "$pid"
}

built() { [ -f "$IOP_WORK/.built" ] && [ -x "$IOP_QEMU" ]; }
