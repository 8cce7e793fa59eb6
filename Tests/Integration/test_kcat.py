"""kcat (Debian's, librdkafka 2.0.2) listing metadata directly from Tansu and through the proxy.

That librdkafka cannot parse Tansu's ApiVersions v3 response (it chokes on the response's tagged fields:
"ApiVersionRequest failed: Local: Read underflow"), so directly it fails with "Failed to acquire metadata".
The proxy passes ApiVersions through, so kcat must fail (or succeed) the same way through it: same exit
status class, same main error line, within the timeout, and the proxy must survive it.
"""
import re
import subprocess
import time

from harness import HOST, TANSU_NODE_ID, kcat_binary
import workloads as wl

KCAT_TIMEOUT = 30  # kcat -m 5 gives up after ~5 s per attempt; anything near 30 s is a hang


def run_kcat(bootstrap):
    argv = [kcat_binary(), "-b", bootstrap, "-L", "-m", "5"]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=KCAT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("kcat against %s hung for %d s; output so far: %r" % (
            bootstrap, KCAT_TIMEOUT, (e.stderr or b"")[-2000:])) from None
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"), \
        time.monotonic() - started


def main_error(stderr):
    """kcat's fatal line ('% ERROR: ...'), with addresses normalised."""
    lines = [line for line in stderr.splitlines() if line.startswith("% ERROR")]
    return re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "<addr>", lines[-1]) if lines else None


def warning_reasons(stderr):
    """Distinct librdkafka FAIL reasons, e.g. 'ApiVersionRequest failed: Local: Read underflow'."""
    reasons = set()
    for line in stderr.splitlines():
        m = re.search(r"\|FAIL\|.*?/\w+: (.*?)(?: \(after \d+ms.*)?$", line)
        if m:
            reasons.add(re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "<addr>", m.group(1)))
    return reasons


def test_kcat_metadata_listing_matches_direct(tansu, proxy):
    p = proxy()
    d_code, d_out, d_err, d_secs = run_kcat(tansu.bootstrap)
    x_code, x_out, x_err, x_secs = run_kcat(p.bootstrap)
    report = ("direct: exit %d in %.1f s\n%s%s\nproxy: exit %d in %.1f s\n%s%s" % (
        d_code, d_secs, d_out, d_err[-1500:], x_code, x_secs, x_out, x_err[-1500:]))

    p.assert_alive("after kcat")
    assert (d_code == 0) == (x_code == 0), "exit status class differs\n" + report
    if d_code != 0:
        assert main_error(x_err) == main_error(d_err), "different main error\n" + report
        missing = warning_reasons(d_err) - warning_reasons(x_err)
        assert not missing, "librdkafka failures seen directly but not through the proxy: %s\n%s" % (missing, report)
    else:
        # Both listed metadata: through the proxy the broker must show at the proxy's address.
        assert "broker %d at %s:%d" % (TANSU_NODE_ID, HOST, p.broker_port(TANSU_NODE_ID)) in x_out, report
        assert ":%d" % tansu.port not in x_out, "Tansu's own address leaked\n" + report

    # The proxy still serves a normal client afterwards.
    admin = wl.kp_admin(p.bootstrap)
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()
    p.assert_alive("after a kafka-python metadata request")
