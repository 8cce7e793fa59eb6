#!/usr/bin/env python3
"""Derive the other link types and encapsulations of a recorded Ethernet fixture, and describe every fixture in
fixtures/fixtures.json.

    python3 Tests/Integration/pcap/convert_captures.py            # from fixtures/kafka-python.pcap
    python3 Tests/Integration/pcap/convert_captures.py --source fixtures/confluent-kafka.pcap

From SOURCE.pcap (Ethernet, as `tcpdump -i lo` writes it) it writes, all carrying the same packets in the same
order with the same timestamps:
    SOURCE.null.pcap   LINKTYPE_NULL (0): the Ethernet header replaced by the 4-byte BSD loopback header, the
                       address family (AF_INET = 2) in the file's byte order, as macOS/BSD lo0 captures have it
    SOURCE.raw.pcap    LINKTYPE_RAW (101): the Ethernet header removed, packets start with the IP header
    SOURCE.vlan.pcap   Ethernet with an 802.1Q tag (VLAN 42, priority 3) inserted after the MAC addresses
    SOURCE.ipv6.pcap   Ethernet, every IPv4 header rewritten as IPv6 (127.0.0.1 -> ::1, any other a.b.c.d ->
                       64:ff9b::a.b.c.d), TCP untouched: its checksum is NOT fixed (nothing here verifies it;
                       tshark does not by default)
    SOURCE.pcapng      the same packets as pcapng, written by `editcap -F pcapng`
Only the standard library is used for the pcap variants (pcapio.py); pcapng needs editcap (wireshark-common).

Then fixtures/fixtures.json is rewritten: for every *.pcap / *.pcapng in fixtures/ (not damaged/): link type,
format, packets, the broker port (the destination port of the SYNs that open the Kafka connections), the number of
Kafka PDUs tshark finds, and which files carry the same traffic (`traffic`).
"""
import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapio  # noqa: E402
import tshark_kafka  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
VLAN_ID, VLAN_PRIORITY = 42, 3
AF_INET = 2


def _require_ethernet(cap, path):
    if cap.linktype != pcapio.LINKTYPE_ETHERNET:
        raise SystemExit("%s: link type %d, expected Ethernet (1)" % (path, cap.linktype))


def _ipv4_offset(data):
    ethertype = struct.unpack_from(">H", data, 12)[0]
    if ethertype != pcapio.ETHERTYPE_IPV4:
        raise SystemExit("packet with ethertype 0x%04x: only plain IPv4 Ethernet sources are converted" % ethertype)
    return 14


def to_null(cap):
    out = []
    for r in cap.records:
        _ipv4_offset(r.data)
        header = struct.pack(cap.endian + "I", AF_INET)
        data = header + r.data[14:]
        out.append(r._replace(data=data, caplen=len(data), origlen=r.origlen - 14 + 4))
    return cap.copy(out, linktype=pcapio.LINKTYPE_NULL)


def to_raw(cap):
    out = []
    for r in cap.records:
        _ipv4_offset(r.data)
        data = r.data[14:]
        out.append(r._replace(data=data, caplen=len(data), origlen=r.origlen - 14))
    return cap.copy(out, linktype=pcapio.LINKTYPE_RAW)


def to_vlan(cap):
    out = []
    tci = (VLAN_PRIORITY << 13) | VLAN_ID
    for r in cap.records:
        data = r.data[:12] + struct.pack(">HH", pcapio.ETHERTYPE_VLAN, tci) + r.data[12:]
        out.append(r._replace(data=data, caplen=len(data), origlen=r.origlen + 4))
    return cap.copy(out)


def v6_address(raw4):
    if raw4 == bytes([127, 0, 0, 1]):
        return bytes(15) + b"\x01"                                  # ::1
    return bytes.fromhex("0064ff9b0000000000000000") + raw4      # 64:ff9b::a.b.c.d (RFC 6052)


