#!/usr/bin/env python3
"""Offline capture analysis benchmark: `kafkascope pcap` against tshark's Kafka dissector, on the same captures, in
one run.

Captures (real traffic between confluent-kafka clients and a Tansu broker started on 127.0.0.1, recorded with
`tcpdump -i lo -s 0`):
  frame-heavy  many single-record Produce requests from several pipelining producer processes, and a consumer
               fetching the same topic concurrently with small fetches (>= 200,000 Kafka frames by default);
  bulk         1 KiB records produced in ~1 MB batches, then read back by a consumer (>= 200 MB by default);
  bulk-x2      the bulk capture followed by a copy of itself, shifted in time and with the client ports moved so
               that its flows are distinct (pure-Python pcap rewriting): for kafkascope's peak memory only.

For each capture and tool, --repeats runs (default 3), timed on the wall clock, with the peak RSS from
/usr/bin/time (GNU time's %M):
  kafkascope pcap FILE --port P --format summary --no-progress
  tshark -r FILE -d tcp.port==P,kafka -Y kafka -T fields -e kafka.api_key -e kafka.correlation_id

Prints Markdown tables (frames/s, MB/s, peak RSS, ratios kafkascope/tshark, the targets) on stdout, progress on
stderr. See Benchmarks/README.md.

  python3 Benchmarks/pcap_bench.py [--repeats N] [--keep DIR | --captures DIR] [--kafkascope PATH]
"""
import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_support import (BenchError, Processes, fmt, logger, machine_busy_seconds, port_is_free, tail,
                           tansu_binary)

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
log = logger("pcap_bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1e6
MIB = 1024 * 1024
CAPTURES = ("frame-heavy", "bulk")          # recorded (or given with --captures)
DERIVED = "bulk-x2"                          # made from bulk
EMPTY = "empty"                              # a capture with no packets: each tool's start-up cost
META = "captures.json"                       # how each capture in a captures directory was made
TARGET_FRAMES_RATIO = 30.0                   # kafkascope frames/s >= 30x tshark's on frame-heavy
TARGET_MBS_RATIO = 10.0                      # kafkascope MB/s >= 10x tshark's on bulk
FLAT_RSS_LIMIT = 1.25                        # bulk-x2 peak RSS / bulk peak RSS: "flat", far from 2x


def free_port(taken, low=20000, high=50000, attempts=500):
    rng = random.Random()
    for _ in range(attempts):
        port = rng.randrange(low, high)
        if port not in taken and port_is_free(port):
            taken.add(port)
            return port
    raise BenchError("no free port in %d-%d" % (low, high))


# ---------------------------------------------------------------------------------------------- components

def gnu_time():
    """/usr/bin/time if it is GNU time (understands -f %M -o FILE), else None."""
    path = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("time")
    if not path:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".time") as f:
        try:
            subprocess.run([path, "-f", "%M %U %S", "-o", f.name, "true"], check=True, timeout=10,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            fields = f.read().split()
            if len(fields) == 3 and fields[0].isdigit():
                return path
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def find_components(args, need_recording):
    missing = []
    tools = {}
    kafkascope = args.kafkascope
    if not os.path.isfile(kafkascope) or not os.access(kafkascope, os.X_OK):
        missing.append("kafkascope binary %r is missing or not executable (swift build -c release, or "
                       "--kafkascope PATH)" % kafkascope)
    tools["kafkascope"] = kafkascope
    tools["tshark"] = shutil.which("tshark")
    if not tools["tshark"]:
        missing.append("tshark not found on PATH (apt-get install tshark)")
    if need_recording:
        tools["tcpdump"] = shutil.which("tcpdump")
        if not tools["tcpdump"]:
            missing.append("tcpdump not found on PATH (apt-get install tcpdump)")
        elif os.geteuid() != 0:
            log("warning: not root; tcpdump needs capture rights on lo (CAP_NET_RAW)")
        tools["tansu"] = tansu_binary(missing)
        try:
            import confluent_kafka  # noqa: F401
        except ImportError as e:
            missing.append("python package confluent-kafka is not importable (%s)" % e)
    tools["time"] = gnu_time()
    if missing:
        raise BenchError("missing components:\n  - " + "\n  - ".join(missing))
    if tools["time"] is None:
        log("warning: GNU time (/usr/bin/time) not found: peak RSS is polled from /proc/PID/status VmHWM every "
            "5 ms instead, a lower bound (apt-get install time)")
    if tools["tshark"]:
        fields = subprocess.run([tools["tshark"], "-G", "fields"], capture_output=True, text=True).stdout
        names = {line.split("\t")[2] for line in fields.splitlines() if line.startswith("F\t")
                 and line.count("\t") >= 2}
        for field in ("kafka.api_key", "kafka.correlation_id"):
            if field not in names:
                raise BenchError("this tshark has no field %s (tshark -G fields | grep -w kafka)" % field)
    return tools


def tool_versions(tools):
    out = {}
    with contextlib.suppress(Exception):
        out["kafkascope"] = subprocess.run([tools["kafkascope"], "--version"], capture_output=True, text=True,
                                           timeout=10).stdout.strip()
    with contextlib.suppress(Exception):
        out["tshark"] = subprocess.run([tools["tshark"], "-v"], capture_output=True, text=True,
                                       timeout=10).stdout.splitlines()[0].strip()
    return out


def binary_stamp(path):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


# ---------------------------------------------------------------------------------------------- client workers
# The Kafka clients run in child processes (this script with `_worker ROLE JSON`): several producers in parallel,
# and every client connection is closed (process exit) before tcpdump is stopped.

def worker_main(role, params):
    p = json.loads(params)
    deadline = time.monotonic() + p.get("timeout", 300)

    def result(**kw):
        print("RESULT " + json.dumps(kw), flush=True)

    if role == "create-topic":
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": p["bootstrap"], "client.id": "pcap-bench-admin"})
        for _, fut in admin.create_topics([NewTopic(p["topic"], num_partitions=p.get("partitions", 1),
                                                        replication_factor=1)],
                                              request_timeout=30, operation_timeout=30).items():
            fut.result(30)
        result(ok=True)
        return 0

    if role in ("small-producer", "bulk-producer"):
        from confluent_kafka import Producer
        failed = []

        def on_delivery(err, msg):
            if err is not None:
                failed.append(str(err))

        config = {"bootstrap.servers": p["bootstrap"], "client.id": p["client_id"], "acks": "all",
                  "compression.type": "none", "enable.idempotence": False,
                  "queue.buffering.max.messages": 1000000, "queue.buffering.max.kbytes": 1024 * 1024,
                  "message.timeout.ms": 120000, "request.timeout.ms": 60000,
                  "delivery.report.only.error": True}
        if role == "small-producer":
            # one record per Produce request, sent at once, pipelined (librdkafka's default in-flight limit)
            config.update({"linger.ms": 0, "batch.num.messages": 1})
        else:
            config.update({"linger.ms": 100, "batch.size": 1000000})
        prod = Producer(config)
        rng = random.Random(p.get("seed", 0))
        values = [rng.randbytes(p["value_bytes"]) for _ in range(64)]
        # pace: at most `window` records produced but not yet acknowledged, so that the request queue (and the
        # broker's backlog) stays bounded and the requests spread over the run instead of all queueing at once
        window = p.get("window", 0)
        t0 = time.perf_counter()
        for i in range(p["records"]):
            while True:
                try:
                    prod.produce(p["topic"], value=values[i % 64], partition=p.get("partition", -1),
                                 on_delivery=on_delivery)
                    break
                except BufferError:
                    prod.poll(0.002)
            if window and len(prod) > window:
                while len(prod) > window // 2:
                    prod.poll(0.001)
                    if time.monotonic() > deadline:
                        break
            elif i % 1000 == 0:
                prod.poll(0)
            if time.monotonic() > deadline:
                print("timed out at record %d" % i, file=sys.stderr)
                return 2
        left = prod.flush(max(1.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - t0
        if left or failed:
            print("%d records unacknowledged, %d failed (first: %s)" % (left, len(failed), failed[:1]),
                  file=sys.stderr)
            return 2
        result(records=p["records"], seconds=elapsed)
        return 0

    if role == "consumer":
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
        config = {"bootstrap.servers": p["bootstrap"], "client.id": p["client_id"],
                  "group.id": "pcap-bench-%d" % os.getpid(), "enable.auto.commit": False,
                  "enable.partition.eof": False, "auto.offset.reset": "earliest"}
        config.update(p.get("config", {}))
        c = Consumer(config)
        count = size = 0
        t0 = time.perf_counter()
        try:
            md = c.list_topics(p["topic"], timeout=30)
            if md.topics.get(p["topic"]) is None or md.topics[p["topic"]].error is not None:
                print("topic %s not in metadata" % p["topic"], file=sys.stderr)
                return 2
            c.assign([TopicPartition(p["topic"], i, OFFSET_BEGINNING) for i in range(p.get("partitions", 1))])
            progress = time.monotonic()
            while count < p["records"]:
                now = time.monotonic()
                if now > deadline or now - progress > p.get("stall", 30):
                    print("only %d of %d records (%s)" % (count, p["records"], "timed out" if now > deadline else
                          "no new record for %.0f s" % (now - progress)), file=sys.stderr)
                    return 2
                msgs = c.consume(num_messages=10000, timeout=1.0)
                if msgs:
                    progress = time.monotonic()
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        print("consume: %s" % err, file=sys.stderr)
                        return 2
                    count += 1
                    size += len(msg.value())
        finally:
            c.close()
        result(records=count, bytes=size, seconds=time.perf_counter() - t0)
        return 0

    print("unknown worker role %r" % role, file=sys.stderr)
    return 2


def run_workers(procs, specs, timeout):
    """Start (name, role, params) workers together and wait for all of them; any failure fails the run."""
    started = []
    for name, role, params in specs:
        params = dict(params, timeout=timeout)
        proc = procs.spawn(name, [sys.executable, str(Path(__file__).resolve()), "_worker", role,
                                  json.dumps(params)])
        started.append(proc)
    deadline = time.monotonic() + timeout + 30
    results = {}
    try:
        for proc in started:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise BenchError("%s did not finish within %.0f s; log tail:\n%s"
                                 % (proc.bench_name, timeout + 30, tail(proc.bench_log)))
            if proc.returncode != 0:
                raise BenchError("%s failed with code %s; log tail:\n%s"
                                 % (proc.bench_name, proc.returncode, tail(proc.bench_log)))
            found = [line[7:] for line in Path(proc.bench_log).read_text(errors="replace").splitlines()
                     if line.startswith("RESULT ")]
            results[proc.bench_name] = json.loads(found[-1]) if found else {}
            procs.forget(proc)
    finally:
        for proc in started:
            procs.stop(proc, timeout=3)
    return results


# ---------------------------------------------------------------------------------------------- recording

class Recording:
    """A fresh in-memory Tansu on 127.0.0.1:PORT and `tcpdump -i lo -w FILE -s 0 'tcp port PORT'`."""

    def __init__(self, procs, tools, name, path, ports):
        self.procs, self.tools, self.name, self.path = procs, tools, name, Path(path)
        self.port = free_port(ports)
        self.bootstrap = "%s:%d" % (HOST, self.port)
        self.tansu = self.tcpdump = None
        self.stats = {}

    def __enter__(self):
        url = "tcp://%s:%d" % (HOST, self.port)
        self.tansu = self.procs.spawn("%s-tansu" % self.name, [self.tools["tansu"], "broker", "--listener-url", url,
                                                               "--advertised-listener-url", url,
                                                               "--storage-engine", "memory://tansu/"])
        self.procs.wait_port(self.tansu, self.port, 20)  # before tcpdump: this probe is not in the capture
        # -B: 256 MiB kernel buffer (no drops while the clients and Tansu keep both cores busy); -Z root: keep
        # writing as root (tcpdump otherwise drops to its own user, which may not write to our directory)
        argv = [self.tools["tcpdump"], "-i", "lo", "-n", "-s", "0", "-B", "262144", "-Z", "root",
                "-w", str(self.path), "tcp port %d" % self.port]
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.tcpdump = self.procs.spawn("tcpdump-%s" % self.name, argv)
        deadline = time.monotonic() + 20
        while "listening on" not in tail(self.tcpdump.bench_log):
            if self.tcpdump.poll() is not None:
                raise BenchError("tcpdump exited with code %s (root or capture rights on lo needed):\n%s"
                                 % (self.tcpdump.returncode, tail(self.tcpdump.bench_log)))
            if time.monotonic() > deadline:
                raise BenchError("tcpdump did not report 'listening on' within 20 s:\n%s"
                                 % tail(self.tcpdump.bench_log))
            time.sleep(0.02)
        log("%s: Tansu on %s (pid %d), tcpdump capturing into %s" % (self.name, self.bootstrap, self.tansu.pid,
                                                                     self.path))
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self.tcpdump.poll() is None:
                # tcpdump gets packets in blocks that are handed over when full or after its 1 s buffer timeout:
                # wait for the last block before SIGINT, or the last responses would be missing
                time.sleep(2.0)
            if self.tcpdump.poll() is not None and exc_type is None:
                raise BenchError("tcpdump exited early with code %s:\n%s"
                                 % (self.tcpdump.returncode, tail(self.tcpdump.bench_log)))
            self.procs.stop(self.tcpdump, sig=signal.SIGINT, timeout=20)
            text = tail(self.tcpdump.bench_log)
            for key, pattern in (("captured", r"(\d+) packets? captured"),
                                 ("received", r"(\d+) packets? received by filter"),
                                 ("dropped", r"(\d+) packets? dropped by kernel")):
                m = re.search(pattern, text)
                self.stats[key] = int(m.group(1)) if m else None
        finally:
            self.procs.stop(self.tansu)
        if exc_type is None:
            if self.stats.get("dropped") is None:
                raise BenchError("tcpdump did not report its packet counts:\n%s" % tail(self.tcpdump.bench_log))
            if self.stats["dropped"]:
                log("warning: %s: tcpdump dropped %d packets" % (self.name, self.stats["dropped"]))
        return False


def record_frame_heavy(procs, tools, path, args, ports):
    """Single-record Produce requests from --producers pipelining producer processes, and a consumer fetching
    the same topic concurrently with small fetches (up to 16 KiB, answered after at most 5 ms)."""
    records = -(-args.small_records // args.frame_copies)
    per = [records // args.producers + (1 if i < records % args.producers else 0) for i in range(args.producers)]
    t0 = time.monotonic()
    with Recording(procs, tools, "frame-heavy", path, ports) as rec:
        # one partition per producer: with several producers on one partition, this Tansu (memory storage) was
        # seen to leave an offset that Fetch never returns, so the consumer could not finish
        run_workers(procs, [("frame-heavy-admin", "create-topic", {"bootstrap": rec.bootstrap, "topic": "small",
                                                                   "partitions": args.producers})], 60)
        log("frame-heavy: %d single-record produces from %d producers, one consumer fetching concurrently"
            % (records, args.producers))
        specs = [("frame-heavy-consumer", "consumer",
                  {"bootstrap": rec.bootstrap, "topic": "small", "records": records, "client_id": "pcap-bench-fetch",
                   "partitions": args.producers,
                   "config": {"fetch.wait.max.ms": 100, "fetch.min.bytes": 1, "max.partition.fetch.bytes": 16384}})]
        specs += [("frame-heavy-producer-%d" % i, "small-producer",
                   {"bootstrap": rec.bootstrap, "topic": "small", "records": n, "value_bytes": args.small_bytes,
                    "client_id": "pcap-bench-small-%d" % i, "seed": i, "window": args.window, "partition": i})
                  for i, n in enumerate(per)]
        results = run_workers(procs, specs, args.phase_timeout)
    for name, r in sorted(results.items()):
        log("frame-heavy: %s: %d records in %.1f s" % (name, r.get("records", 0), r.get("seconds", 0)))
    return {"records": records, "producers": args.producers, "value_bytes": args.small_bytes, "port": rec.port,
            "tcpdump": rec.stats, "record_seconds": time.monotonic() - t0}


def record_bulk(procs, tools, path, args, ports):
    """--bulk-records 1 KiB records in ~1 MB batches, then a consumer reads them all back (1 MiB fetches)."""
    t0 = time.monotonic()
    with Recording(procs, tools, "bulk", path, ports) as rec:
        run_workers(procs, [("bulk-admin", "create-topic", {"bootstrap": rec.bootstrap, "topic": "bulk"})], 60)
        log("bulk: producing %d x %d B" % (args.bulk_records, args.bulk_bytes))
        run_workers(procs, [("bulk-producer", "bulk-producer",
                             {"bootstrap": rec.bootstrap, "topic": "bulk", "records": args.bulk_records,
                              "value_bytes": args.bulk_bytes, "client_id": "pcap-bench-bulk"})], args.phase_timeout)
        log("bulk: consuming them back")
        run_workers(procs, [("bulk-consumer", "consumer",
                             {"bootstrap": rec.bootstrap, "topic": "bulk", "records": args.bulk_records,
                              "client_id": "pcap-bench-bulk-fetch"})], args.phase_timeout)
    return {"records": args.bulk_records, "value_bytes": args.bulk_bytes, "port": rec.port, "tcpdump": rec.stats,
            "record_seconds": time.monotonic() - t0}


# ---------------------------------------------------------------------------------------------- pcap rewriting
# Classic pcap only (tcpdump -w writes it). Copies of a capture are appended one after the other: copy k is moved
# k x (span + 1 s) later, and every client port (a TCP port that is not a broker port) gets a fresh number, so
# each copy's connections are new flows (same broker port, so --port and -d tcp.port== still apply). The TCP
# checksum is adjusted for the new port (RFC 1624), so a checksum that was right stays right.

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


# ---------------------------------------------------------------------------------------------- captures

def load_meta(d):
    with contextlib.suppress(FileNotFoundError, ValueError):
        return json.loads((Path(d) / META).read_text())
    return {}


def save_meta(d, meta):
    (Path(d) / META).write_text(json.dumps(meta, indent=2) + "\n")


def prepare_captures(procs, tools, args, capdir, workdir, x2_paths, may_record):
    capdir = Path(capdir)
    meta = load_meta(capdir)
    ports = set()
    for name in CAPTURES:
        path = capdir / ("%s.pcap" % name)
        if path.exists() and name in meta:
            log("%s: reusing %s (%.1f MB)" % (name, path, path.stat().st_size / MB))
            continue
        if path.exists() and args.captures and args.port:
            meta[name] = {"port": args.port, "how": "given"}
            log("%s: using %s with --port %d" % (name, path, args.port))
            continue
        if not may_record:
            raise BenchError("%s: no %s, or no port for it (%s in the directory, or --port)" % (name, path, META))
        if name == "frame-heavy":
            raw = capdir / "frame-heavy.live.pcap" if args.frame_copies > 1 else path
            info = record_frame_heavy(procs, tools, raw, args, ports)
            if args.frame_copies > 1:
                log("frame-heavy: building %d time- and port-shifted copies of the live capture" % args.frame_copies)
                info["concat"] = concat_copies(raw, path, args.frame_copies, [info["port"]])
                raw.unlink()
                info["how"] = "%d time/port-shifted copies of one live capture" % args.frame_copies
            else:
                info["how"] = "recorded live"
        else:
            info = record_bulk(procs, tools, path, args, ports)
            info["how"] = "recorded live"
        meta[name] = info
        meta.pop(DERIVED, None)  # made from bulk: redo it
        save_meta(capdir, meta)
        log("%s: %s, %.1f MB, tcpdump: %s" % (name, info["how"], path.stat().st_size / MB, info["tcpdump"]))
    x2 = capdir / ("%s.pcap" % DERIVED)
    if not (x2.exists() and DERIVED in meta):
        if not os.access(capdir, os.W_OK):  # a read-only --captures directory: make it in the work directory
            x2 = Path(workdir) / ("%s.pcap" % DERIVED)
        log("%s: bulk followed by a time- and port-shifted copy of itself" % DERIVED)
        t0 = time.monotonic()
        info = concat_copies(capdir / "bulk.pcap", x2, 2, [meta["bulk"]["port"]])
        info.update(port=meta["bulk"]["port"], how="bulk + a copy shifted in time and client ports")
        meta[DERIVED] = info
        log("%s: %.1f MB in %.1f s" % (DERIVED, x2.stat().st_size / MB, time.monotonic() - t0))
        with contextlib.suppress(OSError):  # in a read-only --captures directory it is just not remembered
            save_meta(capdir, meta)
    x2_paths[DERIVED] = x2
    return meta


def warm_cache(path):
    """Read the file once so that every timed run reads it from the page cache."""
    with open(path, "rb") as f:
        while f.read(8 * MIB):
            pass


# ---------------------------------------------------------------------------------------------- measuring

def wait_exactly(proc, timeout, name):
    """Wait for proc to exit and return at once when it does. (Popen.wait(timeout) polls with sleeps of up to
    50 ms, which would add up to 50 ms to a run that takes 0.1 s.) A timer kills its process group on timeout."""
    expired = []

    def kill():
        expired.append(True)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    if expired:
        raise BenchError("%s took more than %.0f s" % (name, timeout))


def measure(procs, tools, name, argv, out_path, timeout):
    """Run argv with stdout to out_path; wall seconds (perf_counter around the run), peak RSS in KiB, CPU seconds
    and the other processes' load meanwhile (in cores)."""
    err_path = Path(str(out_path) + ".err")
    timefile = Path(str(out_path) + ".time")
    busy0 = machine_busy_seconds()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        if tools["time"]:
            t0 = time.perf_counter()
            proc = procs.spawn(name, [tools["time"], "-f", "%M %U %S", "-o", str(timefile)] + argv, stdout=out,
                               stderr=err)
            wait_exactly(proc, timeout, name)
            wall = time.perf_counter() - t0
            procs.forget(proc)
            code = proc.returncode
            fields = timefile.read_text().split() if timefile.exists() else []
            try:
                rss_kib, cpu = int(fields[-3]), float(fields[-2]) + float(fields[-1])
            except (IndexError, ValueError):
                raise BenchError("%s: cannot read /usr/bin/time's output %r" % (name, fields))
        else:
            # fallback: poll VmHWM (peak RSS) while it runs; the last reading before exit is a lower bound
            t0 = time.perf_counter()
            proc = procs.spawn(name, argv, stdout=out, stderr=err)
            rss_kib, status, usage = 0, None, None
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                with contextlib.suppress(OSError), open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            rss_kib = max(rss_kib, int(line.split()[1]))
                if time.perf_counter() - t0 > timeout:
                    procs.stop(proc)
                    raise BenchError("%s took more than %.0f s" % (name, timeout))
                time.sleep(0.005)
            wall = time.perf_counter() - t0
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            procs.forget(proc)
            cpu = usage.ru_utime + usage.ru_stime
    busy = machine_busy_seconds() - busy0
    if code != 0:
        raise BenchError("%s exited with code %s: %s\nstderr: %s" % (name, code, " ".join(argv), tail(err_path)))
    # /proc/stat counts in 10 ms ticks: on runs shorter than 0.5 s the estimate is mostly rounding, so none
    other = max(0.0, busy - cpu) / wall if wall >= 0.5 else None
    return {"wall": wall, "rss_kib": rss_kib, "cpu": cpu, "other_cores": other}


def kafkascope_frames(out_path):
    """`  frames  N` (and packets, unanswered, gaps) from the summary's totals."""
    text = Path(out_path).read_text(errors="replace")
    totals = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^\s+([a-z_]+)\s+(\d+)\s*$", text, re.M))
    if "frames" not in totals:
        raise BenchError("no '  frames  N' line in kafkascope's summary (%s):\n%s" % (out_path, text[-2000:]))
    return totals


def tshark_frames(out_path):
    """One line per packet that holds Kafka; a packet with several Kafka PDUs lists their fields comma-separated.
    Frames = number of correlation ids over all lines."""
    lines = frames = 0
    with open(out_path, "rb") as f:
        for line in f:
            lines += 1
            cols = line.rstrip(b"\n").split(b"\t")
            if len(cols) >= 2 and cols[1]:
                frames += cols[1].count(b",") + 1
    return {"frames": frames, "lines": lines}


def bench(procs, tools, args, capdir, meta, workdir, x2_paths):
    """Every (capture, tool) --repeats times, the tools' order rotated each repetition."""
    jobs = {EMPTY: ["kafkascope", "tshark"], "frame-heavy": ["kafkascope", "tshark"],
            "bulk": ["kafkascope", "tshark", "kafkascope-x2"]}
    # the start-up baseline: a capture with the frame-heavy file's header and no packets
    with open(capdir / "frame-heavy.pcap", "rb") as f, open(workdir / "empty.pcap", "wb") as out:
        out.write(f.read(24))
    runs = []
    stamp = binary_stamp(tools["kafkascope"])
    changed = False
    for cap, tool_names in jobs.items():
        base = workdir / "empty.pcap" if cap == EMPTY else capdir / ("%s.pcap" % cap)
        files = {"kafkascope": base, "tshark": base, "kafkascope-x2": x2_paths[DERIVED]}
        for path in set(files[t] for t in tool_names):
            warm_cache(path)
        port = meta["frame-heavy" if cap == EMPTY else cap]["port"]
        for rep in range(args.repeats):
            order = tool_names[rep % len(tool_names):] + tool_names[:rep % len(tool_names)]
            for tool in order:
                path = files[tool]
                out = workdir / ("%s.%s.%d.out" % (cap, tool, rep))
                if tool.startswith("kafkascope"):
                    argv = [tools["kafkascope"], "pcap", str(path), "--port", str(port), "--format", "summary",
                            "--no-progress"] + (["--threads", str(args.threads)] if args.threads else [])
                else:
                    argv = [tools["tshark"], "-r", str(path), "-d", "tcp.port==%d,kafka" % port, "-Y", "kafka",
                            "-T", "fields", "-e", "kafka.api_key", "-e", "kafka.correlation_id"]
                if tool.startswith("kafkascope") and binary_stamp(tools["kafkascope"]) != stamp:
                    changed = True
                    log("warning: %s changed on disk during the benchmark" % tools["kafkascope"])
                r = measure(procs, tools, "%s-%s-%d" % (cap, tool, rep), argv, out, args.run_timeout)
                r.update(capture=cap if tool != "kafkascope-x2" else DERIVED, rep=rep, bytes=path.stat().st_size)
                r.update((kafkascope_frames if tool.startswith("kafkascope") else tshark_frames)(out))
                r["tool"] = "tshark" if tool == "tshark" else "kafkascope"
                with contextlib.suppress(OSError):
                    out.unlink()
                runs.append(r)
                log("%s %s #%d: %.3f s, %d frames, %.0f frames/s, %.1f MB/s, peak RSS %.1f MiB, other load %s "
                    "cores" % (r["capture"], r["tool"], rep + 1, r["wall"], r["frames"], r["frames"] / r["wall"],
                               r["bytes"] / MB / r["wall"], r["rss_kib"] / 1024, fmt(r["other_cores"], ".2f")))
    return runs, changed


# ---------------------------------------------------------------------------------------------- report

def summarize(runs, capture, tool):
    """Medians over the runs; `net` figures use the wall time minus the tool's median start-up time (its median
    on the empty capture)."""
    rs = [r for r in runs if r["capture"] == capture and r["tool"] == tool]
    if not rs:
        return None
    wall = statistics.median(r["wall"] for r in rs)
    empty = [r["wall"] for r in runs if r["capture"] == EMPTY and r["tool"] == tool]
    startup = statistics.median(empty) if empty and capture != EMPTY else 0.0
    net = max(wall - startup, 1e-9)
    frames = rs[0]["frames"]
    return {"runs": len(rs), "wall": wall, "frames": frames, "bytes": rs[0]["bytes"],
            "frames_consistent": all(r["frames"] == frames for r in rs),
            "fps": frames / wall, "mbs": rs[0]["bytes"] / MB / wall,
            "startup": startup, "net": net, "net_fps": frames / net, "net_mbs": rs[0]["bytes"] / MB / net,
            "rss": statistics.median(r["rss_kib"] for r in rs) / 1024,
            "rss_max": max(r["rss_kib"] for r in rs) / 1024,
            "cpu": statistics.median(r["cpu"] for r in rs),
            "other": max([r["other_cores"] for r in rs if r["other_cores"] is not None], default=None),
            "totals": rs[0]}


def report(args, meta, runs, versions, wall, changed, captures_from):
    lines = []
    lines.append("kafkascope pcap vs %s; %d run(s) per capture and tool, medians shown; whole benchmark %.0f s "
                 "(%s)." % (versions.get("tshark", "tshark").rstrip("."), args.repeats, wall, captures_from))
    # Paths relative to the repository, so that reports pasted into docs carry no machine paths.
    lines.append("kafkascope %s (%s%s)." % (versions.get("kafkascope", "?"), os.path.relpath(args.kafkascope, REPO),
                                            ", --threads %d" % args.threads if args.threads else ""))
    if changed:
        lines.append("**Warning: the kafkascope binary changed on disk during the run: figures mix two builds.**")
    lines.append("")

    lines.append("| capture | how it was made | file MB | packets | Kafka frames (kafkascope) | Kafka frames (tshark) "
                 "| tshark lines | unanswered | gaps | tcpdump dropped |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cap in CAPTURES + (DERIVED,):
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if not k:
            continue
        m = meta.get(cap, {})
        how = m.get("how", "?")
        if cap in CAPTURES and "records" in m:
            how += " (%s%d x %d B records%s)" % ("each: " if "concat" in m else "", m["records"], m["value_bytes"],
                                                ", %d producers" % m["producers"] if "producers" in m else "")
        dropped = (m.get("tcpdump") or {}).get("dropped")
        kt = k["totals"]
        lines.append("| %s | %s | %.1f | %d | %d | %s | %s | %d | %d | %s |" % (
            cap, how, k["bytes"] / MB, kt.get("packets", 0), k["frames"], t["frames"] if t else "—",
            t["totals"]["lines"] if t else "—", kt.get("unanswered", 0), kt.get("gaps", 0),
            "—" if dropped is None else dropped))
    lines.append("")

    lines.append("| capture | tool | wall s | frames/s | MB/s | peak RSS MiB | CPU s | wall − start-up s | "
                 "frames/s without start-up | MB/s without start-up | max other load, cores |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cap in (EMPTY,) + CAPTURES + (DERIVED,):
        for tool in ("kafkascope", "tshark"):
            s = summarize(runs, cap, tool)
            if s and cap == EMPTY:
                lines.append("| empty (start-up) | %s | %.3f | — | — | %.1f | %.2f | — | — | — | %s |" % (
                    tool, s["wall"], s["rss"], s["cpu"], fmt(s["other"], ".2f")))
            elif s:
                lines.append("| %s | %s | %.3f | %.0f | %.1f | %.1f | %.2f | %.3f | %.0f | %.1f | %s |" % (
                    cap, tool, s["wall"], s["fps"], s["mbs"], s["rss"], s["cpu"], s["net"], s["net_fps"],
                    s["net_mbs"], fmt(s["other"], ".2f")))
    lines.append("")

    lines.append("| capture | frames/s kafkascope/tshark | MB/s kafkascope/tshark | without start-up | "
                 "peak RSS kafkascope/tshark |")
    lines.append("|---|---:|---:|---:|---:|")
    for cap in CAPTURES:
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if k and t:
            lines.append("| %s | %.1f× | %.1f× | %.1f× | %.3f× |" % (
                cap, k["fps"] / t["fps"], k["mbs"] / t["mbs"], k["net_mbs"] / t["net_mbs"], k["rss"] / t["rss"]))
    lines.append("")

    lines.append("Every run:")
    lines.append("")
    lines.append("| capture | tool | run | wall s | frames | frames/s | MB/s | peak RSS MiB | CPU s | "
                 "other load, cores |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(runs, key=lambda r: (((EMPTY,) + CAPTURES + (DERIVED,)).index(r["capture"]), r["tool"],
                                         r["rep"])):
        empty = r["capture"] == EMPTY
        lines.append("| %s | %s | %d | %.3f | %d | %s | %s | %.1f | %.2f | %s |" % (
            r["capture"], r["tool"], r["rep"] + 1, r["wall"], r["frames"],
            "—" if empty else "%.0f" % (r["frames"] / r["wall"]),
            "—" if empty else "%.1f" % (r["bytes"] / MB / r["wall"]),
            r["rss_kib"] / 1024, r["cpu"], fmt(r["other_cores"], ".2f")))
    lines.append("")

    lines.append("Targets:")
    fh_k, fh_t = summarize(runs, "frame-heavy", "kafkascope"), summarize(runs, "frame-heavy", "tshark")
    b_k, b_t = summarize(runs, "bulk", "kafkascope"), summarize(runs, "bulk", "tshark")
    x2 = summarize(runs, DERIVED, "kafkascope")

    def verdict(ok):
        return "**met**" if ok else "**missed**"
    if fh_k and fh_t:
        q = fh_k["fps"] / fh_t["fps"]
        lines.append("- frame-heavy: kafkascope frames/s ≥ %.0f× tshark's: %.1f× (%.0f vs %.0f frames/s; %.1f× "
                     "without either tool's start-up) — %s"
                     % (TARGET_FRAMES_RATIO, q, fh_k["fps"], fh_t["fps"], fh_k["net_fps"] / fh_t["net_fps"],
                        verdict(q >= TARGET_FRAMES_RATIO)))
    if b_k and b_t:
        q = b_k["mbs"] / b_t["mbs"]
        lines.append("- bulk: kafkascope MB/s ≥ %.0f× tshark's: %.1f× (%.1f vs %.1f MB/s; %.1f× without either "
                     "tool's start-up) — %s"
                     % (TARGET_MBS_RATIO, q, b_k["mbs"], b_t["mbs"], b_k["net_mbs"] / b_t["net_mbs"],
                        verdict(q >= TARGET_MBS_RATIO)))
    if b_k and x2:
        q = x2["rss"] / b_k["rss"]
        lines.append("- peak memory flat in file size: kafkascope on bulk-x2 (%.0f MB) %.1f MiB vs bulk (%.0f MB) "
                     "%.1f MiB = %.2f× for %.2f× the file (≤ %.2f× counted as flat) — %s"
                     % (x2["bytes"] / MB, x2["rss"], b_k["bytes"] / MB, b_k["rss"], q, x2["bytes"] / b_k["bytes"],
                        FLAT_RSS_LIMIT, verdict(q <= FLAT_RSS_LIMIT)))
    notes = []
    if fh_k and fh_k["frames"] < 200000:
        notes.append("the frame-heavy capture has only %d Kafka frames (< 200,000): raise --small-records"
                     % fh_k["frames"])
    if b_k and b_k["bytes"] < 200 * MB:
        notes.append("the bulk capture is only %.1f MB (< 200 MB): raise --bulk-records" % (b_k["bytes"] / MB))
    for cap in CAPTURES + (DERIVED,):
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if k and t and k["frames"] != t["frames"]:
            notes.append("%s: the tools counted different numbers of Kafka frames (kafkascope %d, tshark %d)"
                         % (cap, k["frames"], t["frames"]))
        for s in (k, t):
            if s and not s["frames_consistent"]:
                notes.append("%s: a tool counted different frame numbers in different runs" % cap)
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend("- " + n for n in notes)
    print("\n".join(lines), flush=True)


# ---------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per capture and tool; medians are reported (3)")
    ap.add_argument("--kafkascope", default=str(REPO / ".build" / "release" / "kafkascope"),
                    help="kafkascope binary (default .build/release/kafkascope)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--keep", metavar="DIR", help="record missing captures into DIR and keep them there; "
                       "captures already in DIR are reused")
    where.add_argument("--captures", metavar="DIR", help="use the captures in DIR (frame-heavy.pcap, bulk.pcap; "
                       "ports from captures.json or --port); record nothing")
    ap.add_argument("--threads", type=int, choices=(1, 2), help="pass --threads N to kafkascope pcap (default: "
                    "its own default, 2 on a machine with more than one core)")
    ap.add_argument("--port", type=int, help="broker port of captures without captures.json (with --captures)")
    ap.add_argument("--small-records", type=int, default=110000, help="single-record produces in the frame-heavy "
                    "capture (default 110000: with their responses and the fetches, > 200,000 Kafka frames)")
    ap.add_argument("--small-bytes", type=int, default=32, help="value size of those records (default 32)")
    ap.add_argument("--producers", type=int, default=2, help="producer processes for the frame-heavy capture (2)")
    ap.add_argument("--window", type=int, default=2000, help="most records a frame-heavy producer has unacknowledged "
                    "(2000; 0 = no limit)")
    ap.add_argument("--frame-copies", type=int, default=1, help="record 1/N of --small-records live and build the "
                    "frame-heavy capture from N time- and port-shifted copies (default 1: all live)")
    ap.add_argument("--bulk-records", type=int, default=102400, help="1 KiB records in the bulk capture, produced "
                    "and consumed (default 102400: ~105 MB each way, > 200 MB of capture)")
    ap.add_argument("--bulk-bytes", type=int, default=1024, help="value size in the bulk capture (default 1024)")
    ap.add_argument("--phase-timeout", type=float, default=300.0, help="seconds a recording phase may take (300)")
    ap.add_argument("--run-timeout", type=float, default=600.0, help="seconds one analysis run may take (600)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the logs directory")
    args = ap.parse_args()
    if min(args.repeats, args.small_records, args.small_bytes, args.producers, args.frame_copies,
           args.bulk_records, args.bulk_bytes) < 1 or args.window < 0:
        ap.error("counts and sizes must be positive")

    tools = find_components(args, need_recording=not args.captures)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # -> SystemExit, so the finally below stops every process
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    versions = tool_versions(tools)
    workdir = Path(tempfile.mkdtemp(prefix="pcap_bench-"))
    if args.captures:
        capdir, captures_from = Path(args.captures), "captures from %s" % os.path.basename(os.path.normpath(args.captures))
    elif args.keep:
        capdir, captures_from = Path(args.keep), "captures cached in %s" % args.keep
        capdir.mkdir(parents=True, exist_ok=True)
    else:
        capdir, captures_from = workdir / "captures", "captures recorded in this run"
        capdir.mkdir()
    procs = Processes(workdir)
    x2_paths = {}
    ok = False
    start = time.monotonic()
    log("work directory %s; captures in %s; kafkascope %s; tshark %s" % (workdir, capdir, tools["kafkascope"],
                                                                        tools["tshark"]))
    try:
        had = load_meta(capdir)
        meta = prepare_captures(procs, tools, args, capdir, workdir, x2_paths, may_record=not args.captures)
        if args.keep and all(c in had for c in CAPTURES):
            captures_from = "captures reused from %s" % args.keep
        runs, changed = bench(procs, tools, args, capdir, meta, workdir, x2_paths)
        ok = True
    finally:
        procs.stop_all()
        shutil.rmtree(workdir / "captures", ignore_errors=True)  # temporary captures (not --keep, --captures)
        if ok and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not ok:
            log("logs kept in %s" % workdir)
    report(args, meta, runs, versions, time.monotonic() - start, changed, captures_from)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "_worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    try:
        main()
    except BenchError as e:
        print("pcap_bench: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("pcap_bench: interrupted", file=sys.stderr)
        sys.exit(130)
