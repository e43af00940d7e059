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

say() { printf '\n==> %s\n' "$*"; }
explain() { printf '    %s\n' "$@"; }

if [[ $(id -u) -ne 0 ]]; then
    echo "demo: needs root (network namespaces, TUN devices, raw GRE sockets); try: sudo $0" >&2
    exit 1
fi

if [[ -z "${SKIP_SETUP:-}" ]]; then
    say "set-up (scripts/setup.sh)"
    ./scripts/setup.sh
fi
if ! command -v cargo >/dev/null 2>&1 && [[ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi
for tool in ip ping; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "demo: '$tool' is missing (scripts/setup.sh installs it)" >&2
        exit 1
    fi
done

say "build dmvpnd and dmvpn-cli"
cargo build --locked -p dmvpnd -p dmvpn-cli
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"

TMP=$(mktemp -d /tmp/dmvpn-demo.XXXXXX)
PREFIX="dmvpn-demo-$$"
NODES=(hub s1 s2)
declare -A PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for node in "${NODES[@]}"; do
        if [[ -n "${PIDS[$node]:-}" ]] && kill -0 "${PIDS[$node]}" 2>/dev/null; then
            kill -TERM "${PIDS[$node]}" 2>/dev/null || true
            for _ in $(seq 30); do
                kill -0 "${PIDS[$node]}" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "${PIDS[$node]}" 2>/dev/null || true
        fi
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
ip netns add "$PREFIX-ul"
ip -n "$PREFIX-ul" link add br0 type bridge
ip -n "$PREFIX-ul" link set br0 up
declare -A NBMA=([hub]=192.0.2.1 [s1]=192.0.2.11 [s2]=192.0.2.12)
declare -A LAN=([s1]=172.16.1.1/24 [s2]=172.16.2.1/24)
for node in "${NODES[@]}"; do
    ns="$PREFIX-$node"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$PREFIX-ul" link add "$node" type veth peer name eth0 netns "$ns"
    ip -n "$PREFIX-ul" link set "$node" master br0 up
    ip -n "$ns" addr add "${NBMA[$node]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [[ -n "${LAN[$node]:-}" ]]; then
        # A dummy interface, or one end of a veth pair without the dummy module.
        ip -n "$ns" link add lan0 type dummy 2>/dev/null ||
            { ip -n "$ns" link add lan0 type veth peer name lan0p && ip -n "$ns" link set lan0p up; }
        ip -n "$ns" addr add "${LAN[$node]}" dev lan0
        ip -n "$ns" link set lan0 up
    fi
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done

say "start dmvpnd on the hub and on both spokes"
explain "Each daemon reads a copy of examples/{hub,spoke}.toml (state, log and gRPC socket" \
    "moved into $TMP/<node>/) and commits a copy of examples/{hub,spoke}-startup.json;" \
    "s2's copy only changes the spoke's addresses (.11 -> .12)."
for node in "${NODES[@]}"; do
    dir="$TMP/$node"
    mkdir -p "$dir"
    role=spoke
    [[ $node == hub ]] && role=hub
    sed -e "s|^state-dir = .*|state-dir = \"$dir/state\"|" \
        -e 's|^target = .*|target = "file"|' \
        -e "s|^#\? \?file = .*|file = \"$dir/dmvpnd.log\"|" \
        -e "s|^socket = .*|socket = \"$dir/grpc.sock\"|" \
        "examples/$role.toml" >"$dir/dmvpnd.toml"
    sed -e "s/10\.0\.0\.11/10.0.0.1${node#s}/; s/192\.0\.2\.11/192.0.2.1${node#s}/" \
        "examples/$role-startup.json" >"$dir/startup.json"
    [[ $node == hub ]] && cp "examples/hub-startup.json" "$dir/startup.json"
    ip netns exec "$PREFIX-$node" "$BIN/dmvpnd" --config "$dir/dmvpnd.toml" \
        --startup "$dir/startup.json" </dev/null >"$dir/stdout.log" 2>&1 &
    PIDS[$node]=$!
done

cli() {
    local node=$1
    shift
    "$BIN/dmvpn-cli" --socket "$TMP/$node/grpc.sock" -c "$*"
}

for node in "${NODES[@]}"; do
    for _ in $(seq 100); do
        ip -n "$PREFIX-$node" link show tun0 >/dev/null 2>&1 && break
        if ! kill -0 "${PIDS[$node]}" 2>/dev/null; then
            echo "demo: dmvpnd on $node exited; its log:" >&2
            cat "$TMP/$node/dmvpnd.log" "$TMP/$node/stdout.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
done
explain "tun0 exists in every namespace: the data planes are up."

say "add the routes a routing protocol (OSPF, BGP) would install"
explain "The hub learns each spoke's LAN via that spoke's tunnel address; the spokes only" \
    "know a summary, 172.16.0.0/16, via the hub. So s1 -> s2 traffic first goes via the hub."
ip -n "$PREFIX-hub" route add 172.16.1.0/24 via 10.0.0.11 dev tun0
ip -n "$PREFIX-hub" route add 172.16.2.0/24 via 10.0.0.12 dev tun0
for node in s1 s2; do
    ip -n "$PREFIX-$node" route add 172.16.0.0/16 via 10.0.0.1 dev tun0
done

say "wait for both spokes to register with the hub (NHRP Registration)"
for _ in $(seq 50); do
    out=$(cli hub "show dmvpn" 2>/dev/null || true)
    if grep -q 10.0.0.11 <<<"$out" && grep -q 10.0.0.12 <<<"$out"; then
        break
    fi
    sleep 0.2
done

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
for _ in $(seq 20); do
    out=$(cli s1 "show ip nhrp shortcut" 2>/dev/null || true)
    grep -q 172.16.2 <<<"$out" && break
    sleep 0.2
done
cli s1 "show ip nhrp shortcut"

say "done"
explain "Logs were in $TMP/<node>/dmvpnd.log; everything is removed now."
