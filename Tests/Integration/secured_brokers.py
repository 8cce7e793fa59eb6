"""Stand-ins for a Kafka broker with TLS and SASL listeners, built around Tansu (0.6.0 has neither):

    SSL             client --TLS--> HAProxyTLS --> Tansu
    SASL_PLAINTEXT  client --------> SaslUpstream --> Tansu
    SASL_SSL        client --TLS--> HAProxyTLS --> SaslUpstream --> Tansu

Tansu always advertises the client-facing port (HAProxy's or the SASL upstream's), so clients that follow
Metadata stay on the secured path. start_secured_broker() wires one of the three; the `secured_broker` fixture
(conftest.py) does that per test and stops everything at teardown.

SaslUpstream does on its own what a Kafka broker's SASL listener does (KIP-43, KIP-152, KIP-368):
  - ApiVersions is forwarded to Tansu, and the answer is patched to list SaslHandshake v0-1 and SaslAuthenticate
    v0-2 (Tansu 0.6.0 lists both already; patching keeps that true if it stops) or, with legacy=True, only
    SaslHandshake v0 and no SaslAuthenticate, so that clients fall back to the pre-KIP-152 exchange: after
    SaslHandshake v0, raw SASL tokens each with a 4-byte length and no Kafka header.
  - SaslHandshake, then SaslAuthenticate with PLAIN or SCRAM-SHA-256/512 (server side from PyPI `scramp`). A
    wrong password is answered like Kafka does: SaslAuthenticate error 58 (SASL_AUTHENTICATION_FAILED) with
    Kafka's message, then the connection is closed. In the legacy exchange a failure just closes it. Any other
    request before authentication closes the connection too, except ApiVersions.
  - OAUTHBEARER (RFC 7628, KIP-255) with unsecured JWTs, as Kafka's OAuthBearerSaslServer with a lenient
    validator: the token needs a `sub`, an `exp` (if any) in the future and, with valid_subjects, a sub among
    them; its signature is not checked. A rejected token is reported with RFC 7628's error JSON as a challenge;
    the client's lone 0x01 acknowledgement then gets error 58 with that JSON as the message, and the close.
  - After authentication every frame still goes through a parser (size prefix and request header only): keys 17
    and 36 are answered here (KIP-368 re-authentication on the same connection), everything else goes to Tansu
    untouched. Responses leave in request order: each request queues a slot (Tansu's next answer, or a local
    one) and one writer drains the queue.
  - session_lifetime_ms > 0 goes into SaslAuthenticate v1+ answers (KIP-368); a request other than 17/36 after
    the session expired closes the connection, as Kafka does with connections.max.reauth.ms.
"""
import asyncio
import base64
import collections
import json
import logging
import re
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

import kafka_wire as kw
from harness import HOST, _spawn, _stop_process, find_port_block, tool_binary, wait_for_port

API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE = 17, 36
ERROR_UNSUPPORTED_SASL_MECHANISM, ERROR_ILLEGAL_SASL_STATE, ERROR_SASL_AUTHENTICATION_FAILED = 33, 34, 58
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
PASSWORD_MECHANISMS = SCRAM_MECHANISMS + ("PLAIN",)
ALL_MECHANISMS = PASSWORD_MECHANISMS + ("OAUTHBEARER",)
DEFAULT_USERS = {"alice": "alice-secret", "bob": "bob-secret"}
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-256/512
MAX_FRAME = 100 << 20


# ---------------------------------------------------------------------------------------------- HAProxy

