"""The soak's client processes (Benchmarks/soak.py starts each as `python3 soak_clients.py ROLE JSON-OPTIONS`):
producers and group consumers of both Python clients, and the hostile client. Each is its own process so that the
soak can kill one (SIGKILL), stop one (SIGSTOP) or end one (SIGTERM) without touching the others.

Every producer writes one line per acknowledged record to its `out` file: `DIGEST PARTITION OFFSET`, DIGEST being
the first 32 hex digits of workloads.digest(key, value, headers). Every consumer writes the same line for each
record it read, before it commits the record's offset, in one write per batch, so a record whose offset was
committed is in the file even if the process is then killed. The last line on stdout is a JSON report."""
import functools
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "Integration"))
import kafka_wire as kw  # noqa: E402
import workloads as wl  # noqa: E402

DIGEST_HEX = 32  # 128 bits of workloads.digest's SHA-256


def short_digest(key, value, headers):
    return wl.digest(key, value, headers)[:DIGEST_HEX]


def record(name, i, rng, record_bytes):
    """Record i of producer `name`: a key, `record_bytes` random bytes of value, and headers (one key repeated on
    every 7th record, an empty value on every 11th, as workloads.make_records has them)."""
    key = b"%s-%09d" % (name.encode(), i)
    value = rng.randbytes(record_bytes)
    headers = [("producer", name.encode()), ("seq", b"%d" % i), ("trace", rng.randbytes(8))]
    if i % 7 == 0:
        headers.append(("seq", b"again-%d" % i))
    if i % 11 == 0:
        headers.append(("empty", b""))
    return key, value, headers


def record_size(key, value, headers):
    return len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)


class Stop:
    """Set by SIGTERM: producers stop sending and flush, consumers commit and leave the group."""

    def __init__(self):
        self.event = threading.Event()
        signal.signal(signal.SIGTERM, lambda s, f: self.event.set())

    def __bool__(self):
        return self.event.is_set()