def to_ipv6(cap):
    out = []
    for r in cap.records:
        pos = _ipv4_offset(r.data)
        ip = r.data[pos:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from(">H", ip, 2)[0]
        tos, ttl, proto = ip[1], ip[8], ip[9]
        payload_len = total - ihl
        header6 = struct.pack(">IHBB", (6 << 28) | (tos << 20), payload_len, proto, ttl) + v6_address(ip[12:16]) + \
            v6_address(ip[16:20])
        data = r.data[:12] + struct.pack(">H", pcapio.ETHERTYPE_IPV6) + header6 + ip[ihl:]
        grow = 40 - ihl
        out.append(r._replace(data=data, caplen=len(data), origlen=r.origlen + grow))
    return cap.copy(out)


def to_pcapng(source, target):
    editcap = shutil.which("editcap")
    if not editcap:
        raise SystemExit("editcap not found: install Debian's wireshark-common package (scripts/install-deps.sh)")
    subprocess.run([editcap, "-F", "pcapng", source, target], check=True)


CONVERSIONS = [("null", ".null.pcap", to_null), ("raw", ".raw.pcap", to_raw), ("vlan", ".vlan.pcap", to_vlan),
               ("ipv6", ".ipv6.pcap", to_ipv6)]


def convert(source):
    cap = pcapio.read_pcap(source)
    _require_ethernet(cap, source)
    stem = source[:-len(".pcap")]
    written = []
    for _, suffix, fn in CONVERSIONS:
        out = fn(cap)
        pcapio.write_pcap(stem + suffix, out)
        written.append(stem + suffix)
    to_pcapng(source, stem + ".pcapng")
    written.append(stem + ".pcapng")
    return written


# ---------------------------------------------------------------------------------------------- fixtures.json

def read_any(path):
    """A classic pcap, or for pcapng a classic copy made by editcap (for counting and port detection only)."""
    if path.endswith(".pcapng"):
        tmp = path + ".tmp.pcap"
        try:
            subprocess.run([shutil.which("editcap") or "editcap", "-F", "pcap", path, tmp], check=True)
            return pcapio.read_pcap(tmp), "pcapng"
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return pcapio.read_pcap(path), "pcap"


def broker_ports(cap):
    """Destination ports of the SYNs (without ACK) that open connections in the capture."""
    ports = set()
    for r in cap.records:
        seg = pcapio.tcp_segment(cap.linktype, r.data, cap.endian)
        if seg and seg.flags & pcapio.TCP_SYN and not seg.flags & pcapio.TCP_ACK:
            ports.add(seg.dport)
    return ports


HOW = {
    "": "recorded: tcpdump -i lo (record_captures.py)",
    ".sll2": "recorded at the same time: tcpdump -i any (record_captures.py)",
    ".null": "converted: Ethernet header -> 4-byte BSD loopback header, AF_INET=2 (convert_captures.py)",
    ".raw": "converted: Ethernet header removed, LINKTYPE_RAW 101 (convert_captures.py)",
    ".vlan": "converted: 802.1Q tag VLAN 42 inserted (convert_captures.py)",
    ".ipv6": "converted: IPv4 -> IPv6 (::1), TCP checksums left as they were (convert_captures.py)",
    "ng": "converted: editcap -F pcapng (convert_captures.py)",
}


def describe(fixtures_dir):
    entries = []
    for path in sorted(glob.glob(os.path.join(fixtures_dir, "*.pcap")) + glob.glob(os.path.join(fixtures_dir,
                                                                                               "*.pcapng"))):
        name = os.path.basename(path)
        cap, fmt = read_any(path)
        base = name.split(".")[0]
        variant = name[len(base):].replace(".pcapng", "ng").replace(".pcap", "")
        ports = sorted(broker_ports(cap))
        entry = {"file": name, "format": fmt, "linktype": cap.linktype,
                 "linktype_name": pcapio.LINKTYPE_NAMES.get(cap.linktype, str(cap.linktype)),
                 "packets": len(cap.records), "bytes": os.path.getsize(path), "traffic": base,
                 "how": HOW.get(variant, "?")}
        if base != "no-kafka":
            assert len(ports) == 1, "%s: expected one broker port, SYNs go to %s" % (name, ports)
            entry["broker_port"] = ports[0]
            pdus = tshark_kafka.kafka_pdus(path, ports[0])
            entry["tshark_kafka_pdus"] = len(pdus)
            entry["tshark_requests"] = sum(p.kind == "request" for p in pdus)
            entry["tshark_responses"] = sum(p.kind == "response" for p in pdus)
        else:
            entry["http_port"] = ports[0] if len(ports) == 1 else ports
        entries.append(entry)
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", action="append",
                    help="Ethernet pcap to convert (repeatable); default fixtures/kafka-python.pcap")
    ap.add_argument("--fixtures", default=FIXTURES, help="directory described in fixtures.json")
    ap.add_argument("--no-describe", action="store_true", help="do not rewrite fixtures.json")
    args = ap.parse_args()
    for source in args.source or [os.path.join(args.fixtures, "kafka-python.pcap")]:
        for path in convert(source):
            print("%s: %d bytes" % (path, os.path.getsize(path)))
    if not args.no_describe:
        entries = describe(args.fixtures)
        with open(os.path.join(args.fixtures, "fixtures.json"), "w") as f:
            json.dump({"comment": "written by convert_captures.py; see README.md", "fixtures": entries}, f, indent=1)
            f.write("\n")
        for e in entries:
            print("%-32s %-7s %-10s %4d packets %7d bytes %s" % (e["file"], e["format"], e["linktype_name"],
                                                                 e["packets"], e["bytes"],
                                                                 "%d Kafka PDUs" % e["tshark_kafka_pdus"]
                                                                 if "tshark_kafka_pdus" in e else ""))


if __name__ == "__main__":
    main()
