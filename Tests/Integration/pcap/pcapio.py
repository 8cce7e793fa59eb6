"""Classic pcap files and the TCP inside them, with the standard library only.

Shared by the scripts that make the pcap fixtures (record_captures.py, convert_captures.py,
damage_captures.py) and by Tests/Integration/test_pcap.py. It is deliberately independent of
libpcap and of Wireshark, so that it can check both.

    cap = read_pcap("x.pcap")                 # Capture: header fields + records
    for number, rec in enumerate(cap.records, 1):
        seg = tcp_segment(cap.linktype, rec.data)   # TcpSegment or None
    write_pcap("y.pcap", cap, records)        # same header, other records

    streams = reassemble(cap)                 # {(client, server): Connection} with Kafka frames
"""
import collections
import struct

LINKTYPE_NULL = 0          # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101         # raw IPv4/IPv6 (DLT_RAW on most systems)
LINKTYPE_LINUX_SLL = 113   # Linux cooked capture v1
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2 (tcpdump -i any)
LINKTYPE_NAMES = {LINKTYPE_NULL: "NULL", LINKTYPE_ETHERNET: "EN10MB", LINKTYPE_RAW: "RAW",
                  LINKTYPE_LINUX_SLL: "LINUX_SLL", LINKTYPE_LINUX_SLL2: "LINUX_SLL2"}

ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

Record = collections.namedtuple("Record", "ts_sec ts_frac caplen origlen data")
# ts_frac is micro- or nanoseconds depending on Capture.nanos; len(data) == caplen


class PcapError(Exception):
    pass


class Capture:
    def __init__(self, endian, nanos, snaplen, linktype, records, version=(2, 4)):
        self.endian, self.nanos, self.snaplen, self.linktype = endian, nanos, snaplen, linktype
        self.records, self.version = records, version
        self.truncated_at = None  # file offset of an incomplete trailing record, if any

    def timestamp(self, rec):
        """Seconds since the epoch as a float."""
        return rec.ts_sec + rec.ts_frac / (1e9 if self.nanos else 1e6)

    def copy(self, records=None, linktype=None, snaplen=None):
        return Capture(self.endian, self.nanos, self.snaplen if snaplen is None else snaplen,
                       self.linktype if linktype is None else linktype,
                       list(self.records if records is None else records), self.version)


_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
           b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True)}


