"""pcap_bench's load: a capture made of copies of another one (bulk-x2, and frame-heavy with --frame-copies).

Classic pcap only (tcpdump -w writes it). Copies of a capture are appended one after the other: copy k is moved
k x (span + 1 s) later, and every client port (a TCP port that is not a broker port) gets a fresh number, so
each copy's connections are new flows (same broker port, so --port and -d tcp.port== still apply). The TCP
checksum is adjusted for the new port (RFC 1624), so a checksum that was right stays right."""
import os
import struct
from pathlib import Path

from bench_support import BenchError

_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
           b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True)}


def _pcap_records(path):
    """(header bytes, endian, nanos, linktype, iterator of (ts_sec, ts_frac, caplen, origlen, data))."""
    f = open(path, "rb")
    header = f.read(24)
    if len(header) < 24 or header[:4] not in _MAGICS:
        f.close()
        raise BenchError("%s is not a classic pcap file (pcapng is not supported by the copy tool; convert it with "
                         "editcap -F pcap)" % path)
    endian, nanos = _MAGICS[header[:4]]
    linktype = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")

    def records():
        with f:
            while True:
                h = f.read(16)
                if len(h) < 16:
                    return
                ts_sec, ts_frac, caplen, origlen = rec.unpack(h)
                data = f.read(caplen)
                if len(data) < caplen:
                    return  # truncated last record: left out
                yield ts_sec, ts_frac, caplen, origlen, data
    return header, endian, nanos, linktype, records()


def _tcp_offset(linktype, data, endian):
    """Offset of the TCP header in a link-layer frame, or None (not TCP, a fragment, or cut short)."""
    if linktype == 1:  # Ethernet, with VLAN tags
        off, ethertype = 14, data[12:14]
        while ethertype in (b"\x81\x00", b"\x88\xa8") and len(data) >= off + 4:
            ethertype, off = data[off + 2:off + 4], off + 4
        version = {b"\x08\x00": 4, b"\x86\xdd": 6}.get(ethertype)
    elif linktype == 113:  # Linux cooked v1
        off, version = 16, {b"\x08\x00": 4, b"\x86\xdd": 6}.get(data[14:16])
    elif linktype == 276:  # Linux cooked v2
        off, version = 20, {b"\x08\x00": 4, b"\x86\xdd": 6}.get(data[0:2])
    elif linktype in (101, 12, 14, 228, 229):  # raw IP
        off = 0
        version = (data[0] >> 4) if data else None
    elif linktype == 0:  # BSD loopback: address family in the writer's byte order
        off = 4
        family = struct.unpack(endian + "I", data[:4])[0] if len(data) >= 4 else None
        version = 4 if family == 2 else 6 if family in (10, 24, 28, 30) else None
    else:
        raise BenchError("link type %d is not supported by the copy tool" % linktype)
    if version == 4 and len(data) >= off + 20:
        ihl = (data[off] & 0x0F) * 4
        frag = struct.unpack(">H", data[off + 6:off + 8])[0]
        if data[off + 9] != 6 or frag & 0x1FFF:
            return None
        off += ihl
    elif version == 6 and len(data) >= off + 40:
        if data[off + 6] != 6:
            return None
        off += 40
    else:
        return None
    return off if len(data) >= off + 4 else None


def _csum_replace(csum, old, new):
    s = (~csum & 0xFFFF) + (~old & 0xFFFF) + new
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def concat_copies(src, dst, copies, broker_ports):
    """Write `copies` copies of classic pcap `src` to `dst`, each after the previous one, with distinct flows."""
    header, endian, nanos, linktype, recs = _pcap_records(src)
    used, first, last, packets = set(), None, None, 0
    unit = 10 ** 9 if nanos else 10 ** 6
    for ts_sec, ts_frac, _, _, data in recs:
        t = ts_sec * unit + ts_frac
        first = t if first is None else min(first, t)
        last = t if last is None else max(last, t)
        off = _tcp_offset(linktype, data, endian)
        if off is not None:
            used.update(struct.unpack(">HH", data[off:off + 4]))
        packets += 1
    if first is None:
        raise BenchError("%s holds no packets" % src)
    clients = sorted(used - set(broker_ports))
    shift = last - first + unit  # each copy starts 1 s after the previous one ended
    pool = (p for p in range(1024, 65536) if p not in used)
    maps = [{c: c for c in clients}]
    for _ in range(1, copies):
        try:
            maps.append({c: next(pool) for c in clients})
        except StopIteration:
            raise BenchError("not enough free port numbers for %d copies of %d client ports" % (copies, len(clients)))
    rec = struct.Struct(endian + "IIII")
    tmp = Path(str(dst) + ".part")
    with open(tmp, "wb") as out:
        out.write(header)
        for k in range(copies):
            _, _, _, _, recs = _pcap_records(src)
            pmap, delta = maps[k], k * shift
            for ts_sec, ts_frac, caplen, origlen, data in recs:
                if k:
                    t = ts_sec * unit + ts_frac + delta
                    ts_sec, ts_frac = divmod(t, unit)
                    off = _tcp_offset(linktype, data, endian)
                    if off is not None:
                        sport, dport = struct.unpack(">HH", data[off:off + 4])
                        nsport, ndport = pmap.get(sport, sport), pmap.get(dport, dport)
                        if (nsport, ndport) != (sport, dport):
                            data = bytearray(data)
                            struct.pack_into(">HH", data, off, nsport, ndport)
                            if len(data) >= off + 18:
                                csum = struct.unpack(">H", data[off + 16:off + 18])[0]
                                csum = _csum_replace(_csum_replace(csum, sport, nsport), dport, ndport)
                                struct.pack_into(">H", data, off + 16, csum)
                out.write(rec.pack(ts_sec, ts_frac, caplen, origlen))
                out.write(data)
    os.replace(tmp, dst)
    return {"copies": copies, "packets_per_copy": packets, "client_ports": len(clients)}
