#!/bin/bash
# Guest side of a scenario: scenario.sh NAME (the names: README.md).
# The underlay is bridge br0 in the guest's root namespace, 192.0.2.0/24; eth0
# (virtio) links it to the host's tap0. Every FRR router is a network namespace
# of its own: eth0 on br0 (or behind a NAT router), a dummy lan0, a kernel mGRE
# interface gre1, and its own zebra + nhrpd (vtysh -N NAME).
PS4='+ ${SECONDS}s '  # the trace shows where boot time goes
set -euxo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
scenario=${1:?scenario name}
share=/mnt/share
logs=$share/out/frr
mkdir -p $logs
# Same GRE key, network-id and holding time as examples/*-startup.json.
KEY=42 NETWORK_ID=1 HOLDTIME=600
# Our daemon on the host: NBMA 192.0.2.100 (frrhost), hub tunnel address 10.0.0.1.
HOST_NBMA=192.0.2.100
# What the captures keep: GRE, ICMP, and IPsec (ESP, IKE, NAT-T)
CAPTURE='ip proto 47 or icmp or ip proto 50 or udp port 500 or udp port 4500'

retry() {  # retry SECONDS COMMAND...: until COMMAND succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { echo "gave up waiting for: $*"; return 1; }
    sleep 0.2
  done
}
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# nat_router NAME OUTSIDE: namespace with eth0 = OUTSIDE/24 on br0 (eth1, the inside
# segment, is added by router()); everything leaving eth0 is masqueraded. GRE carries no
# ports: conntrack keys its entries on the address pair alone.
nat_router() {
  local n=$1 outside=$2
  ip netns add $n
  ip link add p-$n type veth peer name eth0 netns $n
  ip link set p-$n master br0 up
  in_ns $n sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1
  ip -n $n link set lo up
  ip -n $n addr add $outside/24 dev eth0
  ip -n $n link set eth0 up
  in_ns $n iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
  # Linux drops a GRE mapping 30 s after a lone request/reply exchange (the
  # reply only marks it seen; the next packet would extend it to 180 s) and
  # FRR refreshes its registration every holdtime/3 = 200 s: the mapping
  # would be gone between two registrations and the hub could no longer
  # reach the spoke. A NAT that keeps GRE mappings for 10 minutes stands in
  # for the keepalives a real deployment has (IPsec NAT-T, routing hellos).
  in_ns $n sysctl -qw net.netfilter.nf_conntrack_gre_timeout=600 \
    net.netfilter.nf_conntrack_gre_timeout_stream=600
  in_ns $n tcpdump -Z root -i eth0 -U -w $share/out/$n-outside.pcap "$CAPTURE" > /dev/null 2>&1 &
}

# router NAME NBMA TUNNEL LAN [NAT]: the namespace of an FRR router. With NAT,
# eth0 is on the NAT router's inside segment (NBMA in INSIDE_NET) instead of br0.
router() {
  local n=$1 nbma=$2 tunnel=$3 lan=$4 nat=${5:-}
  ip netns add $n
  if [ -n "$nat" ]; then
    ip -n $nat link add eth1 type veth peer name eth0 netns $n
    ip -n $nat addr add ${nbma%.*}.1/24 dev eth1
    ip -n $nat link set eth1 up
  else
    ip link add p-$n type veth peer name eth0 netns $n
    ip link set p-$n master br0 up
  fi
  in_ns $n sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv4.ip_forward_use_pmtu=0
  ip -n $n link set lo up
  ip -n $n addr add $nbma/24 dev eth0
  ip -n $n link set eth0 up
  [ -n "$nat" ] && ip -n $n route add default via ${nbma%.*}.1
  ip -n $n link add lan0 type dummy
  ip -n $n addr add $lan dev lan0
  ip -n $n link set lan0 up
  # remote 0.0.0.0 = multipoint: nhrpd installs the NBMA of each peer as a
  # neighbour entry of gre1
  ip -n $n tunnel add gre1 mode gre key $KEY ttl 64 local $nbma remote 0.0.0.0 dev eth0
  ip -n $n addr add $tunnel/32 dev gre1
  ip -n $n link set gre1 up
}

