#!/usr/bin/env python3
"""connections_bench's load generator: one process holding thousands of Kafka client connections on non-blocking
sockets (epoll through `selectors`), driven by connections_bench.py over a Unix socket.

Every connection speaks Kafka: it sends an ApiVersions v3 request (one at a time, never pipelined) and checks the
answer: a complete frame with the correlation id it sent and error code 0. Commands arrive as JSON lines on the
control socket and each is answered with one JSON line:

  open    {"port", "count", "concurrency", "answer_timeout", "timeout"}: open `count` more connections to
          127.0.0.1:port, at most `concurrency` at a time waiting for their first answer; each sends one request
          as soon as it is connected. A connection not answered within `answer_timeout` s stays open and is
          counted as unanswered (still connecting, or waiting for its answer).
  sweep   {"timeout"}: one request on every answered connection; waits for all answers.
  ping    {"period"}: from now on every answered connection sends one request every `period` s, spread evenly.
  unping  {"timeout"}: stops the pings, waits for the ones in flight, and reports them.
  close   {"which": "all" | "unanswered" | "answered", "count"}: closes connections (count: at most that many).
  status  {}: connections by state and every failure so far.
  quit    {}

  python3 connections_load.py CONTROL_SOCKET_PATH
"""
import errno
import json
import resource
import selectors
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
API_VERSIONS, VERSION = 18, 3
CLIENT_ID = b"conn-bench"

CONNECTING, WAITING, IDLE, CLOSED = "connecting", "waiting", "idle", "closed"


def api_versions_request(correlation_id):
    """ApiVersions v3: request header v2 (client id, empty tagged fields), then the client software's name and
    version as compact strings and empty tagged fields."""
    header = struct.pack(">hhih", API_VERSIONS, VERSION, correlation_id, len(CLIENT_ID)) + CLIENT_ID + b"\x00"
    body = b"\x0bconn-bench\x041.0\x00"  # compact strings: length + 1, then the bytes
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def percentiles(xs):
    if not xs:
        return None
    s = sorted(xs)

    def at(q):
        return s[max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))]
    return {"p50": at(50), "p99": at(99), "max": s[-1], "n": len(s)}


def errno_name(code):
    return errno.errorcode.get(code, str(code))


class Conn:
    __slots__ = ("sock", "state", "buf", "corr", "sent_at", "started", "answered_once", "purpose")

    def __init__(self, sock):
        self.sock, self.state, self.buf = sock, CONNECTING, bytearray()
        self.corr, self.sent_at, self.started = 0, 0.0, time.monotonic()
        self.answered_once, self.purpose = False, "open"


