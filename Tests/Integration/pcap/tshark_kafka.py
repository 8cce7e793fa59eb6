"""What Wireshark's Kafka dissector sees in a capture, one entry per Kafka PDU (request or response frame).

    pdus = kafka_pdus("fixtures/kafka-python.pcap", broker_port=12345)

Runs `tshark -r FILE -d tcp.port==PORT,kafka -2 -Y kafka -T pdml` and reads the PDML: one <proto name="kafka"> per
PDU, placed in the packet where TCP reassembly completed it (frame.number of the packet holding the PDU's last
byte). A <proto name="_ws.malformed"> right after a kafka proto marks that PDU malformed (the dissector threw).
Expert infos inside the kafka proto (e.g. "Unsupported Metadata version. Supports v0-9.") are kept per PDU.

Fields read: frame.number, frame.time_epoch, tcp.stream, tcp.srcport, tcp.dstport, kafka.len, kafka.api_key,
kafka.request_key, kafka.response_key, kafka.api_version (request), kafka.response.version, kafka.correlation_id,
kafka.client_id, kafka.request_frame (in responses: the request's frame number), kafka.topic_name, kafka.error,
_ws.expert.message.
"""
import collections
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

Pdu = collections.namedtuple("Pdu", "frame time stream kind client_port length size api_key api_version "
                                    "correlation_id client_id request_frame topics errors experts malformed")
# kind "request"/"response"; length = kafka.len (without the size prefix), size = length + 4; api_key/api_version
# are None for a response tshark could not match to its request ("Request missing"); request_frame only for
# matched responses; errors = the kafka.error values tshark decoded (meaningful only for supported versions).

FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport", "kafka.len",
          "kafka.api_key", "kafka.request_key", "kafka.response_key", "kafka.api_version", "kafka.response.version",
          "kafka.correlation_id", "kafka.client_id", "kafka.request_frame", "kafka.topic_name", "kafka.error",
          "_ws.expert.message"]


class TsharkError(Exception):
    pass


def tshark_binary():
    """TSHARK_BIN or tshark on PATH; None when missing (callers turn that into a failure of their own)."""
    path = os.environ.get("TSHARK_BIN") or shutil.which("tshark")
    return path if path and os.access(path, os.X_OK) else None


def tshark_argv(tshark, path, broker_ports):
    argv = [tshark, "-r", str(path), "-n"]
    for port in sorted(broker_ports):
        argv += ["-d", "tcp.port==%d,kafka" % port]
    # -2: two passes, so that every request/response link is known; -Y kafka: only packets completing a PDU
    return argv + ["-2", "-Y", "kafka", "-T", "pdml"]


def _fields(element, out):
    for f in element.iter("field"):
        name = f.get("name")
        if name:
            out.setdefault(name, []).append(f.get("show"))
    return out


def kafka_pdus(path, broker_ports, tshark=None, timeout=120):
    """[Pdu] in file order (frame number, then position in the packet)."""
    if isinstance(broker_ports, int):
        broker_ports = {broker_ports}
    tshark = tshark or tshark_binary()
    if not tshark:
        raise TsharkError("tshark not found: install Debian's tshark package (scripts/install-deps.sh) or set "
                          "TSHARK_BIN")
    done = subprocess.run(tshark_argv(tshark, path, broker_ports), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    if done.returncode != 0:
        raise TsharkError("tshark -r %s failed (%d): %s" % (path, done.returncode, done.stderr.decode()[-2000:]))
    root = ET.fromstring(done.stdout)
    pdus = []
    for packet in root.iter("packet"):
        frame = stream = sport = dport = when = None
        current = None
        for proto in packet:
            name = proto.get("name")
            if name == "frame":
                f = _fields(proto, {})
                frame, when = int(f["frame.number"][0]), float(f["frame.time_epoch"][0])
            elif name == "tcp":
                f = _fields(proto, {})
                stream, sport, dport = int(f["tcp.stream"][0]), int(f["tcp.srcport"][0]), int(f["tcp.dstport"][0])
            elif name == "kafka":
                f = _fields(proto, {})
                kind = "request" if dport in broker_ports else "response"
                length = int(f["kafka.len"][0])
                key = f.get("kafka.api_key", [None])[0]
                version = f.get("kafka.api_version" if kind == "request" else "kafka.response.version", [None])[0]
                current = dict(frame=frame, time=when, stream=stream, kind=kind,
                               client_port=sport if kind == "request" else dport, length=length, size=length + 4,
                               api_key=None if key is None else int(key),
                               api_version=None if version is None else int(version),
                               correlation_id=int(f["kafka.correlation_id"][0]) if "kafka.correlation_id" in f
                               else None,
                               client_id=f.get("kafka.client_id", [None])[0],
                               request_frame=int(f["kafka.request_frame"][0]) if "kafka.request_frame" in f
                               else None,
                               topics=sorted(set(t for t in f.get("kafka.topic_name", []) if t)),
                               errors=[int(e) for e in f.get("kafka.error", [])],
                               experts=f.get("_ws.expert.message", []), malformed=False)
                pdus.append(current)
            elif name == "_ws.malformed" and current is not None:
                current["malformed"] = True
                current["experts"] = current["experts"] + _fields(proto, {}).get("_ws.expert.message", [])
    return [Pdu(**p) for p in pdus]


def fully_decoded(pdu):
    """True when tshark decoded this PDU without any complaint: a supported version, nothing malformed, no expert
    info at all, and (for a response) matched to its request."""
    return not pdu.malformed and not pdu.experts and pdu.api_key is not None and pdu.api_version is not None
