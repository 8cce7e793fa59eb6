#!/usr/bin/env python3
"""Damaged variants of an intact pcap fixture, and a manifest of what `kafkascope pcap` must make of each.

    python3 Tests/Integration/pcap/damage_captures.py          # fixtures/kafka-python.pcap -> fixtures/damaged/

Variants (NAME = the source's name without .pcap):
    NAME.drop-mid.pcap   one packet removed: a middle segment of a request frame that spans >= 3 packets, on a
                         connection with later requests (the frame's header survives, its middle is lost)
    NAME.drop-head.pcap  one packet removed: the first segment of a response frame that spans >= 2 packets, on a
                         connection with later traffic (the header is lost, the rest of the frame is noise)
    NAME.dup.pcap        one packet carrying a whole request frame inserted again right after the next packet of
                         its connection (a retransmission of data already seen)
    NAME.swap.pcap       two adjacent packets, consecutive segments of one frame in one direction, exchanged
                         (data swapped, timestamps left in place, so the file stays in time order)
    NAME.midstream.pcap  every packet of one connection before the second segment of a multi-packet request
                         removed (SYN, handshake and first frames gone; the capture starts inside a frame)
    NAME.truncated.pcap  the file cut in the middle of a packet record's data, ~60 % into the file
    NAME.snaplen.pcap    every packet cut to 1024 captured bytes (header snaplen 1024), as `tcpdump -s 1024`

The expectations are computed from the intact capture: this script reassembles it with pcapio.py, checks that its
frames are exactly the Kafka PDUs tshark finds (frame number, direction, correlation id, size, api key and
version), then maps every frame's bytes into the damaged file. manifest.json holds, per damaged file:
    expected_exchanges   request/response pairs both of whose frames are fully in the damaged file, with the
                         packet numbers (damaged file numbering) that complete them: all must be reported
    optional_exchanges   pairs whose frames lost bytes but kept their headers: a decoder that skips the hole by
                         the frame length may report them (only api/version/correlation/sizes are checked)
    lost_frames          frames with bytes missing in the damaged file
    counters_min / counters_exact   what the summary totals must show
    same_as_intact       the jsonl must equal the intact file's, up to packet numbers (and ts/latency_ms within
                         max_time_shift_ms)
    warning              a `warning:` line on stderr is required
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapio  # noqa: E402
import tshark_kafka  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
SNAPLEN = 1024
API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
             10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
             15: "DescribeGroups", 16: "ListGroups", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
             22: "InitProducerId", 32: "DescribeConfigs", 71: "GetTelemetrySubscriptions"}


def api(key):
    return API_NAMES.get(key, "api_key_%d" % key)


# ---------------------------------------------------------------------------------------------- the intact capture

class Intact:
    def __init__(self, path):
        self.path = path
        self.cap = pcapio.read_pcap(path)
        syn_ports = {s.dport for r in self.cap.records
                     if (s := pcapio.tcp_segment(self.cap.linktype, r.data, self.cap.endian))
                     and s.flags & pcapio.TCP_SYN and not s.flags & pcapio.TCP_ACK}
        if len(syn_ports) != 1:
            raise SystemExit("%s: expected one broker port, SYNs go to %s" % (path, sorted(syn_ports)))
        self.port = syn_ports.pop()
        self.conns = pcapio.connections(self.cap, {self.port})
        self.pairs, unanswered, orphans = pcapio.exchanges(self.conns)
        if unanswered or orphans:
            raise SystemExit("%s: the intact fixture should have every request answered (%d unanswered, %d "
                             "responses without request)" % (path, len(unanswered), len(orphans)))
        self.frames = {}  # (client, direction, start) -> KafkaFrame
        for key, conn in self.conns.items():
            requests, responses = conn.frames()
            for f in requests + responses:
                self.frames[(conn.client, f.direction, f.start)] = f
        self._check_against_tshark()

    def _check_against_tshark(self):
        pdus = tshark_kafka.kafka_pdus(self.path, self.port)
        theirs = sorted((p.frame, p.kind, p.correlation_id, p.size, p.api_key if p.kind == "request" else None,
                         p.api_version if p.kind == "request" else None) for p in pdus)
        mine = sorted((f.complete_packet, f.direction, f.correlation_id, f.size, f.api_key, f.api_version)
                      for f in self.frames.values())
        if theirs != mine:
            raise SystemExit("%s: pcapio's frames differ from tshark's Kafka PDUs:\n only tshark: %s\n only pcapio: %s"
                             % (self.path, sorted(set(theirs) - set(mine))[:10], sorted(set(mine) - set(theirs))[:10]))
        self.tshark_pdus = len(pdus)

    def segment(self, number):
        r = self.cap.records[number - 1]
        return pcapio.tcp_segment(self.cap.linktype, r.data, self.cap.endian)

    def conn_of(self, number):
        for conn in self.conns.values():
            if number in conn.packets:
                return conn
        return None

    def pairs_on(self, conn):
        return [e for e in self.pairs if e.client == conn.client]


def describe_frame(intact, conn, f):
    key, ver = (f.api_key, f.api_version) if f.direction == "request" else \
        next(((e.request.api_key, e.request.api_version) for e in intact.pairs
              if e.client == conn.client and e.response is f), (None, None))
    return {"direction": f.direction, "client": pcapio.endpoint(*conn.client), "api": api(key), "api_key": key,
            "api_version": ver, "correlation_id": f.correlation_id, "size": f.size, "intact_packets": f.packets}


def exchange_entry(e, request_packet=None, response_packet=None):
    out = pcapio.exchange_fields(e, packets=False)
    out["api"] = api(e.request.api_key)
    if request_packet is not None:
        out["request_packet"], out["response_packet"] = request_packet, response_packet
    return out


# ---------------------------------------------------------------------------------------------- expectations

def expectations(intact, damaged_cap):
    """(expected exchanges, optional exchanges, lost frames) of damaged_cap, from where the intact frames' bytes
    are in it."""
    dconns = pcapio.connections(damaged_cap, {intact.port})
    arrivals = {}
    for key, conn in intact.conns.items():
        dconn = dconns.get(key)
        for direction, attr in (("request", "c2s"), ("response", "s2c")):
            if dconn is None:
                arrivals[(conn.client, direction)] = []
                continue
            d = getattr(dconn, attr)
            d.isn = getattr(conn, attr).isn  # intact stream offsets, also when the SYN is gone
            arrivals[(conn.client, direction)] = d.build()[1]

    def where(conn, f):
        arrival = arrivals[(conn.client, f.direction)]
        chunk = arrival[f.start:f.end]
        complete = len(chunk) == f.size and all(chunk)
        header = min(f.size, 12 if f.direction == "request" else 8)
        head_ok = len(chunk) >= header and all(chunk[:header])
        return (max(chunk) if complete else None), head_ok

    expected, optional, lost = [], [], []
    for key, conn in intact.conns.items():
        requests, responses = conn.frames()
        for f in requests + responses:
            if where(conn, f)[0] is None:
                lost.append(describe_frame(intact, conn, f))
    for e in intact.pairs:
        conn = intact.conns[(e.client, e.server)]
        req_packet, req_head = where(conn, e.request)
        resp_packet, resp_head = where(conn, e.response)
        if req_packet and resp_packet:
            expected.append(exchange_entry(e, req_packet, resp_packet))
        elif req_head and resp_head:
            optional.append(exchange_entry(e))
    expected.sort(key=lambda x: (x["response_packet"], x["client"]))
    return expected, optional, lost


# ---------------------------------------------------------------------------------------------- the damages

def multi_packet_frames(intact, direction, min_packets):
    out = []
    for conn in intact.conns.values():
        requests, responses = conn.frames()
        frames = requests if direction == "request" else responses
        for f in frames:
            later = [e for e in intact.pairs_on(conn) if e.request.start > f.start or
                     (direction == "response" and e.response.start > f.start)]
            if len(f.packets) >= min_packets and later:
                out.append((conn, f))
    return out


def only_bytes_of(intact, conn, f, number):
    """True when packet `number` carries bytes of frame f only."""
    seg = intact.segment(number)
    d = conn.c2s if f.direction == "request" else conn.s2c
    off = (seg.seq - d.isn) % (1 << 32)
    return f.start <= off and off + seg.payload_len <= f.end


def drop_mid(intact):
    candidates = [(c, f) for c, f in multi_packet_frames(intact, "request", 3)
                  if only_bytes_of(intact, c, f, f.packets[1])]
    if not candidates:
        raise SystemExit("no request frame spans 3 packets on a connection with later requests")
    conn, f = candidates[0]
    drop = f.packets[len(f.packets) // 2]
    records = [r for n, r in enumerate(intact.cap.records, 1) if n != drop]
    return records, {"damage": "packet %d removed: a middle segment (%d of %d) of a %s v%d request frame (correlation "
                               "id %d, %d bytes) on %s" % (drop, f.packets.index(drop) + 1, len(f.packets),
                                                            api(f.api_key), f.api_version, f.correlation_id, f.size,
                                                            pcapio.endpoint(*conn.client)),
                     "removed_packets": [drop],
                     "counters_min": {"gaps": 1, "resyncs": 1}}


def drop_head(intact):
    candidates = [(c, f) for c, f in multi_packet_frames(intact, "response", 2)
                  if only_bytes_of(intact, c, f, f.packets[0])]
    if not candidates:
        raise SystemExit("no response frame spans 2 packets on a connection with later traffic")
    conn, f = candidates[0]
    drop = f.packets[0]
    req = next(e.request for e in intact.pairs_on(conn) if e.response is f)
    records = [r for n, r in enumerate(intact.cap.records, 1) if n != drop]
    return records, {"damage": "packet %d removed: the first segment (with the header) of the %d-packet response to "
                               "%s v%d (correlation id %d, %d bytes) on %s; the rest of that frame is noise to a "
                               "decoder" % (drop, len(f.packets), api(req.api_key), req.api_version,
                                            f.correlation_id, f.size, pcapio.endpoint(*conn.client)),
                     "removed_packets": [drop],
                     "counters_min": {"gaps": 1, "resyncs": 1, "unanswered": 1}}


def duplicate(intact):
    n_records = len(intact.cap.records)
    for conn in sorted(intact.conns.values(), key=lambda c: c.packets[0]):
        requests, _ = conn.frames()
        for f in requests:
            if len(f.packets) != 1 or f.packets[0] < n_records // 3 or f.api_key == 18:
                continue
            number = f.packets[0]
            if not only_bytes_of(intact, conn, f, number) or intact.segment(number).payload_len != f.size:
                continue
            if not [r for r in requests if r.start > f.start]:
                continue
            after = next(p for p in conn.packets if p > number)
            records = list(intact.cap.records)
            original = records[number - 1]
            at = records[after - 1]  # the copy takes the timestamp of the packet it follows
            records.insert(after, original._replace(ts_sec=at.ts_sec, ts_frac=at.ts_frac))
            return records, {"damage": "packet %d (a whole %s v%d request, correlation id %d, on %s) inserted again "
                                       "after packet %d (intact numbering); it is packet %d of this file"
                                       % (number, api(f.api_key), f.api_version, f.correlation_id,
                                          pcapio.endpoint(*conn.client), after, after + 1),
                             "inserted_packets": [after + 1], "same_as_intact": True,
                             "counters_exact": {"gaps": 0, "resyncs": 0, "request_missing": 0, "unanswered": 0}}
    raise SystemExit("no single-packet request to duplicate")


def swap(intact):
    for conn in sorted(intact.conns.values(), key=lambda c: c.packets[0]):
        requests, responses = conn.frames()
        for f in requests + responses:
            for a, b in zip(f.packets, f.packets[1:]):
                if b != a + 1 or not (only_bytes_of(intact, conn, f, a) and only_bytes_of(intact, conn, f, b)):
                    continue
                ra, rb = intact.cap.records[a - 1], intact.cap.records[b - 1]
                shift = abs(intact.cap.timestamp(ra) - intact.cap.timestamp(rb)) * 1000
                if shift > 1.0:
                    continue
                records = list(intact.cap.records)
                records[a - 1] = rb._replace(ts_sec=ra.ts_sec, ts_frac=ra.ts_frac)
                records[b - 1] = ra._replace(ts_sec=rb.ts_sec, ts_frac=rb.ts_frac)
                return records, {"damage": "packets %d and %d exchanged (data only, timestamps kept in place): "
                                           "consecutive segments of the %d-packet %s frame (correlation id %d, %d "
                                           "bytes) on %s; the later segment now arrives first"
                                           % (a, b, len(f.packets), f.direction, f.correlation_id, f.size,
                                              pcapio.endpoint(*conn.client)),
                                 "swapped_packets": [a, b], "same_as_intact": True, "max_time_shift_ms": 1.0,
                                 "counters_exact": {"gaps": 0, "resyncs": 0, "request_missing": 0, "unanswered": 0,
                                                    "out_of_window": 0}}
    raise SystemExit("no two adjacent packets are consecutive segments of one frame")


def midstream(intact):
    for conn, f in multi_packet_frames(intact, "request", 2):
        if not conn.syn_seen:
            continue
        cut = f.packets[1]
        if not only_bytes_of(intact, conn, f, cut):
            continue
        later = [e for e in intact.pairs_on(conn) if e.request.start > f.start]
        if not later:
            continue
        removed = [p for p in conn.packets if p < cut]
        records = [r for n, r in enumerate(intact.cap.records, 1) if n not in set(removed)]
        return records, {"damage": "the first %d packets of connection %s removed (intact packets %d..%d: SYN, "
                                   "handshake, %d earlier exchanges and the first segment of a %d-packet %s v%d "
                                   "request, correlation id %d); the connection now starts inside that frame"
                                   % (len(removed), pcapio.endpoint(*conn.client), removed[0], removed[-1],
                                      len([e for e in intact.pairs_on(conn) if e.request.start < f.start]),
                                      len(f.packets), api(f.api_key), f.api_version, f.correlation_id),
                         "removed_packets": removed, "counters_min": {"resyncs": 1}}
    raise SystemExit("no connection with a multi-packet request followed by more exchanges")


def truncated(intact, out_path):
    """Writes the file itself: the intact bytes cut inside the data of a packet ~60 % into the file."""
    pcapio.write_pcap(out_path, intact.cap)
    data = open(out_path, "rb").read()
    pos, target = 24, len(data) * 0.6
    for number, r in enumerate(intact.cap.records, 1):
        if pos >= target and intact.segment(number) and intact.segment(number).payload_len > 100:
            cut = pos + 16 + r.caplen // 2
            with open(out_path, "wb") as f:
                f.write(data[:cut])
            return number, cut
        pos += 16 + r.caplen
    raise SystemExit("no packet with data after 60 % of the file")


def snaplen(intact):
    records = [r._replace(data=r.data[:SNAPLEN], caplen=min(r.caplen, SNAPLEN)) for r in intact.cap.records]
    cut = [n for n, r in enumerate(intact.cap.records, 1) if r.caplen > SNAPLEN]
    return records, {"damage": "every packet cut to %d captured bytes (file snaplen %d): %d packets truncated (%s)"
                               % (SNAPLEN, SNAPLEN, len(cut), ", ".join(map(str, cut))),
                     "truncated_packets": cut, "snaplen": SNAPLEN,
                     "counters_min": {"gaps": 1}, "counters_exact": {"truncated_packets": len(cut)}}


# ---------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=os.path.join(FIXTURES, "kafka-python.pcap"))
    ap.add_argument("--out-dir", default=os.path.join(FIXTURES, "damaged"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    intact = Intact(args.source)
    name = os.path.basename(args.source)[:-len(".pcap")]
    manifest = {"comment": "written by damage_captures.py from %s; packet numbers are 1-based in the file named, "
                           "'intact' numbers refer to the source" % os.path.basename(args.source),
                "source": os.path.basename(args.source), "broker_port": intact.port,
                "source_packets": len(intact.cap.records), "source_tshark_kafka_pdus": intact.tshark_pdus,
                "source_exchanges": len(intact.pairs), "damaged": []}

    for kind, fn in (("drop-mid", drop_mid), ("drop-head", drop_head), ("dup", duplicate), ("swap", swap),
                     ("midstream", midstream), ("snaplen", snaplen)):
        records, info = fn(intact)
        out = os.path.join(args.out_dir, "%s.%s.pcap" % (name, kind))
        cap = intact.cap.copy(records, snaplen=info.get("snaplen"))
        pcapio.write_pcap(out, cap)
        expected, optional, lost = expectations(intact, pcapio.read_pcap(out))
        entry = {"file": os.path.basename(out), "kind": kind, "packets": len(records), "warning": False,
                 "same_as_intact": False, "counters_min": {}, "counters_exact": {}}
        entry.update(info)
        entry["counters_exact"] = dict(entry["counters_exact"], packets=len(records))
        entry.update(lost_frames=lost, expected_exchanges=expected, optional_exchanges=optional)
        manifest["damaged"].append(entry)

    out = os.path.join(args.out_dir, "%s.truncated.pcap" % name)
    number, cut = truncated(intact, out)
    partial = pcapio.read_pcap(out, allow_truncated=True)
    assert len(partial.records) == number - 1 and partial.truncated_at is not None
    expected, optional, lost = expectations(intact, partial)
    manifest["damaged"].append({
        "file": os.path.basename(out), "kind": "truncated", "packets": number - 1, "warning": True,
        "damage": "file cut at byte %d, inside the data of packet %d (%d of %d bytes of its record kept); %d complete "
                  "packets remain" % (cut, number, cut - partial.truncated_at, 16 + intact.cap.records[number - 1]
                                      .caplen, number - 1),
        "same_as_intact": False, "counters_min": {}, "counters_exact": {"packets": number - 1},
        "lost_frames": lost, "expected_exchanges": expected, "optional_exchanges": optional})

    path = os.path.join(args.out_dir, "manifest.json")
    with open(path, "w") as f:
        f.write(dumps(manifest))
    for e in manifest["damaged"]:
        print("%-34s %7d bytes  %3d packets  %2d expected / %d optional exchanges, %d lost frames\n    %s" % (
            e["file"], os.path.getsize(os.path.join(args.out_dir, e["file"])), e["packets"],
            len(e["expected_exchanges"]), len(e["optional_exchanges"]), len(e["lost_frames"]), e["damage"]))
    print("%s: %d damaged files" % (path, len(manifest["damaged"])))


def dumps(manifest):
    """JSON with one line per exchange or lost frame, so that the manifest stays readable and diffable."""
    lines = ["{"]
    top = [k for k in manifest if k != "damaged"]
    for k in top:
        lines.append(" %s: %s," % (json.dumps(k), json.dumps(manifest[k])))
    lines.append(' "damaged": [')
    for i, entry in enumerate(manifest["damaged"]):
        lines.append("  {")
        keys = list(entry)
        for j, k in enumerate(keys):
            v = entry[k]
            comma = "," if j < len(keys) - 1 else ""
            if isinstance(v, list) and v and isinstance(v[0], dict):
                lines.append("   %s: [" % json.dumps(k))
                lines += ["    %s%s" % (json.dumps(x), "," if n < len(v) - 1 else "") for n, x in enumerate(v)]
                lines.append("   ]%s" % comma)
            else:
                lines.append("   %s: %s%s" % (json.dumps(k), json.dumps(v), comma))
        lines.append("  }%s" % ("," if i < len(manifest["damaged"]) - 1 else ""))
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    json.loads(text)
    return text


if __name__ == "__main__":
    main()
