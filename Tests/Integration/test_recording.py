"""`proxy --record` and `kafkascope capture`: traffic the proxy recorded, read back with `kafkascope pcap`, gives the
request counts the proxy's own /metrics gave; and live capture on loopback serves the same metric families."""
import collections
import glob
import signal
import subprocess

import workloads as wl
from harness import (HOST, TANSU_NODE_ID, attach_log, fetch_metrics, find_port_block, kafkascope_binary, metric_sum,
                     parse_metrics, wait_for_port, wait_until)


def requests_by_api(metrics):
    counts = collections.Counter()
    for (name, labels), value in metrics.items():
        if name == "kafkascope_requests_total":
            counts[dict(labels)["api"]] += int(value)
    return counts


def test_a_recording_reads_back_with_the_counts_of_the_proxys_metrics(proxy, tmp_path):
    recording = tmp_path / "traffic.pcap"
    p = proxy("--record", recording, "--record-max-bytes", 65536)
    topic = wl.unique("recorded")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    records = wl.make_records(300, seed=5, prefix=topic)
    wl.kp_produce(p.bootstrap, topic, records)
    got = wl.kp_read_all(p.bootstrap, topic, 1, len(records))
    assert len(got) == len(records)
    def settled():
        m = parse_metrics(fetch_metrics(p))
        return m if metric_sum(m, "kafkascope_connections_active", side="client") == 0 else None
    live = wait_until(settled, 15, interval=0.2, what="every client connection closed")
    expected = requests_by_api(live)
    p.send_signal(signal.SIGTERM)  # closes the recording files
    assert p.wait(20) == 0

    files = sorted(glob.glob(str(tmp_path / "traffic*.pcap")), key=lambda f: (len(f), f))
    assert len(files) > 1, "--record-max-bytes 65536 should have rotated the recording: %s" % files
    # Both legs are recorded; the proxy's own listeners are the client leg, which is what /metrics counts.
    ports = [str(p.listen_port), str(p.broker_port(TANSU_NODE_ID))]
    result = subprocess.run([kafkascope_binary(), "pcap", *files, "--format", "prometheus", "--port", ports[0],
                             "--port", ports[1]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    read_back = requests_by_api(parse_metrics(result.stdout))
    assert read_back == expected, "requests per API: recording %s, proxy /metrics %s" % (read_back, expected)
    assert "gaps=0" in result.stderr and "request_missing=0" in result.stderr, result.stderr


def test_live_capture_on_loopback_serves_the_metrics(tansu, request, tmp_path):
    metrics_port = find_port_block([0])
    log_path = tmp_path / "capture.log"
    attach_log(request, "kafkascope capture log", log_path)
    tansu_port = int(tansu.bootstrap.rsplit(":", 1)[1])
    with open(log_path, "wb") as log:
        capture = subprocess.Popen([kafkascope_binary(), "capture", "--interface", "lo", "--port", str(tansu_port),
                                    "--metrics-listen", "%s:%d" % (HOST, metrics_port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(metrics_port, 20, proc=capture, what="kafkascope capture metrics endpoint")
        topic = wl.unique("sniffed")
        wl.kp_create_topic(tansu.bootstrap, topic, 1)
        records = wl.make_records(200, seed=9, prefix=topic)
        wl.kp_produce(tansu.bootstrap, topic, records)
        assert len(wl.kp_read_all(tansu.bootstrap, topic, 1, len(records))) == len(records)

        class Endpoint:
            pass
        endpoint = Endpoint()
        endpoint.metrics_port = metrics_port

        def counted():
            m = parse_metrics(fetch_metrics(endpoint))
            done = metric_sum(m, "kafkascope_produced_records_total", topic=topic) == len(records) and \
                metric_sum(m, "kafkascope_fetched_records_total", topic=topic) >= len(records)
            return m if done else None
        m = wait_until(counted, 15, interval=0.2, what="the captured records counted in /metrics")
        apis = requests_by_api(m)
        assert apis["ApiVersions"] >= 1 and apis["Produce"] >= 1 and apis["Fetch"] >= 1, apis
        assert metric_sum(m, "kafkascope_requests_total", broker="%s:%d" % (HOST, tansu_port)) == sum(apis.values())
    finally:
        capture.send_signal(signal.SIGINT)
        try:
            code = capture.wait(15)
        except subprocess.TimeoutExpired:
            capture.kill()
            code = capture.wait(5)
    assert code == 0, "kafkascope capture should exit cleanly on SIGINT (code %s)" % code
