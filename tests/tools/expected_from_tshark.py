#!/usr/bin/env python3
"""Writes tests/tests/reference/expected.rs: what Wireshark's dissector
(tshark) shows for every GRE and NHRP packet of the reference captures, in
the line format that tests/tests/reference_captures.rs renders from our own
decoder. The expected values thus come from an independent decoder, not from
ours. Run it again (tshark needed) when the captures change; review the diff.

    python3 tests/tools/expected_from_tshark.py [CAPTURES_DIR]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "reference", "expected.rs")


def pairs(items):
    return items  # keep duplicate keys: a list of (key, value)


def get(obj, key, default=None):
    for k, v in obj:
        if k == key:
            return v
    return default


def children(obj):
    return [(k, v) for k, v in obj if isinstance(v, list) and v and isinstance(v[0], tuple)]


def find(obj, key):
    """Depth-first search for the first value of key."""
    if not isinstance(obj, list):
        return None
    for k, v in obj:
        if k == key:
            return v
        if isinstance(v, list):
            r = find(v, key)
            if r is not None:
                return r
    return None


def addr(obj, key):
    v = get(obj, key)
    return v if v is not None else "-"


def cie_line(c, indent=""):
    return (f"{indent}cie code={get(c, 'nhrp.code')} prefix={get(c, 'nhrp.prefix')} "
            f"mtu={get(c, 'nhrp.mtu')} hold={get(c, 'nhrp.htime')} "
            f"nbma={addr(c, 'nhrp.client.nbma.addr')} proto={addr(c, 'nhrp.client.prot.addr')} "
            f"pref={get(c, 'nhrp.pref')}")


def raw(obj, key):
    v = get(obj, key + "_raw")
    return v[0] if v else ""


def render_nhrp(n):
    lines = []
    fh = get(n, "NHRP Fixed Header")
    ty = int(get(fh, "nhrp.hdr.op.type"))
    lines.append(
        f"header afn={int(get(fh, 'nhrp.hdr.afn'), 16)} protocol={get(fh, 'nhrp.hdr.pro.type')} "
        f"hop={get(fh, 'nhrp.hdr.hopcnt')} size={get(fh, 'nhrp.hdr.pktsz')} "
        f"checksum={get(fh, 'nhrp.hdr.chksum')} extoff={get(fh, 'nhrp.hdr.extoff')} "
        f"version={get(fh, 'nhrp.hdr.version')} type={ty} "
        f"shtl={get(fh, 'nhrp.hdr.shtl')} sstl={get(fh, 'nhrp.hdr.sstl')}")
    if get(fh, "nhrp.hdr.version") != "1":
        return lines
    m = get(n, "NHRP Mandatory Part")
    line = (f"mandatory src_nbma={addr(m, 'nhrp.src.nbma.addr')} "
            f"src_proto={addr(m, 'nhrp.src.prot.addr')} dst_proto={addr(m, 'nhrp.dst.prot.addr')}")
    if ty <= 6:
        line += f" flags={get(m, 'nhrp.flags')} request_id={int(get(m, 'nhrp.reqid'), 16)}"
    lines.append(line)
    for k, v in m:
        if k == "Client Information Entry":
            lines.append(cie_line(v))
    ind = get(n, "Packet Causing Indication")
    if ind is not None:
        ip = get(ind, "ip")
        lines.append(f"indication ip_len={get(ip, 'ip.len')} src={get(ip, 'ip.src')} "
                     f"dst={get(ip, 'ip.dst')}")
    for k, v in n:
        if not isinstance(v, list) or get(v, "nhrp.ext.type") is None:
            continue
        c = "C" if get(v, "nhrp.ext.c") == "1" else "-"
        ety = int(get(v, "nhrp.ext.type"), 16)
        lines.append(f"ext {c} type={ety} len={get(v, 'nhrp.ext.len')}")
        for k2, v2 in v:
            if k2 == "Client Information Entry":
                lines.append(cie_line(v2, "  "))
            elif k2.startswith("Extension Data"):
                # Wireshark splits the value as RFC 2332 reserved/SPI/source
                # address/data; Cisco puts a 4-octet type and the password.
                data = raw(v2, "nhrp.auth_ext.src_addr") + raw(v2, "nhrp.auth_ext.data")
                spi = int(get(v2, "nhrp.auth_ext.reserved")) << 16 | int(get(v2, "nhrp.auth_ext.spi"))
                lines.append(f"  auth type={spi} data={data}")
    return lines


def render_gre(g):
    fl = int(get(g, "gre.flags_and_version"), 16)
    line = f"gre flags={fl:#06x} protocol={get(g, 'gre.proto')}"
    key = get(g, "gre.key")
    if key is not None:
        line += f" key={int(key, 16)}"
    return line


def main():
    captures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "captures")
    entries = []
    for sub in ("cisco", "frr"):
        d = os.path.join(captures, sub)
        for f in sorted(os.listdir(d)):
            if not (f.endswith(".pcap") or f.endswith(".pcapng")):
                continue
            out = subprocess.run(["tshark", "-r", os.path.join(d, f), "-T", "json", "-x", "-Y", "gre"],
                                 check=True, capture_output=True, text=True).stdout
            for pkt in json.loads(out, object_pairs_hook=pairs):
                layers = get(get(pkt, "_source"), "layers")
                frame = int(get(get(layers, "frame"), "frame.number"))
                lines = [render_gre(get(layers, "gre"))]
                n = get(layers, "nhrp")
                if n is not None:
                    lines += render_nhrp(n)
                entries.append((f"{sub}/{f}", frame, lines))
    with open(OUT, "w") as o:
        o.write("// Generated by tests/tools/expected_from_tshark.py from tshark's decode of\n")
        o.write("// the reference captures. Do not edit by hand: regenerate and review.\n\n")
        o.write("pub const EXPECTED: &[(&str, u64, &str)] = &[\n")
        for name, frame, lines in entries:
            body = "\n".join(lines).replace("\\", "\\\\").replace('"', '\\"')
            o.write(f'    (\n        "{name}",\n        {frame},\n        "{body}",\n    ),\n')
        o.write("];\n")
    print(f"wrote {len(entries)} packets to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
