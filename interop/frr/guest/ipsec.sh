#!/bin/bash
# strongSwan's charon (IKEv2, kernel ESP through xfrm/kernel-netlink) in the
# network namespace of a guest router, protecting its GRE the way a Cisco
# `tunnel protection ipsec profile` does: ESP in transport mode for IP
# protocol 47 between the two NBMA addresses. From the host:
#   bash interop/frr/gexec.sh 'bash /mnt/share/guest/ipsec.sh show hub'
#
#   start NODE [PEER]  charon in netns NODE with the responder connection
#                      `dmvpn` (any peer); with PEER (an NBMA address) also the
#                      initiator connection `peer` towards it
#   stop NODE          terminate its charon (the kernel SAs and policies go too)
#   show [NODE]        sas + xfrm + esp-sa below (NODE: every running charon)
#   sas [NODE]         swanctl --list-sas
#   conns [NODE]       swanctl --list-conns
#   pols [NODE]        swanctl --list-pols (the trap policies of `peer`)
#   xfrm [NODE]        ip -s xfrm state (packet/byte counters) and ip xfrm policy
#   esp-sa [NODE]      the ESP SAs as lines of Wireshark's esp_sa table
#   wireshark          out/wireshark/{esp_sa,preferences} from every running
#                      charon's SAs: WIRESHARK_CONFIG_DIR=.../out/wireshark
#   swanctl NODE ARGS  any swanctl command against NODE's charon
#
# Settings (the environment of the command, else share/ipsec.env that up.sh
# writes from the host's DMVPN_INTEROP_* variables, else the default):
#   DMVPN_INTEROP_IKE_PROPOSALS  IKE proposals of both connections
#   DMVPN_INTEROP_ESP_PROPOSALS  ESP proposals (no DH group: no PFS)
#   DMVPN_INTEROP_IPSEC_START    start_action of `peer`: trap (default) | start | none
#   DMVPN_INTEROP_HUB_ID         the local identity of node hub (default hub.interop);
#                                every other node is NODE.interop
#   DMVPN_INTEROP_REKEY          rekey_time of the IKE_SA and CHILD_SA `gre` of every
#                                connection, e.g. 30s (default: unset, never rekeyed)
# With /mnt/share/pki (up.sh copies DMVPN_INTEROP_PKI there): X.509 instead of
# the PSK; ca.pem is the trusted CA, NODE.pem/NODE.key (PKCS#8) the node's
# certificate and key, its identity the certificate's subject DN; peers must
# present a certificate of that CA.
# Every charon: /etc/ipsec-NODE/{strongswan,swanctl}.conf; its own /run (a bind
# mount of /run/ipsec-NODE in its mount namespace: pid file, VICI socket, so
# that neither clashes with another node's nor with FRR's vici client);
# log /mnt/share/out/charon-NODE.log, ike and chd at level 4 (the IKE and ESP
# keys are in it).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
share=/mnt/share
out=$share/out
PSK=dmvpn-interop-psk
[ -r $share/ipsec.env ] && source $share/ipsec.env
# Cisco IOS's IKEv2 smart default (AES-CBC-256, SHA-512 integrity and PRF, DH
# 19, 14 or 5) first, then two common others, then strongSwan's own defaults
# (`default`: AES-CBC/GCM 128-256, SHA-1/2, x25519, ECP, MODP 2048+...). One
# proposal per item: a responder takes the first one of its own list that the
# initiator offers, an initiator offers them in this order. ESP: AES-GCM-256,
# AES-CBC-256 + SHA-256, and Cisco's default transform set (esp-aes
# esp-sha-hmac = AES-CBC-128 + HMAC-SHA-1-96); no ESN.
IKE=${DMVPN_INTEROP_IKE_PROPOSALS:-aes256-sha512-ecp256, aes256-sha512-modp2048, aes256-sha512-modp1536, aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048, default}
ESP=${DMVPN_INTEROP_ESP_PROPOSALS:-aes256gcm16, aes256-sha256, aes128-sha1}
START=${DMVPN_INTEROP_IPSEC_START:-trap}
HUB_ID=${DMVPN_INTEROP_HUB_ID:-hub.interop}
REKEY=${DMVPN_INTEROP_REKEY:-}
# rekey_time and its companions (swanctl.conf: a rekey starts at
# rekey_time - random(0, rand_time); the SA goes at rekey_time + over_time)
if [ -n "$REKEY" ]; then
  # the IKE_SA 7 s later than the CHILD_SA, so that the two never fall due
  # together: charon loses a kernel-triggered CHILD_SA rekey that comes
  # while its IKE_SA is being rekeyed (the child then only hard-expires)
  REKEY_IKE="rekey_time = $(( ${REKEY%s} + 7 ))s
        over_time = 10s
        rand_time = 0s"
  # the hard expiry 10 s after the rekey (default: 10 % after): a child
  # rekey due while an IKE rekey runs waits for it, and must not expire
  # meanwhile (the kernel SA would go before its successor is made)
  REKEY_CHILD="rekey_time = $REKEY
                life_time = $(( ${REKEY%s} + 10 ))s
                rand_time = 0s"
