"""`kafkascope pcap`: offline analysis of recorded captures (Tests/Integration/pcap/fixtures, see the README
there), checked against tshark's Kafka dissector and against the fixtures' own reassembly (pcap/pcapio.py, itself
checked against tshark here), across link types and encapsulations, on damaged captures with exact expectations
(pcap/fixtures/damaged/manifest.json), plus output formats, exit codes and the time window.

No broker and no network: everything reads files. tshark, promtool and the jsonschema package must be installed
(scripts/install-deps.sh); a missing one fails the test that needs it.
"""
import collections
import datetime
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kafka_wire as kw
from harness import kafkascope_binary, metric_by, metric_series, parse_metrics, promtool_complaints, tool_binary

PCAP_DIR = Path(__file__).resolve().parent / "pcap"
sys.path.insert(0, str(PCAP_DIR))
import pcapio  # noqa: E402
import tshark_kafka  # noqa: E402

FIXTURES = PCAP_DIR / "fixtures"
DAMAGED = FIXTURES / "damaged"
SCHEMA = PCAP_DIR / "exchange.schema.json"
RUN_TIMEOUT = 60
TOTALS = ("packets", "truncated_packets", "flows", "kafka_flows", "frames", "exchanges", "gaps", "request_missing",
          "unanswered", "undecodable", "out_of_window", "resyncs")
TOTAL_LINE = re.compile(r"^  ([a-z][a-z0-9_]*) +(-?[0-9]+) *$")
# the fields of a jsonl line that a reassembly of the capture determines (plus api, ts, latency_ms, errors, topics)
PAIR_FIELDS = ("client", "broker", "api_key", "api_version", "correlation_id", "client_id", "request_bytes",
               "response_bytes", "request_packet", "response_packet")


# ---------------------------------------------------------------------------------------------- fixtures on disk

@functools.lru_cache(maxsize=None)
def fixture_index():
    path = FIXTURES / "fixtures.json"
    if not path.is_file():
        pytest.fail("%s is missing: make the fixtures (see %s/README.md)" % (path, FIXTURES), pytrace=False)
    return {e["file"]: e for e in json.loads(path.read_text())["fixtures"]}


def fixture(name):
    entry = fixture_index().get(name)
    path = FIXTURES / name
    if entry is None or not path.is_file():
        pytest.fail("fixture %s is missing (see %s/README.md)" % (path, FIXTURES), pytrace=False)
    return path, entry


@functools.lru_cache(maxsize=None)
def damage_manifest():
    path = DAMAGED / "manifest.json"
    if not path.is_file():
        pytest.fail("%s is missing: run pcap/damage_captures.py (see %s/README.md)" % (path, FIXTURES),
                    pytrace=False)
    return json.loads(path.read_text())


def damaged_kinds():
    try:
        return [e["kind"] for e in json.loads((DAMAGED / "manifest.json").read_text())["damaged"]]
    except (OSError, ValueError):
        return ["manifest-missing"]  # the test then fails with the message of damage_manifest()


@functools.lru_cache(maxsize=None)
def reassembly(name):
    """(pcapio Capture, {conn key: Connection}, pairs, unanswered, orphans) of a classic-pcap fixture."""
    path, entry = fixture(name)
    cap = pcapio.read_pcap(str(path))
    conns = pcapio.connections(cap, {entry["broker_port"]})
    pairs, unanswered, orphans = pcapio.exchanges(conns)
    return cap, conns, pairs, unanswered, orphans


@functools.lru_cache(maxsize=None)
def tshark_pdus(name):
    path, entry = fixture(name)
    tshark = tool_binary("tshark", "tshark", env="TSHARK_BIN")
    return tshark_kafka.kafka_pdus(str(path), entry["broker_port"], tshark=tshark)


# ---------------------------------------------------------------------------------------------- running the command

Run = collections.namedtuple("Run", "argv returncode stdout stderr")


