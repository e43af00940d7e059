#!/usr/bin/env bash
# Experiment, not product: TCP over GRE (key 42) encapsulated at tc egress and
# decapsulated at tc ingress by the eBPF program in gre.c, against the same
# veth pair without a tunnel. See README.md. Needs root, clang, iperf3, tc,
# ethtool. Namespaces ebpf-gre-a/-b are removed at the end, also on failure.
#   T=10 ./experiments/ebpf-gre/run.sh            # GSO super-packets cross the veth
#   SEGMENT=1 ./experiments/ebpf-gre/run.sh       # the kernel segments GRE before the wire
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
T=${T:-10}
MTU=${MTU:-1476}
A=ebpf-gre-a B=ebpf-gre-b
OBJ=$(mktemp -d /tmp/ebpf-gre.XXXXXX)
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; rm -rf "$OBJ"; }
trap cleanup EXIT

# One object per side: its outer addresses and the inner address it tunnels to.
clang -O2 -target bpf -I/usr/include/x86_64-linux-gnu \
    -DLOCAL=0xc0000201 -DREMOTE=0xc0000202 -DINNER_REMOTE=0x0a090002 -c gre.c -o "$OBJ/a.o"
clang -O2 -target bpf -I/usr/include/x86_64-linux-gnu \
    -DLOCAL=0xc0000202 -DREMOTE=0xc0000201 -DINNER_REMOTE=0x0a090001 -c gre.c -o "$OBJ/b.o"

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add veth0 type veth peer name veth0 netns "$B"
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set veth0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
ip -n "$A" addr add 192.0.2.1/24 dev veth0
ip -n "$B" addr add 192.0.2.2/24 dev veth0
# The inner addresses, routed to each other with the tunnel MTU.
ip -n "$A" addr add 10.9.0.1/32 dev lo
ip -n "$B" addr add 10.9.0.2/32 dev lo
ip -n "$A" route add 10.9.0.2/32 via 192.0.2.2 dev veth0 mtu "$MTU" advmss $((MTU - 40))
ip -n "$B" route add 10.9.0.1/32 via 192.0.2.1 dev veth0 mtu "$MTU" advmss $((MTU - 40))

rate() {
    ip netns exec "$B" iperf3 -s -1 -B 10.9.0.2 >/dev/null 2>&1 &
    local server=$!
    sleep 0.5
    ip netns exec "$A" iperf3 -c 10.9.0.2 -B 10.9.0.1 -t "$T" -f m |
        awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }'
    wait "$server" || true
}

echo "same veth, no tunnel:   $(rate) Mbit/s"
for side in a b; do
    ns=$A
    [[ $side == b ]] && ns=$B
    ip netns exec "$ns" tc qdisc add dev veth0 clsact
    ip netns exec "$ns" tc filter add dev veth0 egress bpf da obj "$OBJ/$side.o" sec egress
    ip netns exec "$ns" tc filter add dev veth0 ingress bpf da obj "$OBJ/$side.o" sec ingress
done
if [[ -n "${SEGMENT:-}" ]]; then
    ip netns exec "$A" ethtool -K veth0 tx-gre-segmentation off tx-gre-csum-segmentation off
fi
how="64 KB GSO packets across the veth"
[[ -n "${SEGMENT:-}" ]] && how="segmented by the kernel before the wire"
echo "GRE by tc-eBPF:         $(rate) Mbit/s  ($how)"
echo "receiver: $(ip netns exec "$B" nstat -az TcpInCsumErrors TcpRetransSegs 2>/dev/null | awk 'NR > 1 { printf "%s %s  ", $1, $2 }')"
