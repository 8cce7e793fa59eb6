"""An independent view of the Kafka traffic on the client <-> proxy leg: a tshark capture on the loopback
interface, read back into per-connection byte streams (reassembled here from the TCP segments, not by
Wireshark's Kafka dissector) and split into request and response frames.

    with LoopbackCapture([proxy.listen_port, proxy.broker_port(111)], tmp_path / "leg.pcapng", log) as cap:
        run_workload()
    frames = cap.frames()          # [KafkaExchange] for every request seen on those ports

Start and end of the capture are made certain with sentinel connections: a TCP connect to a closed port that
is part of the capture filter. Capturing starts before the first sentinel is in the file and stops after the
last one is, so every packet in between is in the file too (loopback packets are captured in order).
"""
import collections
import contextlib
import re
import signal
import socket
import struct
import subprocess
import time

from harness import HOST, _spawn, _stop_process, find_port_block, tool_binary

Frame = collections.namedtuple("Frame", "stream server_port api_key api_version correlation_id size")
# size = the whole frame including its 4-byte size prefix


class CaptureError(AssertionError):
    pass


class LoopbackCapture:
    """`recorder` is "tshark" (pcapng) or "tcpdump" (classic pcap, as operators record; it must then report 0
    packets dropped by the kernel). tshark reads the file back either way."""

    def __init__(self, ports, path, log_path, ready_timeout=20.0, recorder="tshark"):
        self.ports = sorted(set(ports))
        self.path, self.log_path = str(path), log_path
        self.tshark = tool_binary("tshark", "tshark", env="TSHARK_BIN")
        self.start_sentinel = find_port_block([0, 1])
        self.end_sentinel = self.start_sentinel + 1
        self.ready_timeout = ready_timeout
        self.recorder = recorder
        self.proc = None
        filt = " or ".join("tcp port %d" % p for p in self.ports + [self.start_sentinel, self.end_sentinel])
        if recorder == "tcpdump":
            # -U: each packet written at once (the sentinel check reads the file); -B: 8 MiB kernel buffer;
            # -Z root: keep writing as root into pytest's private temporary directory.
            tcpdump = tool_binary("tcpdump", "tcpdump", env="TCPDUMP_BIN")
            self.argv = [tcpdump, "-i", "lo", "-n", "-U", "-s", "0", "-B", "8192", "-Z", "root", "-w", self.path, filt]
        else:
            # -B: a 64 MiB kernel buffer, so that a burst is not dropped; -s 0: whole packets.
            self.argv = [self.tshark, "-i", "lo", "-f", filt, "-B", "64", "-s", "0", "-w", self.path]

    # ----------------------------------------------------------------------------------------- live capture

    def __enter__(self):
        with open(self.log_path, "ab") as log:
            log.write(("$ %s\n" % " ".join(self.argv)).encode())
        self.proc = _spawn(self.argv, self.log_path)
        try:
            self._wait_for_sentinel(self.start_sentinel, self.ready_timeout, "start")
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._wait_for_sentinel(self.end_sentinel, 15.0, "end")
        finally:
            self._stop()
        if exc_type is None and self.recorder == "tcpdump":
            with open(self.log_path, errors="replace") as log:
                text = log.read()
            if not re.search(r"^0 packets dropped by kernel", text, re.M):
                raise CaptureError("tcpdump dropped packets or did not report its counts:\n%s" % text[-2000:])
        return False

    def _stop(self):
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGINT, timeout=10)  # SIGINT: the recorder finishes the file

    def _poke(self, port):
        with contextlib.suppress(OSError):
            socket.create_connection((HOST, port), timeout=0.5).close()  # nothing listens: SYN, RST suffice

    def _sentinel_seen(self, port):
        out = subprocess.run([self.tshark, "-r", self.path, "-Y", "tcp.port == %d" % port, "-T", "fields",
                              "-e", "frame.number"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=30).stdout  # a file still being written may end mid-packet: ignore errors
        return bool(out.strip())

    def _wait_for_sentinel(self, port, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CaptureError("%s exited with code %s before the capture %s was confirmed (are we root, "
                                   "or allowed to capture on lo?); see its log section"
                                   % (self.recorder, self.proc.returncode, what))
            self._poke(port)
            time.sleep(0.3)
            if self._sentinel_seen(port):
                return
        raise CaptureError("tshark: the %s sentinel connection to port %d did not show up in the capture within "
                           "%.0f s" % (what, port, timeout))

    # ----------------------------------------------------------------------------------------- reading

    def segments(self):
        """[(stream, src port, dst port, raw seq, payload bytes)] of every TCP segment with data on the ports."""
        argv = [self.tshark, "-r", self.path, "-o", "tcp.desegment_tcp_streams:FALSE",
                "-Y", "tcp.len > 0 and (%s)" % " or ".join("tcp.port == %d" % p for p in self.ports),
                "-T", "fields", "-E", "separator=/t", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "tcp.payload"]
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if done.returncode != 0:
            raise CaptureError("tshark -r failed (%d): %s" % (done.returncode, done.stderr.decode()[-2000:]))
        out = []
        for line in done.stdout.decode().splitlines():
            stream, src, dst, seq, length, payload = line.split("\t")
            data = bytes.fromhex(payload.replace(":", ""))
            if len(data) != int(length):
                raise CaptureError("segment of stream %s: %d payload bytes in the capture, tcp.len %s (truncated "
                                   "capture?)" % (stream, len(data), length))
            out.append((int(stream), int(src), int(dst), int(seq), data))
        return out

    def streams(self):
        """{stream: (client port, server port, client->server bytes, server->client bytes)}, reassembled by
        sequence number; a gap in either direction (a lost packet) raises CaptureError."""
        pieces = collections.defaultdict(list)
        ends = {}
        for stream, src, dst, seq, data in self.segments():
            server = dst if dst in self.ports else src
            client = src if server == dst else dst
            ends[stream] = (client, server)
            pieces[(stream, src == client)].append((seq, data))
        out = {}
        for stream, (client, server) in ends.items():
            out[stream] = (client, server, _reassemble(pieces[(stream, True)], stream, "client->server"),
                           _reassemble(pieces[(stream, False)], stream, "server->client"))
        return out

    def frames(self):
        """(requests, responses): [Frame] seen client->proxy and proxy->client. A response's api_key and
        api_version are those of the request with its correlation id on the same connection. A trailing partial
        frame raises CaptureError."""
        requests, responses = [], []
        for stream, (_, server, c2s, s2c) in sorted(self.streams().items()):
            asked = {}
            for payload in _split_frames(c2s, stream, "requests"):
                api_key, version, corr = struct.unpack_from(">hhi", payload)
                requests.append(Frame(stream, server, api_key, version, corr, len(payload) + 4))
                asked.setdefault(corr, []).append((api_key, version))
            for payload in _split_frames(s2c, stream, "responses"):
                (corr,) = struct.unpack_from(">i", payload)
                if not asked.get(corr):
                    raise CaptureError("stream %d: a response with correlation id %d answers no request" % (stream,
                                                                                                          corr))
                api_key, version = asked[corr].pop(0)
                responses.append(Frame(stream, server, api_key, version, corr, len(payload) + 4))
        return requests, responses


def _reassemble(segments, stream, direction):
    """segments in capture order: [(raw sequence number, bytes)]."""
    if not segments:
        return b""
    base = segments[0][0]
    segments = [((seq - base) % (1 << 32), chunk) for seq, chunk in segments]  # relative, immune to wrap-around
    data = bytearray()
    expected = None
    for seq, chunk in sorted(segments, key=lambda s: s[0]):
        if expected is None:
            expected = seq
        if seq > expected:
            raise CaptureError("stream %d %s: %d bytes missing at relative offset %d (packets lost in the capture)"
                               % (stream, direction, seq - expected, len(data)))
        overlap = expected - seq  # a retransmission: keep only the new part
        if overlap < len(chunk):
            data += chunk[overlap:]
            expected = seq + len(chunk)
    return bytes(data)


def _split_frames(data, stream, what):
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise CaptureError("stream %d %s: %d stray bytes at the end" % (stream, what, len(data) - pos))
        (size,) = struct.unpack_from(">i", data, pos)
        if size < 4 or pos + 4 + size > len(data):
            raise CaptureError("stream %d %s: frame of size %d at offset %d does not fit in the %d bytes captured"
                               % (stream, what, size, pos, len(data)))
        yield data[pos + 4:pos + 4 + size]
        pos += 4 + size