class HAProxyTLS:
    """haproxy (`mode tcp`) terminating TLS on 127.0.0.1:`port` with `pem` (certificate + key) and forwarding the
    plaintext to 127.0.0.1:`upstream_port`. `client_ca`: require a client certificate signed by it (mutual
    TLS). Config and log (haproxy's stderr, with a tcplog line per connection) live in `work_dir`."""

    def __init__(self, upstream_port, pem, work_dir, port=None, client_ca=None, name="haproxy"):
        self.binary = tool_binary("haproxy", "haproxy", env="HAPROXY_BIN")
        self.upstream_port, self.pem, self.client_ca = upstream_port, Path(pem), client_ca
        self.port = port or find_port_block([0])
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = work_dir / (name + ".cfg")
        self.log_path = work_dir / (name + ".log")
        self.proc = None

    def config(self):
        verify = " ca-file %s verify required" % self.client_ca if self.client_ca else ""
        return "\n".join([
            "global",
            "    log stderr format raw local0 info",
            "    nbthread 1",
            "    maxconn 512",
            "defaults",
            "    mode tcp",
            "    log global",
            "    option tcplog",
            "    timeout connect 5s",
            "    timeout client 10m",
            "    timeout server 10m",
            "frontend tls_in",
            "    bind %s:%d ssl crt %s%s" % (HOST, self.port, self.pem, verify),
            "    default_backend plain_out",
            "backend plain_out",
            "    server upstream %s:%d" % (HOST, self.upstream_port),
            ""])

    def start(self, timeout=10.0):
        self.config_path.write_text(self.config())
        with open(self.log_path, "ab") as log:
            log.write(("$ haproxy -db -f %s\n%s" % (self.config_path, self.config())).encode())
        self.proc = _spawn([self.binary, "-db", "-f", str(self.config_path)], self.log_path)
        wait_for_port(self.port, timeout, proc=self.proc, what="haproxy TLS terminator")
        return self

    def stop(self):
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return self.log_path.read_bytes().decode(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------- SASL mechanisms

class AuthenticationFailed(Exception):
    """A SASL exchange failed; the message is the one Kafka would put in SaslAuthenticate's error_message."""


class _Plain:
    """SASL/PLAIN server (RFC 4616): one token `authzid NUL authcid NUL password`, empty answer."""

    name = "PLAIN"

    def __init__(self, users):
        self.users, self.username = users, None

    def step(self, token):
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: expected 3 tokens, got %d" % len(parts))
        authzid, authcid, password = (p.decode(errors="replace") for p in parts)
        if not authcid:
            raise AuthenticationFailed("Authentication failed: username not specified")
        self.username = authcid  # the name tried (failure events record it too)
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        if authzid and authzid != authcid:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id that is "
                                       "different from username")
        if self.users.get(authcid) != password:
            raise AuthenticationFailed("Authentication failed: Invalid username or password")
        return b"", True


class _Scram:
    """SCRAM-SHA-256/512 server (RFC 5802) from scramp: client-first -> server-first, client-final ->
    server-final. Unknown user and wrong proof fail alike, with Kafka's generic message."""

    def __init__(self, mechanism, users, reauth):
        import scramp
        self.name, self.users, self.username = mechanism, users, None
        self.failure = "Authentication failed during %s due to invalid credentials with SASL mechanism %s" % (
            "re-authentication" if reauth else "authentication", mechanism)
        scram = scramp.ScramMechanism(mechanism)

        def credentials(username):
            self.username = username
            if username not in self.users:
                raise KeyError(username)
            return scram.make_auth_info(self.users[username], iteration_count=SCRAM_ITERATIONS)
        self.server = scram.make_server(credentials)
        self.stage = 0

    def step(self, token):
        try:
            if self.stage == 0:
                self.stage = 1
                self.server.set_client_first(token.decode())
                return self.server.get_server_first().encode(), False
            self.stage = 2
            self.server.set_client_final(token.decode())
            return self.server.get_server_final().encode(), True
        except Exception as e:  # noqa: BLE001 - scramp.ScramException, KeyError (unknown user), UnicodeError
            raise AuthenticationFailed(self.failure) from e


class _OAuthBearer:
    """SASL/OAUTHBEARER server (RFC 7628) after Kafka's OAuthBearerSaslServer, for unsecured JWTs. The client's
    one message is `n,[a=authzid],^Aauth=Bearer <JWT>^A[key=value^A]...^A` (Kafka's grammar; other keys are
    extensions, ignored). The JWT is `base64url(header).base64url(claims).signature`, both JSON objects; the
    signature is not checked (may be empty). Accepted: a non-empty string `sub`, a numeric `exp` in the future
    if present, and with valid_subjects (None = any) a sub among them; answer empty, principal User:<sub>. A
    rejected token is answered with RFC 7628's error JSON as a challenge (the exchange is not over); the client
    acknowledges with a lone 0x01, which fails it with that JSON as the message, as Kafka does. A message that
    does not parse, or an authzid other than the sub, fails at once."""

    name = "OAUTHBEARER"
    CLIENT_MESSAGE = re.compile(rb"n,(?:a=((?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+))?,\x01"
                                rb"((?:[A-Za-z]+=[\x21-\x7e \t\r\n]+\x01)*)\x01\Z")
    AUTH = re.compile(r"(\w+) +([-_.a-zA-Z0-9]+)\Z")
    ERROR = '{"status":"invalid_token"}'  # Kafka's jsonErrorResponse for a token its validator rejects

    def __init__(self, valid_subjects, reauth):
        self.valid_subjects = None if valid_subjects is None else set(valid_subjects)
        self.username = self.error = self.reason = None
        self.failure = "Authentication failed during %s due to invalid credentials with SASL mechanism %s" % (
            "re-authentication" if reauth else "authentication", self.name)

    def step(self, token):
        if token == b"\x01" and self.error is not None:
            raise AuthenticationFailed(self.error)  # the client acknowledged the error report
        self.error = self.reason = None
        authzid, jwt = self.parse(token)
        self.reason = self.rejection(jwt)
        if self.reason is not None:
            self.error = self.ERROR
            return self.error.encode(), False
        if authzid and authzid != self.username:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id (%s) that is "
                                       "different from the token's principal name (%s)" % (authzid, self.username))
        return b"", True

    def parse(self, token):
        """(authzid or None, JWT) of the client message, or AuthenticationFailed (Kafka: a SaslException)."""
        m = self.CLIENT_MESSAGE.match(token)
        pairs = dict(kv.split(b"=", 1) for kv in m.group(2).split(b"\x01")[:-1]) if m else {}
        auth = self.AUTH.match(pairs.get(b"auth", b"").decode("ascii", errors="replace"))
        if auth is None or auth.group(1).lower() != "bearer":
            self.reason = "not an OAUTHBEARER client message with auth=Bearer <token>"
            raise AuthenticationFailed(self.failure)
        authzid = m.group(1).decode().replace("=2C", ",").replace("=3D", "=") if m.group(1) else None
        return authzid, auth.group(2)

    def rejection(self, jwt):
        """Why the validator rejects the JWT, or None if it accepts it (then self.username is its sub)."""
        parts = jwt.split(".")
        if len(parts) != 3:
            return "not a compact JWS (%d parts)" % len(parts)
        try:
            header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
        except ValueError as e:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
            return "header or claims not base64url JSON: %s" % e
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "header or claims not a JSON object"
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            return "no sub claim"
        self.username = sub  # the name tried (failure events record it too)
        exp = claims.get("exp")
        if exp is not None:
            if isinstance(exp, bool) or not isinstance(exp, (int, float)):
                return "exp claim %r is not a number" % (exp,)
            if exp <= time.time():
                return "expired %.0f s ago" % (time.time() - exp)
        if self.valid_subjects is not None and sub not in self.valid_subjects:
            return "subject %r not among the valid subjects" % sub
        return None


