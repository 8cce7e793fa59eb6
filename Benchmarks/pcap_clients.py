"""pcap_bench's load: the Kafka clients whose traffic the captures record. They run in child processes (the entry
script with `_worker ROLE JSON`): several producers in parallel, and every client connection is closed (process
exit) before tcpdump is stopped."""
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench_support import BenchError, tail

ENTRY = Path(__file__).resolve().with_name("pcap_bench.py")  # what a worker process runs


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
        proc = procs.spawn(name, [sys.executable, str(ENTRY), "_worker", role, json.dumps(params)])
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
