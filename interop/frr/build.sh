#!/bin/bash
# build.sh: prepare everything the FRR guest needs, in $IOP_WORK. Idempotent:
# each stage leaves a stamp and is skipped when its stamp is there, so a second
# run takes well under a second. Stages:
#   host     apt packages the harness uses on the host
#   qemu     QEMU 7.2 from Debian 12, unpacked with dpkg -x (never installed:
#            hosts with a newer qemu-utils from backports conflict with it)
#   kernel   Debian's stock kernel, unpacked, unneeded driver trees dropped
#   rootfs   debootstrap of Debian 12 with frr, iproute2, iptables, tcpdump
#   ipsec    strongSwan 5.9 (charon, swanctl) added to the rootfs by apt-get in
#            a chroot; a rootfs built before this stage existed gets it too
#   initrd   busybox initramfs: read-only 9p root under a tmpfs overlay
# Env: DMVPN_INTEROP_DIR, DMVPN_INTEROP_DEBS (see lib.sh),
#      DMVPN_DEBIAN_MIRROR (else taken from the host's apt sources).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export DEBIAN_FRONTEND=noninteractive
RELEASE=bookworm
APT=(apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root)
GUEST_PKGS=frr,iproute2,iptables,tcpdump,kmod,procps,iputils-ping
# strongSwan's IKE daemon with kernel ESP (kernel-netlink), its control tool and
# the plugins with OpenSSL's DH groups and ciphers (the charon plugins loaded are
# listed in guest/ipsec.sh).
IPSEC_PKGS="strongswan-charon strongswan-swanctl libstrongswan-standard-plugins"
# Modules the guest loads: 9p root, virtio net, mGRE, bridge/veth/dummy for the
# node namespaces, NFLOG (FRR's redirect trigger), NAT for the NAT routers;
# kernel IPsec for charon: ESP (with NAT-T's UDP encapsulation), the xfrm
# netlink interface, the AEAD/authenc templates and the hashes ESP's
# algorithms need (aes, cbc, hmac, sha1 and sha256 are built in), and the RNG
# of the IV generators seqiv/echainiv (drbg, seeded by jitterentropy_rng).
# Transport and tunnel mode are part of the xfrm core since Linux 5.2.
# guest/init.sh loads the same list.
GUEST_MODULES="virtio_pci 9pnet_virtio 9p overlay virtio_net ip_gre veth bridge dummy
  nfnetlink_log xt_NFLOG xt_hashlimit iptable_filter iptable_nat xt_MASQUERADE nf_nat
  esp4 xfrm_user authenc gcm ghash_generic ctr seqiv echainiv sha512_generic drbg jitterentropy_rng
  aes_generic cbc hmac sha1_generic sha256_generic"
started=$SECONDS
mkdir -p "$IOP_WORK" "$IOP_DEBS"

step() { printf '[build %3ss] %s\n' $((SECONDS - started)) "$*"; }
# A stage is done when its marker and its artefact are both there: an
# artefact removed by hand (or by an interrupted concurrent build) is built
# again rather than trusted.
done_stage() {
  local artefact
  case $1 in
    qemu) artefact=$IOP_QEMU ;;
    initrd) artefact=$IOP_WORK/initramfs.gz ;;
    ipsec) artefact=$IOP_WORK/rootfs/usr/sbin/swanctl ;;
    *) artefact=$IOP_WORK/$1 ;;
  esac
  [ -f "$IOP_WORK/.stage-$1" ] && [ -e "$artefact" ]
}
mark_stage() { touch "$IOP_WORK/.stage-$1"; }

apt_fresh=no
apt_refresh() {
  [ $apt_fresh = yes ] && return
  step "apt-get update"
  "${APT[@]}" update -qq
  apt_fresh=yes
}
apt_ensure() {  # install the named host packages that are not installed yet
  local want=() p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || want+=("$p")
  done
  [ ${#want[@]} -eq 0 ] && return
  apt_refresh
  step "apt-get install ${want[*]}"
  "${APT[@]}" install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}
# version_like PKG GLOB: newest version of PKG in the apt lists matching GLOB
version_like() {
  apt-cache madison "$1" | awk -F'|' '{gsub(/[[:space:]]/, "", $2); print $2}' |
    while read -r v; do case $v in $2) echo "$v"; break ;; esac; done
}
# deb_path PKG [VERSION]: the .deb of PKG in $IOP_DEBS, downloaded on first use
deb_path() {
  local found
  found=$(find "$IOP_DEBS" -maxdepth 1 -name "${1}_${2:-*}_*.deb" | head -n 1)
  if [ -z "$found" ]; then
    apt_refresh
    (cd "$IOP_DEBS" && "${APT[@]}" download "$1${2:+=$2}" >/dev/null)
    found=$(find "$IOP_DEBS" -maxdepth 1 -name "${1}_*.deb" | head -n 1)
  fi
  [ -n "$found" ] || fail "could not download $1"
  echo "$found"
}
# The Debian mirror comes from this host's own apt configuration (deb822
# .sources first, then one-line .list files); it is never spelled in the repo.
mirror_uri() {
  [ -n "${DMVPN_DEBIAN_MIRROR:-}" ] && { echo "$DMVPN_DEBIAN_MIRROR"; return; }
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # A stanza is a paragraph; keep the first deb stanza listing $RELEASE.
    awk -v rel="$RELEASE" 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; hit = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          n = split($i, w, /[[:space:]]+/)
          if (w[1] == "Types:") for (j = 2; j <= n; j++) if (w[j] == "deb") deb = 1
          if (w[1] == "URIs:") uri = w[2]
          if (w[1] == "Suites:") for (j = 2; j <= n; j++) if (w[j] == rel) hit = 1
        }
        if (deb && hit && uri != "") { print uri; exit } }' "$f"
  done | head -n 1 | grep . && return
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' |
    awk -v rel="$RELEASE" '$1 == "deb" && $3 == rel { print $2; exit }' | grep .
}