def _mechanism(name, owner, reauth):
    if name == "PLAIN":
        return _Plain(owner.users)
    if name == "OAUTHBEARER":
        return _OAuthBearer(owner.valid_subjects, reauth)
    return _Scram(name, owner.users, reauth)


# ---------------------------------------------------------------------------------------------- wire helpers

def _write_bytes(w, data):
    """BYTES / COMPACT_BYTES."""
    if w.flex:
        w.uvarint(len(data) + 1)
    else:
        w.i32(len(data))
    return w.raw(data)


def _request_body(payload, flexible):
    """(client_id, Reader at the body) of a request payload (frame without size), header v1 or, when flexible, v2."""
    r = kw.Reader(payload, pos=8)
    client_id = r.string()  # a classic NULLABLE_STRING in header v1 and v2
    if flexible:
        r.flex = True
        r.tags()
    return client_id, r


def _frame(payload):
    return struct.pack(">i", len(payload)) + payload


async def _read_frame(reader):
    head = await reader.readexactly(4)
    (size,) = struct.unpack(">i", head)
    if not 0 <= size <= MAX_FRAME:
        raise ValueError("implausible frame size %d" % size)
    return await reader.readexactly(size)


@dataclass
class AuthEvent:
    """One SASL exchange seen by SaslUpstream."""
    ok: bool
    mechanism: str
    principal: Optional[str]   # "User:<name>" (the name tried, for failures; None if it never got that far)
    framing: str               # "SaslAuthenticate vN" or "legacy" (raw tokens after SaslHandshake v0)
    reauthentication: bool
    message: Optional[str]     # the failure message sent (or that would have been, in the legacy exchange)
    client_id: Optional[str]   # from the SaslHandshake request header
    at: float = field(default_factory=time.monotonic)


class _Closed(Exception):
    """The connection is to be closed (after anything already queued was sent)."""


# ---------------------------------------------------------------------------------------------- SASL upstream

