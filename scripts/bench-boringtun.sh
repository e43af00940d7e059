#!/usr/bin/env bash
# Benchmark (not a test), for comparison with scripts/bench.sh: iperf3 TCP,
# one stream, over boringtun-cli (userspace WireGuard, from crates.io) on a
# veth pair between two fresh namespaces, next to the same veth pair bare.
# Both are userspace tunnels on a TUN device; boringtun reads and writes one
# packet per system call (no TUN offloads, no UDP GSO/GRO), encrypts with
# ChaCha20-Poly1305, and by default runs 4 threads per device
# (WG_THREADS=N, boringtun-cli's own variable, sets another count).
#
#   1. iperf3 over the bare veth pair (198.51.100.1 -> .2);
#   2. boringtun-cli in each namespace (interfaces wgbt<pid>a/b, keys from
#      `wg genkey`, configured with `wg set` over boringtun's UAPI socket),
#      iperf3 again over the WireGuard addresses (10.99.0.1 -> .2).
#
# boringtun-cli is installed with `cargo install` into target/boringtun/ (not
# system-wide), once; the step is skipped with a message if that fails (no
# network, a toolchain it does not build with). Needs root, iperf3, ip and
# wg (wireguard-tools; scripts/setup.sh installs them).
# Cleans up namespaces and processes on exit, also when interrupted.
#   SKIP_SETUP=1 IPERF_SECONDS=10 ./scripts/bench-boringtun.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# shellcheck source=scripts/lib/netns.sh
. "$REPO/scripts/lib/netns.sh"
SECONDS_RUN=${IPERF_SECONDS:-10}
BORINGTUN_VERSION=${BORINGTUN_VERSION:-0.6.0}

netns_preflight bench-boringtun ip iperf3 awk wg

TMP=$(mktemp -d /tmp/dmvpn-bench-bt.XXXXXX)
PREFIX="dmvpn-bt-$$"
# Interface names are global in the UAPI socket directory
# (/var/run/wireguard/NAME.sock), not per namespace: the pid keeps them apart.
WG_A="wgbt$$a"
WG_B="wgbt$$b"
declare -A PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for key in "${!PIDS[@]}"; do
        netns_stop "${PIDS[$key]}"
    done
    for ns in "${NETNS_CREATED[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
    rm -rf "$TMP"
    echo "==> cleaned up: processes stopped, namespaces $PREFIX-* and $TMP removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# iperf3 rate in Mbit/s (the receiver's summary line), from CLIENT_NS to an
# iperf3 server on SERVER in SERVER_NS.
iperf_rate() {
    local client_ns=$1 server_ns=$2 server=$3 name=$4
    ip netns exec "$server_ns" iperf3 -s -1 -B "$server" >"$TMP/iperf-$name-server.log" 2>&1 &
    PIDS[iperf-$name]=$!
    for _ in $(seq 50); do
        ip netns exec "$server_ns" ss -ltn 2>/dev/null | grep -q "$server:5201" && break
        sleep 0.1
    done
    ip netns exec "$client_ns" iperf3 -c "$server" -t "$SECONDS_RUN" -P 1 -f m \
        >"$TMP/iperf-$name.log" 2>&1 || {
        echo "bench-boringtun: iperf3 ($name) failed:" >&2
        cat "$TMP/iperf-$name.log" "$TMP/iperf-$name-server.log" >&2
        exit 1
    }
    netns_stop "${PIDS[iperf-$name]}"
    unset "PIDS[iperf-$name]"
    grep -E 'sender|receiver' "$TMP/iperf-$name.log" | sed 's/^/    /' >&2
    awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") r = $(i - 1) } END { print r }' \
        "$TMP/iperf-$name.log"
}

say "veth pair between two fresh namespaces $PREFIX-a, $PREFIX-b"
netns_new "$PREFIX-a"
netns_new "$PREFIX-b"
ip -n "$PREFIX-a" link add veth0 type veth peer name veth0 netns "$PREFIX-b"
ip -n "$PREFIX-a" addr add 198.51.100.1/30 dev veth0
ip -n "$PREFIX-b" addr add 198.51.100.2/30 dev veth0
ip -n "$PREFIX-a" link set veth0 up
ip -n "$PREFIX-b" link set veth0 up

say "iperf3 TCP, 1 stream, ${SECONDS_RUN} s: over the bare veth pair"
veth_rate=$(iperf_rate "$PREFIX-a" "$PREFIX-b" 198.51.100.2 veth)