# --- host ---------------------------------------------------------------
# iptables: the host-side NAT namespace of the NAT tests.
apt_ensure debootstrap busybox-static cpio gzip kmod iproute2 tcpdump iptables

# --- qemu ---------------------------------------------------------------
if ! done_stage qemu; then
  apt_refresh
  qv=$(version_like qemu-system-x86 '1:7.2*')
  [ -n "$qv" ] || fail "qemu-system-x86 7.2 is not in the apt lists (Debian 12 sources needed)"
  step "qemu $qv"
  # shared libraries the 7.2 binary links against, installed on the host
  mapfile -t libs < <(apt-cache depends "qemu-system-x86=$qv" |
    awk '$1 == "Depends:" && $2 !~ /^(<|qemu|seabios|ipxe)/ { print $2 }' | sort -u)
  apt_ensure "${libs[@]}"
  rm -rf "$IOP_WORK/qemu.new"
  for p in qemu-system-x86 qemu-system-common qemu-system-data; do
    dpkg -x "$(deb_path $p "$(version_like $p '1:7.2*')")" "$IOP_WORK/qemu.new"
  done
  for p in seabios ipxe-qemu; do dpkg -x "$(deb_path $p)" "$IOP_WORK/qemu.new"; done
  rm -rf "$IOP_WORK/qemu"; mv "$IOP_WORK/qemu.new" "$IOP_WORK/qemu"
  if ldd "$IOP_QEMU" | grep 'not found'; then fail "QEMU 7.2 misses shared libraries"; fi
  mark_stage qemu
fi

