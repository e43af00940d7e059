#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Does its own set-up (scripts/setup.sh), so it works on a fresh Debian machine.
#
#   formatting, clippy, unit/integration/property tests (nextest) and doctests,
#   the end-to-end suites once more on the eBPF fast path,
#   the FRR interop tests (interop/frr/ harness: a QEMU guest running FRR nhrpd; two of them
#   again on the eBPF fast path),
#   then `dmvpn-cli decode --check-roundtrip` on every capture the repository
#   ships (captures/) and on the reference Cisco/FRR captures
#   ($DMVPN_REFERENCE_CAPTURES, default ../shared/captures beside the repo).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

# The reference captures are not redistributed with the project: tests read them
# from this directory. Absolute, so it means the same thing in every test's cwd.
DMVPN_REFERENCE_CAPTURES=${DMVPN_REFERENCE_CAPTURES:-$REPO/../shared/captures}
DMVPN_REFERENCE_CAPTURES=$(realpath -m -- "$DMVPN_REFERENCE_CAPTURES")
export DMVPN_REFERENCE_CAPTURES

CLI="${CARGO_TARGET_DIR:-$REPO/target}/debug/dmvpn-cli"

step=""
shipped_count=0
reference_count=0
reference_ran=no

header() {
    step=$1
    printf '\n==> [test.sh] %s\n' "$step"
}

on_exit() {
    local rc=$?
    if ((rc != 0)); then
        printf '\n==> [test.sh] FAILED (exit %d) in step: %s\n' "$rc" "${step:-start-up}" >&2
    fi
}
trap on_exit EXIT

loud_warning() {
    {
        echo
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        for line in "$@"; do echo "!! $line"; done
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo
    } >&2
}

# check_roundtrip DIR EXTRA_FLAGS FILE...: runs `dmvpn-cli decode --check-roundtrip`
# (plus EXTRA_FLAGS, may be empty) on each FILE (paths shown relative to DIR);
# prints one line per capture, and the tool's output only when it fails; returns 1
# if any failed or printed nothing.
check_roundtrip() {
    local base=$1 extra=$2 file out failed=0
    shift 2
    for file in "$@"; do
        # shellcheck disable=SC2086
        if ! out=$("$CLI" decode --check-roundtrip $extra "$file" 2>&1 >/dev/null); then
            printf '  FAIL  %s\n' "${file#"$base"/}"
            printf '%s\n' "$out" | tail -n 60 | sed 's/^/        /'
            failed=1
        elif [[ -z "$out" ]]; then
            # Even a capture without GRE gets a report (zero GRE packets); silence
            # means the command did nothing, and a check that cannot fail is no check.
            printf '  FAIL  %s  (dmvpn-cli printed nothing: is `decode` implemented?)\n' "${file#"$base"/}"
            failed=1
        else
            printf '  ok    %s  (%s)\n' "${file#"$base"/}" "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-120)"
        fi
    done
    return "$failed"
}

# Lists *.pcap / *.pcapng under a directory, sorted, one per line.
list_captures() {
    find "$1" -type f \( -name '*.pcap' -o -name '*.pcapng' \) | LC_ALL=C sort
}

header "set-up (scripts/setup.sh)"
./scripts/setup.sh
# setup.sh may have found cargo via ~/.cargo/env; make sure this shell has it too.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

header "formatting (cargo fmt --check)"
cargo fmt --all -- --check

header "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

header "the NHRP core builds without tokio (holo-nhrp --no-default-features)"
# The sans-IO core must stay free of any runtime: the driver is a feature.
cargo check -p holo-nhrp --no-default-features --locked
if cargo tree -p holo-nhrp --no-default-features -e normal --locked | grep -q '^.* tokio v'; then
    echo "holo-nhrp without features depends on tokio" >&2
    exit 1
fi

header "doctests (cargo test --doc; nextest does not run them)"
cargo test --doc --workspace --locked

header "tests (cargo nextest), DMVPN_REFERENCE_CAPTURES=$DMVPN_REFERENCE_CAPTURES"
# --no-tests=fail: a run that finds no test at all is a failure, not a pass.
# The interop tests (FRR, strongSwan) boot a QEMU guest: they run serially in their own step below.
cargo nextest run --workspace --locked --no-fail-fast --no-tests=fail \
    -E 'not binary(interop_frr) and not binary(interop_ipsec)'

