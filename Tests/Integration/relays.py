"""TCP relays the tests put between the proxy and a broker."""
import contextlib
import queue
import socket
import struct
import threading
import time

HOST = "127.0.0.1"


class DelayingRelay:
    """Listens on a loopback port and relays every connection to `upstream_port`, holding each Kafka response
    frame (upstream -> client) back until `delay` seconds after it was completely read from upstream. Requests go
    through as they arrive. Pipelined responses are each delayed by `delay` (not by the sum), in order.

    Every held response is logged: self.delays = [seconds actually held], so a test can tell the relay did delay.
    """

    def __init__(self, upstream_port, delay, port=0):
        self.upstream_port, self.delay = upstream_port, delay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.delays, self.connections = [], 0
        self._sockets, self._threads = [], []
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        self._spawn(self._accept_loop, "relay-accept")
        return self

    def _spawn(self, target, name, *args):
        t = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            self._spawn(self._pump_requests, "relay-c2u", client, upstream)
            self._spawn(self._pump_responses, "relay-u2c", upstream, client)

    def _pump_requests(self, client, upstream):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    @staticmethod
    def _read_exactly(sock, n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _pump_responses(self, upstream, client):
        """Reads whole response frames as they come, stamped; a second thread sends each at stamp + delay."""
        held = queue.Queue()
        self._spawn(self._send_responses, "relay-u2c-send", held, upstream, client)
        try:
            while True:
                head = self._read_exactly(upstream, 4)
                (size,) = struct.unpack(">i", head)
                frame = head + self._read_exactly(upstream, size)
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


class SwitchingRelay:
    """A byte-for-byte TCP relay on a loopback port whose target can change: each connection goes to the port
    that was current when it was accepted, and stays there after switch(). Lets a test send new connections to
    a broken upstream while connections made before keep their healthy one (TLS passes through untouched).

    self.accepted = [target port of each connection, in order]."""

    def __init__(self, target_port, port=0):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self._sockets, self._threads = [], []
        self._lock = threading.Lock()

    def start(self):
        self._spawn(self._accept_loop, "switching-relay-accept")
        return self

    def switch(self, target_port):
        """Connections accepted from now on go to target_port."""
        with self._lock:
            self.target_port = target_port

    def _spawn(self, target, name, *args):
        t = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                target = self.target_port
            try:
                upstream = socket.create_connection((HOST, target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                DelayingRelay._close(client)
                continue
            with self._lock:
                self._sockets += [client, upstream]
                self.accepted.append(target)
            self._spawn(self._pump, "switching-relay-c2u", client, upstream)
            self._spawn(self._pump, "switching-relay-u2c", upstream, client)

    @staticmethod
    def _pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            DelayingRelay._close(source, sink)

    def stop(self):
        DelayingRelay._close(self.listener)
        with self._lock:
            socks, threads = list(self._sockets), list(self._threads)
        DelayingRelay._close(*socks)
        for t in threads:
            t.join(5)
