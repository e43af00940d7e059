#!/usr/bin/env bash
# Benchmark (not a test), issue 15: one hub under N emulated spokes.
#
# Builds dmvpnd, dmvpn-cli and dmvpn-loadgen in release mode, then:
#   - two namespaces on a veth pair: the hub (192.0.2.1, a release dmvpnd
#     with the demo hub's configuration, tunnel 10.0.0.1/8 so that 100 000
#     spokes fit, max-registrations N + 100) and the generator (192.0.2.2,
#     with `ip route add local 198.18.0.0/15 dev lo`: every address of the
#     range is local there, so one raw socket sends from and receives for
#     131 070 distinct NBMA addresses; the hub routes the range to it);
#   - dmvpn-loadgen emulates SPOKES spokes (NBMA 198.18.0.1 up, tunnel
#     10.0.0.2 up) registering at RATE per second (0: all at once, as after
#     a hub restart), retrying like real spokes; RESOLVE Resolution Requests
#     between random pairs afterwards; it prints the registered count every
#     second and a summary;
#   - the hub's RSS (VmRSS) before, at rest after convergence (per spoke),
#     and its peak (VmHWM, reset through /proc/PID/clear_refs before each
#     step) during the registrations and during each show command;
#   - each of SHOW_COMMANDS (default: show dmvpn; show dmvpn summary; show ip nhrp; show ip nhrp
#     traffic; show state of one peer by key), timed; a failure is reported
#     with its message;
#   - MODE=restart: the spokes refresh every RESTART_REFRESH s; after
#     convergence the hub is killed (-9), left down RESTART_DOWN s (longer
#     than the refresh: every spoke is retrying by then, 1, 2, 4 ... 64 s)
#     and started again; the generator reports the spokes registered again
#     over time and how long until all were.
# Prints the figures with the load (uptime). Needs root. Cleans up (hub,
# generator, namespaces, temp dir) also on failure or interruption.
# GEN_TIMEOUT bounds the wait for convergence (generator's --timeout),
# SHOW_TIMEOUT each show command, both in seconds.
#   SPOKES=1000 RATE=5000 RESOLVE=0 MODE=register SKIP_SETUP=1 ./scripts/bench-hub.sh
#   SPOKES=100000 RATE=5000 MODE=restart SKIP_SETUP=1 ./scripts/bench-hub.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# shellcheck source=scripts/lib/netns.sh
. "$REPO/scripts/lib/netns.sh"

SPOKES=${SPOKES:-1000}
RATE=${RATE:-5000}
RESOLVE=${RESOLVE:-0}
MODE=${MODE:-register}
# One peer by key (the first spoke): what a query for one peer costs.
ONE_PEER="show state /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/peer[nbma-address='198.18.0.1']"
SHOW_COMMANDS=${SHOW_COMMANDS:-show dmvpn;show dmvpn summary;show ip nhrp;show ip nhrp traffic;$ONE_PEER}
SHOW_TIMEOUT=${SHOW_TIMEOUT:-300}
RESTART_REFRESH=${RESTART_REFRESH:-30}
RESTART_DOWN=${RESTART_DOWN:-35}
GEN_TIMEOUT=${GEN_TIMEOUT:-}
KEY=42
PASSWORD=DMVPN

case "$MODE" in register | restart) ;; *)
    echo "bench-hub: MODE is register or restart, not '$MODE'" >&2
    exit 1
    ;;
esac

netns_preflight bench-hub ip awk timeout /usr/bin/time

say "build dmvpnd, dmvpn-cli and dmvpn-loadgen (release)"
cargo build --locked --release -p dmvpnd -p dmvpn-cli -p dmvpn-loadgen
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

TMP=$(mktemp -d /tmp/dmvpn-bench-hub.XXXXXX)
PREFIX="dmvpn-bh-$$"
HUB_NS="$PREFIX-hub"
GEN_NS="$PREFIX-gen"
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
    rm -rf "$TMP"
    echo "==> cleaned up: processes stopped, namespaces $PREFIX-* and $TMP removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The hub's memory, kB: "VmRSS VmHWM".
memory() {
    awk '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } END { print rss, hwm }' \
        "/proc/${PIDS[hub]}/status"
}
# Resets the hub's VmHWM to its VmRSS, so that VmHWM is the peak from now.
reset_peak() {
    echo 5 >"/proc/${PIDS[hub]}/clear_refs" 2>/dev/null ||
        echo "    (could not reset VmHWM: the peak is since the start)"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
# CPU seconds the hub used so far (user + system).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/${PIDS[hub]}/stat"
}
# Drops the kernel counted on the raw GRE sockets of namespace $1.
raw_drops() {
    ip netns exec "$1" awk 'NR > 1 && $2 ~ /:002F$/ { d += $NF } END { print d + 0 }' /proc/net/raw
}

