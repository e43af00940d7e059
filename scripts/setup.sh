#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: installs only what is missing.
# Run as root, or as a user with sudo for apt-get. A second run changes nothing.
set -euo pipefail

# Debian packages the build and the tests need. Later issues append to this list.
APT_PACKAGES=(
    build-essential # C toolchain for crates with build scripts (gcc is usually there already)
    pkg-config      # locating system libraries from build scripts
    iproute2        # `ip netns`, `ip link`: the network-namespace tests
    bsdutils        # `script`: a pseudo-terminal for the dmvpn-cli shell test
    cmake           # builds the bundled libyang of yang2 (northbound, dmvpn-yang)
    libpcre2-dev    # libyang's regular expressions (YANG patterns)
    iputils-ping    # `ping` LAN to LAN in scripts/demo.sh
    iperf3          # TCP throughput in scripts/bench.sh (tunnel vs bare veth)
    frr             # zebra, ospfd, bgpd, vtysh: OSPF and BGP over the tunnel (dmvpnd/tests/routing_*.rs)
    iptables        # MASQUERADE in a NAT namespace: a spoke behind NAT (dmvpnd/tests/e2e_nat.rs)
    ethtool         # GRO on the underlay veths, as a NIC does it (dmvpnd/tests/e2e.rs, scripts/bench.sh)
    tcpdump         # captures of the underlay (dmvpnd/tests/e2e_ipsec.rs)
    tshark          # decrypts them with our logged keys, an independent ESP decoder (e2e_ipsec.rs)
    openssl         # RSA test certificates and keys in other encodings (holo-ike certificate tests)
    wireguard-tools # `wg`: configures boringtun-cli in scripts/bench-boringtun.sh (a comparison)
    yangcli         # yuma123's NETCONF client: a real YANG CLI against our server (dmvpnd/tests/management_clients.rs)
    openssh-client  # ssh-keygen: the NETCONF users' keys in the management client tests
    clang           # compiles the eBPF fast path (holo-dmvpn/bpf/fastpath.c) at build time
    linux-libc-dev  # the kernel's UAPI headers (linux/bpf.h) that program is written against
    util-linux      # setpriv: a dmvpnd without CAP_BPF (dmvpnd/tests/e2e_fastpath.rs)
    time            # /usr/bin/time: the CLI's CPU per show command in scripts/bench-hub.sh
)

did=()

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "setup: missing Debian packages (${missing[*]}); run as root or install sudo" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    did+=("installed Debian packages: ${missing[*]}")
fi

# --- FRR service -----------------------------------------------------------
# The routing tests start their own zebra/ospfd/bgpd in each test namespace
# with private sockets (dmvpnd/tests/common/frr.rs) and never use a global
# FRR. Where the package's install started its service in the root namespace
# (no policy-rc.d, no systemd), stop it: no stray daemon is left running.
if [[ -x /usr/lib/frr/frrinit.sh ]] && /usr/lib/frr/frrinit.sh status >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1 || true
    else
        sudo /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1 || true
    fi
    did+=("stopped the frr service of the root namespace")
fi

# --- Rust toolchain ----------------------------------------------------------
# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install the stable Rust toolchain with rustup first" >&2
    exit 1
fi

# rustfmt and clippy run in scripts/test.sh.
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            rustup component add "$component" >/dev/null
            did+=("added rustup component $component")
        fi
    done
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
    did+=("installed cargo-nextest")
fi

# --- Management clients (NETCONF, gNMI) from PyPI ------------------------------
# ncclient, netconf-console2 and pygnmi in a virtualenv of their own (pinned, so a
# run is the run of last time); dmvpnd/tests/management_clients.rs runs them from
# here. DMVPN_CLIENTS_VENV moves it.
CLIENTS_VENV=${DMVPN_CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dmvpn/clients}
# netconf-console2 imports six without declaring it.
CLIENT_PACKAGES=(ncclient==0.7.1 netconf-console2==3.0.1 six==1.17.0 pygnmi==0.8.15)
if ! "$CLIENTS_VENV/bin/python" -c 'import ncclient, pygnmi, six' >/dev/null 2>&1 ||
    [[ ! -x "$CLIENTS_VENV/bin/netconf-console2" ]]; then
    python3 -m venv "$CLIENTS_VENV"
    "$CLIENTS_VENV/bin/pip" install -q --disable-pip-version-check "${CLIENT_PACKAGES[@]}"
    did+=("installed ${CLIENT_PACKAGES[*]} in $CLIENTS_VENV")
fi

if ((${#did[@]})); then
    echo "setup: $(IFS=';'; echo "${did[*]}" | sed 's/;/; /g')"
else
    echo "setup: nothing to do (Debian packages, cargo, rustfmt, clippy, cargo-nextest, management clients all present)"
fi
