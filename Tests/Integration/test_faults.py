"""Failure handling: broker death and restart, oversized and garbage frames, clients vanishing with requests in
flight, an upstream answering with the wrong correlation id, and SIGTERM/SIGINT draining under load."""
import signal
import socket
import struct
import subprocess
import time

import pytest

import kafka_wire as kw
import workloads as wl
from harness import (HOST, TANSU_NODE_ID, _spawn, _stop_process, attach_log, can_connect, find_port_block,
                     http_get, kafkascope_binary, metric_sum, parse_metrics, proxy_environment, wait_for_port, wait_until)

MAX_FRAME = 1048576
CLOSE_WAIT = 5.0  # seconds a connection the proxy should drop may stay open


def produce_and_read_back(bootstrap, n=200, seed=10, partitions=3):
    """Create a topic, produce n records, read them back without a group; assert an exact match."""
    topic = wl.unique("fault")
    wl.kp_create_topic(bootstrap, topic, partitions)
    records = wl.make_records(n, seed=seed, prefix=topic)
    wl.kp_produce(bootstrap, topic, records, timeout=30)
    got = wl.kp_read_all(bootstrap, topic, partitions, n, timeout=30)
    diff = wl.compare_multisets(wl.digests(records), got)
    assert not diff, diff


def established_to(port):
    """Number of ESTABLISHED TCP connections (any process) whose remote port is `port`."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "01" and int(cols[2].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except OSError:
            pass
    return count


def api_versions_via(port, client_id="kafkascope-it", timeout=5.0):
    """One raw ApiVersions v0 round trip; returns the decoded response or raises."""
    with kw.WireClient(HOST, port, timeout=timeout, client_id=client_id) as c:
        return c.api_versions(0)


# ------------------------------------------------------------------------------------------- broker death

def test_broker_killed_mid_stream_then_restarted(tansu, proxy):
    p = proxy()
    topic = wl.unique("doomed")
    wl.kp_create_topic(p.bootstrap, topic)
    bg = wl.BackgroundProducer(p.bootstrap, topic).start()
    try:
        bg.wait_acked(200, timeout=20)
        killed_at = time.monotonic()
        tansu.kill()
        wait_until(lambda: bg.errors_since(killed_at), timeout=25, what="a client error after the broker died")
    finally:
        bg.stop()
    p.assert_alive("after the broker was killed")

    # Upstream down: a new connection is accepted or refused, but a request on it must not hang - the proxy
    # closes it (upstream connect failure) rather than leaving the client waiting.
    try:
        s = socket.create_connection((HOST, p.listen_port), timeout=5)
    except OSError:
        s = None
    if s is not None:
        with s:
            s.sendall(kw.request_frame(kw.API_API_VERSIONS, 0, 1, b""))
            closed, got = kw.wait_closed(s, CLOSE_WAIT + 5)
            assert closed, "with the broker down, the proxy left the client connection open"
            assert got == b"", "with the broker down, the client received %r" % got[:64]
    p.assert_alive("after a client connected while the broker was down")

    tansu.start()  # same port, empty in-memory storage
    wait_until(lambda: _try(lambda: api_versions_via(p.listen_port)), timeout=20,
               what="the proxy serving requests after the broker came back")
    produce_and_read_back(p.bootstrap, n=300, seed=11)
    p.assert_alive()


def _try(fn):
    try:
        return fn() or True
    except Exception:  # noqa: BLE001
        return False


# ------------------------------------------------------------------------------------------- bad frames

BAD_INPUTS = {
    # 4-byte size just above --max-frame-bytes, then a plausible header; the body never comes.
    "size-max-plus-1": struct.pack(">i", MAX_FRAME + 1) + struct.pack(">hhih", 0, 9, 1, -1),
    # 16 MiB frame announced.
    "size-16MiB": struct.pack(">i", 16 << 20) + b"\0" * 64,
    # Negative size.
    "size-negative": b"\xff\xff\xff\xff" + b"\0" * 16,
    # A complete frame too short to hold a request header (api_key, api_version, correlation_id, client_id).
    "frame-too-short": struct.pack(">i", 3) + b"\x00\x12\x00",
    # Text protocol instead of Kafka: 'GET ' read as a size is ~1.2 GB.
    "http-request": b"GET / HTTP/1.1\r\nHost: kafka\r\n\r\n",
}


def test_oversized_and_garbage_frames_close_only_that_connection(tansu, proxy):
    p = proxy("--max-frame-bytes", MAX_FRAME)
    topic = wl.unique("bystander")
    wl.kp_create_topic(p.bootstrap, topic)
    bg = wl.BackgroundProducer(p.bootstrap, topic, interval=0.005).start()
    try:
        bg.wait_acked(100, timeout=20)
        bad_started = time.monotonic()
        sockets = {}
        for name, data in BAD_INPUTS.items():
            s = socket.create_connection((HOST, p.listen_port), timeout=5)
            s.sendall(data)
            sockets[name] = s
        outcomes = {}
        for name, s in sockets.items():
            with s:
                outcomes[name] = kw.wait_closed(s, CLOSE_WAIT)[0]
        acked_before = len(bg.acked)
        bg.wait_acked(acked_before + 100, timeout=20)  # the well-behaved client kept going meanwhile
        errors = bg.errors_since(bad_started)
    finally:
        bg.stop()
    still_open = [name for name, closed in outcomes.items() if not closed]
    assert not still_open, "the proxy did not close these connections within %.0f s: %s" % (CLOSE_WAIT, still_open)
    assert not errors, "the concurrent producer failed while bad frames were handled: %s" % errors[:3]
    p.assert_alive("after bad frames")
    got = wl.kp_read_all(p.bootstrap, topic, 3, len(bg.acked), timeout=30)
    diff = wl.compare_multisets(wl.digests(bg.acked), got)
    assert not diff, "records acknowledged to the concurrent producer: " + diff


# ------------------------------------------------------------------------------------------- vanishing clients

def pipelined_requests(first_corr):
    corr = first_corr
    frames = []
    for api_key, version, body in [
            (kw.API_API_VERSIONS, 0, kw.api_versions_request(0)),
            (kw.API_METADATA, 1, kw.metadata_request(1)),
            (kw.API_API_VERSIONS, 3, kw.api_versions_request(3)),
            (kw.API_METADATA, 12, kw.metadata_request(12)),
            (kw.API_FIND_COORDINATOR, 0, kw.find_coordinator_request(0, ["some-group"])),
            (kw.API_METADATA, 0, kw.metadata_request(0))]:
        frames.append((api_key, version, corr, kw.request_frame(api_key, version, corr, body)))
        corr += 1
    return frames


def test_client_disconnects_with_requests_in_flight(tansu, proxy):
    p = proxy()
    baseline = established_to(tansu.port)
    for i in range(30):
        s = socket.create_connection((HOST, p.listen_port), timeout=5)
        frames = pipelined_requests(100 * i)
        data = b"".join(f[3] for f in frames)
        if i % 3 == 2:
            data += frames[0][3][:7]  # and a torn frame at the end
        s.sendall(data)
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        s.close()
    time.sleep(0.5)
    p.assert_alive("after clients vanished with requests in flight")

    # Pipelining on a healthy connection: every response arrives, in order, with its correlation id.
    with kw.WireClient(HOST, p.listen_port) as c:
        frames = pipelined_requests(7000)
        c.sock.sendall(b"".join(f[3] for f in frames))
        for api_key, version, corr, _ in frames:
            got, r = kw.response_body_reader(api_key, version, c.recv_frame())
            assert got == corr, "response out of order: correlation id %d, expected %d" % (got, corr)
    produce_and_read_back(p.bootstrap, n=200, seed=12)

    # The upstream connections of the vanished clients are gone too (no leak).
    wait_until(lambda: established_to(tansu.port) <= baseline + 2, timeout=15,
               what=lambda: "upstream connections of closed clients being closed (%d to Tansu before, %d now)" % (
                   baseline, established_to(tansu.port)))
    p.assert_alive()


# ------------------------------------------------------------------------------------------- stalled client

def test_a_client_that_stops_reading_pauses_the_broker_side_and_is_counted(tansu, proxy):
    """A consumer that stops reading its socket (the soak stops one with SIGSTOP) fills what the proxy writes
    towards it: the proxy stops reading that connection's broker side rather than buffer without bound, counts the
    pause, and adds its length once the client reads again. Other connections go on meanwhile."""
    p = proxy()
    topic = wl.unique("stall")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    wl.kp_produce(p.bootstrap, topic, [(b"k%d" % i, bytes([i % 251]) * 16384, []) for i in range(256)], timeout=30)

    def paused():
        m = parse_metrics(http_get(p.metrics_port, "/metrics")[2].decode())
        return (metric_sum(m, "kafkascope_reads_paused_total", side="broker", reason="client_not_writable"),
                metric_sum(m, "kafkascope_reads_paused_seconds_total", side="broker"))

    assert paused() == (0, 0), "no pause before the stall"
    stalled = kw.WireClient(HOST, p.listen_port, timeout=15, receive_buffer=4096)
    # Sixteen fetches of up to 4 MiB each, and not a byte read.
    fetches = 16
    for _ in range(fetches):
        stalled.send(kw.API_FETCH, 4, kw.fetch_request(4, topic, 0, partition_max_bytes=4 << 20))
    wait_until(lambda: paused()[0] >= 1, timeout=15, what="a broker-side pause counted for the stalled client")
    time.sleep(1.0)
    # The proxy keeps serving others while that connection is paused.
    assert api_versions_via(p.listen_port).get("error_code") == 0
    # The client reads again: every response arrives whole and in order, and the pause's length is added.
    for corr in range(1, fetches + 1):
        got, _ = kw.response_body_reader(kw.API_FETCH, 4, stalled.recv_frame())
        assert got == corr, "response %d arrived as %d" % (corr, got)
    stalled.close()
    count, seconds = paused()
    assert count >= 1 and seconds >= 1.0, "%d pauses, %.3f s paused" % (count, seconds)
    p.assert_alive()


# ------------------------------------------------------------------------------------------- correlation mismatch

def test_upstream_correlation_mismatch_closes_client(fake_cluster, proxy):
    marker = "wrong-correlation-please"

    def override(node_id, api_key, version, corr, client_id, body):
        if client_id == marker and api_key == kw.API_API_VERSIONS:
            d = {"error_code": 0, "api_keys": kw.FakeCluster.API_RANGES}
            return kw.response_frame(api_key, 0, corr + 1000, kw.encode_api_versions_response(0, d))
        return None

    fake = fake_cluster([5], override=override)
    p = proxy(bootstrap=fake.bootstrap(), node_ids=(5,))
    s = socket.create_connection((HOST, p.listen_port), timeout=5)
    with s:
        s.sendall(kw.request_frame(kw.API_API_VERSIONS, 0, 42, b"", client_id=marker))
        closed, got = kw.wait_closed(s, CLOSE_WAIT)
    assert fake.received_by(marker), "the request never reached the fake upstream"
    assert closed, "the proxy kept the client connection open after a mismatched correlation id (got %r)" % got[:64]
    p.assert_alive("after a correlation mismatch")
    response = api_versions_via(p.listen_port, client_id="well-behaved")
    assert response["error_code"] == 0 and response["api_keys"]


# ------------------------------------------------------------------------------------------- graceful shutdown

DRAIN_TIMEOUT = 5


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_and_exits_zero(tansu, proxy, sig):
    p = proxy("--drain-timeout", DRAIN_TIMEOUT)
    topic = wl.unique("drain")
    wl.kp_create_topic(p.bootstrap, topic)
    bg = wl.BackgroundProducer(p.bootstrap, topic, interval=0.001).start()
    try:
        bg.wait_acked(300, timeout=20)
        signalled_at = time.monotonic()
        p.send_signal(sig)
        # It stops accepting new connections promptly (refused once the listener is closed).
        wait_until(lambda: not can_connect(p.listen_port), timeout=DRAIN_TIMEOUT + 5,
                   what="the listen port refusing connections after %s" % sig.name)
        try:
            code = p.wait(DRAIN_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            raise AssertionError("kafkascope still running %d s after %s (drain timeout %d s)" % (
                DRAIN_TIMEOUT + 10, sig.name, DRAIN_TIMEOUT)) from None
        elapsed = time.monotonic() - signalled_at
    finally:
        bg.stop(close_timeout=2)
    assert code == 0, "kafkascope exited with %s after %s" % (code, sig.name)
    assert elapsed <= DRAIN_TIMEOUT + 5, "exit took %.1f s" % elapsed
    acked = list(bg.acked)
    assert len(acked) >= 300
    got = wl.kp_read_all(tansu.bootstrap, topic, 3, len(acked), timeout=30)
    missing = wl.digests(acked) - got
    assert not missing, "%d acknowledged records are not in the broker" % sum(missing.values())


def test_signal_waits_for_in_flight_response(fake_cluster, proxy):
    """A request in flight when SIGTERM arrives still gets its response (drain), then the proxy exits 0."""
    fake = fake_cluster([2])
    p = proxy("--drain-timeout", 8, bootstrap=fake.bootstrap(), node_ids=(2,))
    fake.delays["slow-client"] = 2.0
    with kw.WireClient(HOST, p.listen_port, timeout=15, client_id="slow-client") as c:
        corr = c.send(kw.API_METADATA, 1, kw.metadata_request(1))
        wait_until(lambda: fake.received_by("slow-client"), timeout=5, what="the request reaching the upstream")
        p.send_signal(signal.SIGTERM)
        try:
            payload = c.recv_frame()
        except (kw.ConnectionClosed, OSError) as e:
            raise AssertionError("in-flight request lost on SIGTERM: %s" % e) from None
        got, r = kw.response_body_reader(kw.API_METADATA, 1, payload)
        assert got == corr
        md = kw.decode_metadata_response(1, r)
        assert [(b["host"], b["port"]) for b in md["brokers"]] == [(HOST, p.broker_port(2))]
        closed, _ = kw.wait_closed(c.sock, 10)
        assert closed, "connection not closed after draining"
    code = p.wait(10)
    assert code == 0, "kafkascope exited with %s" % code


def test_drain_timeout_bounds_shutdown(fake_cluster, proxy):
    """An upstream that never answers cannot hold shutdown beyond --drain-timeout."""
    fake = fake_cluster([2])
    p = proxy("--drain-timeout", 2, bootstrap=fake.bootstrap(), node_ids=(2,))
    fake.delays["stuck-client"] = 60.0
    with kw.WireClient(HOST, p.listen_port, timeout=15, client_id="stuck-client") as c:
        c.send(kw.API_METADATA, 1, kw.metadata_request(1))
        wait_until(lambda: fake.received_by("stuck-client"), timeout=5, what="the request reaching the upstream")
        signalled = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(2 + 8)
        except subprocess.TimeoutExpired:
            raise AssertionError("kafkascope still running 10 s after SIGTERM with --drain-timeout 2") from None
        elapsed = time.monotonic() - signalled
        closed, _ = kw.wait_closed(c.sock, 5)
    assert code == 0, "kafkascope exited with %s" % code
    assert closed, "client connection still open after the proxy exited"
    assert elapsed >= 1.0, "exited after %.2f s: did not wait for the in-flight request at all" % elapsed


# ------------------------------------------------------------------------------------------- acks=0

def test_produce_acks_zero_gets_no_response_and_does_not_desync(fake_cluster, proxy):
    """Kafka sends no response to a Produce with acks=0: the proxy must neither wait for one nor pair the next
    response with it. Pipelined on one raw connection: Produce(acks=0), ApiVersions, Produce(acks=-1),
    Metadata; the fake broker (like Kafka) answers all but the first.
    (Not tested against Tansu: Tansu 0.6.0 does answer acks=0 Produce requests, and kafka-python then aborts
    its connection with CorrelationIdError and loses records even without the proxy.)"""
    fake = fake_cluster([3])
    p = proxy(bootstrap=fake.bootstrap(), node_ids=(3,))
    cid = "acks-zero-" + wl.unique("c")
    batch = kw.record_batch(wl.make_records(20, seed=20, prefix="acks0"))
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        c.sock.sendall(kw.request_frame(kw.API_PRODUCE, 7, 1, kw.produce_request(7, "t", 0, batch, acks=0), cid)
                       + kw.request_frame(kw.API_API_VERSIONS, 0, 2, kw.api_versions_request(0), cid)
                       + kw.request_frame(kw.API_PRODUCE, 7, 3, kw.produce_request(7, "t", 0, batch, acks=-1), cid)
                       + kw.request_frame(kw.API_METADATA, 1, 4, kw.metadata_request(1, ["t"]), cid))
        corr, r = kw.response_body_reader(kw.API_API_VERSIONS, 0, c.recv_frame())
        assert corr == 2, "first response has correlation id %d, expected 2 (ApiVersions)" % corr
        kw.decode_api_versions_response(0, r)
        corr, r = kw.response_body_reader(kw.API_PRODUCE, 7, c.recv_frame())
        assert corr == 3
        produced = kw.decode_produce_response(7, r)
        assert [pt["error_code"] for t in produced["responses"] for pt in t["partitions"]] == [0], produced
        corr, r = kw.response_body_reader(kw.API_METADATA, 1, c.recv_frame())
        assert corr == 4
        kw.decode_metadata_response(1, r)
    assert [r.api_key for r in fake.received_by(cid)] == [kw.API_PRODUCE, kw.API_API_VERSIONS, kw.API_PRODUCE,
                                                         kw.API_METADATA]
    p.assert_alive()


# ------------------------------------------------------------------------------------------- out of descriptors

@pytest.mark.timeout_seconds(120)
def test_running_out_of_file_descriptors_is_counted_and_survived(tansu, tmp_path, request):
    """A proxy started with 64 file descriptors (prlimit) is sent 80 clients, each holding its connection: those it
    cannot hold are refused at accept() or at the broker connection, each logged and counted as
    `too_many_open_files` (the proxy's own state, not a broker fault), while the first client keeps being answered.
    Once the clients leave, new ones are served again and the counts read back from /metrics."""
    listen = find_port_block([0, 1, 2])
    metrics_port = listen + 2
    log_path = tmp_path / "kafkascope.log"
    attach_log(request, "kafkascope log", log_path)
    argv = ["prlimit", "--nofile=64:64", kafkascope_binary(), "proxy", "--bootstrap-server", tansu.bootstrap,
            "--listen", "%s:%d" % (HOST, listen), "--broker-port-base", str(listen + 1 - TANSU_NODE_ID),
            "--metrics-listen", "%s:%d" % (HOST, metrics_port), "--log-level", "info"]
    proc = _spawn(argv, log_path, env=proxy_environment())
    try:
        wait_for_port(listen, 20, proc=proc, what="kafkascope proxy")
        first = kw.WireClient(HOST, listen, timeout=5, client_id="it-fd-first")
        first.__enter__()
        first.api_versions(0)
        held = []
        for _ in range(80):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((HOST, listen))
            except OSError:
                s.close()
                continue
            held.append(s)
        time.sleep(2.0)  # accept() fails, backs off and fails again meanwhile
        assert proc.poll() is None, "the proxy exited when it ran out of descriptors"
        first.api_versions(0)  # the connection it holds is still served
        for s in held:
            s.close()
        first.__exit__(None, None, None)
        wait_until(lambda: _try(lambda: api_versions_via(listen)), 15, what="a new client served again")
        def metrics_text():
            try:
                status, _, body = http_get(metrics_port, "/metrics")
            except OSError:
                return None
            return body.decode() if status == 200 else None
        parsed = parse_metrics(wait_until(metrics_text, 15, what="/metrics answering again"))
        refused = metric_sum(parsed, "kafkascope_listener_errors_total", reason="too_many_open_files") + \
            metric_sum(parsed, "kafkascope_connection_errors_total", side="broker", reason="too_many_open_files")
        print("refusals counted: %d" % refused)
        assert refused > 0, "no refusal counted as too_many_open_files"
        # The broker is up all along: a broker connection that failed here failed for want of descriptors, and
        # must say so (it was once counted as upstream_connect_failed, wrapped in NIO's connection error).
        mislabelled = metric_sum(parsed, "kafkascope_connection_errors_total", side="broker", reason="upstream_connect_failed")
        assert mislabelled == 0, "%d broker connections out of descriptors counted as upstream_connect_failed" % mislabelled
        log = log_path.read_text(errors="replace")
        assert "too_many_open_files" in log or "Too many open files" in log, "no refusal in the log"
    finally:
        _stop_process(proc)
