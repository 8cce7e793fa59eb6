"""proxy_bench's load: the confluent-kafka clients (topics, produce, consume, synchronous produces, small
requests), each timing its own phase, and the check that they really went through the forwarder."""
import contextlib
import os
import time
import uuid

from bench_support import BenchError


def own_tcp_peer_ports():
    """Remote ports of this process's established TCP connections (librdkafka's threads included), from /proc:
    used to check that the client really went through the forwarder and never straight to Tansu."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink("/proc/self/fd/" + fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[9] in inodes and cols[3] != "0A":  # 0A = LISTEN
                    ports.add(int(cols[2].rsplit(":", 1)[1], 16))
    return ports


def create_topics(bootstrap, topics, partitions, timeout=30, security=None):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(dict({"bootstrap.servers": bootstrap, "client.id": "bench-admin"}, **(security or {})))
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics],
                                  request_timeout=timeout, operation_timeout=timeout)
    for topic, fut in futures.items():
        try:
            fut.result(timeout)
        except Exception as e:  # noqa: BLE001
            raise BenchError("creating topic %s via %s failed: %s" % (topic, bootstrap, e)) from e


class DeliveryErrors:
    """A delivery callback counting failures and, where success is reported too, acknowledged records."""

    def __init__(self):
        self.count, self.first, self.acked = 0, None, 0

    def __call__(self, err, msg):
        if err is not None:
            self.count += 1
            self.first = self.first or err
        else:
            self.acked += 1

    def check(self, what):
        if self.count:
            raise BenchError("%s: %d deliveries failed, first: %s" % (what, self.count, self.first))


def producer(bootstrap, client_id, security=None, **extra):
    from confluent_kafka import Producer
    config = {"bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all",
              "compression.type": "none", "enable.idempotence": False,
              "linger.ms": 5, "batch.size": 1000000,
              "queue.buffering.max.messages": 200000, "queue.buffering.max.kbytes": 512 * 1024,
              "message.timeout.ms": 60000, "request.timeout.ms": 30000,
              "delivery.report.only.error": True}  # no per-record Python callback unless it failed
    config.update(security or {})
    config.update(extra)
    return Producer(config)


def flush_all(p, timeout, what):
    left = p.flush(timeout)
    if left:
        raise BenchError("%s: %d records still unacknowledged after %.0f s" % (what, left, timeout))


def run_produce(bootstrap, topic, warm_topic, values, records, timeout, security=None, what="produce", **extra):
    """Seconds for `records` records cycling through `values`, from the first produce() to the flush that
    acknowledges the last one, and the delivery callback (its `acked` counts only if `extra` turns off
    delivery.report.only.error). The connection is warmed up first (on another topic)."""
    p = producer(bootstrap, "bench-" + what, security, **extra)
    try:
        warm = DeliveryErrors()
        for i in range(100):
            p.produce(warm_topic, value=values[i % len(values)], on_delivery=warm)
        flush_all(p, 30, what + " warm-up")
        warm.check(what + " warm-up")
        errors = DeliveryErrors()
        n_values = len(values)
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        for i in range(records):
            v = values[i % n_values]
            while True:
                try:
                    p.produce(topic, value=v, on_delivery=errors)
                    break
                except BufferError:  # the local queue is full: serve delivery reports, retry
                    p.poll(0.005)
                    if time.monotonic() > deadline:
                        raise BenchError("%s: timed out after %.0f s at record %d" % (what, timeout, i))
            if i % 1000 == 0:
                p.poll(0)
        flush_all(p, max(1.0, deadline - time.monotonic()), what)
        elapsed = time.perf_counter() - t0
        errors.check(what)
        peers = own_tcp_peer_ports()
    finally:
        p.flush(5)
    return elapsed, peers, errors


def run_small_requests(bootstrap, topic, warm_topic, requests, timeout, security=None):
    """Seconds for `requests` Produce requests of one 100-byte record each, pipelined: linger.ms=0 and
    batch.num.messages=1 make librdkafka send every record as its own request (on a one-partition topic), up to
    its in-flight limit. Returns the seconds, the client's TCP peers and the acknowledged deliveries, counted one
    by one in the delivery callback."""
    elapsed, peers, deliveries = run_produce(
        bootstrap, topic, warm_topic, [b"x" * 100], requests, timeout, security, what="small-requests",
        **{"linger.ms": 0, "batch.num.messages": 1, "queue.buffering.max.messages": 1000000,
           "delivery.report.only.error": False})
    if deliveries.acked != requests:
        raise BenchError("small-requests: %d of %d requests acknowledged" % (deliveries.acked, requests))
    return elapsed, peers, deliveries.acked


def run_consume(bootstrap, topic, partitions, expected_records, expected_bytes, timeout, security=None):
    """Throughput of reading the whole topic from the beginning with assign(), from assign() to the last
    record. Metadata and the connection are set up first with list_topics()."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": "bench-consumer",
                  "group.id": "bench-%s" % uuid.uuid4().hex[:8], "enable.auto.commit": False,
                  "enable.partition.eof": False, "auto.offset.reset": "earliest", **(security or {})})
    try:
        md = c.list_topics(topic, timeout=20)
        if md.topics.get(topic) is None or md.topics[topic].error is not None:
            raise BenchError("consume: topic %s not in metadata: %s" % (topic, md.topics.get(topic)))
        count = size = 0
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        while count < expected_records:
            if time.monotonic() > deadline:
                raise BenchError("consume: only %d of %d records after %.0f s" % (count, expected_records, timeout))
            for msg in c.consume(num_messages=10000, timeout=1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise BenchError("consume: %s" % err)
                count += 1
                size += len(msg.value())
        elapsed = time.perf_counter() - t0
        peers = own_tcp_peer_ports()
    finally:
        c.close()
    if count != expected_records or size != expected_bytes:
        raise BenchError("consume: read %d records / %d bytes, expected %d / %d"
                         % (count, size, expected_records, expected_bytes))
    return elapsed, peers


def run_latency(bootstrap, topic, value, samples, warmup, timeout, security=None):
    """Milliseconds of produce() + flush() for one record at a time, acks=all, linger.ms=0."""
    errors = DeliveryErrors()
    p = producer(bootstrap, "bench-latency", security, **{"linger.ms": 0})
    out = []
    deadline = time.monotonic() + timeout
    try:
        for i in range(warmup + samples):
            t0 = time.perf_counter_ns()
            p.produce(topic, value=value, on_delivery=errors)
            left = p.flush(10)
            t1 = time.perf_counter_ns()
            if left:
                raise BenchError("latency: record %d not acknowledged within 10 s" % i)
            if i >= warmup:
                out.append((t1 - t0) / 1e6)
            if time.monotonic() > deadline:
                raise BenchError("latency: timed out after %.0f s at sample %d" % (timeout, i))
        errors.check("latency")
    finally:
        p.flush(5)
    return out
