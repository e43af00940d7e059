#!/usr/bin/env bash
# Benchmark (not a test): TCP throughput over the DMVPN tunnel, on each data
# plane, against a bare veth pair, and the time to the direct path in
# Phase 3.
#
# Builds dmvpnd and dmvpn-cli in release mode and then:
#   1. iperf3 TCP, one stream, IPERF_SECONDS (default 10) s, over a bare
#      veth pair between two fresh namespaces: the reference of every ratio;
#   2. once per data plane (DATA_PLANES, default "ebpf userspace": the fast
#      path, then the userspace plane), a fresh cloud: a hub and two spokes
#      in network namespaces as scripts/demo.sh builds it, their tunnels'
#      `data-plane` set to that kind (DATA_PLANE of scripts/lib/netns.sh).
#      A kind the daemons refuse (the fast path before it exists, or where
#      the kernel does not allow it) is reported, with the daemon's reason,
#      instead of measured. In each cloud:
#      a. Phase 3 at 1 ms resolution, PHASE3_ATTEMPTS (default 5) times:
#         pings every 1 ms from s1's LAN to s2's LAN; time to the direct
#         path = time of the first reply with TTL 64 (spoke to spoke,
#         nobody routed it) minus the time the first echo left (its
#         receive time minus its round trip, so the start of ping itself
#         does not count). The echo and its reply hairpin at the hub, so
#         both spokes are redirected and resolve at once; the reply shows
#         s2's shortcut, s1's is in place as soon (their logs at
#         LOG_LEVEL=debug). The figure is a multiple of the 1 ms interval
#         above what the protocol takes. The first attempt runs right after
#         both spokes registered; before each next one both spokes clear
#         their NHRP caches (`clear ip nhrp`: shortcuts purged on both
#         ends, registered again) and wait for the hub's Traffic Indication
#         interval (1 s per source and destination) to pass;
#      b. iperf3 from s1's LAN address to an iperf3 server bound to s2's
#         LAN address (over the Phase 3 shortcut);
#   3. fast path only: the same again with the spokes' underlay veths
#      without GRE segmentation offload (`ethtool -K eth0
#      tx-gre-segmentation off tx-gre-csum-segmentation off`), as a NIC
#      that cannot segment GRE: the kernel segments before the veth;
#   4. userspace plane only: the same again after the underlay veths were
#      made to receive and send as a NIC does: GRO on receive (threaded
#      NAPI on the bridge ports, so packets arrive in batches and GRE
#      datagrams of one flow are coalesced), a transmit queue with
#      backpressure (pfifo_fast);
#   5. userspace plane only: the same again with IPsec: every node's tunnel
#      protected (ESP AES-GCM-256, PSK), committed in place on the running
#      tunnels, with ESP in UDP 4500 forced (`nat force-encap`; why: see the
#      step); and unless BENCH_RAW_ESP=0 the same with plain ESP (IP
#      protocol 50): force-encap off, the SAs cleared and brought up again
#      by traffic. (The kernel here has no ESP: encrypted peers are the
#      userspace plane's on either kind.)
# Prints the rates, their ratios to the bare veth, the Phase 3 figures per
# data plane and whether the goals are met (fast path at 80 % of bare veth
# or better; userspace tunnel at 40 %; IPsec, in UDP, at 80 % of the plain
# userspace tunnel; Phase 3 under 10 ms). Needs root, iperf3, ping and
# ethtool (scripts/setup.sh). scripts/bench-boringtun.sh runs userspace
# WireGuard on a veth pair for comparison.
# Cleans up after itself, also when interrupted.
#   SKIP_SETUP=1 IPERF_SECONDS=10 PHASE3_ATTEMPTS=5 ./scripts/bench.sh
#   DATA_PLANES=userspace ./scripts/bench.sh     the userspace plane only
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# shellcheck source=scripts/lib/netns.sh
. "$REPO/scripts/lib/netns.sh"
SECONDS_RUN=${IPERF_SECONDS:-10}
PHASE3_ATTEMPTS=${PHASE3_ATTEMPTS:-5}
DATA_PLANES=${DATA_PLANES:-ebpf userspace}
GOAL_PERCENT=40
FAST_GOAL_PERCENT=80
PHASE3_GOAL_MS=10

for kind in $DATA_PLANES; do
    if [[ $kind != ebpf && $kind != userspace ]]; then
        echo "bench: DATA_PLANES: unknown data plane $kind (ebpf, userspace)" >&2
        exit 2
    fi