# --- kernel -------------------------------------------------------------
if ! done_stage kernel; then
  apt_refresh
  kpkg=$(apt-cache depends linux-image-amd64 |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
  [ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64"
  step "kernel $kpkg"
  rm -rf "$IOP_WORK/kernel.new"
  dpkg -x "$(deb_path "$kpkg")" "$IOP_WORK/kernel.new"
  kver=$(ls "$IOP_WORK/kernel.new/lib/modules")
  tree=$IOP_WORK/kernel.new/lib/modules/$kver/kernel
  # a virtio-only guest never loads these; dropping them saves ~200 MB
  # (net/ipv4, net/xfrm, crypto and arch/x86/crypto stay: GRE, ESP, xfrm)
  rm -rf "$tree"/sound "$tree"/net/{wireless,mac80211,bluetooth} \
    "$tree"/drivers/{gpu,media,infiniband,usb,scsi,staging,bluetooth,input,hid,iio,hwmon,isdn,mmc,mtd,nfc} \
    "$tree"/drivers/net/{wireless,ethernet,usb,can}
  depmod -b "$IOP_WORK/kernel.new" "$kver"
  rm -rf "$IOP_WORK/kernel"; mv "$IOP_WORK/kernel.new" "$IOP_WORK/kernel"
  mark_stage kernel
fi
kver=$(ls "$IOP_WORK/kernel/lib/modules")
for m in $GUEST_MODULES; do
  modprobe -d "$IOP_WORK/kernel" -S "$kver" --show-depends "$m" >/dev/null \
    || fail "the guest kernel $kver has no module $m"
done

# --- rootfs -------------------------------------------------------------
if ! done_stage rootfs; then
  mirror=$(mirror_uri) || fail "no $RELEASE mirror in the apt sources; set DMVPN_DEBIAN_MIRROR"
  step "debootstrap $RELEASE (+$GUEST_PKGS), log $IOP_WORK/debootstrap.log"
  rm -rf "$IOP_WORK/rootfs.new"
  mkdir -p "$IOP_DEBS/debootstrap"
  debootstrap --variant=minbase --cache-dir="$IOP_DEBS/debootstrap" --include="$GUEST_PKGS" \
    "$RELEASE" "$IOP_WORK/rootfs.new" "$mirror" > "$IOP_WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$IOP_WORK/debootstrap.log"; fail "debootstrap failed"; }
  chroot "$IOP_WORK/rootfs.new" apt-get clean
  rm -f "$IOP_WORK/.stage-ipsec"
  rm -rf "$IOP_WORK/rootfs"; mv "$IOP_WORK/rootfs.new" "$IOP_WORK/rootfs"
  mark_stage rootfs
fi

# --- ipsec --------------------------------------------------------------
# apt-get in a chroot of the rootfs, from the same mirror: the packages it
# downloads stay in $IOP_DEBS/apt (bind-mounted over the rootfs's apt cache),
# services are never started (policy-rc.d), and the mounts go on any exit.
ipsec_unmount() {
  local r=$IOP_WORK/rootfs m
  for m in var/cache/apt/archives etc/resolv.conf proc; do
    mountpoint -q "$r/$m" && umount "$r/$m"
  done
  rm -f "$r/usr/sbin/policy-rc.d"
}
if ! done_stage ipsec; then
  # the running guest has this tree as the lower layer of its root
  qemu_pid > /dev/null && fail "a guest runs on $IOP_WORK/rootfs: run down.sh first"
  mirror=$(mirror_uri) || fail "no $RELEASE mirror in the apt sources; set DMVPN_DEBIAN_MIRROR"
  step "ipsec: chroot apt-get install $IPSEC_PKGS, log $IOP_WORK/ipsec-apt.log"
  r=$IOP_WORK/rootfs
  trap ipsec_unmount EXIT
  mkdir -p "$IOP_DEBS/apt/partial"
  printf 'deb %s %s main\n' "$mirror" "$RELEASE" > "$r/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc"
  # the host's resolver, only onto a plain file (never through a symlink)
  [ -f "$r/etc/resolv.conf" ] && [ ! -L "$r/etc/resolv.conf" ] &&
    mount --bind /etc/resolv.conf "$r/etc/resolv.conf"
  mount --bind "$IOP_DEBS/apt" "$r/var/cache/apt/archives"
  { chroot "$r" "${APT[@]}" update &&
    chroot "$r" "${APT[@]}" install -y --no-install-recommends $IPSEC_PKGS; } \
    > "$IOP_WORK/ipsec-apt.log" 2>&1 ||
    { tail -n 20 "$IOP_WORK/ipsec-apt.log"; fail "chroot apt-get failed"; }
  ipsec_unmount
  trap - EXIT
  # the guest never runs apt: its package lists and caches would only take
  # ~150 MB of the work dir
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/*
  # charon and swanctl start from guest/ipsec.sh with their own configuration
  [ -x "$r/usr/lib/ipsec/charon" ] || fail "strongSwan installed no /usr/lib/ipsec/charon"
  mark_stage ipsec
fi

# --- initrd -------------------------------------------------------------
if ! done_stage initrd; then
  step "initramfs"
  t=$(mktemp -d "$IOP_WORK/initrd.XXXXXX")
  mkdir -p "$t"/{bin,dev,proc,sys,ro,rw,root,mods}
  cp /bin/busybox "$t/bin/busybox"
  # only what mounting the root needs; the rest is loaded from the 9p modules tree
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$IOP_WORK/kernel" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | awk '!seen[$0]++' > "$t/mods.list"
  while read -r f; do cp "$f" "$t/mods/"; echo "/mods/$(basename "$f")"; done < "$t/mods.list" > "$t/mods/order"
  rm "$t/mods.list"
  cat > "$t/init" <<'INIT'
#!/bin/busybox sh
# Stage 1: the Debian tree is a read-only 9p export; writes go to a tmpfs
# overlay, so every boot starts from the same clean system.
/bin/busybox --install -s /bin
mount -t proc none /proc; mount -t sysfs none /sys; mount -t devtmpfs none /dev
while read -r m; do insmod "$m" || echo "initrd: insmod $m failed"; done < /mods/order
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro" rootfs /ro || { echo "initrd: no 9p root"; exec sh; }
mount -t tmpfs -o size=512m none /rw && mkdir /rw/up /rw/wk
mount -t overlay -o lowerdir=/ro,upperdir=/rw/up,workdir=/rw/wk none /root || { echo "initrd: overlay"; exec sh; }
mkdir -p /root/lib/modules /root/mnt/share
mount -t 9p -o "$opts,ro" modules /root/lib/modules
mount -t 9p -o "$opts" share /root/mnt/share
umount /proc /sys /dev 2>/dev/null
exec switch_root /root /bin/bash /mnt/share/guest/init.sh
INIT
  chmod 755 "$t/init"
  (cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) > "$IOP_WORK/initramfs.gz.new"
  rm -rf "$t"; mv "$IOP_WORK/initramfs.gz.new" "$IOP_WORK/initramfs.gz"
  mark_stage initrd
fi

mkdir -p "$IOP_SHARE"
echo "qemu 7.2, kernel $kver, $(chroot "$IOP_WORK/rootfs" dpkg-query -W -f='frr ${Version}' frr)," \
  "$(chroot "$IOP_WORK/rootfs" dpkg-query -W -f='strongswan ${Version}' strongswan-charon)" > "$IOP_WORK/.built"
step "ready: $(cat "$IOP_WORK/.built")"
