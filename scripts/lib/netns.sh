# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/bench.sh (sourced, not run): the
# checks before a run and the DMVPN topology, a hub and spokes s1, s2, each a
# real dmvpnd in its own network namespace on an underlay bridge.
#
# The caller sets REPO (and cd's there) before the set-up; afterwards TMP (a
# temp dir, one subdir per node), BIN (where dmvpnd and dmvpn-cli are) and
# `declare -A PIDS=()` (dmvpnd's pid per node, filled by netns_start_daemons).

NODES=(hub s1 s2)
# Every namespace netns_new created, in order.
NETNS_CREATED=()

say() { printf '\n==> %s\n' "$*"; }

# netns_preflight NAME TOOL...: needs root; runs scripts/setup.sh unless
# SKIP_SETUP is set; loads cargo's env if cargo is not on PATH; every TOOL
# must be on PATH. NAME prefixes the error messages.
netns_preflight() {
    local name=$1 tool
    shift
    if [[ $(id -u) -ne 0 ]]; then
        echo "$name: needs root (network namespaces, TUN devices, raw GRE sockets); try: sudo $0" >&2
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
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "$name: '$tool' is missing (scripts/setup.sh installs it)" >&2
            exit 1
        fi
    done
}

# netns_stop PID: SIGTERM, SIGKILL after 3 s, and reap; nothing if PID is
# empty or not running.
netns_stop() {
    local pid=$1
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

# netns_new NS: a namespace with lo up, remembered in NETNS_CREATED.
netns_new() {
    ip netns add "$1"
    NETNS_CREATED+=("$1")
    ip -n "$1" link set lo up
}

# netns_topology PREFIX: namespaces PREFIX-ul (the underlay bridge br0) and
# PREFIX-<node> for each node, with eth0 on the bridge at its NBMA address,
# a LAN interface lan0 on the spokes, forwarding on and rp_filter off.
netns_topology() {
    local prefix=$1 node ns
    netns_new "$prefix-ul"
    ip -n "$prefix-ul" link add br0 type bridge
    ip -n "$prefix-ul" link set br0 up
    local -A nbma=([hub]=192.0.2.1 [s1]=192.0.2.11 [s2]=192.0.2.12)
    local -A lan=([s1]=172.16.1.1/24 [s2]=172.16.2.1/24)
    for node in "${NODES[@]}"; do
        ns="$prefix-$node"
        netns_new "$ns"
        ip -n "$prefix-ul" link add "$node" type veth peer name eth0 netns "$ns"
        ip -n "$prefix-ul" link set "$node" master br0 up
        ip -n "$ns" addr add "${nbma[$node]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        if [[ -n "${lan[$node]:-}" ]]; then
            # A dummy interface, or one end of a veth pair without the dummy module.
            ip -n "$ns" link add lan0 type dummy 2>/dev/null ||
                { ip -n "$ns" link add lan0 type veth peer name lan0p && ip -n "$ns" link set lan0p up; }
            ip -n "$ns" addr add "${lan[$node]}" dev lan0
            ip -n "$ns" link set lan0 up
        fi
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
}

# netns_start_daemons PREFIX: dmvpnd ($BIN) in PREFIX-<node> for each node,
# with copies of examples/{hub,spoke}.toml (state, log and gRPC socket in
# $TMP/<node>/) and examples/{hub,spoke}-startup.json (s2's with .12 for
# .11); their pids in PIDS. Knobs, from the environment:
#   DATA_PLANE=KIND  the tunnels' dmvpn-tunnel `data-plane` leaf (default
#                    userspace); a kind the daemon refuses ends it, with
#                    the reason in $TMP/<node>/stdout.log; one it cannot
#                    run it may fall back from (its log says why).
#   LOG_LEVEL=FILTER the daemons' logging level (a tracing filter, e.g.
#                    debug); default the examples' (info).
netns_start_daemons() {
    local prefix=$1 node dir role data_plane=${DATA_PLANE:-userspace}
    local level=()
    [[ -n "${LOG_LEVEL:-}" ]] && level=(-e "s|^level = .*|level = \"$LOG_LEVEL\"|")
    for node in "${NODES[@]}"; do
        dir="$TMP/$node"
        mkdir -p "$dir"
        role=spoke
        [[ $node == hub ]] && role=hub
        sed -e "s|^state-dir = .*|state-dir = \"$dir/state\"|" \
            -e 's|^target = .*|target = "file"|' \
            -e "s|^#\? \?file = .*|file = \"$dir/dmvpnd.log\"|" \
            -e "s|^socket = .*|socket = \"$dir/grpc.sock\"|" \
            "${level[@]}" "examples/$role.toml" >"$dir/dmvpnd.toml"
        # The data plane next to the GRE key (the examples leave it to the
        # YANG default).
        sed -e "s/10\.0\.0\.11/10.0.0.1${node#s}/; s/192\.0\.2\.11/192.0.2.1${node#s}/" \
            -e "s/\"gre-key\": 42\$/\"gre-key\": 42,\n          \"data-plane\": \"$data_plane\"/" \
            "examples/$role-startup.json" >"$dir/startup.json"
        if ! grep -q "\"data-plane\": \"$data_plane\"" "$dir/startup.json"; then
            echo "netns: no \"gre-key\": 42 line in examples/$role-startup.json to set data-plane after" >&2
            exit 1
        fi
        ip netns exec "$prefix-$node" "$BIN/dmvpnd" --config "$dir/dmvpnd.toml" \
            --startup "$dir/startup.json" </dev/null >"$dir/stdout.log" 2>&1 &
        PIDS[$node]=$!
    done
}

# netns_protect NODE [ENCRYPTION] [FORCE_ENCAP]: commits, on NODE's running
# tunnel, an IPsec profile "dmvpn" (IKEv2 with a pre-shared key for any peer;
# ESP with ENCRYPTION alone when given and not empty, else the defaults) and
# tunnel protection with it, as Cisco's `tunnel protection ipsec profile
# dmvpn`. FORCE_ENCAP true or false sets nat/force-encapsulation (Cisco's
# `nat force-encap`: ESP in UDP 4500 even without a NAT); it applies to SAs
# set up from then on.
netns_protect() {
    local node=$1 encryption=${2:-} force_encap=${3:-} profile="/dmvpn-ipsec:ipsec/profile[name='dmvpn']"
    local esp=() nat=()
    [[ -n "$encryption" ]] && esp=(-c "set $profile/esp/proposal[sequence='10']/encryption $encryption")
    [[ -n "$force_encap" ]] && nat=(-c "set $profile/nat/force-encapsulation $force_encap")
    "$BIN/dmvpn-cli" --socket "$TMP/$node/grpc.sock" -c configure \
        -c "set $profile/ike/pre-shared-key[name='any']/any" \
        -c "set $profile/ike/pre-shared-key[name='any']/secret demo-pre-shared-key" \
        "${esp[@]}" "${nat[@]}" \
        -c "set /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/dmvpn-ipsec:protection/profile dmvpn" \
        -c "commit tunnel protection ipsec profile dmvpn" >/dev/null
}

# cli NODE COMMAND...: dmvpn-cli against NODE's daemon.
cli() {
    local node=$1
    shift
    "$BIN/dmvpn-cli" --socket "$TMP/$node/grpc.sock" -c "$*"
}

# netns_wait_tunnels NAME PREFIX: waits (10 s at most) for tun0 in every
# node's namespace; exits with the daemon's logs if one exits. NAME
# prefixes the error message.
netns_wait_tunnels() {
    local name=$1 prefix=$2 node
    for node in "${NODES[@]}"; do
        for _ in $(seq 100); do
            ip -n "$prefix-$node" link show tun0 >/dev/null 2>&1 && break
            if ! kill -0 "${PIDS[$node]}" 2>/dev/null; then
                echo "$name: dmvpnd on $node exited; its log:" >&2
                cat "$TMP/$node/dmvpnd.log" "$TMP/$node/stdout.log" >&2 || true
                exit 1
            fi
            sleep 0.1
        done
    done
}

# netns_routes PREFIX: the routes a routing protocol would install: the hub
# knows each spoke's LAN, the spokes only a summary via the hub.
netns_routes() {
    local prefix=$1 node
    ip -n "$prefix-hub" route add 172.16.1.0/24 via 10.0.0.11 dev tun0
    ip -n "$prefix-hub" route add 172.16.2.0/24 via 10.0.0.12 dev tun0
    for node in s1 s2; do
        ip -n "$prefix-$node" route add 172.16.0.0/16 via 10.0.0.1 dev tun0
    done
}

# netns_wait_registered TRIES INTERVAL: polls the hub until both spokes are
# registered; fails if they are not after TRIES polls INTERVAL s apart.
netns_wait_registered() {
    local tries=$1 interval=$2 out
    for _ in $(seq "$tries"); do
        out=$(cli hub "show dmvpn" 2>/dev/null || true)
        if grep -q 10.0.0.11 <<<"$out" && grep -q 10.0.0.12 <<<"$out"; then
            return 0
        fi
        sleep "$interval"
    done
    return 1
}

# netns_wait_shortcut TRIES INTERVAL: polls s1 until it has a shortcut to
# s2's LAN (at most TRIES polls INTERVAL s apart); never fails.
netns_wait_shortcut() {
    local tries=$1 interval=$2 out
    for _ in $(seq "$tries"); do
        out=$(cli s1 "show ip nhrp shortcut" 2>/dev/null || true)
        grep -q 172.16.2 <<<"$out" && break
        sleep "$interval"
    done
    return 0
}