done

netns_preflight bench ip ping iperf3 awk ethtool tc

say "build dmvpnd and dmvpn-cli (release)"
cargo build --locked --release -p dmvpnd -p dmvpn-cli
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

TMP=$(mktemp -d /tmp/dmvpn-bench.XXXXXX)
BASE="dmvpn-bench-$$"
# The cloud's namespaces are $PREFIX-<node>; one cloud per data plane.
PREFIX=
declare -A PIDS=()

stop() { netns_stop "$1"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for key in "${!PIDS[@]}"; do
        stop "${PIDS[$key]}"
    done
    for ns in "${NETNS_CREATED[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
    echo "==> cleaned up: processes stopped, namespaces $BASE-* and $TMP removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

new_ns() { netns_new "$1"; }

# iperf3 rate in Mbit/s: the receiver's summary line.
iperf_rate() {
    local client_ns=$1 server_ns=$2 server=$3 bind=$4 name=$5
    ip netns exec "$server_ns" iperf3 -s -1 -B "$server" >"$TMP/iperf-$name-server.log" 2>&1 &
    PIDS[iperf-$name]=$!
    for _ in $(seq 50); do
        ip netns exec "$server_ns" ss -ltn 2>/dev/null | grep -q "$server:5201" && break
        sleep 0.1
    done
    ip netns exec "$client_ns" iperf3 -c "$server" -B "$bind" -t "$SECONDS_RUN" -P 1 -f m \
        >"$TMP/iperf-$name.log" 2>&1 || {
        echo "bench: iperf3 ($name) failed:" >&2
        cat "$TMP/iperf-$name.log" "$TMP/iperf-$name-server.log" >&2
        # This runs in a subshell ($(...)): the caller's cleanup does not
        # know the server.
        stop "${PIDS[iperf-$name]}"
        exit 1
    }
    stop "${PIDS[iperf-$name]}"
    unset "PIDS[iperf-$name]"
    awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") r = $(i - 1) } END { print r }' \
        "$TMP/iperf-$name.log"
}

# over_tunnel NAME: iperf3 from s1's LAN to s2's LAN (the rate), with its
# summary on stderr.
over_tunnel() {
    local rate
    rate=$(iperf_rate "$PREFIX-s1" "$PREFIX-s2" 172.16.2.1 172.16.1.1 "$1") || return 1
    grep -E 'sender|receiver' "$TMP/iperf-$1.log" | sed 's/^/    /' >&2
    echo "$rate"
}

# cloud_start KIND: a fresh cloud whose tunnels run data plane KIND, both
# spokes registered. Fails, with the reason in CLOUD_REFUSED, when a daemon
# refuses KIND (it exits), runs another kind instead, or the cloud does
# not come up (no tunnel, no registration).
CLOUD_REFUSED=
cloud_start() {
    local kind=$1 node log reason in_use
    PREFIX="$BASE-$kind"
    CLOUD_REFUSED=
    netns_topology "$PREFIX"
    DATA_PLANE=$kind netns_start_daemons "$PREFIX"
    for node in "${NODES[@]}"; do
        for _ in $(seq 100); do
            ip -n "$PREFIX-$node" link show tun0 >/dev/null 2>&1 && break
            if ! kill -0 "${PIDS[$node]}" 2>/dev/null; then
                # The daemon's last word: its error, e.g. the refused commit.
                for log in "$TMP/$node/stdout.log" "$TMP/$node/dmvpnd.log"; do
                    reason=$(grep -v '^\s*$' "$log" 2>/dev/null | tail -1 || true)
                    [[ -n "$reason" ]] && break
                done
                # e.g. "dmvpnd: --startup FILE: PATH: Invalid enumeration value".
                reason=$(sed -E 's/^dmvpnd: --startup [^:]*: //' <<<"$reason")
                CLOUD_REFUSED="dmvpnd on $node: ${reason:-exited without a message}"
                return 1
            fi
            sleep 0.1
        done
        if ! ip -n "$PREFIX-$node" link show tun0 >/dev/null 2>&1; then
            reason=$(grep -E ' (ERROR|WARN) ' "$TMP/$node/dmvpnd.log" | tail -1 || true)
            CLOUD_REFUSED="no tunnel on $node after 10 s: ${reason:-nothing logged}"
            return 1
        fi
    done
    netns_routes "$PREFIX"
    if ! netns_wait_registered 100 0.1; then
        reason=$(grep -E ' (ERROR|WARN) ' "$TMP/hub/dmvpnd.log" | tail -1 || true)
        CLOUD_REFUSED="the spokes did not register in 10 s; the hub's last warning: ${reason:-none}"
        return 1
    fi
    # A daemon that fell back to another kind says which one runs in its
    # state (`data-plane` in use), when it reports one; its data plane is
    # up by now (the spokes registered through it).
    for node in "${NODES[@]}"; do
        in_use=$(cli "$node" "show state" 2>/dev/null |
            grep -o '"[a-z-]*data-plane[a-z-]*": *"[a-z]*"' | grep -o '"[a-z]*"$' | tr -d '"' |
            grep -vx "$kind" | sort -u | tr '\n' ' ' || true)
        [[ -z "$in_use" ]] && continue
        # Its log line says why, e.g. "WARN ...: eBPF fast path unavailable:
        # ... error=...".
        reason=$(grep -iE ' (WARN|ERROR) .*(fall|bpf|fast path)' "$TMP/$node/dmvpnd.log" |
            tail -1 | sed -E 's/^[^ ]+ +[A-Z]+ +[^ ]+: //' || true)
        CLOUD_REFUSED="$node runs ${in_use% } instead: ${reason:-no log line}"
        return 1
    done
}

# cloud_stop KIND: the daemons stopped, the cloud's namespaces deleted,
# its state gone (the next cloud starts from its startup files); logs kept
# in $TMP/KIND/.
cloud_stop() {
    local kind=$1 node
    for node in "${NODES[@]}"; do
        stop "${PIDS[$node]:-}"
        unset "PIDS[$node]"
    done
    for node in "${NODES[@]}" ul; do
        ip netns del "$PREFIX-$node" 2>/dev/null || true
    done
    mkdir -p "$TMP/$kind"
    for node in "${NODES[@]}"; do
        [[ -d "$TMP/$node" ]] || continue
        cp "$TMP/$node"/*.log "$TMP/$kind/" 2>/dev/null || true
        rm -rf "${TMP:?}/$node"
    done
}

# phase3_once LOG: pings every 1 ms from s1's LAN to s2's LAN until a reply
# has TTL 64 (3 s at most); prints the milliseconds from the first echo to
# that reply, or nothing without one. ping -D stamps every reply with its
# receive time; the first echo left its RTT before its reply arrived.
phase3_once() {
    local log=$1
    ip netns exec "$PREFIX-s1" ping -n -D -i 0.001 -W 1 -c 3000 -w 4 -I 172.16.1.1 172.16.2.1 \
        2>&1 | awk '{ print } /ttl=64/ { exit }' >"$log" || true
    awk '
        /bytes from/ {
            ts = substr($1, 2, length($1) - 2)
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^time=/) rtt = substr($i, 6)
                if ($i ~ /^icmp_seq=/) seq = substr($i, 10)
            }
            # The send time of echo 1, from the first reply seen (echoes
            # leave 1 ms apart).
            if (t0 == "") t0 = ts - rtt / 1000 - (seq - 1) * 0.001
            if (/ttl=64/) { printf "%.1f\n", (ts - t0) * 1000; exit }
        }' "$log"
}

# phase3 KIND: PHASE3_ATTEMPTS measurements; sets PHASE3[KIND] to
# "min median attempts" (or "none" without a direct path) and prints each.
declare -A PHASE3=()
phase3() {
    local kind=$1 i ms all=() via_hub
    say "Phase 3 ($kind): pings every 1 ms from 172.16.1.1 to 172.16.2.1 until a reply has TTL 64, $PHASE3_ATTEMPTS times"
    for i in $(seq "$PHASE3_ATTEMPTS"); do
        if ((i > 1)); then
            cli s1 "clear ip nhrp" >/dev/null
            cli s2 "clear ip nhrp" >/dev/null
            # The hub sends one Traffic Indication per source and
            # destination a second.
            sleep 1.2
            netns_wait_registered 100 0.1 || true
        fi
        ms=$(phase3_once "$TMP/phase3-$kind-$i.log")
        via_hub=$(grep -c 'ttl=63' "$TMP/phase3-$kind-$i.log" || true)
        echo "    attempt $i: ${ms:-no direct path in 3 s} ms (replies via the hub before: $via_hub)"
        [[ -n "$ms" ]] && all+=("$ms")
    done
    if ((${#all[@]} == 0)); then
        PHASE3[$kind]=none
        return
    fi
    PHASE3[$kind]=$(printf '%s\n' "${all[@]}" | sort -n |
        awk '{ v[NR] = $1 } END { printf "%s %s %d", v[1], v[int((NR + 1) / 2)], NR }')
    netns_wait_shortcut 50 0.1
    cli s1 "show ip nhrp shortcut" | sed 's/^/    /'
}

say "iperf3 TCP, 1 stream, ${SECONDS_RUN} s: over a bare veth pair between two fresh namespaces"
new_ns "$BASE-va"
new_ns "$BASE-vb"
ip -n "$BASE-va" link add veth0 type veth peer name veth0 netns "$BASE-vb"
ip -n "$BASE-va" addr add 198.51.100.1/30 dev veth0
ip -n "$BASE-vb" addr add 198.51.100.2/30 dev veth0
ip -n "$BASE-va" link set veth0 up
ip -n "$BASE-vb" link set veth0 up
veth_rate=$(iperf_rate "$BASE-va" "$BASE-vb" 198.51.100.2 198.51.100.1 veth)
grep -E 'sender|receiver' "$TMP/iperf-veth.log" | sed 's/^/    /'
ip netns del "$BASE-va"
ip netns del "$BASE-vb"

fast_rate= fast_nogso_rate= fast_refused= fast_mtu=
tunnel_rate= nic_rate= ipsec_rate= raw_rate= tun_mtu= ipsec_mtu= ipsec_encap=
for kind in $DATA_PLANES; do
    say "data plane $kind: hub and spokes s1, s2 on an underlay bridge (as scripts/demo.sh)"
    if ! cloud_start "$kind"; then
        if [[ $kind == userspace ]]; then
            echo "bench: the userspace cloud did not come up: $CLOUD_REFUSED; the logs:" >&2
            tail -n 30 "$TMP"/{hub,s1,s2}/dmvpnd.log "$TMP"/{hub,s1,s2}/stdout.log >&2 || true
            exit 1
        fi
        echo "    fast path: not available ($CLOUD_REFUSED)"
        fast_refused=$CLOUD_REFUSED
        cloud_stop "$kind"
        continue
    fi
    phase3 "$kind"
    mtu=$(ip -n "$PREFIX-s1" -o link show tun0 | sed -E 's/.* mtu ([0-9]+) .*/\1/')
    case $kind in
    ebpf)
        fast_mtu=$mtu
        say "fast path: iperf3 TCP, 1 stream, ${SECONDS_RUN} s: 172.16.1.1 (s1) -> 172.16.2.1 (s2) over the tunnel"
        # A fast path that breaks the transfer is reported, not fatal: the
        # userspace rows still run.
        if ! fast_rate=$(over_tunnel fast); then
            fast_rate=
            fast_refused="iperf3 over the fast path failed (above)"
        else
            say "fast path, the spokes' underlay veths without GRE segmentation offload; iperf3 again"
            for node in s1 s2; do
                ip netns exec "$PREFIX-$node" ethtool -K eth0 \
                    tx-gre-segmentation off tx-gre-csum-segmentation off
            done
            fast_nogso_rate=$(over_tunnel fast-nogso) || fast_nogso_rate=
        fi
        ;;
    userspace)
        tun_mtu=$mtu
        say "userspace plane: iperf3 TCP, 1 stream, ${SECONDS_RUN} s: 172.16.1.1 (s1) -> 172.16.2.1 (s2) over the tunnel"
        tunnel_rate=$(over_tunnel tunnel)

        say "the underlay as a NIC: GRO on receive, a transmit queue; iperf3 over the tunnel again"
        for node in "${NODES[@]}"; do
            ip netns exec "$PREFIX-ul" ethtool -K "$node" gro on
            ip netns exec "$PREFIX-ul" sh -c "echo 1 > /sys/class/net/$node/threaded"
            # veth coalesces only what comes from a peer without TSO (a raw
            # socket never sends TSO anyway), and pushes back on a full
            # ring only to a qdisc.
            ip netns exec "$PREFIX-$node" ethtool -K eth0 tso off
            ip -n "$PREFIX-$node" link set eth0 txqueuelen 1000
            tc -n "$PREFIX-$node" qdisc replace dev eth0 root pfifo_fast
        done
        nic_rate=$(over_tunnel tunnel-nic)
        coalesced=$(cli s2 "show state" | grep -o '"coalesced-in": *"[0-9]*"' | grep -o '[0-9]*' || true)
        echo "    GRE datagrams s2 received coalesced by its underlay: ${coalesced:-?}"

        # ESP in UDP 4500 (RFC 3948), forced as Cisco's `nat force-encap`
        # does even without a NAT, is the fast configuration of the
        # userspace data plane: the kernel here has no ESP, so ESP is built
        # and opened in userspace either way, but UDP is still the
        # kernel's, and its GSO (one sendmsg for the ESP packets of a whole
        # TCP super-packet from the TUN device) and GRO (one recvmsg for up
        # to 64 KB of them) let a super-packet cross the kernel in one call
        # each way, as GRE does on the plain tunnel. Plain ESP (IP 50) on a
        # raw socket has neither: one system call and one trip through the
        # IP stack per packet.
        #
        # The tunnel MTU: the daemon lowers it by the profile's ESP overhead
        # when protection is committed (here AES-GCM-256 in UDP: 45 octets,
        # so 1427 on the 1500-octet veth), as Cisco's DMVPN guides set `ip
        # mtu 1400` with IPsec: the plain tunnel's (1472) would leave no
        # room for ESP, and every full-sized ESP packet would leave in two
        # IP fragments (which UDP GSO cannot make: the kernel refuses such
        # runs). IPSEC_MTU=N configures N instead. The plain tunnel above
        # was measured at its own MTU: IPsec carries about 3 % fewer payload
        # octets per packet.
        IPSEC_MTU=${IPSEC_MTU:-}
        say "IPsec: every node protects its tunnel (AES-GCM-256, PSK, ESP in UDP 4500 forced${IPSEC_MTU:+, tunnel mtu $IPSEC_MTU}), committed in place; iperf3 again"
        for node in "${NODES[@]}"; do
            if [ -n "$IPSEC_MTU" ]; then
                "$BIN/dmvpn-cli" --socket "$TMP/$node/grpc.sock" -c configure \
                    -c "set /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/mtu $IPSEC_MTU" \
                    -c "commit tunnel mtu $IPSEC_MTU for IPsec" >/dev/null
            fi
            netns_protect "$node" aes-gcm-256 true
        done
        # The spokes' SAs to the hub and to each other come up with the traffic.
        ip netns exec "$PREFIX-s1" ping -n -q -i 0.05 -W 1 -c 40 -I 172.16.1.1 172.16.2.1 >/dev/null 2>&1 || true
        ipsec_mtu=$(ip -n "$PREFIX-s1" -o link show tun0 | sed -E 's/.* mtu ([0-9]+) .*/\1/')
        echo "    tunnel mtu with IPsec: $ipsec_mtu"
        ipsec_rate=$(over_tunnel ipsec)
        cli s1 "show crypto ipsec sa" | grep -E 'current_peer|#pkts (en|de)caps|transform' | sed 's/^/    /'
        # What was measured, as the SAs say (force-encap applies to new SAs only).
        ipsec_encap="UDP 4500"
        if ! cli s1 "show crypto ipsec sa" | grep -qi 'transform:.*udp'; then
            ipsec_encap="ESP IP 50: force-encap not in effect"
        fi
        echo "    measured: ESP in $ipsec_encap"

        if [[ "${BENCH_RAW_ESP:-1}" != 0 ]]; then
            say "IPsec with plain ESP (IP 50): force-encap off, SAs cleared and brought up again by traffic; iperf3 again"
            for node in "${NODES[@]}"; do
                netns_protect "$node" aes-gcm-256 false
            done
            for node in "${NODES[@]}"; do
                cli "$node" "clear crypto sa" >/dev/null || true
            done
            # A cleared SA takes the peer down for NHRP: the spokes register
            # again and the shortcut is resolved again, all through new SAs.
            netns_wait_registered 300 0.1 || echo "    (the spokes did not register again in 30 s)"
            ip netns exec "$PREFIX-s1" ping -n -q -i 0.05 -W 1 -c 40 -I 172.16.1.1 172.16.2.1 >/dev/null 2>&1 || true
            netns_wait_shortcut 50 0.1
            # A secondary figure: its failure does not end the run.
            if raw_rate=$(over_tunnel ipsec-esp); then
                :
            else
                raw_rate=
                for node in "${NODES[@]}"; do
                    echo "    $node's log, last lines:"
                    tail -15 "$TMP/$node/dmvpnd.log" | sed 's/^/      /'
                done
            fi
            cli s1 "show crypto ipsec sa" | grep -E 'current_peer|transform' | sed 's/^/    /'
        fi
        ;;
    esac
    cloud_stop "$kind"
