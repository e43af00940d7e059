#!/bin/bash
# up.sh SCENARIO: boot the guest on the scenario (names: lib.sh, README.md) and
# return as soon as QEMU runs; wait-ready.sh waits for the scenario itself.
# Host side: netns $IOP_NS with bridge ul0 = 192.0.2.100/24 whose port tap0 is
# the guest's eth0. Tests plug further namespaces into ul0 with veth pairs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
scenario=${1:?usage: up.sh SCENARIO (one of: $IOP_SCENARIOS)}
case " $IOP_SCENARIOS " in *" $scenario "*) ;; *) fail "unknown scenario $scenario ($IOP_SCENARIOS)" ;; esac
built || fail "nothing built in $IOP_WORK: run build.sh"
qemu_pid > /dev/null && "$IOP_DIR/down.sh"

# a fresh share: guest scripts of this checkout, empty request and output dirs
rm -rf "$IOP_SHARE/guest" "$IOP_CMD" "$IOP_OUT" "$IOP_SHARE/pki"
mkdir -p "$IOP_SHARE/guest" "$IOP_CMD" "$IOP_OUT"
cp "$IOP_DIR"/guest/*.sh "$IOP_SHARE/guest/"
# certificates for the charons instead of the pre-shared key (guest/ipsec.sh)
if [ -n "${DMVPN_INTEROP_PKI:-}" ]; then
  cp -r "$DMVPN_INTEROP_PKI" "$IOP_SHARE/pki"
fi
echo "$scenario" > "$IOP_SHARE/scenario"
# settings of guest/ipsec.sh (charon in the -ipsec scenarios), when set here
for v in DMVPN_INTEROP_IKE_PROPOSALS DMVPN_INTEROP_ESP_PROPOSALS DMVPN_INTEROP_IPSEC_START \
  DMVPN_INTEROP_HUB_ID DMVPN_INTEROP_REKEY; do
  # a value set on the gexec.sh command line in the guest still wins
  [ -z "${!v:-}" ] || printf '[ -n "${%s:-}" ] || %s=%q\n' "$v" "$v" "${!v}"
done > "$IOP_SHARE/ipsec.env"

ip netns del "$IOP_NS" 2> /dev/null || true
ip netns add "$IOP_NS"
ip -n "$IOP_NS" link set lo up
ip -n "$IOP_NS" link add ul0 type bridge
ip -n "$IOP_NS" addr add $IOP_HOST_NBMA/24 dev ul0
ip -n "$IOP_NS" link set ul0 up
ip -n "$IOP_NS" tuntap add dev tap0 mode tap
ip -n "$IOP_NS" link set tap0 master ul0 up

kver=$(ls "$IOP_WORK/kernel/lib/modules")
fs() { echo "local,id=$1,path=$2,security_model=passthrough${3:+,$3}"; }
q=$IOP_WORK/qemu
# TCG, not KVM: nested KVM is not available on every CI machine and the guest
# only runs control planes and a few pings.
ip netns exec "$IOP_NS" "$IOP_QEMU" -accel tcg,thread=multi -smp "${DMVPN_INTEROP_CPUS:-2}" \
  -m 1024 -no-reboot -display none -monitor none -daemonize -pidfile "$IOP_PID" \
  -L "$q/usr/share/qemu" -L "$q/usr/share/seabios" -L "$q/usr/lib/ipxe/qemu" \
  -kernel "$IOP_WORK/kernel/boot/vmlinuz-$kver" -initrd "$IOP_WORK/initramfs.gz" \
  -append "console=ttyS0 quiet panic=-1 net.ifnames=0" \
  -fsdev "$(fs r "$IOP_WORK/rootfs" readonly=on)" -device virtio-9p-pci,fsdev=r,mount_tag=rootfs \
  -fsdev "$(fs m "$IOP_WORK/kernel/lib/modules" readonly=on)" -device virtio-9p-pci,fsdev=m,mount_tag=modules \
  -fsdev "$(fs s "$IOP_SHARE")" -device virtio-9p-pci,fsdev=s,mount_tag=share \
  -netdev tap,id=u,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=u \
  -serial "file:$IOP_OUT/console.log"
echo "interop: guest booting ($scenario), qemu pid $(cat "$IOP_PID"), host netns $IOP_NS"