else
  REKEY_IKE="# never rekeyed nor reauthenticated from this side
        rekey_time = 0"
  REKEY_CHILD="rekey_time = 0"
fi

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }
running() {  # the nodes whose charon runs
  local f
  for f in /run/ipsec-*/charon.pid; do
    [ -e "$f" ] && kill -0 "$(cat "$f")" 2> /dev/null && { f=${f%/charon.pid}; echo "${f#/run/ipsec-}"; }
  done
  return 0
}
nodes() { if [ -n "${1:-}" ]; then echo "$1"; else running; fi; }
sw() { local n=$1; shift; STRONGSWAN_CONF=/etc/ipsec-$n/strongswan.conf swanctl "$@"; }
nbma() { ip -n "$1" -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4; exit }'; }

# conn NAME REMOTE [START]: one connection of swanctl.conf (render sets addr, id)
conn() {
  cat <<EOF
    $1 {
        version = 2
        local_addrs = $addr
        remote_addrs = $2
        proposals = $IKE
        # Cisco-like: no MOBIKE, so IKE moves to port 4500 only when NAT is
        # detected (NAT-T is always allowed: encap = no only means not forced)
        mobike = no
        encap = no
        # a liveness check after 10 s without any packet from the peer; with
        # the retransmission settings of strongswan.conf an unanswered one
        # gives up ~14 s later and dpd_action clears the SAs
        dpd_delay = 10s
        $REKEY_IKE
        reauth_time = 0
$(auth_sections)
        children {
            gre {
                mode = transport
                local_ts = dynamic[gre]
                remote_ts = dynamic[gre]
                esp_proposals = $ESP
                $REKEY_CHILD
                dpd_action = clear
${3:+                start_action = $3
}            }
        }
    }
EOF
}

# auth_sections: local and remote of a connection (render sets n, id, pki)
auth_sections() {
  if [ -n "$pki" ]; then
    cat <<EOF
        local {
            auth = pubkey
            certs = $n.pem
        }
        remote {
            auth = pubkey
            id = %any
            cacerts = ca.pem
        }
EOF
  else
    cat <<EOF
        local {
            auth = psk
            id = $id
        }
        remote {
            auth = psk
            id = %any
        }
EOF
  fi
}

