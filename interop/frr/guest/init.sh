#!/bin/bash
# PID 1 of the guest, started by the initramfs once the root is mounted.
# 1. basic mounts and modules; 2. the scenario named in /mnt/share/scenario, in
# the background (READY or FAILED in /mnt/share/out when it ends); 3. forever:
# run every request the host drops in /mnt/share/cmd (gexec.sh) and power off
# when the host asks for it (down.sh).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for d in /run /tmp /dev/shm; do mount -t tmpfs tmpfs $d; done
mkdir -p /run/netns /var/run /var/log
ip link set lo up
hostname frr-guest
modprobe -a virtio_net ip_gre bridge veth dummy nfnetlink_log xt_NFLOG xt_hashlimit \
  iptable_filter iptable_nat nf_nat xt_MASQUERADE
# kernel IPsec for charon (the -ipsec scenarios): ESP, xfrm netlink, the
# crypto templates of its algorithms and the IV generators' RNG (drbg); the
# list is checked by build.sh
modprobe -a esp4 xfrm_user authenc gcm ghash_generic ctr seqiv echainiv sha512_generic drbg jitterentropy_rng
share=/mnt/share
echo "interop-guest: booted in $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"
scenario=$(cat $share/scenario)
{
  if bash $share/guest/scenario.sh "$scenario" > $share/out/scenario.log 2>&1; then
    status=READY
    echo "$scenario after $(cut -d' ' -f1 /proc/uptime) s of uptime" > $share/out/status.tmp
  else
    rc=$? status=FAILED
    echo "scenario $scenario failed with status $rc: out/scenario.log" > $share/out/status.tmp
  fi
  # renamed into place: the host never reads a half-written marker
  mv $share/out/status.tmp $share/out/$status
} &
while :; do
  for req in $share/cmd/*.req; do
    [ -e "$req" ] || continue
    base=${req%.req}
    mv "$req" "$base.running"
    {
      (cd /root && exec bash "$base.running") > "$base.out" 2>&1
      echo $? > "$base.status.tmp" && mv "$base.status.tmp" "$base.status"
    } &
  done
  if [ -e $share/cmd/poweroff ]; then
    rm -f $share/cmd/poweroff
    sync
    echo o > /proc/sysrq-trigger
  fi
  sleep 0.1
done