class SaslUpstream(kw.LoopThread):
    """A SASL listener in front of Tansu (see the module docstring). Runs its own asyncio loop on a thread:
    start() binds 127.0.0.1:`port` (0 = any free port, then in self.port) and returns once it accepts; stop()
    closes the listener and every connection.

    users: name -> password (read at each authentication, so a test may change it). mechanisms: those enabled
    (default all: SCRAM-SHA-256/512, PLAIN, OAUTHBEARER). valid_subjects: the JWT subjects OAUTHBEARER accepts
    (None = any).
    legacy: advertise SaslHandshake v0 only and no SaslAuthenticate. session_lifetime_ms: KIP-368 lifetime (0 =
    none); enforce_session_lifetime: close a connection that sends a non-SASL request after it expired.
    failure_close_delay: seconds between a failure answer (error 58, 33) and the close. Kafka sends the answer and
    closes right after (both delayed by connection.failed.authentication.delay.ms); kafka-python 3.0.12 drops
    bytes that arrive in the same read as the FIN (kafka/net/transport.py _sock_recv), so without a gap it
    often reports "socket disconnected" instead of the error. 0 reproduces that race.

    For assertions: events (AuthEvent list), successes(), failures(), principals(), reauthentications(),
    handshake_versions / authenticate_versions (Counters), connections, expired_closes, internal_errors, and
    log_path (a line per connection and exchange)."""

    what = "SASL upstream"

    def __init__(self, upstream_port, users=None, mechanisms=ALL_MECHANISMS, legacy=False, session_lifetime_ms=0,
                 enforce_session_lifetime=True, failure_close_delay=0.1, port=0, log_path=None,
                 upstream_host=HOST, valid_subjects=None):
        try:
            import scramp  # noqa: F401
        except ImportError:
            pytest.fail("the PyPI package scramp is not installed (pip install scramp; scripts/install-deps.sh)",
                        pytrace=False)
        self.upstream = (upstream_host, upstream_port)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.mechanisms = list(mechanisms)
        self.valid_subjects = None if valid_subjects is None else set(valid_subjects)
        self.legacy, self.session_lifetime_ms = legacy, session_lifetime_ms
        self.enforce_session_lifetime, self.failure_close_delay = enforce_session_lifetime, failure_close_delay
        self.requested_port, self.port = port, None
        self.log_path = Path(log_path) if log_path else None
        self.events = []
        self.handshake_versions, self.authenticate_versions = collections.Counter(), collections.Counter()
        self.connections = self.expired_closes = 0
        self.internal_errors = []  # exceptions other than connection ends; should stay empty
        super().__init__("sasl-upstream")

    # -- assertions
    def successes(self, reauthentication=None):
        return [e for e in list(self.events) if e.ok and reauthentication in (None, e.reauthentication)]

    def failures(self):
        return [e for e in list(self.events) if not e.ok]

    def principals(self):
        return {e.principal for e in self.successes()}

    def reauthentications(self):
        return self.successes(reauthentication=True)

    @property
    def bootstrap(self):
        return "%s:%d" % (HOST, self.port)

    # -- lifecycle
    def _open(self):
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, HOST, self.requested_port))
        self.servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        self._log("listening on %s:%d, upstream %s:%d, mechanisms %s%s, session lifetime %d ms%s"
                  % (HOST, self.port, *self.upstream, ",".join(self.mechanisms),
                     " (legacy: SaslHandshake v0 only)" if self.legacy else "", self.session_lifetime_ms,
                     "" if self.valid_subjects is None else ", OAUTHBEARER subjects %s" % sorted(self.valid_subjects)))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _log(self, text):
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write("%.3f %s\n" % (time.monotonic(), text))

    # -- one client connection
    async def _serve(self, client_r, client_w):
        self.connections += 1
        peer = "%s:%d" % client_w.get_extra_info("peername")[:2]
        self._writers.add(client_w)
        upstream_w = None
        session = _Session(self, peer)
        try:
            upstream_r, upstream_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 10)
            self._writers.add(upstream_w)
            await session.authenticate(client_r, client_w, upstream_r, upstream_w)
            await session.relay(client_r, client_w, upstream_r, upstream_w)
        except (_Closed, asyncio.IncompleteReadError, ConnectionError, OSError, ValueError,
                asyncio.TimeoutError) as e:
            self._log("%s: closed: %s" % (peer, str(e) or type(e).__name__))
        except asyncio.CancelledError:  # stop(); returning normally keeps asyncio's stream callback quiet
            self._log("%s: closed by stop()" % peer)
        except Exception as e:  # noqa: BLE001 - a bug here, or a frame it cannot parse: tests assert none
            self.internal_errors.append("%s: %r" % (peer, e))
            self._log("%s: INTERNAL ERROR %r" % (peer, e))
        finally:
            for w in (client_w, upstream_w):
                if w is not None:
                    self._writers.discard(w)
                    w.close()


