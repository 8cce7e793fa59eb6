"""TCP relays the tests put between the proxy and a broker, and the loopback server they are built on."""
import contextlib
import queue
import random
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


class FaultRelay(_Relay):
    """A relay that misbehaves like a bad network between the proxy and a broker, while `active` is set:

    - resets: every `reset_tick` seconds, each open connection is chosen with probability `reset_percent` / 100
      and reset at a random instant within that tick. A reset is a TCP RST both ways (SO_LINGER 0, then close,
      after SHUT_RD has woken the relay's own readers, since closing a socket another thread blocks in does not
      send anything), so the proxy sees ECONNRESET on its broker connection and the broker on its client one;
    - delays: every response frame (broker -> proxy) is held for a random 0..`max_delay` seconds after it was
      completely read, in order (a frame never overtakes the one before it). Requests go through as they arrive.

    While not active it is a plain relay (frames are still cut, so the cost is the same). Counts what it did:
    self.resets = [dict(at, age, bytes_up, bytes_down, requests, responses)], self.delayed (frames held),
    self.delay_sum and self.delay_max (seconds drawn), self.accepted (as in _Relay)."""

    name = "fault-relay"

    class _Connection:
        def __init__(self, number, client, upstream):
            self.number, self.client, self.upstream = number, client, upstream
            self.opened = time.monotonic()
            self.bytes_up = self.bytes_down = self.requests = self.responses = 0
            self.resetting = False
            self.closed = False

    def __init__(self, upstream_port, reset_percent=1.0, reset_tick=1.0, max_delay=0.2, seed=None, port=0):
        super().__init__(upstream_port, port)
        self.listener.listen(1024)  # a proxy in front of hostile clients opens and closes connections by the thousand
        self.reset_percent, self.reset_tick, self.max_delay = reset_percent, reset_tick, max_delay
        self.active = threading.Event()
        self._rng = random.Random(seed)
        self._connections = {}
        self.resets, self.delayed, self.delay_sum, self.delay_max = [], 0, 0.0, 0.0

    def start(self):
        super().start()
        self._spawn(self._reset_loop, self.name + "-resets")
        return self

    @property
    def open_connections(self):
        with self._lock:
            return sum(1 for c in self._connections.values() if not c.closed)

    def _accepted(self, client):
        try:
            upstream = socket.create_connection((HOST, self.upstream_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            self._close(client)
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            conn = self._Connection(len(self.accepted), client, upstream)
            self._connections[conn.number] = conn
            self._sockets += [client, upstream]
            self.accepted.append(self.upstream_port)
        self._spawn(self._pump_requests, self.name + "-c2u", conn)
        self._spawn(self._pump_frames, self.name + "-u2c", conn)

    def _end(self, conn):
        """Closes both sockets: RST if the connection is being reset, else FIN as a relay would."""
        with self._lock:
            if conn.closed:
                return
            conn.closed = True
            self._connections.pop(conn.number, None)
            self._sockets = [s for s in self._sockets if s is not conn.client and s is not conn.upstream]
        if conn.resetting:
            for s in (conn.client, conn.upstream):
                with contextlib.suppress(OSError):
                    s.close()
        else:
            self._close(conn.client, conn.upstream)

    def _pump_requests(self, conn):
        """client -> upstream as it comes, counting request frames (to know what was in flight at a reset)."""
        need, head = 0, b""
        try:
            while True:
                data = conn.client.recv(262144)
                if not data:
                    break
                conn.upstream.sendall(data)
                conn.bytes_up += len(data)
                i = 0
                while i < len(data):
                    if need:
                        take = min(need, len(data) - i)
                        need, i = need - take, i + take
                        conn.requests += need == 0
                    else:
                        take = min(4 - len(head), len(data) - i)
                        head, i = head + data[i:i + take], i + take
                        if len(head) == 4:
                            need, head = max(0, struct.unpack(">i", head)[0]), b""
                            conn.requests += need == 0
        except OSError:
            pass
        finally:
            self._end(conn)

    def _pump_frames(self, conn):
        """upstream -> client: whole frames, each handed to a sender thread with its time and drawn delay."""
        held = queue.Queue()
        self._spawn(self._send_frames, self.name + "-u2c-send", conn, held)
        buf = bytearray()
        try:
            while True:
                data = conn.upstream.recv(262144)
                if not data:
                    break
                buf += data
                while len(buf) >= 4:
                    size = max(0, int.from_bytes(buf[:4], "big", signed=True))
                    if len(buf) < 4 + size:
                        break
                    frame = bytes(buf[:4 + size])
                    del buf[:4 + size]
                    delay = self._rng.uniform(0, self.max_delay) if self.active.is_set() else 0.0
                    held.put((time.monotonic(), delay, frame))
        except OSError:
            pass
        finally:
            held.put(None)

    def _send_frames(self, conn, held):
        try:
            while True:
                item = held.get()
                if item is None:
                    break
                read_at, delay, frame = item
                if delay:
                    hold = read_at + delay - time.monotonic()
                    if hold > 0 and self._stopped.wait(hold):
                        break
                    with self._lock:
                        self.delayed += 1
                        self.delay_sum += delay
                        self.delay_max = max(self.delay_max, delay)
                if conn.resetting:
                    break
                conn.client.sendall(frame)
                conn.bytes_down += len(frame)
                conn.responses += 1
        except OSError:
            pass
        finally:
            self._end(conn)

    def reset(self, conn):
        """RST both ways; returns False if the connection had already closed."""
        with self._lock:
            if conn.closed or conn.resetting:
                return False
            conn.resetting = True
            self.resets.append(dict(at=time.monotonic(), age=time.monotonic() - conn.opened, bytes_up=conn.bytes_up,
                                    bytes_down=conn.bytes_down, requests=conn.requests, responses=conn.responses))
        for s in (conn.client, conn.upstream):
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RD)  # wakes our readers without sending anything; they call _end()
        return True

    def _reset_loop(self):
        while not self._stopped.wait(self.reset_tick):
            if not self.active.is_set():
                continue
            with self._lock:
                live = [c for c in self._connections.values() if not c.closed and not c.resetting]
            chosen = sorted((self._rng.uniform(0, self.reset_tick), c.number, c) for c in live
                            if self._rng.random() < self.reset_percent / 100.0)
            tick_start = time.monotonic()
            for offset, _, conn in chosen:
                if self._stopped.wait(max(0.0, tick_start + offset - time.monotonic())):
                    return
                if self.active.is_set():
                    self.reset(conn)