say "topology: hub $HUB_NS (192.0.2.1) and generator $GEN_NS (192.0.2.2, NBMA range 198.18.0.0/15 local)"
netns_new "$HUB_NS"
netns_new "$GEN_NS"
ip -n "$HUB_NS" link add eth0 type veth peer name eth0 netns "$GEN_NS"
ip -n "$HUB_NS" addr add 192.0.2.1/24 dev eth0
ip -n "$GEN_NS" addr add 192.0.2.2/24 dev eth0
ip -n "$HUB_NS" link set eth0 up
ip -n "$GEN_NS" link set eth0 up
ip -n "$GEN_NS" route add local 198.18.0.0/15 dev lo
ip -n "$HUB_NS" route add 198.18.0.0/15 via 192.0.2.2
for ns in "$HUB_NS" "$GEN_NS"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done

HUB_DIR="$TMP/hub"
mkdir -p "$HUB_DIR"
sed -e "s|^state-dir = .*|state-dir = \"$HUB_DIR/state\"|" \
    -e 's|^target = .*|target = "file"|' \
    -e "s|^#\? \?file = .*|file = \"$HUB_DIR/dmvpnd.log\"|" \
    -e "s|^socket = .*|socket = \"$HUB_DIR/grpc.sock\"|" \
    examples/hub.toml >"$HUB_DIR/dmvpnd.toml"
# The demo hub (examples/hub-startup.json) with a /8 and room for N.
cat >"$HUB_DIR/startup.json" <<EOF
{
  "ietf-interfaces:interfaces": {
    "interface": [
      {
        "name": "tun0",
        "description": "DMVPN hub (NHS) under scripts/bench-hub.sh",
        "type": "dmvpn-tunnel:mgre",
        "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 8}]},
        "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1", "gre-key": $KEY},
        "dmvpn-nhrp:nhrp": {
          "network-id": 1,
          "holding-time": 600,
          "authentication": "$PASSWORD",
          "redirect": true,
          "max-registrations": $((SPOKES + 100)),
          "multicast": {"dynamic": true}
        }
      }
    ]
  }
}
EOF

start_hub() {
    ip netns exec "$HUB_NS" "$BIN/dmvpnd" --config "$HUB_DIR/dmvpnd.toml" \
        --startup "$HUB_DIR/startup.json" </dev/null >>"$HUB_DIR/stdout.log" 2>&1 &
    PIDS[hub]=$!
    for _ in $(seq 100); do
        if ip -n "$HUB_NS" link show tun0 >/dev/null 2>&1 &&
            cli hub "show ip nhrp traffic" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "${PIDS[hub]}" 2>/dev/null; then
            echo "bench-hub: dmvpnd exited; its log:" >&2
            cat "$HUB_DIR/dmvpnd.log" "$HUB_DIR/stdout.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "bench-hub: the hub did not come up in 10 s" >&2
    exit 1
}

say "start the hub (release dmvpnd)"
start_hub
sleep 1
read -r base_rss _ < <(memory)
echo "    hub pid ${PIDS[hub]}, RSS $(mb "$base_rss") before any spoke"
LOAD_START=$(uptime)

GEN_ARGS=(--spokes "$SPOKES" --rate "$RATE" --hub 192.0.2.1 --hub-tunnel 10.0.0.1
    --first-nbma 198.18.0.1 --first-tunnel 10.0.0.2 --key "$KEY" --password "$PASSWORD"
    --resolve "$RESOLVE")
# GEN_TIMEOUT: seconds the generator waits for convergence (its default:
# 60 plus what the start rate needs).
[[ -n "${GEN_TIMEOUT:-}" ]] && GEN_ARGS+=(--timeout "$GEN_TIMEOUT")
RESTART_FILE="$TMP/hub-restarted"
if [[ $MODE == restart ]]; then
    GEN_ARGS+=(--refresh "$RESTART_REFRESH" --run $((RESTART_DOWN + 300))
        --hub-restart-file "$RESTART_FILE")
fi

say "dmvpn-loadgen: $SPOKES spokes at rate $RATE/s (0 = burst), mode $MODE"
reset_peak
cpu_before=$(cpu_seconds)
PHASE=registrations
# Made before the generator starts: tail follows it from the first line (the
# generator's own redirect may come after tail looked, which then gave up and
# the registered-over-time lines went unseen).
: >"$TMP/gen.log"
ip netns exec "$GEN_NS" "$BIN/dmvpn-loadgen" "${GEN_ARGS[@]}" >>"$TMP/gen.log" 2>&1 &
PIDS[gen]=$!
tail -n +1 -f --pid="${PIDS[gen]}" "$TMP/gen.log" &
PIDS[tail]=$!

if [[ $MODE == restart ]]; then
    while ! grep -q '^converged:' "$TMP/gen.log"; do
        if ! kill -0 "${PIDS[gen]}" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    if grep -q '^converged:' "$TMP/gen.log"; then
        sleep 2
        read -r rest_rss _ < <(memory)
        echo "==> hub at rest: RSS $(mb "$rest_rss"); kill -9 the hub, down for $RESTART_DOWN s"
        kill -KILL "${PIDS[hub]}"
        wait "${PIDS[hub]}" 2>/dev/null || true
        killed_at=$(date +%s.%N)
        sleep "$RESTART_DOWN"
        restart_at=$(date +%s.%N)
        echo "==> restart the hub"
        start_hub
        up_at=$(date +%s.%N)
        echo "$restart_at" >"$RESTART_FILE"
        awk -v a="$restart_at" -v b="$up_at" -v k="$killed_at" \
            'BEGIN { printf "==> hub down %.1f s; restarted, answering gRPC after %.2f s\n", a - k, b - a }'
        # From here, the restarted hub's figures.
        reset_peak
        cpu_before=0.00
        PHASE="re-registrations after the restart"
    fi
