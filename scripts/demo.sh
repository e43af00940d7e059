#!/usr/bin/env bash
# DMVPN in one command: a hub and two spokes, each a real dmvpnd in its own
# network namespace, started from the example configurations (adapted copies
# in a temp dir). Pings from one spoke's LAN to the other's, then shows what
# the hub and a spoke know. Needs root (network namespaces, TUN, raw sockets)
# and `ping` (iputils-ping, installed by scripts/setup.sh). Cleans up after
# itself, also when interrupted.
#   SKIP_SETUP=1 ./scripts/demo.sh   skips scripts/setup.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# shellcheck source=scripts/lib/netns.sh
. "$REPO/scripts/lib/netns.sh"

explain() { printf '    %s\n' "$@"; }

netns_preflight demo ip ping

say "build dmvpnd and dmvpn-cli"
cargo build --locked -p dmvpnd -p dmvpn-cli
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"

TMP=$(mktemp -d /tmp/dmvpn-demo.XXXXXX)
PREFIX="dmvpn-demo-$$"
declare -A PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for node in "${NODES[@]}"; do
        netns_stop "${PIDS[$node]:-}"
    done
    for ns in "${NODES[@]}" ul; do
        ip netns del "$PREFIX-$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
    echo
    echo "==> cleaned up: daemons stopped, namespaces $PREFIX-* and $TMP removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat <<'INTRO'

    The topology (every box is a network namespace):

      s1 LAN 172.16.1.1/24                                   s2 LAN 172.16.2.1/24
        [ s1 ] tun0 10.0.0.11 ---.                 .--- tun0 10.0.0.12 [ s2 ]
                                  \               /
                        tun0 10.0.0.1 [ hub ] (the NHRP server)
        underlay ("the internet"): 192.0.2.11, 192.0.2.1, 192.0.2.12 on a bridge

    tun0 is one multipoint GRE interface per node: a TUN device run by dmvpnd
    in user space. NHRP tells each node at which underlay address a tunnel
    address lives.
INTRO

say "create the namespaces and the underlay"
explain "A bridge in namespace $PREFIX-ul is the underlay; each node gets a veth on it" \
    "and a LAN interface with its site's address."
netns_topology "$PREFIX"

say "start dmvpnd on the hub and on both spokes"
explain "Each daemon reads a copy of examples/{hub,spoke}.toml (state, log and gRPC socket" \
    "moved into $TMP/<node>/) and commits a copy of examples/{hub,spoke}-startup.json;" \
    "s2's copy only changes the spoke's addresses (.11 -> .12)."
netns_start_daemons "$PREFIX"
netns_wait_tunnels demo "$PREFIX"
explain "tun0 exists in every namespace: the data planes are up."

say "add the routes a routing protocol (OSPF, BGP) would install"
explain "The hub learns each spoke's LAN via that spoke's tunnel address; the spokes only" \
    "know a summary, 172.16.0.0/16, via the hub. So s1 -> s2 traffic first goes via the hub."
netns_routes "$PREFIX"

say "wait for both spokes to register with the hub (NHRP Registration)"
netns_wait_registered 50 0.2 || true

say "ping from s1's LAN (172.16.1.1) to s2's LAN (172.16.2.1)"
explain "The first packets cross the hub. The hub sees them leave on the interface they came" \
    "in on and tells s1 (NHRP Traffic Indication, DMVPN Phase 3); s1 asks for s2's address" \
    "(Resolution Request), s2 answers directly, and s1 installs a shortcut: the rest of the" \
    "packets go spoke to spoke."
ip netns exec "$PREFIX-s1" ping -c 5 -i 0.3 -I 172.16.1.1 172.16.2.1
explain "ttl=63: the packet was routed by the hub on its way; ttl=64: it went straight from" \
    "s1 to s2 over the shortcut (nothing routed it in between)."

say "the hub: dmvpn-cli show dmvpn"
explain "Every peer the hub knows: both spokes registered dynamically (NBMA and tunnel address)."
cli hub "show dmvpn"

say "spoke s1: dmvpn-cli show ip nhrp shortcut"
explain "The shortcut s1 learnt: s2's LAN, reached directly at s2's tunnel address."
netns_wait_shortcut 20 0.2
cli s1 "show ip nhrp shortcut"

say "protect the tunnels with IPsec, on the running daemons"
explain "Each node commits an IPsec profile (IKEv2, a pre-shared key; ESP in transport mode" \
    "over GRE) and 'tunnel protection ipsec profile dmvpn', in place: nothing restarts." \
    "From now on every GRE packet is ESP; an SA comes up with the first packet to a peer."
for node in "${NODES[@]}"; do
    netns_protect "$node"
done
ip netns exec "$PREFIX-s1" ping -c 5 -i 0.3 -I 172.16.1.1 172.16.2.1
ip netns exec "$PREFIX-s1" ping -c 2 -i 0.3 10.0.0.1
explain "The pings went through ESP: spoke to spoke over the shortcut, with an SA of their" \
    "own, and to the hub's tunnel address over the SA with the hub (which also carries the" \
    "next NHRP registration)."

say "spoke s1: dmvpn-cli show crypto ikev2 sa"
explain "s1's IKE SAs: one with the hub, one with s2."
cli s1 "show crypto ikev2 sa"

say "spoke s1: dmvpn-cli show crypto ipsec sa"
cli s1 "show crypto ipsec sa"

say "done"
explain "Logs were in $TMP/<node>/dmvpnd.log; everything is removed now."