done

say "results"
ratio() { awk -v t="$1" -v v="$veth_rate" 'BEGIN { printf "%.1f", (v > 0 ? 100 * t / v : 0) }'; }
row() { printf '    %-50s %10s Mbit/s %6s %%\n' "$1" "$2" "$(ratio "$2")"; }
missing() { printf '    %-50s %s\n' "$1" "$2"; }
printf '    %-50s %10s Mbit/s %6s %%\n' "bare veth pair" "$veth_rate" 100.0
fast_wanted=false
[[ " $DATA_PLANES " == *" ebpf "* ]] && fast_wanted=true
if [[ -n "$fast_rate" ]]; then
    row "fast path (eBPF tc, mtu $fast_mtu)" "$fast_rate"
elif $fast_wanted; then
    missing "fast path (eBPF tc)" "not available (${fast_refused:-not measured})"
fi
if [[ -n "$tunnel_rate" ]]; then
    row "userspace plane (mGRE, mtu $tun_mtu)" "$tunnel_rate"
fi
if [[ -n "$fast_nogso_rate" ]]; then
    row "fast path, underlay without GRE segmentation" "$fast_nogso_rate"
elif $fast_wanted; then
    missing "fast path, underlay without GRE segmentation" "not available${fast_refused:+ (as above)}"
