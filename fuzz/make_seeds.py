#!/usr/bin/env python3
"""Writes fuzz seed inputs (fuzz/seeds/<target>/*.bin) from the capture the
project made itself, captures/dmvpn-selfmade.pcap: every GRE packet (header
and payload) for gre_decode, every NHRP packet for nhrp_decode; and for
ike_decode every IKE message (UDP 500) and ESP packet of the Cisco reference
captures, when $DMVPN_REFERENCE_CAPTURES (default ../../shared/captures) has
them. The seeds are generated, not committed; scripts/fuzz.sh runs this first."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, "..", "captures", "dmvpn-selfmade.pcap")
REFERENCE = os.environ.get(
    "DMVPN_REFERENCE_CAPTURES", os.path.join(HERE, "..", "..", "shared", "captures"))
IKE_CAPTURES = ("cisco/wireshark-capture-ipsec-ikev2.pcap",
                "cisco/dmvpn-ipsec-esp-encrypted-traffic.pcap")


def frames(path):
    data = open(path, "rb").read()
    # Classic pcap with Ethernet frames (as the test writes it), either byte order.
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(order + "I", data[pos + 8:pos + 12])[0]
        yield data[pos + 16:pos + 16 + incl]
        pos += 16 + incl


def gre_of(frame):
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 47:
        total = struct.unpack(">H", ip[2:4])[0]
        return ip[(ip[0] & 15) * 4:total]
    if ethertype == 0x86DD and ip[6] == 47:
        return ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
    return None


def ipsec_of(frame):
    """The IKE message (UDP 500) or ESP packet of an Ethernet/IPv4 frame."""
    if struct.unpack(">H", frame[12:14])[0] != 0x0800:
        return None
    ip = frame[14:]
    total = struct.unpack(">H", ip[2:4])[0]
    payload = ip[(ip[0] & 15) * 4:total]
    if ip[9] == 50:
        return payload
    if ip[9] == 17 and 500 in struct.unpack(">HH", payload[:4]):
        return payload[8:]
    return None


def ike_seeds():
    count = 0
    for name in IKE_CAPTURES:
        path = os.path.join(REFERENCE, name)
        if not os.path.exists(path):
            print(f"fuzz seeds: {path} not found, ike_decode starts without it")
            continue
        for n, frame in enumerate(frames(path), 1):
            data = ipsec_of(frame)
            if data:
                stem = os.path.basename(name).split(".")[0]
                seed = os.path.join(HERE, "seeds", "ike_decode", f"{stem}-{n}.bin")
                open(seed, "wb").write(data)
                count += 1
    print(f"fuzz seeds: {count} IKE/ESP packets from the reference captures")


def main():
    for target in ("gre_decode", "nhrp_decode", "ike_decode"):
        os.makedirs(os.path.join(HERE, "seeds", target), exist_ok=True)
    count = 0
    for n, frame in enumerate(frames(CAPTURE), 1):
        gre = gre_of(frame)
        if gre is None:
            continue
        open(os.path.join(HERE, "seeds", "gre_decode", f"frame{n}.bin"), "wb").write(gre)
        flags, proto = struct.unpack(">HH", gre[:4])
        header = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
        if proto == 0x2001:
            path = os.path.join(HERE, "seeds", "nhrp_decode", f"frame{n}.bin")
            open(path, "wb").write(gre[header:])
        count += 1
    print(f"fuzz seeds: {count} GRE packets from {os.path.relpath(CAPTURE)}")
    ike_seeds()


if __name__ == "__main__":
    main()
