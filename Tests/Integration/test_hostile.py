"""Hostile input: the inputs in hostile/ that once crashed Kafkascope, hostile clients against a live proxy while a
real client produces and consumes, and a fixed-seed run of mutated captures through every report format.

hostile/ is a copy of the project's shared hostile-inputs folder (see hostile/README.md): the tests never read
outside the repository."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kafka_wire as kw
import workloads as wl
from harness import HOST, fetch_metrics, kafkascope_binary, metric_by, metric_sum, parse_metrics

HOSTILE = Path(__file__).resolve().parent / "hostile"
# Windows of at most 6,000 bytes cut from the capture fixtures and the hostile captures: whole captures would take
# minutes in a debug build.
CAPTURE_SEEDS = Path(__file__).resolve().parents[2] / "Fuzz" / "Corpus" / "capture"
FORMATS = (["--format", "summary"], ["--format", "jsonl"], ["--format", "jsonl", "--decode", "full"],
           ["--format", "prometheus"])
TOTALS = re.compile(r"([a-z_]+)=(\d+)")


def sibling_binary(name):
    """A binary built beside kafkascope (the test tools and fuzz targets of the same `swift build`)."""
    path = Path(kafkascope_binary()).parent / name
    if not path.is_file():
        pytest.fail("%s not found beside the kafkascope binary: build everything with `swift build`" % path,
                    pytrace=False)
    return str(path)


def pcap(*args, timeout=60):
    done = subprocess.run([kafkascope_binary(), "pcap", "--no-progress"] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def totals(stderr):
    """The `name=value` totals line that non-summary formats print to stderr."""
    lines = [line for line in stderr.splitlines() if line.startswith("packets=")]
    assert lines, "no totals line in stderr:\n%s" % stderr[-2000:]
    return {k: int(v) for k, v in TOTALS.findall(lines[-1])}


# ---------------------------------------------------------------------------------------------- captures that crashed

# capture: (the total that must count what is wrong with it, the least it must count)
CRASHED = {
    "negative-record-count.pcap": ("invalid_values", 1),
    "response-before-request.pcap": ("clock_skew", 1),
    "timestamp-before-1970.pcap": (None, 0),
    "timestamp-overflow.pcap": ("bad_timestamps", 1),
}


@pytest.mark.parametrize("name", sorted(CRASHED))
def test_a_capture_that_crashed_gives_a_clean_report_in_every_format(name):
    path = HOSTILE / name
    assert path.is_file(), "%s is missing" % path
    counter, least = CRASHED[name]
    for args in FORMATS:
        code, out, err = pcap(path, *args)
        assert code == 0, "%s %s exited %d:\n%s" % (name, " ".join(args), code, err[-3000:])
        assert out, "%s %s printed nothing" % (name, " ".join(args))
        if args[1] != "summary" and counter:
            assert totals(err)[counter] >= least, "%s %s: %s not counted in %s" % (name, args, counter, totals(err))
        if args[1] == "summary" and counter:
            match = re.search(r"^  %s +(\d+)$" % counter, out, re.M)
            assert match and int(match.group(1)) >= least, "%s summary: %s not counted" % (name, counter)
        if args[1] == "prometheus" and name == "negative-record-count.pcap":
            parsed = parse_metrics(out)
            assert metric_sum(parsed, "kafkascope_invalid_values_total", field="record_count") == 1
        if args[1] == "jsonl":
            for line in out.splitlines():
                exchange = json.loads(line)
                assert exchange["latency_ms"] is None or exchange["latency_ms"] >= 0, \
                    "a negative latency reached the report: %s" % line
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", exchange["ts"]), exchange["ts"]


def test_a_time_before_1970_prints_as_such():
    code, out, _ = pcap(HOSTILE / "timestamp-before-1970.pcap", "--format", "jsonl")
    assert code == 0
    stamps = [json.loads(line)["ts"] for line in out.splitlines()]
    # The request that was moved before 1970 is written as a time in 1969, not as a negative fraction.
    assert [s for s in stamps if s.startswith("1969-12-31T")], stamps
    assert not any("-" in s.split("T")[1] for s in stamps), stamps


# ---------------------------------------------------------------------------------------------- a live proxy

def test_the_negative_record_count_request_leaves_the_proxy_serving(tansu, proxy):
    p = proxy()
    topic = wl.unique("after-hostile")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    for _ in range(3):
        done = subprocess.run([sys.executable, str(HOSTILE / "negative-record-count-request.py"), str(p.listen_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        assert done.returncode == 0, done.stdout.decode(errors="replace")
        p.assert_alive("after a Produce request with a record count of -5")
    records = wl.make_records(50, seed=3, prefix=topic)
    wl.kp_produce(p.bootstrap, topic, records, timeout=30)
    got = wl.kp_read_all(p.bootstrap, topic, 1, len(records), timeout=30)
    assert not wl.compare_multisets(wl.digests(records), got)
    parsed = parse_metrics(fetch_metrics(p))
    assert metric_sum(parsed, "kafkascope_invalid_values_total", field="record_count", direction="request") == 3
    assert metric_sum(parsed, "kafkascope_produced_records_total", topic="hostile-topic") == 0


HOSTILE_SECONDS = int(os.environ.get("KAFKASCOPE_HOSTILE_SECONDS", "30"))
HOSTILE_CLIENTS = 4
# Tansu 0.6.0 dies of some hostile frames. HostileClient's `mutated` kind sent straight to it ends in "memory
# allocation of 192834859200 bytes failed" (an abort); with the `generated` kind (well-formed frames of every API,
# with random values) its storage panics ("not yet implemented", tansu-storage/src/dynostore.rs:641) and the
# broker exits. Hostile batches, half frames and garbage it survives, so those go to the proxy in front of Tansu;
# frames of every API, mutated or not, go to a proxy in front of a scripted upstream (the second test).
TANSU_SURVIVES = "produce,half,garbage"


def run_hostile_clients(port, seconds, kinds=None, beside=lambda: None):
    """HOSTILE_CLIENTS HostileClient processes against `port` for `seconds`; `beside` runs meanwhile, repeatedly.
    Returns their JSON reports."""
    client = sibling_binary("HostileClient")
    procs = [subprocess.Popen([client, HOST, str(port), str(seconds), str(seed)] + ([kinds] if kinds else []),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for seed in range(1, HOSTILE_CLIENTS + 1)]
    try:
        deadline = time.monotonic() + seconds + 30
        while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
            beside()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            assert proc.returncode == 0, "HostileClient failed: %s" % err.decode(errors="replace")[-2000:]
            reports.append(json.loads(out.decode().strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.timeout_seconds(240)
def test_hostile_clients_do_not_disturb_a_real_client(tansu, proxy):
    """Four hostile clients (Tests/HostileClient: Produce requests of every version whose batches have valid CRCs
    and impossible headers, half frames, garbage) for 30 s against a proxy in front of Tansu, while a real kafka-python producer sends and a consumer group then reads back everything it was told was
    acknowledged."""
    p = proxy(log_level="info")
    topic = wl.unique("beside-hostile")
    wl.kp_create_topic(p.bootstrap, topic, 3)
    producer = wl.BackgroundProducer(p.bootstrap, topic, interval=0.005).start()
    try:
        reports = run_hostile_clients(p.listen_port, HOSTILE_SECONDS, TANSU_SURVIVES,
                                      beside=lambda: (p.assert_alive("while hostile clients were sending"), time.sleep(0.2)))
    finally:
        producer.stop()
    assert sum(r["frames"] for r in reports) > 1000 and sum(r["hostile_produce"] for r in reports) > 500, reports
    assert not producer.errors, "the real producer saw errors: %s" % producer.errors[:3]
    assert len(producer.acked) > 500, "only %d records acknowledged beside the hostile clients" % len(producer.acked)

    consumer = wl.kp_consumer(p.bootstrap, group=wl.unique("beside-hostile-group"), auto_offset_reset="earliest")
    try:
        consumer.subscribe([topic])
        got, _ = wl.kp_poll_until(consumer, len(producer.acked), timeout=60)
    finally:
        consumer.close()
    diff = wl.compare_multisets(wl.digests(producer.acked), got)
    assert not diff, "the real client lost records: %s" % diff

    p.assert_alive("after the hostile clients")
    parsed = parse_metrics(fetch_metrics(p))
    invalid = metric_sum(parsed, "kafkascope_invalid_values_total", direction="request")
    assert invalid > 100
    print("hostile frames %d (%d hostile Produce), real records acknowledged and consumed %d, invalid values %d"
          % (sum(r["frames"] for r in reports), sum(r["hostile_produce"] for r in reports), len(producer.acked), invalid))
    # Label values from the wire stay bounded however many keys and versions were sent.
    assert len(metric_by(parsed, "kafkascope_requests_total", "version")) < 200


@pytest.mark.timeout_seconds(180)
def test_mutated_frames_of_every_api_leave_the_proxy_serving(fake_cluster, proxy):
    """Every kind of hostile frame, generated and mutated frames of every API and version included, against a proxy
    in front of a scripted upstream (kafka_wire.FakeCluster: Tansu 0.6.0 itself dies of them, see TANSU_SURVIVES),
    while a well-behaved client keeps making ApiVersions and Metadata round trips on connections of its own."""
    fake = fake_cluster([1])
    p = proxy(bootstrap=fake.bootstrap(), node_ids=(1,), log_level="info")
    answered = []

    def healthy_round_trip():
        with kw.WireClient(HOST, p.listen_port, timeout=5) as client:
            assert client.api_versions(0)["error_code"] == 0
            assert [b["node_id"] for b in client.metadata(1)["brokers"]] == [1]
        answered.append(time.monotonic())
        time.sleep(0.05)

    reports = run_hostile_clients(p.listen_port, max(10, HOSTILE_SECONDS // 2), beside=healthy_round_trip)
    assert sum(r["frames"] for r in reports) > 500, reports
    assert len(answered) > 50, "the healthy client got only %d answers" % len(answered)
    p.assert_alive("after mutated frames of every API")
    parsed = parse_metrics(fetch_metrics(p))
    assert metric_sum(parsed, "kafkascope_invalid_values_total", direction="request") > 0
    assert metric_sum(parsed, "kafkascope_frames_undecoded_total", direction="request") > 0


# ---------------------------------------------------------------------------------------------- mutated captures

MUTATIONS = int(os.environ.get("KAFKASCOPE_CAPTURE_MUTATIONS", "3000"))


@pytest.mark.timeout_seconds(180)
def test_mutated_captures_neither_crash_nor_hang_in_any_format():
    """A fixed-seed run of mutated captures (times moved anywhere, lengths that lie, cut files, changed bytes), each
    analysed into summary, jsonl, jsonl with full decoding and prometheus, in one process (the capture fuzz
    target's mutation mode), from windows of the fixtures and of the hostile captures."""
    seeds = sorted(str(p) for p in CAPTURE_SEEDS.glob("*.pcap"))
    assert len(seeds) >= 10, "%s holds %d captures" % (CAPTURE_SEEDS, len(seeds))
    started = time.monotonic()
    done = subprocess.run([sibling_binary("KafkaCaptureFuzzer"), "--mutate", str(MUTATIONS), "2026"] + seeds,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    output = done.stdout.decode(errors="replace")
    assert done.returncode == 0, "a mutated capture crashed the analysis:\n%s" % output[-4000:]
    assert "%d mutated captures in every format: no failure" % MUTATIONS in output, output[-2000:]
    print("%d mutated captures in %.1f s" % (MUTATIONS, time.monotonic() - started))