fi
if [[ -n "$tunnel_rate" ]]; then
    row "userspace plane, underlay as a NIC (GRO, queue)" "$nic_rate"
    of_plain() { awk -v i="$1" -v p="$nic_rate" 'BEGIN { printf "%.1f", (p > 0 ? 100 * i / p : 0) }'; }
    printf '    %-50s %10s Mbit/s %6s %%  (%s %% of the plain tunnel as a NIC)\n' \
        "  IPsec AES-GCM-256, $ipsec_encap, mtu $ipsec_mtu" "$ipsec_rate" "$(ratio "$ipsec_rate")" \
        "$(of_plain "$ipsec_rate")"
    if [[ -n "$raw_rate" ]]; then
        printf '    %-50s %10s Mbit/s %6s %%  (%s %% of the plain tunnel as a NIC)\n' \
            "  IPsec AES-GCM-256, ESP IP 50, mtu $ipsec_mtu" "$raw_rate" "$(ratio "$raw_rate")" \
            "$(of_plain "$raw_rate")"
    fi
fi
for kind in $DATA_PLANES; do
    case ${PHASE3[$kind]:-} in
    "") missing "Phase 3 time to direct path ($kind)" "not available" ;;
    none) missing "Phase 3 time to direct path ($kind)" "no direct path in 3 s" ;;
    *)
        read -r min median n <<<"${PHASE3[$kind]}"
        printf '    %-50s %6s ms min, %s ms median of %s  (first echo -> first TTL 64 reply, 1 ms pings)\n' \
            "Phase 3 time to direct path ($kind)" "$min" "$median" "$n"
        ;;
    esac