@functools.lru_cache(maxsize=1)
def pcap_binary():
    """The kafkascope binary, which must have the `pcap` subcommand."""
    binary = kafkascope_binary()
    try:
        done = subprocess.run([binary, "pcap", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail("%s pcap --help could not run: %s" % (binary, e), pytrace=False)
    text = done.stdout.decode(errors="replace")
    if done.returncode != 0 or "kafkascope pcap" not in text:
        pytest.fail("%s has no `pcap` subcommand (`kafkascope pcap --help` exited %d and printed %r): build a "
                    "kafkascope with `kafkascope pcap` (swift build) or point KAFKASCOPE_BIN at one"
                    % (binary, done.returncode, text[:200]), pytrace=False)
    return binary


@functools.lru_cache(maxsize=None)
def _run_cached(args):
    argv = [pcap_binary(), "pcap"] + list(args)
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("`%s` did not finish within %d s" % (" ".join(argv), RUN_TIMEOUT), pytrace=False)
    return Run(argv, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def run_pcap(*args, expect=0):
    """`kafkascope pcap ARGS` (results cached per argument list: the files do not change during a session)."""
    run = _run_cached(tuple(str(a) for a in args))
    if expect is not None:
        assert run.returncode == expect, "`%s` exited %d, expected %d; stderr:\n%s" % (
            " ".join(run.argv), run.returncode, expect, run.stderr[-3000:])
    return run


def jsonl(run):
    out = []
    for number, line in enumerate(run.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            pytest.fail("`%s`: stdout line %d is not JSON (%s): %r" % (" ".join(run.argv), number, e, line[:300]),
                        pytrace=False)
        assert isinstance(value, dict), "stdout line %d is not a JSON object: %r" % (number, line[:300])
        out.append(value)
    return out


def totals(run):
    """The summary's totals section: {name: int}; every name of TOTALS must be there, once."""
    found = collections.defaultdict(list)
    for line in run.stdout.splitlines():
        m = TOTAL_LINE.match(line)
        if m and m.group(1) in TOTALS:
            found[m.group(1)].append(int(m.group(2)))
    missing = [n for n in TOTALS if n not in found]
    assert not missing, "`%s`: no totals line for %s (lines look like '  gaps            1'); stdout:\n%s" % (
        " ".join(run.argv), ", ".join(missing), run.stdout[-3000:])
    twice = {n: v for n, v in found.items() if len(set(v)) > 1}
    assert not twice, "totals given more than once with different values: %s" % twice
    return {n: v[0] for n, v in found.items()}


def answered(lines):
    """The jsonl lines of requests paired with their response (the others carry `unanswered`)."""
    return [x for x in lines if "unanswered" not in x]


def exchanges_of(path, port, *extra):
    return jsonl(run_pcap(path, "--port", port, "--format", "jsonl", *extra))


def summary_of(path, port, *extra):
    return totals(run_pcap(path, "--port", port, "--format", "summary", *extra))


def hostport(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return host.strip("[]"), int(port)


def pair_key(x, fields=PAIR_FIELDS):
    return tuple(hostport(x[f]) if f in ("client", "broker") else x.get(f) for f in fields)


def parse_ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def describe(keys, fields=PAIR_FIELDS, limit=15):
    lines = ["    " + ", ".join("%s=%s" % (f, v) for f, v in zip(fields, k)) for k in sorted(keys, key=str)[:limit]]
    if len(keys) > limit:
        lines.append("    ... %d more" % (len(keys) - limit))
    return "\n".join(lines)


def compare_pairs(expected, got, what, fields=PAIR_FIELDS):
    """'' when the multisets of pair keys are equal, else a description of the difference."""
    e = collections.Counter(pair_key(x, fields) for x in expected)
    g = collections.Counter(pair_key(x, fields) for x in got)
    if e == g:
        return ""
    return "%s: %d expected, %d reported\n  missing:\n%s\n  unexpected:\n%s" % (
        what, sum(e.values()), sum(g.values()), describe(list((e - g).elements()), fields),
        describe(list((g - e).elements()), fields))


# ---------------------------------------------------------------------------------------------- the command

def test_help_names_the_contract_options():
    """`kafkascope pcap --help` exists (a kafkascope without it fails every test here with that message) and
    names every option of the contract."""
    text = subprocess.run([pcap_binary(), "pcap", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=30).stdout.decode()
    missing = [o for o in ("--port", "--format", "--decode", "--output", "--from", "--to") if o not in text]
    assert not missing, "kafkascope pcap --help does not mention %s:\n%s" % (missing, text)


# ---------------------------------------------------------------------------------------------- against tshark

TSHARK_FIXTURES = ["kafka-python.pcap", "confluent-kafka.pcap", "confluent-kafka-ipv6.pcap"]


@pytest.mark.parametrize("name", TSHARK_FIXTURES)
def test_exchanges_match_tshark(name):
    """Frame for frame against tshark's Kafka dissector (`tshark -r F -d tcp.port==P,kafka -2 -Y kafka -T pdml`):
    every Kafka PDU tshark finds is in our jsonl at the same packet (request_packet / response_packet =
    frame.number, the packet where reassembly completes the PDU) with the same correlation id and size, and for
    requests the same api_key and api_version (the request header: tshark decodes it even for API versions whose
    body it cannot, so this holds for every request). Where tshark links a response to its request
    (kafka.request_frame), our pairing is the same. Where tshark decoded a PDU without any complaint (supported
    version, no expert info, not malformed), the client id, the topic names and the non-zero error codes agree.
    Then every pair equals what pcapio.py reassembles (which must itself agree with tshark), the summary totals
    are exact, and the workload's two known broker errors are reported."""
    path, entry = fixture(name)
    port = entry["broker_port"]
    pdus = tshark_pdus(name)
    cap, conns, pairs, unanswered, orphans = reassembly(name)

    # our own reassembler against tshark first: it is the reference for everything tshark cannot link
    theirs = sorted((p.frame, p.kind, p.correlation_id, p.size) for p in pdus)
    mine = sorted((f.complete_packet, f.direction, f.correlation_id, f.size)
                  for c in conns.values() for f in c.frames()[0] + c.frames()[1])
    assert theirs == mine, "pcapio.py and tshark disagree on %s's Kafka frames (test harness problem)" % name

    every = exchanges_of(path, port)
    ours = answered(every)
    by_request = collections.defaultdict(list)
    by_response = collections.defaultdict(list)
    for x in every:
        by_request[(x.get("request_packet"), x.get("correlation_id"))].append(x)
        by_response[(x.get("response_packet"), x.get("correlation_id"))].append(x)
    unanswered_frames = {(r.complete_packet, r.correlation_id) for _, r in unanswered}
    problems, strict = [], 0
    for p in pdus:
        where = "%s frame %d (%s, correlation id %s, %d bytes)" % (name, p.frame, p.kind, p.correlation_id, p.size)
        if p.kind == "request":
            # every request tshark finds is a line, answered or not
            found = by_request.get((p.frame, p.correlation_id), [])
            if not found:
                problems.append("%s: no line with request_packet %d" % (where, p.frame))
                continue
            x = found[0]
            if ("unanswered" in x) != ((p.frame, p.correlation_id) in unanswered_frames):
                problems.append("%s: unanswered %r, but the reassembly %s a response" % (
                    where, x.get("unanswered"), "finds no" if "unanswered" not in x else "finds"))
            if "unanswered" in x and (x["latency_ms"], x["response_bytes"], x["response_packet"]) != (None,) * 3:
                problems.append("%s: an unanswered line with response values %s" % (where, x))
            got = (x["api_key"], x["api_version"], x["request_bytes"], hostport(x["client"])[1])
            want = (p.api_key, p.api_version, p.size, p.client_port)
            if got != want:
                problems.append("%s: (api_key, api_version, request_bytes, client port) %s, tshark %s"
                                % (where, got, want))
            if p.client_id is not None and x["client_id"] != p.client_id:
                problems.append("%s: client_id %r, tshark %r" % (where, x["client_id"], p.client_id))
        else:
            found = by_response.get((p.frame, p.correlation_id), [])
            if not found:
                problems.append("%s: no exchange with response_packet %d" % (where, p.frame))
                continue
            x = found[0]
            if x["response_bytes"] != p.size or hostport(x["client"])[1] != p.client_port:
                problems.append("%s: response_bytes %s, client %s" % (where, x["response_bytes"], x["client"]))
            if p.request_frame is not None:
                got = (x["request_packet"], x["api_key"], x["api_version"])
                want = (p.request_frame, p.api_key, p.api_version)
                if got != want:
                    problems.append("%s: paired with (request_packet, api_key, api_version) %s, tshark links %s"
                                    % (where, got, want))
        if tshark_kafka.fully_decoded(p):
            strict += 1
            if p.topics and not set(p.topics) <= set(x["topics"]):
                problems.append("%s: topics %s, tshark decoded topic names %s" % (where, x["topics"], p.topics))
            if p.kind == "response":
                want_codes = {c for c in p.errors if c != 0}
                got_codes = {e.get("code") for e in x["errors"]}
                if want_codes != got_codes:
                    problems.append("%s: error codes %s, tshark %s" % (where, sorted(got_codes), sorted(want_codes)))
    print("%s: %d Kafka PDUs in tshark (%d decoded without complaint), %d exchanges and %d unanswered requests "
          "reported" % (name, len(pdus), strict, len(ours), len(every) - len(ours)))
    assert len(every) - len(ours) == len(unanswered), "%d unanswered lines, the reassembly finds %d" % (
        len(every) - len(ours), len(unanswered))
    assert not problems, "%d disagreements with tshark:\n%s" % (len(problems), "\n".join(problems[:30]))

    diff = compare_pairs([pcapio.exchange_fields(e) for e in pairs], ours, name + " against pcapio.py's reassembly")
    assert not diff, diff
    names = {(x["api_key"], x["api"]) for x in ours}
    wrong = sorted((k, a) for k, a in names if kw.API_NAMES.get(k, a) != a)
    assert not wrong, "api names differ from Kafka's (%s): %s" % ({k: kw.API_NAMES.get(k) for k, _ in wrong}, wrong)
    order = [x["response_packet"] for x in ours]
    assert order == sorted(order), "exchanges are not in the order their responses complete: %s" % order

    times = [cap.timestamp(r) for r in cap.records]
    for x, e in zip(sorted(ours, key=lambda x: pair_key(x)), sorted(pairs, key=lambda e: pair_key(
            pcapio.exchange_fields(e)))):
        first, last = times[e.request.packets[0] - 1], times[e.request.complete_packet - 1]
        ts = parse_ts(x["ts"])
        assert first - 1e-6 <= ts <= last + 1e-6, "%s correlation id %d: ts %s outside the request's packets " \
            "(%.6f..%.6f)" % (x["client"], x["correlation_id"], x["ts"], first, last)
        span = (times[e.response.complete_packet - 1] - first) * 1000
        assert 0 <= x["latency_ms"] <= span + 0.001, "%s correlation id %d: latency_ms %s, but request start to " \
            "response end is %.3f ms" % (x["client"], x["correlation_id"], x["latency_ms"], span)

    # the workload's broker errors: the second CreateTopics, and the first JoinGroup of the KIP-394 two-step join
    topic = {"kafka-python.pcap": "pcap-kp"}.get(name, "pcap-ck")
    created = [x for x in ours if x["api_key"] == 19]
    assert len(created) == 2 and created[0]["errors"] == [] and created[1]["errors"] == [
        {"error": "TOPIC_ALREADY_EXISTS", "code": 36, "topic": topic, "partition": None}], \
        "CreateTopics errors: %s" % [x["errors"] for x in created]
    joins = [x for x in ours if x["api_key"] == 11]
    assert joins and joins[0]["errors"] == [{"error": "MEMBER_ID_REQUIRED", "code": 79, "topic": None,
                                             "partition": None}], "JoinGroup errors: %s" % [x["errors"] for x in joins]
    assert all(x["errors"] == [] for x in joins[1:]), "JoinGroup errors: %s" % [x["errors"] for x in joins]
    produced = [x for x in ours if x["api_key"] == 0]
    assert produced and all(x["topics"] == [topic] for x in produced), "Produce topics: %s" % [
        x["topics"] for x in produced]

    # flows and kafka_flows count TCP connections: all nine are Kafka, and the last ACK after both FINs still
    # belongs to the connection it closes (it must not count as a flow of its own)
    t = summary_of(path, port)
    kafka_frames = sum(len(c.frames()[0]) + len(c.frames()[1]) for c in conns.values())
    assert t["frames"] >= len(pdus), "frames %d < tshark's %d Kafka PDUs" % (t["frames"], len(pdus))
    want = {"packets": len(cap.records), "truncated_packets": 0, "flows": len(conns), "kafka_flows": len(conns),
            "frames": kafka_frames, "exchanges": len(pairs), "gaps": 0, "request_missing": len(orphans),
            "unanswered": len(unanswered), "undecodable": 0, "out_of_window": 0, "resyncs": 0}
    wrong = {k: (t[k], v) for k, v in want.items() if t[k] != v}
    assert not wrong, "%s summary totals (got, expected): %s" % (name, wrong)


def test_broker_port_detected_without_port_option():
    """Without --port, the Kafka flows are found from their first bytes: the same exchanges as with --port, and
    the detected broker port is named on stderr (IPv4 and IPv6)."""
    for name in ("kafka-python.pcap", "confluent-kafka-ipv6.pcap"):
        path, entry = fixture(name)
        run = run_pcap(path, "--format", "jsonl")
        diff = compare_pairs(exchanges_of(path, entry["broker_port"]), jsonl(run), name + " without --port")
        assert not diff, diff
        assert str(entry["broker_port"]) in run.stderr, "%s: the detected port %d is not on stderr: %r" % (
            name, entry["broker_port"], run.stderr[-1000:])


# ---------------------------------------------------------------------------------------------- link types

LINK_VARIANTS = ["kafka-python.sll2.pcap", "kafka-python.null.pcap", "kafka-python.raw.pcap", "kafka-python.pcapng",
                 "kafka-python.vlan.pcap", "kafka-python.ipv6.pcap", "confluent-kafka.sll2.pcap"]
LINK_FIELDS = ("api_key", "api_version", "correlation_id", "client_port", "request_bytes", "response_bytes")


def link_key(x):
    return (x["api_key"], x["api_version"], x["correlation_id"], hostport(x["client"])[1], x["request_bytes"],
            x["response_bytes"])


@pytest.mark.parametrize("name", LINK_VARIANTS)
def test_link_types_give_the_same_exchanges(name):
    """Each variant carries the traffic of its Ethernet original (tcpdump -i any at the same time for SLL2;
    converted by convert_captures.py for the others): the same multiset of (api_key, api_version, correlation_id,
    client port, request_bytes, response_bytes), and the same packet count. The converted files hold the very
    same packets, so their packet numbers must match too."""
    path, entry = fixture(name)
    original, original_entry = fixture(entry["traffic"] + ".pcap")
    assert entry["broker_port"] == original_entry["broker_port"]
    port = entry["broker_port"]
    base = exchanges_of(original, port)
    got = exchanges_of(path, port)
    assert base, "the Ethernet original %s gave no exchange" % original.name
    e, g = collections.Counter(map(link_key, base)), collections.Counter(map(link_key, got))
    assert e == g, "%s (%s) vs %s: missing\n%s\nunexpected\n%s" % (
        name, entry["linktype_name"], original.name, describe(list((e - g).elements()), LINK_FIELDS),
        describe(list((g - e).elements()), LINK_FIELDS))
    if not name.endswith(".sll2.pcap"):
        packets = lambda xs: sorted((x["request_packet"], x["response_packet"] or 0) for x in xs)  # noqa: E731
        assert packets(base) == packets(got), "%s: packet numbers differ from %s" % (name, original.name)
    assert summary_of(path, port)["packets"] == entry["packets"]


# ---------------------------------------------------------------------------------------------- damaged captures

def _damaged_entry(kind):
    for e in damage_manifest()["damaged"]:
        if e["kind"] == kind:
            return e
    pytest.fail("no damaged fixture of kind %s in %s" % (kind, DAMAGED / "manifest.json"), pytrace=False)


@pytest.mark.parametrize("kind", damaged_kinds())
def test_damaged_capture(kind):
    """A damaged variant of kafka-python.pcap (made by damage_captures.py; the manifest says what was done and what
    must come out, computed from the intact capture): exit 0; the summary counters at least / exactly as listed;
    every exchange both of whose frames survived is reported with the right packets; anything else reported is
    a pair of the intact capture whose frames lost bytes but kept their headers (nothing invented). For a
    duplicated or reordered segment the jsonl equals the intact file's, packet numbers mapped."""
    manifest = damage_manifest()
    entry = _damaged_entry(kind)
    port = manifest["broker_port"]
    path = DAMAGED / entry["file"]
    assert path.is_file(), "%s is missing (see %s/README.md)" % (path, FIXTURES)
    jrun = run_pcap(path, "--port", port, "--format", "jsonl")
    srun = run_pcap(path, "--port", port, "--format", "summary")
    every = jsonl(jrun)
    ours = answered(every)
    t = totals(srun)
    print("%s: %s\n  totals %s" % (entry["file"], entry["damage"], t))

    problems = []
    for name, least in entry["counters_min"].items():
        if t[name] < least:
            problems.append("%s = %d, expected at least %d" % (name, t[name], least))
    for name, exact in entry["counters_exact"].items():
        if t[name] != exact:
            problems.append("%s = %d, expected %d" % (name, t[name], exact))
    if t["exchanges"] != len(ours):
        problems.append("summary exchanges = %d but the jsonl has %d answered lines" % (t["exchanges"], len(ours)))
    if t["unanswered"] != len(every) - len(ours):
        problems.append("summary unanswered = %d but the jsonl has %d unanswered lines" % (
            t["unanswered"], len(every) - len(ours)))
    if entry["warning"]:
        for run in (jrun, srun):
            if not any(line.startswith("warning:") for line in run.stderr.splitlines()):
                problems.append("`%s`: no line starting with 'warning:' on stderr: %r" % (" ".join(run.argv),
                                                                                          run.stderr[-500:]))
    expected = collections.Counter(pair_key(x) for x in entry["expected_exchanges"])
    got = collections.Counter(pair_key(x) for x in ours)
    missing = expected - got
    if missing:
        problems.append("%d exchanges whose frames are intact are missing:\n%s" % (
            sum(missing.values()), describe(list(missing.elements()))))
    loose_fields = PAIR_FIELDS[:-2]
    allowed = collections.Counter(pair_key(x, loose_fields) for x in entry["optional_exchanges"])
    extra = collections.Counter(pair_key(x, loose_fields) for x in ours) - \
        collections.Counter(pair_key(x, loose_fields) for x in entry["expected_exchanges"]) - allowed
    if extra:
        problems.append("%d exchanges reported that are not in the intact capture (or whose frames are lost):\n%s"
                        % (sum(extra.values()), describe(list(extra.elements()), loose_fields)))
    assert not problems, "%s (%s):\n%s" % (entry["file"], entry["damage"], "\n".join(problems))

    if entry["same_as_intact"]:
        intact, _ = fixture(manifest["source"])
        base = exchanges_of(intact, port)
        ignore = {"request_packet", "response_packet", "ts", "latency_ms"}
        strip = lambda x: json.dumps({k: v for k, v in x.items() if k not in ignore}, sort_keys=True)  # noqa: E731
        assert [strip(x) for x in every] == [strip(x) for x in base], \
            "%s: the jsonl differs from the intact file's beyond packet numbers and times" % entry["file"]
        shift = entry.get("max_time_shift_ms", 0.0) + 0.001
        for a, b in zip(ours, answered(base)):
            assert abs(parse_ts(a["ts"]) - parse_ts(b["ts"])) * 1000 <= shift and \
                abs(a["latency_ms"] - b["latency_ms"]) <= shift, \
                "%s correlation id %d: ts/latency_ms %s/%s, intact %s/%s (allowed shift %.3f ms)" % (
                    a["client"], a["correlation_id"], a["ts"], a["latency_ms"], b["ts"], b["latency_ms"], shift)


# ---------------------------------------------------------------------------------------------- second thread

@pytest.mark.parametrize("name", TSHARK_FIXTURES + ["damaged/" + kind for kind in damaged_kinds()])
def test_second_thread_prints_what_one_thread_prints(name):
    """`--threads 2` (frames read and reports built on a second thread, the default where the machine has more
    than one core) prints exactly what `--threads 1` prints, byte for byte: the summary, jsonl, and jsonl with
    --decode full; on damaged captures too, where gaps give up pending requests and framing resynchronizes."""
    if name.startswith("damaged/"):
        entry = _damaged_entry(name.split("/", 1)[1])
        path, port = DAMAGED / entry["file"], damage_manifest()["broker_port"]
    else:
        path, entry = fixture(name)
        port = entry["broker_port"]
    for extra in (["--format", "summary"], ["--format", "jsonl"], ["--format", "jsonl", "--decode", "full"]):
        one = run_pcap(path, "--port", port, "--threads", "1", *extra)
        two = run_pcap(path, "--port", port, "--threads", "2", *extra)
        assert one.stdout, "`%s` printed nothing" % " ".join(one.argv)
        assert two.stdout == one.stdout, "`%s` and `%s` differ" % (" ".join(one.argv), " ".join(two.argv))
        assert two.stderr == one.stderr


def test_threads_outside_one_and_two_is_refused():
    path, entry = fixture("kafka-python.pcap")
    run = run_pcap(path, "--threads", "3", expect=64)
    assert "--threads takes 1 or 2" in run.stderr


# ---------------------------------------------------------------------------------------------- output formats

@functools.lru_cache(maxsize=1)
def exchange_validator():
    try:
        import jsonschema
    except ImportError:
        pytest.fail("the jsonschema Python package is missing: pip install jsonschema (scripts/install-deps.sh)",
                    pytrace=False)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", ["kafka-python.pcap", "confluent-kafka.pcap"])
def test_jsonl_follows_the_schema(name):
    """Every jsonl line validates against pcap/exchange.schema.json, with and without --decode full. Without it
    there are no `request`/`response` members; with it every line has a request object and, unless unanswered, a
    response object, and the other members are exactly those of the plain output."""
    validator = exchange_validator()
    path, entry = fixture(name)
    plain = exchanges_of(path, entry["broker_port"])
    full = exchanges_of(path, entry["broker_port"], "--decode", "full")
    problems = []
    for label, lines in (("plain", plain), ("--decode full", full)):
        for number, x in enumerate(lines, 1):
            for error in validator.iter_errors(x):
                problems.append("%s line %d: %s at %s" % (label, number, error.message[:200],
                                                          "/".join(map(str, error.absolute_path)) or "top level"))
    assert not problems, "%d schema violations:\n%s" % (len(problems), "\n".join(problems[:20]))
    assert plain and all("request" not in x and "response" not in x for x in plain), \
        "request/response members without --decode full"
    assert all(isinstance(x.get("request"), dict) for x in full), "--decode full: some line lacks a request object"
    assert all(isinstance(x.get("response"), dict) == ("unanswered" not in x) for x in full), \
        "--decode full: a response object on each answered line, null on each unanswered one"
    strip = lambda x: {k: v for k, v in x.items() if k not in ("request", "response")}  # noqa: E731
    assert [strip(x) for x in full] == plain, "--decode full changed the other members"


def test_output_option_writes_the_file(tmp_path):
    """--output PATH writes what stdout would have carried, and nothing goes to stdout."""
    path, entry = fixture("kafka-python.pcap")
    out = tmp_path / "exchanges.jsonl"
    run = run_pcap(path, "--port", entry["broker_port"], "--format", "jsonl", "--output", out)
    assert run.stdout.strip() == "", "--output given, yet stdout carried %r" % run.stdout[:300]
    assert out.is_file(), "--output %s: no file written" % out
    assert out.read_text() == run_pcap(path, "--port", entry["broker_port"], "--format", "jsonl").stdout


def test_prometheus_output_passes_promtool():
    """--format prometheus: `promtool check metrics` accepts it silently (but for kafka_exporter's
    `_lag_sum` name, see harness.PROMTOOL_TOLERATED); kafkascope_requests_total by (api,
    version) counts the capture's requests (kafka-python.pcap has no unanswered request), and request and
    response bytes by api are the frame sizes, size prefix included, as the proxy's families count them."""
    promtool = tool_binary("promtool", "prometheus", env="PROMTOOL_BIN")
    path, entry = fixture("kafka-python.pcap")
    run = run_pcap(path, "--port", entry["broker_port"], "--format", "prometheus")
    complaints = promtool_complaints(promtool, run.stdout)
    assert not complaints, "promtool check metrics:\n%s" % "\n".join(complaints)
    assert "# TYPE kafkascope_consumergroup_lag_sum gauge" in run.stdout, "no lag families (the capture has a group)"
    assert "# TYPE kafkascope_requests_total counter" in run.stdout, "no kafkascope_requests_total family"
    m = parse_metrics(run.stdout)
    _, _, pairs, unanswered, _ = reassembly("kafka-python.pcap")
    assert not unanswered
    want = collections.Counter()
    req_bytes, resp_bytes = collections.Counter(), collections.Counter()
    for e in pairs:
        api = kw.API_NAMES[e.request.api_key]
        want[(api, str(e.request.api_version))] += 1
        req_bytes[api] += e.request.size
        resp_bytes[api] += e.response.size
    got = collections.Counter()
    for labels, value in metric_series(m, "kafkascope_requests_total").items():
        d = dict(labels)
        got[(d.get("api"), d.get("version"))] += int(value)
    assert got == want, "kafkascope_requests_total by (api, version):\n got %s\n want %s" % (
        sorted(got.items()), sorted(want.items()))
    assert {k: int(v) for k, v in metric_by(m, "kafkascope_request_bytes_total", "api").items() if v} == \
        dict(req_bytes), "kafkascope_request_bytes_total by api"
    assert {k: int(v) for k, v in metric_by(m, "kafkascope_response_bytes_total", "api").items() if v} == \
        dict(resp_bytes), "kafkascope_response_bytes_total by api"


# ---------------------------------------------------------------------------------------------- errors

def test_missing_file_exits_66(tmp_path):
    run = run_pcap(tmp_path / "no-such-capture.pcap", "--format", "jsonl", expect=66)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, "a missing file should give one line on stderr, got %r" % run.stderr
    assert run.stdout.strip() == "", "stdout for a missing file: %r" % run.stdout[:300]


def test_non_capture_file_exits_65(tmp_path):
    for name, content in (("notes.txt", b"this is a text file, not a capture\n" * 20),
                          ("fixtures.json", (FIXTURES / "fixtures.json").read_bytes())):
        path = tmp_path / name
        path.write_bytes(content)
        run = run_pcap(path, "--format", "jsonl", expect=65)
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), \
            "%s: expected one stderr line starting with 'error:', got %r" % (name, run.stderr)


def test_truncated_file_exits_0_with_one_warning():
    """A file cut inside a packet record: exit 0, one `warning:` line, and what was read is still reported (the
    exact expectations are in test_damaged_capture[truncated])."""
    manifest = damage_manifest()
    entry = _damaged_entry("truncated")
    run = run_pcap(DAMAGED / entry["file"], "--port", manifest["broker_port"], "--format", "jsonl")
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, "expected one 'warning:' line on stderr, got %r" % run.stderr
    assert len(jsonl(run)) >= len(entry["expected_exchanges"]) > 0


def test_capture_without_kafka_exits_0_with_a_warning():
    """HTTP traffic only (python3 -m http.server): exit 0, a `warning:` line, no exchange; the summary counts its
    packets and TCP flows and no Kafka flow."""
    path, entry = fixture("no-kafka.pcap")
    run = run_pcap(path, "--format", "jsonl")
    assert any(line.startswith("warning:") for line in run.stderr.splitlines()), \
        "no 'warning:' line on stderr: %r" % run.stderr
    assert jsonl(run) == [], "exchanges reported in a capture with no Kafka traffic"
    t = totals(run_pcap(path, "--format", "summary"))
    cap = pcapio.read_pcap(str(path))
    flows = {tuple(sorted([(s.src, s.sport), (s.dst, s.dport)])) for r in cap.records
             if (s := pcapio.tcp_segment(cap.linktype, r.data, cap.endian))}
    assert (t["packets"], t["flows"], t["kafka_flows"], t["exchanges"], t["frames"]) == (
        entry["packets"], len(flows), 0, 0, 0), "summary totals %s" % t


# ---------------------------------------------------------------------------------------------- time window

def quiet_instants(name):
    """Instants (epoch seconds) at least 5 ms from any packet and outside every exchange (request start to response
    end), in time order: a window bound there cuts no exchange, whatever instant of the request `ts` names. The
    recording pauses 0.3 s between the phases of its workload to leave such moments."""
    cap, conns, pairs, _, _ = reassembly(name)
    times = [cap.timestamp(r) for r in cap.records]
    busy = [(times[e.request.packets[0] - 1], times[e.response.complete_packet - 1]) for e in pairs]
    out = []
    for a, b in zip(times, times[1:]):
        if b - a >= 0.01:
            t = (a + b) / 2
            if not any(s <= t <= e for s, e in busy):
                out.append(t)
    return out


def iso(t):
    """ISO-8601 UTC with milliseconds (truncated: the bound moves by less than 1 ms, still clear of packets)."""
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def test_time_window_keeps_the_exchanges_inside():
    """--from/--to: exactly the exchanges whose request ts is inside the window, in the same order; --from alone
    keeps everything from there on, --to alone everything up to there. The bounds sit in quiet moments of the
    capture (see quiet_instants), so the result does not depend on which instant of a request `ts` names."""
    name = "kafka-python.pcap"
    path, entry = fixture(name)
    quiet = quiet_instants(name)
    full = exchanges_of(path, entry["broker_port"])

    def inside(x, lo, hi):
        return (lo is None or lo <= parse_ts(x["ts"])) and (hi is None or parse_ts(x["ts"]) <= hi)

    usable = [t for t in quiet if 0 < sum(inside(x, t, None) for x in full) < len(full)]
    assert len(usable) >= 2, "fewer than two quiet instants inside %s to put window bounds at (test harness " \
        "problem; re-record the fixture): %s" % (name, usable)
    low, high = usable[0], usable[-1]
    for lo, hi in ((low, high), (low, None), (None, high)):
        args = (["--from", iso(lo)] if lo else []) + (["--to", iso(hi)] if hi else [])
        want = [x for x in full if inside(x, lo, hi)]
        assert 0 < len(want) < len(full), "the window %s selects %d of %d exchanges (test harness problem)" % (
            args, len(want), len(full))
        got = exchanges_of(path, entry["broker_port"], *args)
        assert got == want, "%s: %d exchanges, expected the %d whose ts is inside\n%s" % (
            " ".join(args), len(got), len(want), compare_pairs(want, got, "window"))