def read_pcap(path, allow_truncated=False):
    """A classic pcap file. An incomplete last record raises PcapError unless allow_truncated, in which case
    it is left out and Capture.truncated_at holds its file offset."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24 or data[:4] not in _MAGICS:
        raise PcapError("%s: not a classic pcap file (magic %s)" % (path, data[:4].hex()))
    endian, nanos = _MAGICS[data[:4]]
    major, minor, _, _, snaplen, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    records, pos, truncated_at = [], 24, None
    rec_header = struct.Struct(endian + "IIII")
    while pos < len(data):
        if pos + 16 > len(data):
            truncated_at = pos
            break
        ts_sec, ts_frac, caplen, origlen = rec_header.unpack_from(data, pos)
        if pos + 16 + caplen > len(data):
            truncated_at = pos
            break
        records.append(Record(ts_sec, ts_frac, caplen, origlen, data[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    if truncated_at is not None and not allow_truncated:
        raise PcapError("%s: incomplete record at offset %d (truncated file)" % (path, truncated_at))
    cap = Capture(endian, nanos, snaplen, linktype & 0x0FFFFFFF, records, (major, minor))
    cap.truncated_at = truncated_at
    return cap


def write_pcap(path, cap, records=None):
    """Writes cap's header and `records` (default cap.records). Record caplen is taken from len(data)."""
    records = cap.records if records is None else records
    e = cap.endian
    magic = 0xA1B23C4D if cap.nanos else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, cap.version[0], cap.version[1], 0, 0, cap.snaplen, cap.linktype)]
    for r in records:
        out.append(struct.pack(e + "IIII", r.ts_sec, r.ts_frac, len(r.data), r.origlen))
        out.append(bytes(r.data))
    with open(path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------------------------------------- link layers

def network_offset(linktype, data, endian="<"):
    """(offset of the IP header, IP version 4/6) or None for a packet that is not IP."""
    if linktype == LINKTYPE_ETHERNET:
        pos = 12
        ethertype = struct.unpack_from(">H", data, pos)[0] if len(data) >= 14 else None
        while ethertype in (ETHERTYPE_VLAN, ETHERTYPE_QINQ) and len(data) >= pos + 6:
            pos += 4
            ethertype = struct.unpack_from(">H", data, pos)[0]
        pos += 2
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None
        ethertype, pos = struct.unpack_from(">H", data, 14)[0], 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return None
        ethertype, pos = struct.unpack_from(">H", data, 0)[0], 20
    elif linktype == LINKTYPE_NULL:
        if len(data) < 4:
            return None
        family = struct.unpack_from(endian + "I", data, 0)[0]
        ethertype = ETHERTYPE_IPV4 if family == 2 else ETHERTYPE_IPV6 if family in (10, 24, 28, 30) else None
        pos = 4
    elif linktype == LINKTYPE_RAW:
        if not data:
            return None
        version = data[0] >> 4
        ethertype, pos = {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(version), 0
    else:
        raise PcapError("unsupported link type %d" % linktype)
    if ethertype == ETHERTYPE_IPV4:
        return pos, 4
    if ethertype == ETHERTYPE_IPV6:
        return pos, 6
    return None


TcpSegment = collections.namedtuple("TcpSegment", "ip_version src dst sport dport seq ack flags payload ip_offset "
                                                  "tcp_offset payload_offset payload_len")
# src/dst are printable addresses; payload is what was captured of the payload (may be shorter than payload_len
# in a snaplen-truncated packet)


def _addr(raw):
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    import ipaddress
    return str(ipaddress.IPv6Address(raw))


def tcp_segment(linktype, data, endian="<"):
    """The TCP segment in a captured packet, or None (not IP, not TCP, or cut before the TCP header)."""
    net = network_offset(linktype, data, endian)
    if net is None:
        return None
    pos, version = net
    if version == 4:
        if len(data) < pos + 20:
            return None
        ihl = (data[pos] & 0x0F) * 4
        total = struct.unpack_from(">H", data, pos + 2)[0]
        if data[pos + 9] != 6:
            return None
        src, dst = _addr(data[pos + 12:pos + 16]), _addr(data[pos + 16:pos + 20])
        tcp, ip_end = pos + ihl, pos + total
    else:
        if len(data) < pos + 40:
            return None
        if data[pos + 6] != 6:  # extension headers are not used in our fixtures
            return None
        plen = struct.unpack_from(">H", data, pos + 4)[0]
        src, dst = _addr(data[pos + 8:pos + 24]), _addr(data[pos + 24:pos + 40])
        tcp, ip_end = pos + 40, pos + 40 + plen
    if len(data) < tcp + 20:
        return None
    sport, dport, seq, ack, off_flags = struct.unpack_from(">HHIIH", data, tcp)
    hdr = (off_flags >> 12) * 4
    flags = off_flags & 0x1FF
    payload_offset = tcp + hdr
    payload_len = max(0, ip_end - payload_offset)
    payload = bytes(data[payload_offset:min(ip_end, len(data))])
    return TcpSegment(version, src, dst, sport, dport, seq, ack, flags, payload, pos, tcp, payload_offset,
                      payload_len)


def endpoint(addr, port):
    return ("[%s]:%d" if ":" in addr else "%s:%d") % (addr, port)


# ---------------------------------------------------------------------------------------------- reassembly

KafkaFrame = collections.namedtuple("KafkaFrame", "direction start end size api_key api_version correlation_id "
                                                  "client_id packets complete_packet")
# direction "request"/"response"; start/end = stream offsets of the frame (size prefix included); size = end-start;
# api_key/api_version only for requests (responses get them from their request); packets = sorted packet numbers
# carrying some byte of the frame (first arrival); complete_packet = the packet that made the frame complete.


class Direction:
    """One direction of a TCP connection: payload bytes by stream offset and the packet each arrived in."""

    def __init__(self):
        self.isn = None          # sequence number of stream offset 0 (SYN + 1, or the first data seen)
        self.segments = []       # (packet number, raw seq, payload, payload_len)

    def build(self):
        """(bytes, arrival) where arrival[i] is the packet number that first delivered byte i, or 0 = missing."""
        if not self.segments:
            return b"", []
        if self.isn is None:
            self.isn = self.segments[0][1]
        length = 0
        for _, seq, payload, plen in self.segments:
            length = max(length, ((seq - self.isn) % (1 << 32)) + plen)
        data, arrival = bytearray(length), [0] * length
        for number, seq, payload, _ in self.segments:
            off = (seq - self.isn) % (1 << 32)
            for i, b in enumerate(payload):
                if not arrival[off + i]:
                    arrival[off + i] = number
                    data[off + i] = b
        return bytes(data), arrival


class Connection:
    def __init__(self, client, server):
        self.client, self.server = client, server   # (addr, port)
        self.c2s, self.s2c = Direction(), Direction()
        self.syn_seen = False
        self.packets = []                            # packet numbers of this connection
        self._frames = None

    def frames(self):
        """(requests, responses): [KafkaFrame] split from the contiguous prefix of each direction (stops at the
        first missing byte). Computed once: call it after every packet has been added."""
        if self._frames is None:
            self._frames = (_split(self.c2s, "request"), _split(self.s2c, "response"))
        return self._frames


def _split(direction, kind):
    data, arrival = direction.build()
    out, pos = [], 0
    while pos + 4 <= len(data) and all(arrival[pos:pos + 4]):
        size = struct.unpack_from(">i", data, pos)[0]
        end = pos + 4 + size
        if size < 4 or end > len(data) or not all(arrival[pos:end]):
            break
        key = ver = client_id = None
        if kind == "request":
            key, ver, corr = struct.unpack_from(">hhi", data, pos + 4)
            n = struct.unpack_from(">h", data, pos + 12)[0] if size >= 10 else -1
            client_id = data[pos + 14:pos + 14 + n].decode(errors="replace") if n >= 0 else None
        else:
            corr = struct.unpack_from(">i", data, pos + 4)[0]
        packets = sorted(set(arrival[pos:end]))
        out.append(KafkaFrame(kind, pos, end, end - pos, key, ver, corr, client_id, packets, max(packets)))
        pos = end
    return out


def connections(cap, broker_ports):
    """{(client endpoint, server endpoint): Connection} for TCP traffic to or from one of broker_ports."""
    conns = {}
    for number, rec in enumerate(cap.records, 1):
        seg = tcp_segment(cap.linktype, rec.data, cap.endian)
        if seg is None:
            continue
        if seg.dport in broker_ports:
            client, server, to_server = (seg.src, seg.sport), (seg.dst, seg.dport), True
        elif seg.sport in broker_ports:
            client, server, to_server = (seg.dst, seg.dport), (seg.src, seg.sport), False
        else:
            continue
        conn = conns.setdefault((client, server), Connection(client, server))
        conn.packets.append(number)
        d = conn.c2s if to_server else conn.s2c
        if seg.flags & TCP_SYN:
            d.isn = (seg.seq + 1) % (1 << 32)
            conn.syn_seen = True
        if seg.payload_len:
            d.segments.append((number, seg.seq, seg.payload, seg.payload_len))
    return conns


Exchange = collections.namedtuple("Exchange", "client server request response")


def exchanges(conns):
    """(pairs, unanswered requests, responses without a request): requests and responses matched by correlation
    id per connection, in order (a response answers the oldest open request with its id)."""
    pairs, unanswered, orphans = [], [], []
    for conn in conns.values():
        requests, responses = conn.frames()
        open_ = collections.defaultdict(collections.deque)
        for r in requests:
            open_[r.correlation_id].append(r)
        for resp in responses:
            if open_[resp.correlation_id]:
                pairs.append(Exchange(conn.client, conn.server, open_[resp.correlation_id].popleft(), resp))
            else:
                orphans.append((conn, resp))
        unanswered += [(conn, r) for q in open_.values() for r in q]
    pairs.sort(key=lambda e: (e.response.complete_packet, e.response.start))
    return pairs, unanswered, orphans


def exchange_fields(e, packets=True):
    """The fields of a `kafkascope pcap` jsonl line that a reassembly determines, for Exchange e (no api name)."""
    out = {"client": endpoint(*e.client), "broker": endpoint(*e.server), "api_key": e.request.api_key,
           "api_version": e.request.api_version, "correlation_id": e.request.correlation_id,
           "client_id": e.request.client_id, "request_bytes": e.request.size, "response_bytes": e.response.size}
    if packets:
        out["request_packet"], out["response_packet"] = e.request.complete_packet, e.response.complete_packet
    return out
