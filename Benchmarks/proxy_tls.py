"""proxy_bench's TLS pieces: a throwaway CA and server certificate, the HAProxy configuration (the TLS broker, the
haproxy-tls forwarder, and in plain TCP the haproxy forwarder), the ciphers HAProxy logged, and a handshake probe."""
import socket
import ssl
import subprocess
from pathlib import Path

from bench_support import HOST, BenchError


class TLSMaterial:
    """A throwaway CA, and a server certificate it signed for 127.0.0.1 (subjectAltName IP:127.0.0.1 and
    DNS:localhost), made with the openssl CLI in `directory`. `pem` is certificate + key, HAProxy's `ssl crt`."""

    def __init__(self, openssl, directory):
        d = Path(directory)
        self.ca, ca_key = d / "ca.crt", d / "ca.key"
        self.cert, self.key, self.pem = d / "server.crt", d / "server.key", d / "server.pem"
        csr, ext = d / "server.csr", d / "server.ext"

        def run(*argv):
            try:
                proc = subprocess.run([openssl] + [str(a) for a in argv], stdin=subprocess.DEVNULL,
                                      capture_output=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise BenchError("openssl %s: %s" % (argv[0], e)) from e
            if proc.returncode != 0:
                raise BenchError("openssl %s failed (exit %d): %s" % (" ".join(map(str, argv[:2])), proc.returncode,
                                                                      proc.stderr.decode(errors="replace").strip()))

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]  # EC P-256, as the tests use
        run("req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=proxy_bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-new", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        ext.write_text("basicConstraints = critical, CA:FALSE\n"
                       "keyUsage = critical, digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-set_serial", "1000", "-days", "2",
            "-sha256", "-extfile", ext, "-out", self.cert)
        self.pem.write_bytes(self.cert.read_bytes() + self.key.read_bytes())
        for f in (ca_key, self.key, self.pem):
            f.chmod(0o600)

    def client_config(self):
        """confluent-kafka settings: TLS, this CA, host name verification on."""
        return {"security.protocol": "SSL", "ssl.ca.location": str(self.ca),
                "ssl.endpoint.identification.algorithm": "https"}


def haproxy_config(listen_port, server_port, threads, pem=None, upstream_ca=None):
    """HAProxy, `mode tcp`: listen on 127.0.0.1:listen_port, terminating TLS with `pem` if given (else plain TCP),
    and forward to 127.0.0.1:server_port, over TLS verified against `upstream_ca` if given (else plaintext). No
    splicing options, so HAProxy copies through its buffers, as by default. One log line per connection once it
    reaches the server (`option logasap`), with the TLS version and cipher of both sides ("-" where plain)."""
    bind_tls = (" ssl crt %s" % pem) if pem else ""
    server_tls = (" ssl verify required ca-file %s verifyhost localhost" % upstream_ca) if upstream_ca else ""
    return "\n".join([
        "global",
        "    log stderr format raw local0 info",
        "    maxconn 1000",
    ] + (["    nbthread %d" % threads] if threads else []) + [
        "defaults",
        "    mode tcp",
        "    log global",
        "    option logasap",
        "    log-format \"conn %ci:%cp fc=%[ssl_fc_protocol]/%[ssl_fc_cipher] bc=%[ssl_bc_protocol]/%[ssl_bc_cipher]\"",
        "    timeout connect 5s",
        "    timeout client 10m",
        "    timeout server 10m",
        "frontend front",
        "    bind %s:%d%s" % (HOST, listen_port, bind_tls),
        "    default_backend out",
        "backend out",
        "    server upstream %s:%d%s" % (HOST, server_port, server_tls),
        ""])


def haproxy_log_ciphers(log_path, offset, side):
    """The distinct `side` ("fc": the client's connection, "bc": the server's) TLS version/cipher pairs in an
    HAProxy log written with haproxy_config()'s format, from byte `offset` on."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    seen = []
    for line in text.splitlines():
        if line.startswith("conn "):
            for field in line.split()[2:]:
                if field.startswith(side + "=") and field != side + "=-/-" and field[3:] not in seen:
                    seen.append(field[3:])
    return seen


def tls_probe(port, ca, what):
    """Connect to 127.0.0.1:port with TLS (Python's ssl: OpenSSL defaults, like librdkafka's, this CA, host name
    verification on) and return "version/cipher" as the server chose it."""
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((HOST, port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=HOST) as conn:
            name, version, _ = conn.cipher()
    except (OSError, ssl.SSLError) as e:
        raise BenchError("%s: TLS handshake with %s:%d failed: %s" % (what, HOST, port, e)) from e
    return "%s/%s" % (version, name)