class _Session:
    """SASL state of one client connection."""

    def __init__(self, owner, peer):
        self.owner, self.peer = owner, peer
        self.principal = None      # set once authenticated
        self.mechanism_name = None
        self.exchange = None       # current _Plain/_Scram/_OAuthBearer from SaslHandshake to the last SaslAuthenticate
        self.expires_at = None     # monotonic time the session expires (KIP-368), or None
        self.client_id = None      # of the last SaslHandshake

    @property
    def authenticated(self):
        return self.principal is not None

    # -- phase 1: before authentication, one request at a time
    async def authenticate(self, client_r, client_w, upstream_r, upstream_w):
        while not self.authenticated:
            payload = await _read_frame(client_r)
            api_key, version, corr = struct.unpack_from(">hhi", payload)
            if api_key == kw.API_API_VERSIONS:
                upstream_w.write(_frame(payload))
                await upstream_w.drain()
                client_w.write(self.patch_api_versions(version, await _read_frame(upstream_r)))
            elif api_key == API_SASL_HANDSHAKE:
                response, close = self.handshake(payload, version, corr)
                client_w.write(response)
                if close:
                    await self.close_after_answer(client_w, "unsupported mechanism")
                if version == 0:
                    await client_w.drain()
                    await self.legacy_exchange(client_r, client_w)
            elif api_key == API_SASL_AUTHENTICATE:
                response, close = self.sasl_authenticate(payload, version, corr)
                client_w.write(response)
                if close:
                    await self.close_after_answer(client_w, "authentication failed")
            else:
                raise _Closed("unexpected %s request (key %d) before authentication"
                              % (kw.API_NAMES.get(api_key, "?"), api_key))
            await client_w.drain()

    async def legacy_exchange(self, client_r, client_w):
        """Pre-KIP-152: 4-byte length + raw token each way until the mechanism is done; failure closes."""
        while True:
            token = await _read_frame(client_r)
            try:
                answer, done = self.exchange.step(token)
            except AuthenticationFailed as e:
                self.record(False, "legacy", False, str(e))
                raise _Closed("legacy SASL authentication failed")
            client_w.write(_frame(answer))
            await client_w.drain()
            if done:
                self.succeeded("legacy", reauth=False)
                return

    # -- phase 2: authenticated; pipelined, with responses in request order
    async def relay(self, client_r, client_w, upstream_r, upstream_w):
        """A reader task queues a slot per request, a writer task answers the slots in order. Ends when the
        client or Tansu closes, or after a response that must close the connection has been sent."""
        slots = asyncio.Queue()
        reader = asyncio.ensure_future(self.read_requests(slots, client_r, upstream_w))
        writer = asyncio.ensure_future(self.write_responses(slots, client_w, upstream_r))
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and reader.exception() is None:
                await writer  # the reader queued a closing response and stopped: let the writer send it
        finally:
            for task in (reader, writer):
                task.cancel()
            results = await asyncio.gather(reader, writer, return_exceptions=True)
        for result in results:  # the first real reason the connection ended
            if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def read_requests(self, slots, client_r, upstream_w):
        while True:
            payload = await _read_frame(client_r)
            api_key, version, corr = struct.unpack_from(">hhi", payload)
            if api_key == API_SASL_HANDSHAKE:
                response, close = self.handshake(payload, version, corr)
            elif api_key == API_SASL_AUTHENTICATE:
                response, close = self.sasl_authenticate(payload, version, corr)
            elif (self.owner.enforce_session_lifetime and self.expires_at is not None
                  and time.monotonic() > self.expires_at):
                self.owner.expired_closes += 1
                self.owner._log("%s: %s request after the session of %s expired: closing"
                                % (self.peer, kw.API_NAMES.get(api_key, api_key), self.principal))
                response, close = b"", True
            else:
                upstream_w.write(_frame(payload))
                slots.put_nowait(("upstream", (api_key, version, corr), False))
                await upstream_w.drain()
                continue
            slots.put_nowait(("local", response, close))
            if close:
                return

    async def write_responses(self, slots, client_w, upstream_r):
        while True:
            kind, what, close = await slots.get()
            if kind == "upstream":
                api_key, version, corr = what
                payload = await _read_frame(upstream_r)
                (got,) = struct.unpack_from(">i", payload)
                if got != corr:
                    raise _Closed("Tansu answered correlation id %d, %d expected" % (got, corr))
                response = self.patch_api_versions(version, payload) if api_key == kw.API_API_VERSIONS \
                    else _frame(payload)
            else:
                response = what
            client_w.write(response)
            await client_w.drain()
            if close:
                await self.close_after_answer(client_w, "closing after the queued response")

    async def close_after_answer(self, client_w, reason):
        """Sends what is queued, waits failure_close_delay, and ends the connection."""
        await client_w.drain()
        await asyncio.sleep(self.owner.failure_close_delay)
        raise _Closed(reason)

    # -- the SASL requests
    def handshake(self, payload, version, corr):
        """SaslHandshake v0-1: mechanism STRING -> error_code, mechanisms [STRING]. Returns (frame, close)."""
        self.owner.handshake_versions[version] += 1
        self.client_id, r = _request_body(payload, flexible=False)
        mechanism = r.string()
        error = 0
        if mechanism not in self.owner.mechanisms:
            error = ERROR_UNSUPPORTED_SASL_MECHANISM
        elif self.authenticated and mechanism != self.mechanism_name:
            error = ERROR_ILLEGAL_SASL_STATE  # KIP-368: re-authentication must keep the mechanism
        else:
            self.exchange = _mechanism(mechanism, self.owner, reauth=self.authenticated)
        self.owner._log("%s: SaslHandshake v%d %s -> error %d" % (self.peer, version, mechanism, error))
        body = kw.Writer().i16(error).array(self.owner.mechanisms, lambda w, m: w.string(m)).bytes()
        return kw.response_frame(API_SASL_HANDSHAKE, version, corr, body), error != 0

    def sasl_authenticate(self, payload, version, corr):
        """SaslAuthenticate v0-2: auth_bytes -> error_code, error_message, auth_bytes, session_lifetime_ms (v1+).
        Returns (frame, close)."""
        self.owner.authenticate_versions[version] += 1
        flexible = version >= 2
        framing = "SaslAuthenticate v%d" % version
        error, message, answer, lifetime = 0, None, b"", 0
        if self.exchange is None:
            error, message = ERROR_ILLEGAL_SASL_STATE, "SaslAuthenticate without a preceding SaslHandshake"
        else:
            reauth = self.authenticated
            try:
                token = _request_body(payload, flexible)[1].raw_bytes() or b""
                answer, done = self.exchange.step(token)
                if done:
                    name = "User:%s" % self.exchange.username
                    if reauth and name != self.principal:
                        raise AuthenticationFailed("Cannot change principals during re-authentication from %s: %s"
                                                   % (self.principal, name))
                    lifetime = self.succeeded(framing, reauth)
            except AuthenticationFailed as e:
                error, message = ERROR_SASL_AUTHENTICATION_FAILED, str(e)
                self.record(False, framing, reauth, message)
        w = kw.Writer(flexible=flexible).i16(error).string(message, nullable=True)
        _write_bytes(w, answer)
        if version >= 1:
            w.i64(lifetime)
        w.tags()
        frame = kw.Writer(flexible=flexible).i32(corr).tags().bytes() + w.bytes()  # response header v1 when flexible
        return _frame(frame), error != 0

    def succeeded(self, framing, reauth):
        """Marks the session authenticated; returns the session lifetime to announce (ms, 0 = none)."""
        self.principal = "User:%s" % self.exchange.username
        self.mechanism_name = self.exchange.name
        self.exchange = None
        lifetime = self.owner.session_lifetime_ms
        self.expires_at = time.monotonic() + lifetime / 1000.0 if lifetime else None
        self.record(True, framing, reauth, None, principal=self.principal, mechanism=self.mechanism_name)
        return lifetime

    def record(self, ok, framing, reauth, message, principal=None, mechanism=None):
        exchange = self.exchange
        if principal is None and exchange is not None and exchange.username is not None:
            principal = "User:%s" % exchange.username
        mechanism = mechanism or (exchange.name if exchange is not None else None)
        reason = getattr(exchange, "reason", None) if not ok else None  # OAUTHBEARER: why the token was rejected
        self.owner.events.append(AuthEvent(ok, mechanism, principal, framing, reauth, message, self.client_id))
        self.owner._log("%s (client id %s): %s%s %s %s via %s%s%s" % (
            self.peer, self.client_id, "re-authentication " if reauth else "", "succeeded" if ok else "FAILED",
            principal, mechanism, framing, ": " + message if message else "", " (%s)" % reason if reason else ""))
        if not ok:
            self.exchange = None

    def patch_api_versions(self, version, payload):
        """Tansu's ApiVersions answer (payload without size) with the SASL keys this listener supports."""
        corr, r = kw.response_body_reader(kw.API_API_VERSIONS, version, payload)
        if struct.unpack_from(">h", payload, 4)[0] != 0:
            return _frame(payload)  # an error answer (e.g. KIP-511 v0 fallback) goes through unchanged
        d = kw.decode_api_versions_response(version, r)
        keys = {k[0]: k for k in d["api_keys"]}
        if self.owner.legacy:
            keys[API_SASL_HANDSHAKE] = (API_SASL_HANDSHAKE, 0, 0)
            keys.pop(API_SASL_AUTHENTICATE, None)
        else:
            keys[API_SASL_HANDSHAKE] = (API_SASL_HANDSHAKE, 0, 1)
            keys[API_SASL_AUTHENTICATE] = (API_SASL_AUTHENTICATE, 0, 2)
        d["api_keys"] = [keys[k] for k in sorted(keys)]
        return kw.response_frame(kw.API_API_VERSIONS, version, corr, kw.encode_api_versions_response(version, d))