# frr NAME hub|spoke [NHS_NBMA]: write the configs of zebra and nhrpd (frr_start starts them).
frr() {
  local n=$1 role=$2 nhs=${3:-} etc=/etc/frr/$1
  mkdir -p $etc /var/run/frr/$n
  echo "service integrated-vtysh-config" > $etc/vtysh.conf
  echo "hostname $n" > $etc/frr.conf
  printf 'hostname %s\nlog file %s/%s-zebra.log\n' $n $logs $n > $etc/zebra.conf
  {
    echo "hostname $n"
    echo "log file $logs/$n-nhrpd.log"
    echo "debug nhrp all"
    # the hub learns of traffic it forwards spoke to spoke through NFLOG
    [ $role = hub ] && echo "nhrp nflog-group 1"
    echo "interface gre1"
    echo " ip nhrp network-id $NETWORK_ID"
    echo " ip nhrp holdtime $HOLDTIME"
    echo " ip nhrp registration no-unique"
    if [ $role = hub ]; then
      echo " ip nhrp redirect"
    else
      echo " ip nhrp nhs dynamic nbma $nhs"
      echo " ip nhrp shortcut"
    fi
    echo " tunnel source eth0"
    echo "exit"
  } > $etc/nhrpd.conf
  if [ $role = hub ]; then
    # a few log lines per flow are enough for a redirect (rate-limited per /24 pair)
    in_ns $n iptables -A FORWARD -i gre1 -o gre1 -m hashlimit --hashlimit-name redirect \
      --hashlimit-mode srcip,dstip --hashlimit-srcmask 24 --hashlimit-dstmask 24 \
      --hashlimit-upto 4/minute --hashlimit-burst 1 -j NFLOG --nflog-group 1 --nflog-size 128
  fi
  chown -R frr:frr $etc /var/run/frr/$n $logs
}
# frr_start NAME...: zebra of every router, then (once each listens) nhrpd;
# all routers at once, as each step is slow under emulation
frr_start() {
  local n
  for n in "$@"; do in_ns $n /usr/lib/frr/zebra -N $n -d -A 127.0.0.1 -f /etc/frr/$n/zebra.conf; done
  for n in "$@"; do retry 60 test -S /var/run/frr/$n/zserv.api; done
  for n in "$@"; do in_ns $n /usr/lib/frr/nhrpd -N $n -d -A 127.0.0.1 -f /etc/frr/$n/nhrpd.conf; done
}
frr_ready() {  # frr_ready NAME TUNNEL: nhrpd lists its own address as "local"
  retry 60 sh -c "ip netns exec $1 vtysh -N $1 -c 'show ip nhrp cache' | grep -q 'local *$2 '"
}
# Spokes reach every tunnel address and every LAN through the hub (what a
# routing protocol would install). FRR drops Resolution Requests for targets
# it has no route to through the tunnel.
spoke_routes() {
  ip -n $1 route add 10.0.0.0/24 via 10.0.0.1 dev gre1 onlink
  ip -n $1 route add 172.16.0.0/16 via 10.0.0.1 dev gre1 onlink
}

ip link add br0 type bridge
ip link set br0 up
ip link set eth0 master br0
ip link set eth0 up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1
tcpdump -Z root -i br0 -U -w $share/out/underlay.pcap "$CAPTURE" > /dev/null 2>&1 &

case $scenario in
  frr-hub | frr-hub-nat | frr-hub-ipsec)
    router hub 192.0.2.1 10.0.0.1 172.16.0.1/24
    if [ $scenario = frr-hub-nat ]; then
      nat_router nat1 192.0.2.21
      router s1 10.0.1.11 10.0.0.11 172.16.1.1/24 nat1
    else
      router s1 192.0.2.11 10.0.0.11 172.16.1.1/24
    fi
    frr hub hub
    frr s1 spoke 192.0.2.1
    # charon in hub: IKEv2 responder for any peer (guest/ipsec.sh); s1 stays in clear
    [ $scenario = frr-hub-ipsec ] && bash $share/guest/ipsec.sh start hub
    frr_start hub s1
    frr_ready hub 10.0.0.1
    frr_ready s1 10.0.0.11
    spoke_routes s1
    # the hub routes each spoke's LAN to the spoke: s1, our spoke (10.0.0.100)
    # and our spoke behind the host-side NAT (10.0.0.101)
    ip -n hub route add 172.16.1.0/24 via 10.0.0.11 dev gre1 onlink
    ip -n hub route add 172.16.100.0/24 via 10.0.0.100 dev gre1 onlink
    ip -n hub route add 172.16.101.0/24 via 10.0.0.101 dev gre1 onlink
    nodes="hub s1"
    ;;
  frr-spokes | frr-spokes-nat | frr-spokes-ipsec)
    router s1 192.0.2.11 10.0.0.11 172.16.1.1/24
    if [ $scenario = frr-spokes-nat ]; then
      nat_router nat2 192.0.2.22
      router s2 10.0.2.12 10.0.0.12 172.16.2.1/24 nat2
    else
      router s2 192.0.2.12 10.0.0.12 172.16.2.1/24
    fi
    # nhrpd registers as soon as it starts: our hub may come up later, FRR retries
    frr s1 spoke $HOST_NBMA
    frr s2 spoke $HOST_NBMA
    # charon in s1: IKEv2 initiator towards our hub, triggered by s1's first GRE
    # packet to it (trap policies installed before nhrpd starts); s2 stays in clear
    [ $scenario = frr-spokes-ipsec ] && bash $share/guest/ipsec.sh start s1 $HOST_NBMA
    frr_start s1 s2
    frr_ready s1 10.0.0.11
    frr_ready s2 10.0.0.12
    spoke_routes s1
    spoke_routes s2
    nodes="s1 s2"
    ;;
  *) echo "unknown scenario $scenario"; exit 2 ;;
esac
for n in $nodes; do in_ns $n vtysh -N $n -c 'show ip nhrp cache'; done
echo "scenario $scenario is up"