class Load:
    def __init__(self, control_path):
        self.sel = selectors.EpollSelector()
        self.conns = {}  # fd -> Conn (open ones only)
        self.next_corr = 1
        self.failures = {}  # reason -> count, over the whole run
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control.connect(control_path)
        self.control.setblocking(False)
        self.sel.register(self.control, selectors.EVENT_READ, None)
        self.control_buf = b""
        self.phase = None  # the latencies and counts of the running command
        self.ping = None  # {"period", "t0", "conns", "due_done"}

    # ------------------------------------------------------------------------------------------ bookkeeping

    def fail(self, reason):
        self.failures[reason] = self.failures.get(reason, 0) + 1
        if self.phase is not None:
            self.phase["failed"][reason] = self.phase["failed"].get(reason, 0) + 1

    def new_phase(self, kind):
        self.phase = {"kind": kind, "sent": 0, "answered": 0, "failed": {}, "lat_ms": [], "busy": 0}
        return self.phase

    def close(self, conn):
        if conn.state == CLOSED:
            return
        fd = conn.sock.fileno()
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        self.conns.pop(fd, None)
        conn.state = CLOSED

    def send(self, conn, purpose):
        conn.corr = self.next_corr
        self.next_corr = (self.next_corr + 1) & 0x7FFFFFFF or 1
        frame = api_versions_request(conn.corr)
        try:
            n = conn.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:
            self.fail("send_" + errno_name(e.errno or 0))
            self.close(conn)
            return False
        if n != len(frame):  # 40 bytes into an idle connection's empty send buffer always fit
            self.fail("send_short")
            self.close(conn)
            return False
        conn.state, conn.sent_at, conn.purpose = WAITING, time.monotonic(), purpose
        if self.phase is not None:
            self.phase["sent"] += 1
        return True

    # ------------------------------------------------------------------------------------------ events

    def on_writable(self, conn):
        """The connect finished, one way or the other."""
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.fail("connect_" + errno_name(err))
            self.close(conn)
            return
        self.sel.modify(conn.sock, selectors.EVENT_READ, conn)
        self.send(conn, "open")

    def on_readable(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.fail("%s_%s" % ("reset_while_waiting" if conn.state == WAITING else "reset_idle",
                                 errno_name(e.errno or 0)))
            self.close(conn)
            return
        if not data:
            self.fail("closed_by_peer_while_waiting" if conn.state == WAITING else "closed_by_peer_idle")
            self.close(conn)
            return
        conn.buf += data
        while len(conn.buf) >= 4:
            size = struct.unpack_from(">i", conn.buf)[0]
            if len(conn.buf) < 4 + size:
                break
            frame = bytes(conn.buf[4:4 + size])
            del conn.buf[:4 + size]
            if conn.state != WAITING:
                self.fail("unsolicited_frame")
                self.close(conn)
                return
            if size < 6:
                self.fail("short_response")
                self.close(conn)
                return
            corr, code = struct.unpack_from(">ih", frame)
            if corr != conn.corr:
                self.fail("correlation_mismatch")
                self.close(conn)
                return
            if code != 0:
                self.fail("error_code_%d" % code)
                self.close(conn)
                return
            conn.state, conn.answered_once = IDLE, True
            if self.phase is not None and (conn.purpose == self.phase["kind"] or self.phase["kind"] == "unping"
                                           and conn.purpose == "ping"):
                self.phase["answered"] += 1
                self.phase["lat_ms"].append((time.monotonic() - conn.sent_at) * 1000.0)

    def poll(self, timeout):
        if self.ping is not None:  # wake up for the next periodic request, so that they go out one by one
            p = self.ping
            due_at = p["t0"] + (p["done"] + 1) * p["period"] / len(p["conns"])
            timeout = max(0.0, min(timeout, due_at - time.monotonic()))
        for key, mask in self.sel.select(timeout):
            conn = key.data
            if conn is None:
                self.read_control()
            elif conn.state == CONNECTING and mask & selectors.EVENT_WRITE:
                self.on_writable(conn)
            elif mask & selectors.EVENT_READ:
                self.on_readable(conn)
        if self.ping is not None:
            self.ping_tick()

    # ------------------------------------------------------------------------------------------ periodic pings

    def ping_tick(self):
        p = self.ping
        conns = p["conns"]
        due = int((time.monotonic() - p["t0"]) / p["period"] * len(conns))
        while p["done"] < due:
            conn = conns[p["done"] % len(conns)]
            p["done"] += 1
            if conn.state == IDLE:
                self.send(conn, "ping")
            elif conn.state == WAITING:
                self.phase["busy"] += 1  # its last request is still unanswered a whole period later
            # a closed connection was already counted as a failure when it closed

    # ------------------------------------------------------------------------------------------ commands

    def read_control(self):
        try:
            data = self.control.recv(65536)
        except BlockingIOError:
            return
        if not data:
            raise SystemExit(0)  # the benchmark went away
        self.control_buf += data
        while b"\n" in self.control_buf:
            line, self.control_buf = self.control_buf.split(b"\n", 1)
            self.pending_commands.append(json.loads(line))

    def reply(self, obj):
        self.control.setblocking(True)
        self.control.sendall((json.dumps(obj) + "\n").encode())
        self.control.setblocking(False)

    def counts(self):
        by_state = {}
        for conn in self.conns.values():
            key = conn.state if conn.answered_once else "never_answered_" + conn.state
            by_state[key] = by_state.get(key, 0) + 1
        return by_state

    def summary(self, phase, started):
        return {"sent": phase["sent"], "answered": phase["answered"], "failed": phase["failed"],
                "busy": phase["busy"], "lat_ms": percentiles(phase["lat_ms"]),
                "seconds": time.monotonic() - started, "open": len(self.conns), "states": self.counts()}

    def cmd_open(self, port, count, concurrency, answer_timeout, timeout):
        phase, started = self.new_phase("open"), time.monotonic()
        deadline = started + timeout
        launched, inflight, unanswered, socket_errors = 0, [], [], 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            still = []
            for conn in inflight:
                if conn.state == CLOSED or conn.answered_once:
                    continue
                if now - conn.started > answer_timeout:
                    unanswered.append(conn)  # stays open, no longer holds a slot
                else:
                    still.append(conn)
            inflight = still
            while launched < count and len(inflight) < concurrency:
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                except OSError as e:
                    self.fail("socket_" + errno_name(e.errno or 0))
                    socket_errors += 1
                    launched = count  # this process is out of descriptors: stop opening
                    break
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = Conn(sock)
                rc = sock.connect_ex((HOST, port))
                launched += 1
                self.conns[sock.fileno()] = conn
                if rc not in (0, errno.EINPROGRESS):
                    self.fail("connect_" + errno_name(rc))
                    self.close(conn)
                    continue
                self.sel.register(sock, selectors.EVENT_WRITE, conn)
                inflight.append(conn)
            if launched >= count and not inflight:
                break
            self.poll(0.02)
        never = {}
        for conn in unanswered + inflight:
            if conn.state != CLOSED and not conn.answered_once:
                never[conn.state] = never.get(conn.state, 0) + 1
        out = self.summary(phase, started)
        out.update(launched=launched, unanswered=never, timed_out=time.monotonic() >= deadline)
        return out

    def wait_answers(self, phase, conns, timeout, started):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.state != WAITING for c in conns):
                break
            self.poll(0.02)
        out = self.summary(phase, started)
        out["unanswered"] = sum(1 for c in conns if c.state == WAITING)
        return out

    def cmd_sweep(self, timeout):
        phase, started = self.new_phase("sweep"), time.monotonic()
        targets = [c for c in self.conns.values() if c.state == IDLE]
        skipped = len(self.conns) - len(targets)
        for conn in targets:
            self.send(conn, "sweep")
        out = self.wait_answers(phase, targets, timeout, started)
        out["skipped_not_idle"] = skipped
        return out

    def cmd_ping(self, period):
        self.new_phase("ping")
        conns = [c for c in self.conns.values() if c.state == IDLE]
        self.ping = {"period": period, "t0": time.monotonic(), "conns": conns, "done": 0,
                     "started": time.monotonic()} if conns else None
        return {"pinging": len(conns)}

    def cmd_unping(self, timeout):
        if self.ping is None or self.phase is None or self.phase["kind"] != "ping":
            return {"error": "no pings running"}
        p, phase = self.ping, self.phase
        self.ping = None
        phase["kind"] = "unping"  # answers to pings still count
        out = self.wait_answers(phase, p["conns"], timeout, p["started"])
        out["seconds"] = time.monotonic() - p["started"]
        return out

    def cmd_close(self, which, count=None):
        victims = []
        for conn in list(self.conns.values()):
            if which == "all" or (which == "answered") == conn.answered_once:
                victims.append(conn)
        if count is not None:
            victims = victims[:count]
        for conn in victims:
            self.close(conn)
        return {"closed": len(victims), "open": len(self.conns)}

    def run(self):
        self.pending_commands = []
        while True:
            self.poll(0.05)
            while self.pending_commands:
                cmd = self.pending_commands.pop(0)
                name = cmd.pop("cmd")
                if name == "quit":
                    self.reply({"ok": True})
                    return
                if name == "status":
                    out = {"open": len(self.conns), "states": self.counts(), "failures": self.failures}
                else:
                    out = getattr(self, "cmd_" + name)(**cmd)
                out["failures_total"] = dict(self.failures)
                self.reply(out)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Load(sys.argv[1]).run()


if __name__ == "__main__":
    main()