# ---------------------------------------------------------------------------------------------- composition

@dataclass
class SecuredBroker:
    """One secured stand-in: clients bootstrap at `port` with `protocol`; Tansu advertises that port."""
    protocol: str                        # "SSL", "SASL_PLAINTEXT" or "SASL_SSL"
    port: int
    tansu: object                        # harness.Tansu
    haproxy: Optional[HAProxyTLS] = None
    sasl: Optional[SaslUpstream] = None

    @property
    def bootstrap(self):
        return "%s:%d" % (HOST, self.port)


def start_secured_broker(stack, protocol, make_tansu, work_dir, pem=None, client_ca=None, **sasl_options):
    """Starts the chain of the module docstring for `protocol`: SaslUpstream and HAProxy first, since Tansu must
    know the client-facing port to advertise it, then Tansu; every stop goes on `stack` (a contextlib.ExitStack,
    also when a start fails). make_tansu: the tansu_factory fixture's make(port=,
    advertised_port=). pem: HAProxy's certificate + key (SSL, SASL_SSL); client_ca: require client
    certificates from that CA. sasl_options go to SaslUpstream (users, mechanisms, legacy,
    session_lifetime_ms, valid_subjects, ...)."""
    assert protocol in ("SSL", "SASL_PLAINTEXT", "SASL_SSL"), protocol
    tls, sasl_enabled = protocol in ("SSL", "SASL_SSL"), protocol.startswith("SASL")
    assert not tls or pem, "%s needs a server certificate (pem=)" % protocol
    assert sasl_enabled or not sasl_options, "SASL options given for %s" % protocol
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tansu_port = find_port_block([0])
    sasl = haproxy = None
    next_hop = tansu_port
    if sasl_enabled:
        sasl = SaslUpstream(tansu_port, log_path=work_dir / "sasl-upstream.log", **sasl_options).start()
        stack.callback(sasl.stop)
        next_hop = sasl.port
    if tls:
        haproxy = HAProxyTLS(next_hop, pem, work_dir, client_ca=client_ca)
        stack.callback(haproxy.stop)
        haproxy.start()
        next_hop = haproxy.port
    tansu = make_tansu(port=tansu_port, advertised_port=next_hop)
    return SecuredBroker(protocol, next_hop, tansu, haproxy, sasl)