say "boringtun-cli $BORINGTUN_VERSION: cargo install into target/boringtun (once)"
BT_ROOT="${CARGO_TARGET_DIR:-$REPO/target}/boringtun"
BT="$BT_ROOT/bin/boringtun-cli"
if [[ ! -x "$BT" ]]; then
    if ! cargo install --quiet --locked --root "$BT_ROOT" --version "$BORINGTUN_VERSION" \
        boringtun-cli >"$TMP/install.log" 2>&1; then
        tail -20 "$TMP/install.log" | sed 's/^/    /'
        echo "    boringtun-cli could not be installed: its figure is skipped"
        printf '\n==> results\n    %-44s %10s Mbit/s\n' "bare veth pair" "$veth_rate"
        exit 0
    fi
fi
echo "    $("$BT" --version 2>&1 | head -1)"

say "boringtun on the veth pair: $WG_A (10.99.0.1) in $PREFIX-a, $WG_B (10.99.0.2) in $PREFIX-b"
umask 077
wg genkey >"$TMP/a.key"
wg genkey >"$TMP/b.key"
pub_a=$(wg pubkey <"$TMP/a.key")
pub_b=$(wg pubkey <"$TMP/b.key")
start_boringtun() {
    local ns=$1 dev=$2
    # --foreground: its pid is ours to stop; as root it keeps root (the TUN
    # device stays its own, no SUDO_UID to drop to).
    ip netns exec "$ns" env WG_LOG_LEVEL=error "$BT" --foreground --disable-drop-privileges \
        "$dev" >"$TMP/$dev.log" 2>&1 &
    PIDS[$dev]=$!
    for _ in $(seq 50); do
        [[ -S "/var/run/wireguard/$dev.sock" ]] && ip -n "$ns" link show "$dev" >/dev/null 2>&1 &&
            return 0
        if ! kill -0 "${PIDS[$dev]}" 2>/dev/null; then
            echo "bench-boringtun: boringtun-cli on $dev exited:" >&2
            cat "$TMP/$dev.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "bench-boringtun: boringtun-cli on $dev did not come up:" >&2
    cat "$TMP/$dev.log" >&2
    exit 1
}
start_boringtun "$PREFIX-a" "$WG_A"
start_boringtun "$PREFIX-b" "$WG_B"
ip netns exec "$PREFIX-a" wg set "$WG_A" listen-port 51820 private-key "$TMP/a.key" \
    peer "$pub_b" endpoint 198.51.100.2:51820 allowed-ips 10.99.0.2/32
ip netns exec "$PREFIX-b" wg set "$WG_B" listen-port 51820 private-key "$TMP/b.key" \
    peer "$pub_a" endpoint 198.51.100.1:51820 allowed-ips 10.99.0.1/32
ip -n "$PREFIX-a" addr add 10.99.0.1/24 dev "$WG_A"
ip -n "$PREFIX-b" addr add 10.99.0.2/24 dev "$WG_B"
ip -n "$PREFIX-a" link set "$WG_A" mtu 1420 up
ip -n "$PREFIX-b" link set "$WG_B" mtu 1420 up
# The handshake, before the clock runs.
ip netns exec "$PREFIX-a" ping -n -q -c 3 -i 0.2 -W 1 10.99.0.2 >/dev/null 2>&1 || {
    echo "bench-boringtun: no ping over WireGuard; boringtun logs:" >&2
    cat "$TMP/$WG_A.log" "$TMP/$WG_B.log" >&2
    exit 1
}

say "iperf3 TCP, 1 stream, ${SECONDS_RUN} s: over boringtun"
bt_rate=$(iperf_rate "$PREFIX-a" "$PREFIX-b" 10.99.0.2 boringtun)
ip netns exec "$PREFIX-a" wg show "$WG_A" transfer | sed 's/^/    transfer: /'

say "results"
ratio() { awk -v t="$1" -v v="$veth_rate" 'BEGIN { printf "%.1f", (v > 0 ? 100 * t / v : 0) }'; }
printf '    %-44s %10s Mbit/s %6s %%\n' "boringtun-cli (${WG_THREADS:-4} threads, mtu 1420)" \
    "$bt_rate" "$(ratio "$bt_rate")"
printf '    %-44s %10s Mbit/s\n' "bare veth pair" "$veth_rate"
echo "    load: $(uptime)"
