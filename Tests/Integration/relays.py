"""TCP relays the tests put between the proxy and a broker, and the loopback server they are built on."""
import contextlib
import queue
import socket
import struct
import threading
import time

HOST = "127.0.0.1"


def read_exactly(sock, n):
    """The next n bytes from a blocking socket; EOFError if the peer closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


class LoopbackServer:
    """A loopback listener with an accept thread that hands each connection to _accepted(). Every socket and
    thread is tracked so stop() can end them all, leaving nothing behind for the next test."""

    name = "loopback"

    def __init__(self, port=0):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._sockets, self._threads = [], []
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        self._spawn(self._accept_loop, self.name + "-accept")
        return self

    def _spawn(self, target, name, *args):
        t = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _track(self, *socks):
        with self._lock:
            self._sockets += socks

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._accepted(client)

    def _accepted(self, client):
        """Runs on the accept thread: whatever blocks belongs on a _spawn()ed thread."""
        raise NotImplementedError

    @staticmethod
    def _close(*socks):
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def stop(self):
        self._stopped.set()
        self._close(self.listener)
        with self._lock:
            socks, threads = list(self._sockets), list(self._threads)
        self._close(*socks)
        for t in threads:
            t.join(5)


class _Relay(LoopbackServer):
    """Connects each accepted client to `upstream_port` (read when accepted) and pumps bytes both ways; subclasses
    may replace the upstream -> client direction. self.accepted = [upstream port of each connection, in order]."""

    def __init__(self, upstream_port, port=0):
        super().__init__(port)
        self.upstream_port = upstream_port
        self.accepted = []

    def _accepted(self, client):
        with self._lock:
            target = self.upstream_port
        try:
            upstream = socket.create_connection((HOST, target), timeout=5)
            upstream.settimeout(None)
        except OSError:
            self._close(client)
            return
        with self._lock:
            self._sockets += [client, upstream]
            self.accepted.append(target)
        self._spawn(self._pump, self.name + "-c2u", client, upstream)
        self._spawn(self._pump_responses, self.name + "-u2c", upstream, client)

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _pump_responses(self, upstream, client):
        self._pump(upstream, client)


class DelayingRelay(_Relay):
    """Listens on a loopback port and relays every connection to `upstream_port`, holding each Kafka response
    frame (upstream -> client) back until `delay` seconds after it was completely read from upstream. Requests go
    through as they arrive. Pipelined responses are each delayed by `delay` (not by the sum), in order.

    Every held response is logged: self.delays = [seconds actually held], so a test can tell the relay did delay.
    """

    name = "relay"

    def __init__(self, upstream_port, delay, port=0):
        super().__init__(upstream_port, port)
        self.delay = delay
        self.delays = []

    @property
    def connections(self):
        return len(self.accepted)

    def _pump_responses(self, upstream, client):
        """Reads whole response frames as they come, stamped; a second thread sends each at stamp + delay."""
        held = queue.Queue()
        self._spawn(self._send_responses, self.name + "-u2c-send", held, upstream, client)
        try:
            while True:
                head = read_exactly(upstream, 4)
                (size,) = struct.unpack(">i", head)
                frame = head + read_exactly(upstream, size)
                held.put((time.monotonic(), frame))
        except (OSError, EOFError, struct.error):
            pass
        finally:
            held.put(None)

    def _send_responses(self, held, upstream, client):
        try:
            while True:
                item = held.get()
                if item is None:
                    break
                read_at, frame = item
                hold = read_at + self.delay - time.monotonic()
                if hold > 0 and self._stopped.wait(hold):
                    break
                self.delays.append(time.monotonic() - read_at)
                client.sendall(frame)
        except OSError:
            pass
        finally:
            self._close(client, upstream)


class SwitchingRelay(_Relay):
    """A byte-for-byte TCP relay on a loopback port whose target can change: each connection goes to the port
    that was current when it was accepted, and stays there after switch(). Lets a test send new connections to
    a broken upstream while connections made before keep their healthy one (TLS passes through untouched).

    self.accepted = [target port of each connection, in order]."""

    name = "switching-relay"

    def switch(self, target_port):
        """Connections accepted from now on go to target_port."""
        with self._lock:
            self.upstream_port = target_port
