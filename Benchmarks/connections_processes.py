"""Processes for connections_bench.py besides Tansu (bench_support.start_tansu): the load generator
(connections_load.py, driven over a Unix socket) and `kafkascope proxy`, optionally with a descriptor limit."""
import contextlib
import json
import socket
import sys
from pathlib import Path

from bench_support import HOST, BenchError, port_block, tail
from proxy_paths import TANSU_NODE_ID

LOAD = Path(__file__).resolve().with_name("connections_load.py")
# Runs the proxy with RLIMIT_NOFILE set to argv[1] (soft and hard), as the same process (exec).
LIMITED = ("import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
           "os.execv(sys.argv[2], sys.argv[2:])")


class Generator:
    """connections_load.py in its own process (its own descriptor limit), driven over a Unix socket."""

    def __init__(self, procs, name):
        self.procs = procs
        path = procs.logdir / ("%s.sock" % name)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
        server.settimeout(30)
        self.proc = procs.spawn(name, [sys.executable, str(LOAD), str(path)])
        try:
            self.sock, _ = server.accept()
        except socket.timeout as e:
            raise BenchError("the load generator did not connect back; log tail:\n%s" % tail(self.proc.bench_log)) from e
        finally:
            server.close()
        self.file = self.sock.makefile("rb")

    def call(self, cmd, **params):
        """Sends a command; its answer must come within 30 s more than the command's own `timeout` (or 60 s)."""
        self.sock.settimeout(params.get("timeout", 60.0) + 30)
        try:
            self.sock.sendall((json.dumps(dict(cmd=cmd, **params)) + "\n").encode())
            line = self.file.readline()
        except (OSError, socket.timeout) as e:
            raise BenchError("load generator, %s: %s; log tail:\n%s" % (cmd, e, tail(self.proc.bench_log))) from e
        if not line:
            raise BenchError("load generator exited during %s; log tail:\n%s" % (cmd, tail(self.proc.bench_log)))
        return json.loads(line)

    def stop(self):
        with contextlib.suppress(Exception):
            self.sock.settimeout(2)
            self.sock.sendall(b'{"cmd": "quit"}\n')
            self.file.readline()
        with contextlib.suppress(Exception):
            self.sock.close()
        self.procs.stop(self.proc)


def start_proxy(procs, binary, tansu_port, ports, name, fd_limit=None, log_level="warning"):
    listen = port_block([0, 1 + TANSU_NODE_ID], ports)  # Tansu's node 111 is served on listen + 1 + 111
    metrics_port = port_block([0], ports)
    argv = [binary, "proxy", "--bootstrap-server", "%s:%d" % (HOST, tansu_port), "--listen", "%s:%d" % (HOST, listen),
            "--metrics-listen", "%s:%d" % (HOST, metrics_port), "--log-level", log_level]
    if fd_limit is not None:
        argv = [sys.executable, "-c", LIMITED, str(fd_limit)] + argv
    proc = procs.spawn(name, argv)
    procs.wait_port(proc, listen, 20)
    procs.wait_port(proc, metrics_port, 20)
    return proc, listen, metrics_port