# ---------------------------------------------------------------------------------------------- client configs

def _base64url_json(value):
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def unsecured_jwt(subject, lifetime=3600, **claims):
    """An unsecured JWT (RFC 7519 section 6) like those librdkafka makes with enable.sasl.oauthbearer.unsecure.jwt:
    header {"alg":"none"}, claims sub, iat = now and exp = iat + lifetime (seconds; negative: already expired)
    plus `claims`, and an empty signature."""
    iat = int(time.time())
    return "%s.%s." % (_base64url_json({"alg": "none"}),
                       _base64url_json({"sub": subject, "iat": iat, "exp": iat + lifetime, **claims}))


def kafka_python_token_provider(token):
    """A kafka-python 3 sasl_oauth_token_provider (it must subclass kafka.net.sasl.oauth.AbstractTokenProvider)
    whose token() is always `token`."""
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class FixedToken(AbstractTokenProvider):
        def token(self):
            return token
    return FixedToken()


def kafka_python_security(protocol, ca_cert=None, client=None, mechanism=None, username=None, password=None,
                          oauth_token=None):
    """kafka-python settings for `protocol`. ca_cert: trusted CA file; client: certificates.KeyPair for mutual
    TLS. Hostname checking stays on (the server certificate names IP 127.0.0.1). OAUTHBEARER: `oauth_token`, or
    by default an unsecured JWT whose sub is `username` (password unused)."""
    cfg = {"security_protocol": protocol}
    if "SSL" in protocol:
        cfg.update(ssl_cafile=str(ca_cert), ssl_check_hostname=True)
        if client is not None:
            cfg.update(ssl_certfile=str(client.cert), ssl_keyfile=str(client.key))
    if protocol.startswith("SASL") and mechanism == "OAUTHBEARER":
        cfg.update(sasl_mechanism=mechanism,
                   sasl_oauth_token_provider=kafka_python_token_provider(oauth_token or unsecured_jwt(username)))
    elif protocol.startswith("SASL"):
        cfg.update(sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=password)
    return cfg


def confluent_security(protocol, ca_cert=None, client=None, mechanism=None, username=None, password=None):
    """confluent-kafka (librdkafka) settings for `protocol`, as kafka_python_security. OAUTHBEARER: librdkafka's
    own unsecured JWT (enable.sasl.oauthbearer.unsecure.jwt) with sub `username`, valid for an hour."""
    cfg = {"security.protocol": protocol}
    if "SSL" in protocol:
        cfg.update({"ssl.ca.location": str(ca_cert), "ssl.endpoint.identification.algorithm": "https"})
        if client is not None:
            cfg.update({"ssl.certificate.location": str(client.cert), "ssl.key.location": str(client.key)})
    if protocol.startswith("SASL") and mechanism == "OAUTHBEARER":
        cfg.update({"sasl.mechanism": mechanism, "enable.sasl.oauthbearer.unsecure.jwt": True,
                    "sasl.oauthbearer.config": "principal=%s" % username})
    elif protocol.startswith("SASL"):
        cfg.update({"sasl.mechanism": mechanism, "sasl.username": username, "sasl.password": password})
    return cfg