class Lines:
    """Appends `DIGEST PARTITION OFFSET` lines to a file in batches, from any thread."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.pending, self.lock, self.count = [], threading.Lock(), 0

    def add(self, digest, partition, offset):
        """offset None or negative: acknowledged without an offset (librdkafka reports a retried batch that the
        broker found already written, DUPLICATE_SEQUENCE_NUMBER, as delivered at an unknown offset): written -1."""
        offset = -1 if offset is None or offset < 0 else offset
        with self.lock:
            self.pending.append("%s %d %d\n" % (digest, partition, offset))
            self.count += 1

    def write_now(self, lines):
        """Writes these lines at once (one write call), before anything else is done with them."""
        data = "".join(lines).encode()
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self):
        with self.lock:
            lines, self.pending = self.pending, []
        if lines:
            self.write_now(lines)


class Pacer:
    """Spreads `total` sends over `seconds`: wait() returns once send number `sent` is due."""

    def __init__(self, total, seconds):
        self.rate = total / seconds if seconds > 0 else None
        self.start = time.monotonic()

    def delay(self, sent):
        if not self.rate:
            return 0.0
        return self.start + sent / self.rate - time.monotonic()


def report(doc):
    print(json.dumps(doc), flush=True)


# ---------------------------------------------------------------------------------------------- producers

def paced_sends(o, stop, lines, idle, send):
    """The loop both producers share: o["records"] records spread evenly over o["seconds"], each handed to
    `send(key, value, headers)`, which returns True once it is sent, False to be called again (the record is made
    anew), or None to end the run; `idle(seconds)` waits, and the delivery file is flushed twice a second.
    Returns (records sent, their bytes)."""
    rng = random.Random(o["seed"])
    pacer = Pacer(o["records"], o["seconds"])
    sent = sent_bytes = 0
    last_flush = time.monotonic()
    while sent < o["records"] and not stop:
        wait = pacer.delay(sent)
        if wait > 0:
            idle(min(wait, 0.05))
        else:
            k, v, h = record(o["name"], sent, rng, o["record_bytes"])
            outcome = send(k, v, h)
            if outcome is None:
                break
            if outcome:
                sent += 1
                sent_bytes += record_size(k, v, h)
        if time.monotonic() - last_flush >= 0.5:
            lines.flush()
            last_flush = time.monotonic()
    return sent, sent_bytes


def produce_ck(o, stop):
    """confluent-kafka: acks=all, enable.idempotence=true; librdkafka retries on its own until message.timeout.ms."""
    from confluent_kafka import KafkaException, Producer
    # debug=eos logs a few lines per idempotence event (DUPSEQ: a retried batch the broker already had), which the
    # soak counts in this process's stderr, with librdkafka's FAIL (disconnected) lines.
    producer = Producer({"bootstrap.servers": o["bootstrap"], "client.id": o["name"], "acks": "all",
                         "enable.idempotence": True, "linger.ms": o["linger_ms"], "compression.type": "none",
                         "message.timeout.ms": o["message_timeout_ms"], "request.timeout.ms": 30000,
                         "reconnect.backoff.max.ms": 1000, "queue.buffering.max.messages": 100000, "debug": "eos"})
    lines = Lines(o["out"])
    failed = []

    def on_delivery(digest, err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            lines.add(digest, msg.partition(), msg.offset())

    def send(k, v, h):
        try:
            producer.produce(o["topic"], key=k, value=v, headers=h,
                             on_delivery=functools.partial(on_delivery, short_digest(k, v, h)))
        except BufferError:
            producer.poll(0.05)
            return False
        except KafkaException as e:  # a fatal idempotence error, for one: reported, and the run ends
            failed.append("produce(): %s" % e)
            return None
        producer.poll(0)
        return True

    sent, sent_bytes = paced_sends(o, stop, lines, producer.poll, send)
    deadline = time.monotonic() + o["message_timeout_ms"] / 1000 + 30
    while len(producer) and time.monotonic() < deadline:
        producer.flush(1.0)
        lines.flush()
    producer.poll(0)
    lines.flush()
    report({"role": "producer", "client": "confluent-kafka", "name": o["name"], "records": o["records"], "sent": sent,
            "bytes": sent_bytes,
            "acked": lines.count, "failed": len(failed), "first_failure": failed[0] if failed else None,
            "unfinished": len(producer)})


def produce_kp(o, stop):
    """kafka-python: acks=all, enable_idempotence=True (the default), retries until delivery_timeout_ms."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError
    producer = KafkaProducer(bootstrap_servers=o["bootstrap"], client_id=o["name"], acks="all",
                             enable_idempotence=True, linger_ms=o["linger_ms"], batch_size=262144,
                             delivery_timeout_ms=o["message_timeout_ms"], request_timeout_ms=30000,
                             max_block_ms=60000, reconnect_backoff_max_ms=1000)
    lines = Lines(o["out"])
    failed, block_timeouts = [], [0]

    def on_error(e):
        failed.append(repr(e))

    def send(k, v, h):
        digest = short_digest(k, v, h)
        try:
            future = producer.send(o["topic"], key=k, value=v, headers=h)
        except KafkaTimeoutError:  # buffer full or metadata unavailable for max_block_ms: not sent, try again
            block_timeouts[0] += 1
            return False
        future.add_callback(lambda md: lines.add(digest, md.partition, md.offset))
        future.add_errback(on_error)
        return True

    sent, sent_bytes = paced_sends(o, stop, lines, time.sleep, send)
    try:
        producer.flush(timeout=o["message_timeout_ms"] / 1000 + 30)
    except Exception as e:  # noqa: BLE001 - reported; what was acknowledged is in the file
        failed.append("flush: %r" % e)
    lines.flush()
    unfinished = sent - lines.count - len(failed)
    try:
        producer.close(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    report({"role": "producer", "client": "kafka-python", "name": o["name"], "records": o["records"], "sent": sent,
            "bytes": sent_bytes,
            "acked": lines.count, "failed": len(failed), "first_failure": failed[0] if failed else None,
            "unfinished": unfinished, "send_timeouts": block_timeouts[0]})


# ---------------------------------------------------------------------------------------------- consumers

def log(o, msg):
    print("[%s %s] %s" % (o["name"], time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class GroupMember:
    """What both consumers write down and count: batches read (written to `out` before they are committed),
    commits and their failures, errors, and the group's assignments and revocations."""

    def __init__(self, o):
        self.o, self.lines = o, Lines(o["out"])
        self.counts = {"records": 0, "batches": 0, "commits": 0, "commit_failures": 0, "errors": 0, "assignments": 0,
                       "revocations": 0}

    def assigned(self, partitions):
        self.counts["assignments"] += 1
        log(self.o, "assigned %s" % sorted(p.partition for p in partitions))

    def revoked(self, partitions):
        self.counts["revocations"] += 1
        log(self.o, "revoked %s" % sorted(p.partition for p in partitions))

    def error(self, what):
        self.counts["errors"] += 1
        log(self.o, what)

    def read(self, lines, commit, commit_error):
        """Writes a batch's lines down, then commits with `commit()`; a `commit_error` is counted, not raised
        (a rebalance under way, for one: those records may come again)."""
        if not lines:
            return
        self.lines.write_now(lines)
        self.counts["records"] += len(lines)
        self.counts["batches"] += 1
        try:
            commit()
            self.counts["commits"] += 1
        except commit_error as e:
            self.counts["commit_failures"] += 1
            log(self.o, "commit failed: %r" % e)


def consume_ck(o, stop):
    """confluent-kafka group member: no auto-commit; each batch is written to `out`, then committed (sync)."""
    from confluent_kafka import Consumer, KafkaException
    member = GroupMember(o)
    consumer = Consumer({"bootstrap.servers": o["bootstrap"], "group.id": o["group"], "client.id": o["name"],
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": o["session_timeout_ms"], "heartbeat.interval.ms": 1000,
                         "max.poll.interval.ms": 300000, "reconnect.backoff.max.ms": 1000})
    consumer.subscribe([o["topic"]], on_assign=lambda c, ps: member.assigned(ps),
                       on_revoke=lambda c, ps: member.revoked(ps))
    try:
        while not stop:
            good = []
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    member.error("error: %s" % m.error())
                    continue
                good.append("%s %d %d\n" % (short_digest(m.key(), m.value(), m.headers()), m.partition(),
                                            m.offset()))
            member.read(good, lambda: consumer.commit(asynchronous=False), KafkaException)
    finally:
        consumer.close()  # commits nothing more (auto-commit is off) and leaves the group
    report(dict(role="consumer", client="confluent-kafka", name=o["name"], **member.counts))


def consume_kp(o, stop):
    """kafka-python group member, the same way."""
    from kafka import KafkaConsumer
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.errors import KafkaError
    member = GroupMember(o)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            member.revoked(revoked)

        def on_partitions_assigned(self, assigned):
            member.assigned(assigned)

    consumer = KafkaConsumer(bootstrap_servers=o["bootstrap"], group_id=o["group"], client_id=o["name"],
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=o["session_timeout_ms"], heartbeat_interval_ms=1000,
                             max_poll_interval_ms=300000, max_poll_records=1000, request_timeout_ms=30000,
                             reconnect_backoff_max_ms=1000)
    consumer.subscribe([o["topic"]], listener=Listener())
    try:
        while not stop:
            try:
                polled = consumer.poll(timeout_ms=500)
            except KafkaError as e:
                member.error("poll failed: %r" % e)
                time.sleep(0.2)
                continue
            member.read(["%s %d %d\n" % (short_digest(m.key, m.value, m.headers), tp.partition, m.offset)
                         for tp, msgs in polled.items() for m in msgs], consumer.commit, KafkaError)
    finally:
        try:
            consumer.close(autocommit=False)
        except Exception as e:  # noqa: BLE001
            log(o, "close failed: %r" % e)
    report(dict(role="consumer", client="kafka-python", name=o["name"], **member.counts))


# ---------------------------------------------------------------------------------------------- hostile client

HOSTILE_KINDS = ("garbage", "oversized", "half", "hostile_batch")


def hostile_batch(rng):
    """A Produce record batch with a valid CRC-32C and one impossible header value: what a broker must refuse and a
    proxy must not believe (README, "Values from the wire are input, not truth")."""
    from kafka.record.util import calc_crc32c
    batch = bytearray(kw.record_batch([(b"hostile-key", b"hostile-value", [("h", b"v")])]))
    how = rng.choice(("negative_count", "count_above_span", "negative_last_offset_delta", "timestamp_below_minus_1",
                      "unknown_magic", "short_length"))
    if how == "negative_count":
        struct.pack_into(">i", batch, 57, -rng.randint(1, 1 << 31))
    elif how == "count_above_span":
        struct.pack_into(">i", batch, 57, rng.randint(2, 1 << 30))
    elif how == "negative_last_offset_delta":
        struct.pack_into(">i", batch, 23, -rng.randint(1, 1 << 31))
    elif how == "timestamp_below_minus_1":
        struct.pack_into(">q", batch, 27, -rng.randint(2, 1 << 62))
    elif how == "unknown_magic":
        batch[16] = rng.choice((3, 7, 127, 255))
    else:
        struct.pack_into(">i", batch, 8, rng.randint(0, 40))
    if how != "unknown_magic":
        struct.pack_into(">I", batch, 17, calc_crc32c(bytes(batch[21:])))
    return bytes(batch)


def hostile_frame(kind, rng, correlation_id, max_frame_bytes, topic):
    if kind == "garbage":
        return rng.randbytes(rng.randint(1, 64))
    if kind == "oversized":  # a size above --max-frame-bytes and a plausible header; the body never comes
        return struct.pack(">i", max_frame_bytes + rng.randint(1, 1 << 20)) + struct.pack(">hhih", 0, 7, 1, -1)
    if kind == "half":  # the first half of a real frame; the next frame (or the close) follows
        whole = kw.request_frame(kw.API_METADATA, 1, correlation_id, kw.metadata_request(1, [topic]), "soak-hostile")
        return whole[:len(whole) // 2]
    version = rng.randint(3, 9)
    return kw.request_frame(kw.API_PRODUCE, version, correlation_id,
                            kw.produce_request(version, topic, 0, hostile_batch(rng), acks=-1), "soak-hostile")


def hostile(o, stop):
    """o["connections"] threads, each on one connection at a time to one of o["ports"] for o["seconds"]: a few
    hostile frames of random kinds (o["interval"] seconds apart on average, 0 = as fast as it can), reading and
    dropping whatever comes back, reconnecting whenever the proxy closes the connection (it does, for most)."""
    deadline = time.monotonic() + o["seconds"]
    lock = threading.Lock()
    counts = {"connections": 0, "closed_by_peer": 0, "refused": 0, "bytes": 0, "answers": 0,
              **{k: 0 for k in HOSTILE_KINDS}}

    def add(key, n=1):
        with lock:
            counts[key] += n

    def worker(index):
        rng = random.Random(o["seed"] * 1000 + index)
        correlation_id = 0
        while time.monotonic() < deadline and not stop:
            port = o["ports"][index % len(o["ports"])]
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                add("refused")
                time.sleep(0.2)
                continue
            add("connections")
            s.settimeout(0.05)
            try:
                for _ in range(rng.randint(1, 8)):
                    kind = rng.choice(HOSTILE_KINDS)
                    correlation_id += 1
                    frame = hostile_frame(kind, rng, correlation_id, o["max_frame_bytes"], o["topic"])
                    s.sendall(frame)
                    add(kind)
                    add("bytes", len(frame))
                    if o["interval"]:
                        time.sleep(o["interval"] * rng.uniform(0.5, 1.5))
                    try:
                        got = s.recv(65536)
                        if not got:
                            add("closed_by_peer")
                            break
                        add("answers")
                    except socket.timeout:
                        pass
                    if time.monotonic() >= deadline:
                        break
            except OSError:
                add("closed_by_peer")
            finally:
                s.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(o["connections"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(o["seconds"] + 30)
    report(dict(role="hostile", frames=sum(counts[k] for k in HOSTILE_KINDS), **counts))


ROLES = {"producer-ck": produce_ck, "producer-kp": produce_kp, "consumer-ck": consume_ck, "consumer-kp": consume_kp,
         "hostile": hostile}


def main():
    role, options = sys.argv[1], json.loads(sys.argv[2])
    if role.endswith("-kp"):  # kafka-python's group and connection events (joins, syncs, resets) go to stderr
        import logging
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s kafka-python %(levelname)s %(name)s: %(message)s")
    ROLES[role](options, Stop())


if __name__ == "__main__":
    main()