render() {  # render NODE [PEER]
  local n=$1 peer=${2:-} d=/etc/ipsec-$1
  addr=$(nbma $n)
  [ -n "$addr" ] || { echo "ipsec.sh: netns $n has no address on eth0" >&2; exit 1; }
  id=$n.interop
  [ $n = hub ] && id=$HUB_ID
  # the credential directories swanctl --load-all reads (empty: PSK only)
  mkdir -p $d/{x509,x509ca,x509ocsp,x509aa,x509ac,x509crl,pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12} \
    /run/ipsec-$n
  pki=
  if [ -d $share/pki ]; then
    [ -r $share/pki/$n.pem ] && [ -r $share/pki/$n.key ] && [ -r $share/pki/ca.pem ] ||
      { echo "ipsec.sh: $share/pki lacks ca.pem, $n.pem or $n.key" >&2; exit 1; }
    pki=$share/pki
    cp $pki/ca.pem $d/x509ca/ca.pem
    cp $pki/$n.pem $d/x509/$n.pem
    cp $pki/$n.key $d/private/$n.key
  fi
  cat > $d/strongswan.conf <<EOF
# charon of guest netns $n (written by ipsec.sh)
charon {
    # kernel ESP through xfrm netlink; ciphers and DH groups from OpenSSL
    load = random nonce openssl aes sha1 sha2 hmac gcm kdf gmp pem pkcs1 pkcs8 x509 pubkey kernel-netlink socket-default vici
    install_routes = no
    # a trap's acquire carries the GRE key as a port (192.0.2.100/32[gre/42]):
    # propose only the configured dynamic[gre] selectors, as Cisco does
    ignore_acquire_ts = yes
    # 3 retransmissions 2, 2.8 and 3.9 s apart, then 5.5 s for the answer:
    # an exchange (IKE_SA_INIT, DPD) gives up after ~14 s (default 165 s)
    retransmit_tries = 3
    retransmit_timeout = 2
    retransmit_base = 1.4
    plugins {
        vici {
            # /run is /run/ipsec-$n in charon's mount namespace
            socket = unix:///run/charon.vici
        }
    }
    filelog {
        interop {
            path = $out/charon-$n.log
            time_format = %H:%M:%S
            ike_name = yes
            append = no
            flush_line = yes
            default = 1
            # level 4: the IKE and ESP keys in clear (test debugging, Wireshark)
            ike = 4
            chd = 4
            knl = 2
            cfg = 2
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
}
swanctl {
    load = pem pkcs1 pkcs8 x509 pubkey
    socket = unix:///run/ipsec-$n/charon.vici
}
EOF
  {
    echo "# IKEv2 with ${pki:+certificates, not the }PSK, ESP transport mode for GRE only (written by ipsec.sh)"
    echo "connections {"
    conn dmvpn %any
    [ -n "$peer" ] && conn peer "$peer" "$START"
    echo "}"
    echo "secrets {"
    echo "    # no id: the key of every peer, whatever identity it sends"
    echo "    ike-interop {"
    echo "        secret = \"$PSK\""
    echo "    }"
    echo "}"
  } > $d/swanctl.conf
}

# warm: once per boot, make the kernel build (and self-test) the ESP
# transforms of the proposals, through throwaway SAs in the guest's root
# namespace. Left to the first real SA, this takes seconds under emulation
# (~2 s per transform, mostly a usermode modprobe for each crypto name looked
# up), long enough for the IKE_AUTH exchange that installs it to be
# retransmitted. init.sh has loaded every module they need, so modprobe is
# switched off meanwhile (~0.4 s per transform then); a transform that fails
# without it is tried again with it.
warm() {
  [ -e /run/ipsec-warm ] && return 0
  local k=00112233445566778899aabbccddeeff spi=256 a t0=$SECONDS mp
  mp=$(cat /proc/sys/kernel/modprobe)
  echo > /proc/sys/kernel/modprobe
  for a in "aead rfc4106(gcm(aes)) 0x$k$k${k:0:8} 128" \
    "enc cbc(aes) 0x$k$k auth-trunc hmac(sha256) 0x$k$k 128" \
    "enc cbc(aes) 0x$k auth-trunc hmac(sha1) 0x$k${k:0:8} 96" \
    "enc cbc(aes) 0x$k$k auth-trunc hmac(sha384) 0x$k$k$k 192" \
    "enc cbc(aes) 0x$k$k auth-trunc hmac(sha512) 0x$k$k$k$k 256"; do
    spi=$((spi + 1))
    # shellcheck disable=SC2086 # the algorithm words are meant to split
    ip xfrm state add src 198.51.100.1 dst 198.51.100.2 proto esp spi $spi mode transport $a 2> /dev/null ||
      { echo "$mp" > /proc/sys/kernel/modprobe
        ip xfrm state add src 198.51.100.1 dst 198.51.100.2 proto esp spi $spi mode transport $a || true; }
    ip xfrm state delete src 198.51.100.1 dst 198.51.100.2 proto esp spi $spi 2> /dev/null || true
  done
  echo "$mp" > /proc/sys/kernel/modprobe
  touch /run/ipsec-warm
  echo "ipsec.sh: kernel ESP transforms ready in $((SECONDS - t0)) s"
}

start() {  # start NODE [PEER]
  local n=$1 peer=${2:-}
  [ -e /run/ipsec-$n/charon.pid ] && stop $n
  warm
  render $n "$peer"
  if [ -n "$peer" ]; then
    # a trap's first packet waits (in the kernel) for the SA instead of being
    # dropped: the first NHRP Registration Request is not lost
    ip netns exec $n sysctl -qw net.core.xfrm_larval_drop=0
  fi
  # ip netns exec runs in a mount namespace of its own: the bind mount over
  # /run is seen by this charon only
  ip netns exec $n sh -c "mount --bind /run/ipsec-$n /run &&
    STRONGSWAN_CONF=/etc/ipsec-$n/strongswan.conf exec /usr/lib/ipsec/charon" \
    < /dev/null > $out/charon-$n.stderr 2>&1 &
  local end=$((SECONDS + 60))
  until sw $n --stats > /dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { echo "ipsec.sh: charon of $n does not answer on VICI"; tail $out/charon-$n.*; exit 1; }
    sleep 0.2
  done
  sw $n --load-all --file /etc/ipsec-$n/swanctl.conf
}

stop() {  # stop NODE: SIGTERM (charon removes its SAs and policies), SIGKILL after 10 s
  local p
  p=$(cat /run/ipsec-$1/charon.pid 2> /dev/null) || return 0
  if kill "$p" 2> /dev/null; then
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.2; done
    kill -9 "$p" 2> /dev/null || true
  fi
  rm -f /run/ipsec-$1/charon.pid
}

xfrm() { ip -n $1 -s xfrm state; ip -n $1 xfrm policy; }

# esp_sa NODE: Wireshark's esp_sa lines (protocol, source, destination, SPI,
# encryption, key, authentication, key) of the SAs in netns NODE, from
# `ip xfrm state` (a GCM key there ends with its 4-octet salt, as Wireshark wants)
esp_sa() {
  ip -n $1 xfrm state | awk '
    function flush() {
      if (spi == "") return
      e = "NULL"; a = "NULL"
      if (aead ~ /^rfc4106\(gcm\(aes\)\)/) e = "AES-GCM with 16 octet ICV [RFC4106]"
      if (enc ~ /^cbc\(aes\)/) e = "AES-CBC [RFC3602]"
      if (auth ~ /^hmac\(sha1\)/) a = "HMAC-SHA-1-96 [RFC2404]"
      if (auth ~ /^hmac\(sha256\)/) a = "HMAC-SHA-256-128 [RFC4868]"
      if (auth ~ /^hmac\(sha384\)/) a = "HMAC-SHA-384-192 [RFC4868]"
      if (auth ~ /^hmac\(sha512\)/) a = "HMAC-SHA-512-256 [RFC4868]"
      printf "\"IPv4\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"\n", src, dst, spi, e, ek, a, ak
      spi = ""
    }
    $1 == "src" { flush(); src = $2; dst = $4; aead = enc = auth = ek = ak = "" }
    $1 == "proto" && $2 == "esp" { spi = $4 }
    $1 == "aead" { aead = $2; ek = $3 }
    $1 == "enc" { enc = $2; ek = $3 }
    $1 == "auth-trunc" || $1 == "auth" { auth = $2; ak = $3 }
    END { flush() }'
}

cmd=${1:-show}
shift || true
case $cmd in
  start) [ $# -ge 1 ] || usage; start "$@" ;;
  stop) [ $# -eq 1 ] || usage; stop $1 ;;
  show)
    for n in $(nodes "${1:-}"); do
      echo "=== $n: swanctl --list-sas"; sw $n --list-sas
      echo "=== $n: ip -s xfrm state"; ip -n $n -s xfrm state
      echo "=== $n: esp_sa"; esp_sa $n
    done ;;
  sas) for n in $(nodes "${1:-}"); do sw $n --list-sas; done ;;
  conns) for n in $(nodes "${1:-}"); do sw $n --list-conns; done ;;
  pols) for n in $(nodes "${1:-}"); do sw $n --list-pols; done ;;
  xfrm) for n in $(nodes "${1:-}"); do xfrm $n; done ;;
  esp-sa) for n in $(nodes "${1:-}"); do esp_sa $n; done ;;
  wireshark)
    mkdir -p $out/wireshark
    for n in $(running); do esp_sa $n; done | sort -u > $out/wireshark/esp_sa
    echo "esp.enable_encryption_decode: TRUE" > $out/wireshark/preferences
    cat $out/wireshark/esp_sa ;;
  swanctl) [ $# -ge 1 ] || usage; n=$1; shift; sw $n "$@" ;;
  *) usage ;;
esac