fi

gen_rc=0
wait "${PIDS[gen]}" || gen_rc=$?
wait "${PIDS[tail]}" 2>/dev/null || true
unset 'PIDS[gen]' 'PIDS[tail]'
cpu_after=$(cpu_seconds)
read -r _ reg_peak < <(memory)
sleep 2
read -r rest_rss _ < <(memory)
echo "    generator exit status $gen_rc"

say "show commands on the hub, each timed, with the hub's peak RSS while it runs"
declare -a SHOW_LINES=()
IFS=';' read -r -a commands <<<"$SHOW_COMMANDS"
for command in "${commands[@]}"; do
    command=$(sed -e 's/^ *//; s/ *$//' <<<"$command")
    [[ -z "$command" ]] && continue
    reset_peak
    hub_cpu0=$(cpu_seconds)
    t0=$(date +%s.%N)
    rc=0
    # The CLI's own CPU (user + system) next to the hub's: which side the
    # time of a command goes to.
    /usr/bin/time -f '%U %S' -o "$TMP/show.cpu" \
        timeout "$SHOW_TIMEOUT" "$BIN/dmvpn-cli" --socket "$HUB_DIR/grpc.sock" -c "$command" \
        >"$TMP/show.out" 2>"$TMP/show.err" || rc=$?
    t1=$(date +%s.%N)
    hub_cpu=$(awk -v a="$hub_cpu0" -v b="$(cpu_seconds)" 'BEGIN { printf "%.2f", b - a }')
    cli_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$TMP/show.cpu" 2>/dev/null || echo "?")
    read -r after_rss peak_rss < <(memory)
    # What the hub keeps of it: dmvpnd gives freed heap back within a
    # second (dmvpnd/src/heap.rs); the next command starts from there.
    sleep 2
    read -r settled_rss _ < <(memory)
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    ratio=$(awk -v p="$peak_rss" -v r="$rest_rss" 'BEGIN { printf "%.2f", p / r }')
    if [[ $rc -eq 0 ]]; then
        outcome="ok, $(wc -l <"$TMP/show.out") lines, $(wc -c <"$TMP/show.out") bytes"
    else
        # The CLI prints errors as "% message", on stdout or stderr.
        message=$(cat "$TMP/show.err" "$TMP/show.out" | grep -m1 -v '^\s*$' || true)
        outcome="FAILED (exit $rc): ${message:-no message}"
    fi
    line=$(printf '%-22s %7s s (CPU: hub %s s, CLI %s s)  peak RSS %s (x%s of rest), after %s, 2 s later %s  %s' \
        "'$command'" "$seconds" "$hub_cpu" "$cli_cpu" "$(mb "$peak_rss")" "$ratio" \
        "$(mb "$after_rss")" "$(mb "$settled_rss")" "$outcome")
    echo "    $line"
    SHOW_LINES+=("$line")
    if [[ $command == "show ip nhrp traffic" && $rc -eq 0 ]]; then
        sed -e 's/^/        /' "$TMP/show.out" | head -40
    fi
done

result=$(grep -m1 '^result:' "$TMP/gen.log" || echo "result: (none: the generator failed)")
say "results ($MODE, $SPOKES spokes, rate $RATE/s)"
echo "    load at start: $LOAD_START"
echo "    load at end:   $(uptime)"
echo "    generator:     $result"
grep -E '^  (convergence|registrations/s|answer latency|after the hub restart|resolutions|registrations lost)' \
    "$TMP/gen.log" | sed -e 's/^  /    /' || true
awk -v b="$base_rss" -v r="$rest_rss" -v p="$reg_peak" -v n="$SPOKES" -v phase="$PHASE" 'BEGIN {
    printf "    hub RSS:       %.1f MB before, %.1f MB at rest (%.2f KiB per spoke), peak %.1f MB during the %s\n",
        b / 1024, r / 1024, (r - b) / n, p / 1024, phase }'
echo "    hub CPU:       $(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { printf "%.2f", b - a }') s during the $PHASE"
echo "    raw socket drops (kernel): hub $(raw_drops "$HUB_NS"), generator $(raw_drops "$GEN_NS")"
echo "    hub log: $(wc -l <"$HUB_DIR/dmvpnd.log") lines, $(grep -c -E 'WARN|ERROR' "$HUB_DIR/dmvpnd.log" || true) warnings/errors"
# The first few, for what the hub itself says it dropped.
grep -E 'WARN|ERROR' "$HUB_DIR/dmvpnd.log" | head -5 | cut -c1-300 | sed -e 's/^/        /' || true
for line in "${SHOW_LINES[@]}"; do
    echo "    $line"
done
exit "$gen_rc"