done
goal() { awk -v p="$1" -v g="$2" 'BEGIN { print (p >= g ? "MET" : "NOT MET") }'; }
if [[ -n "$fast_rate" ]]; then
    echo "    goal: fast path at ${FAST_GOAL_PERCENT} % of bare veth or better: $(goal "$(ratio "$fast_rate")" "$FAST_GOAL_PERCENT")"
fi
if [[ -n "$tunnel_rate" ]]; then
    best=$(awk -v a="$(ratio "$tunnel_rate")" -v b="$(ratio "$nic_rate")" 'BEGIN { print (a > b ? a : b) }')
    echo "    goal: userspace tunnel at ${GOAL_PERCENT} % of bare veth or better: $(goal "$best" "$GOAL_PERCENT")"
    echo "    goal: IPsec (ESP in UDP 4500) at 80 % of the plain tunnel or better: $(goal "$(of_plain "$ipsec_rate")" 80)"
fi
for kind in $DATA_PLANES; do
    [[ ${PHASE3[$kind]:-none} == none ]] && continue
    read -r _ median _ <<<"${PHASE3[$kind]}"
    met=$(awk -v m="$median" -v g="$PHASE3_GOAL_MS" 'BEGIN { print (m < g ? "MET" : "NOT MET") }')
    echo "    goal: Phase 3 ($kind) under ${PHASE3_GOAL_MS} ms (median): $met"
done
echo "    load: $(uptime)"