header "the end-to-end suites again, on the eBPF fast path (DMVPN_TEST_DATA_PLANE=ebpf)"
# Every tunnel of these suites asks for `data-plane ebpf` (dmvpnd/tests/common/netns.rs),
# and every state they read must show it in use (or a reason of the design); the step
# above ran them on the userspace plane. Not e2e_ipsec: with IPsec the fast path stands
# aside (no kernel ESP here), so it would run the userspace plane's tests twice.
DMVPN_TEST_DATA_PLANE=ebpf cargo nextest run -p dmvpnd --locked --no-fail-fast \
    -E '(binary(/^e2e/) or binary(/^routing_/)) and not binary(e2e_ipsec)'

header "build the FRR interop harness (interop/frr/build.sh: apt, QEMU 7.2, kernel, rootfs)"
# Idempotent: about a second when built. A harness that cannot be built fails the run.
interop_started=$SECONDS
bash interop/frr/build.sh

header "interop with FRR nhrpd and strongSwan (dmvpnd/tests/interop_{frr,ipsec}.rs, one guest at a time)"
# One QEMU guest and one host netns (frrhost) for all of them: strictly serial.
cargo nextest run -p dmvpnd --test interop_frr --test interop_ipsec --locked --no-fail-fast \
    --test-threads 1
# And FRR against our eBPF fast path, in both roles: our spoke's traffic to and from
# FRR's kernel GRE with its shortcut, and our hub forwarding between FRR spokes until
# theirs. Not the NAT tests (each guest boot costs most of a minute in TCG, and the fast
# path behind NAT is e2e_nat's, run on it above), nor strongSwan's (IPsec, which the fast
# path leaves to the userspace plane).
DMVPN_TEST_DATA_PLANE=ebpf cargo nextest run -p dmvpnd --test interop_frr --locked \
    --no-fail-fast --test-threads 1 \
    -E 'test(=our_spoke_registers_with_the_frr_hub_and_takes_its_shortcut) or test(=frr_spokes_register_with_our_hub_and_follow_its_redirect)'
echo "interop: harness build + tests took $((SECONDS - interop_started)) s"

header "build dmvpn-cli (with the workspace's features, reusing the test build)"
cargo build --workspace --locked --bins

header "round-trip the captures this repository ships (captures/)"
mapfile -t shipped < <([[ -d captures ]] && list_captures captures || true)
if ((${#shipped[@]} == 0)); then
    loud_warning "ERROR: no *.pcap / *.pcapng under $REPO/captures/." \
        "The repository must ship at least one capture it recorded itself" \
        "(the demo decodes it and this check round-trips it)."
    exit 1
fi
check_roundtrip "$REPO" "" "${shipped[@]/#/$REPO/}"
shipped_count=${#shipped[@]}

header "round-trip the reference Cisco/FRR captures ($DMVPN_REFERENCE_CAPTURES)"
if [[ -d "$DMVPN_REFERENCE_CAPTURES" ]]; then
    mapfile -t reference < <(list_captures "$DMVPN_REFERENCE_CAPTURES")
else
    reference=()
fi
if ((${#reference[@]} == 0)); then
    loud_warning "WARNING: no reference captures at $DMVPN_REFERENCE_CAPTURES" \
        "The Cisco IOS / FRR interop round-trip checks DID NOT RUN," \
        "and the tests that need those captures skipped them too." \
        "Set DMVPN_REFERENCE_CAPTURES to the directory holding cisco/ and frr/."
    if [[ -n "${CI:-}" ]]; then
        echo "CI always has the reference captures: failing." >&2
        exit 1
    fi
else
    # Captures without any GRE (ESP, IKEv2) are expected: the tool reports zero
    # GRE packets for them and exits 0. --allow-undecodable: the FRR rig capture
    # holds one frame of plain text sent with GRE protocol NHRP (the rig's
    # userspace probe); it is listed, and tests/tests/reference_captures.rs
    # checks that it is a clean decode error. Every decodable packet must still
    # re-encode byte-exact.
    check_roundtrip "$DMVPN_REFERENCE_CAPTURES" "--allow-undecodable" "${reference[@]}"
    reference_count=${#reference[@]}
    reference_ran=yes
fi

step="summary"
if [[ $reference_ran == yes ]]; then
    echo
    echo "==> [test.sh] PASSED: fmt, clippy, nextest, doctests, FRR interop; round-trip of $shipped_count shipped and $reference_count reference captures"
else
    echo
    echo "==> [test.sh] PASSED (PARTIAL): fmt, clippy, nextest, doctests, FRR interop; round-trip of $shipped_count shipped captures; reference-capture checks DID NOT RUN"
fi