# ---------------------------------------------------------------------------------------------- client failures

@dataclass
class ClientFailure:
    """What a client reported when it could not connect: `raised` is the exception of the API call
    ("Type: message", None if it returned), `reported` what it logged (kafka-python, WARNING and up) or passed to
    error_cb (librdkafka), in order, de-duplicated; all with addresses, ports and timings replaced by
    HOST:PORT, PORT and N, so that runs (direct, or through a proxy later) compare equal."""
    client: str
    raised: Optional[str]
    reported: list
    elapsed: float

    def texts(self):
        return ([self.raised] if self.raised else []) + self.reported

    def mentions(self, *fragments):
        """True if one text contains every fragment."""
        return any(all(f in t for f in fragments) for t in self.texts())


def normalize(text):
    """Addresses, ports, durations, ids and librdkafka's broker counts ("1/1 brokers are down", "0/2 ...", which
    depend on how far it got) replaced by placeholders (see ClientFailure)."""
    text = re.sub(r"(?:\d{1,3}\.){3}\d{1,3}:\d+", "HOST:PORT", text)
    text = re.sub(r"\b\d+/\d+ brokers are down", "N/N brokers are down", text)
    text = re.sub(r"<-\d+", "<-PORT", text)
    text = re.sub(r"\d+(?:\.\d+)? ?(ms|secs?|s)\b", r"N\1", text)
    text = re.sub(r"\b(fd|id|node_id)=\d+", r"\1=N", text)
    text = re.sub(r"0x[0-9a-f]+", "0xN", text)
    return text


def _dedupe(texts):
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _exception_text(e):
    text = str(e)
    return text if text.startswith(type(e).__name__) else "%s: %s" % (type(e).__name__, text)


def kafka_python_failure(bootstrap, timeout=2.0, **cfg):
    """Tries to bootstrap a kafka-python producer and send one record with `cfg` (security settings) and returns a
    ClientFailure (`raised` None if it worked). kafka-python retries a failed bootstrap, even an authentication
    failure, until bootstrap_timeout_ms, then raises KafkaTimeoutError; the cause is only in its log."""
    from kafka import KafkaProducer
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append("%s %s: %s" % (record.levelname, record.name, record.getMessage()))

    handler = Collect(logging.WARNING)
    kafka_logger = logging.getLogger("kafka")
    previous_level = kafka_logger.level
    if kafka_logger.getEffectiveLevel() > logging.WARNING:
        kafka_logger.setLevel(logging.WARNING)
    kafka_logger.addHandler(handler)
    ms = int(timeout * 1000)
    started, raised = time.monotonic(), None
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="it-kp-failure", bootstrap_timeout_ms=ms,
                                 max_block_ms=ms, request_timeout_ms=ms, retries=0, **cfg)
        try:
            producer.send("it-failure-probe", b"probe").get(timeout)
        finally:
            producer.close(timeout=2)
    except Exception as e:  # noqa: BLE001 - recording what it raised is the point
        raised = normalize(_exception_text(e))
    finally:
        kafka_logger.removeHandler(handler)
        kafka_logger.setLevel(previous_level)
    return ClientFailure("kafka-python", raised, _dedupe(normalize(r) for r in records), time.monotonic() - started)


def confluent_failure(bootstrap, timeout=2.0, **cfg):
    """Like kafka_python_failure for confluent-kafka: a Producer whose error_cb collects "NAME: text" of every
    error; produces one record and polls until the first error arrives or `timeout`. librdkafka does not raise
    for connection or authentication failures: `raised` is the delivery error, if any came before the timeout."""
    from confluent_kafka import Producer
    errors, delivery = [], []
    config = {"bootstrap.servers": bootstrap, "client.id": "it-ck-failure", "message.timeout.ms": int(timeout * 1000),
              "error_cb": lambda e: errors.append("%s: %s" % (e.name(), e.str())),
              "logger": logging.getLogger("it.librdkafka")}
    config.update(cfg)
    started = time.monotonic()
    producer = Producer(config)
    producer.produce("it-failure-probe", b"probe",
                     on_delivery=lambda err, msg: delivery.append(err))
    deadline = started + timeout
    while time.monotonic() < deadline and not errors and not delivery:
        producer.poll(0.1)
    producer.poll(0.3)  # errors reported right after the first one
    raised = None
    if delivery and delivery[0] is not None:
        raised = "KafkaError %s: %s" % (delivery[0].name(), delivery[0].str())
    producer.purge()
    producer.flush(1)
    return ClientFailure("confluent-kafka", normalize(raised) if raised else None,
                         _dedupe(normalize(e) for e in errors), time.monotonic() - started)
