"""Throwaway X.509 material for the TLS tests, made at test time with the `openssl` CLI (never committed).

make_certificates(directory) creates, under `directory`:
  - a test CA, and a server certificate from it for 127.0.0.1 and localhost (subjectAltName IP:127.0.0.1,
    DNS:localhost), a client certificate from it (mutual TLS) and a server certificate that EXPIRED in 2020;
  - an unrelated second CA with a server certificate of its own ("wrong CA": valid, but not trusted by clients
    given the first CA);
  - for every server certificate a combined PEM (certificate + key), the form HAProxy's `ssl crt` takes.
issue_server_pair(certs, name) signs one more server certificate with the same CA (certificate reload tests).

Certificates are signed with `openssl ca` rather than `openssl x509 -req` because only `ca` can set an explicit
start and end date in OpenSSL 3.0 (`x509 -not_before/-not_after` arrived in 3.4), which the expired certificate
needs. Keys are EC P-256: fast to generate, accepted by OpenSSL, Python's ssl, librdkafka and HAProxy.
"""
import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import tool_binary

SERVER_SAN = "IP:127.0.0.1, DNS:localhost"
VALID_DAYS = 30

_CONFIG = """\
[ ca ]
default_ca = test_ca

[ test_ca ]
dir = {dir}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/issued
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class KeyPair:
    """A leaf certificate, its private key, and both concatenated (HAProxy `ssl crt`)."""
    cert: Path
    key: Path
    pem: Path
    common_name: str


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA's certificate and the `openssl ca` state directory it signs from (ca.key, index.txt, serial)."""
    cert: Path
    directory: Path


@dataclass(frozen=True)
class Certificates:
    directory: Path
    ca: CertificateAuthority            # the CA clients trust
    server: KeyPair                     # 127.0.0.1 / localhost, signed by `ca`
    client: KeyPair                     # client certificate for mutual TLS, signed by `ca`
    expired_server: KeyPair             # signed by `ca`, valid 2020-01-01 .. 2020-01-02 only
    other_ca: CertificateAuthority      # unrelated CA, unknown to clients
    wrong_ca_server: KeyPair            # 127.0.0.1 / localhost, signed by `other_ca`

    @property
    def ca_cert(self):
        return self.ca.cert


def _openssl(*args, cwd=None):
    proc = subprocess.run([tool_binary("openssl", "openssl", env="OPENSSL_BIN")] + [str(a) for a in args],
                          cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d): %s" % (" ".join(str(a) for a in args[:3]),
                                                              proc.returncode, proc.stderr.decode(errors="replace")))
    return proc.stdout


def _new_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)
    return path


def _utc(t):
    return t.strftime("%Y%m%d%H%M%SZ")


def _default_validity():
    """An hour ago (tolerates clock skew) to VALID_DAYS ahead, in UTC."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now - datetime.timedelta(hours=1), now + datetime.timedelta(days=VALID_DAYS)


def make_ca(directory, common_name):
    """A self-signed CA in its own `openssl ca` state directory."""
    directory = Path(directory)
    (directory / "issued").mkdir(parents=True, exist_ok=True)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("1000\n")
    (directory / "openssl.cnf").write_text(_CONFIG.format(dir=directory, san=SERVER_SAN))
    key = _new_key(directory / "ca.key")
    cert, csr = directory / "ca.crt", directory / "ca.csr"
    start, end = _default_validity()
    # Self-signed through `openssl ca -selfsign` so that the CA, like its leaves, is valid from an hour ago.
    _openssl("req", "-new", "-config", directory / "openssl.cnf", "-key", key, "-subj", "/CN=" + common_name,
             "-out", csr)
    _openssl("ca", "-batch", "-notext", "-selfsign", "-config", directory / "openssl.cnf", "-keyfile", key,
             "-extensions", "v3_ca", "-startdate", _utc(start), "-enddate", _utc(end), "-in", csr, "-out", cert)
    csr.unlink()
    return CertificateAuthority(cert=cert, directory=directory)


def issue(ca, out_dir, name, profile="server", start=None, end=None):
    """Key + certificate (CN=name) signed by `ca` with the `server` or `client` extension profile, valid from
    `start` to `end` (datetimes, default: an hour ago to VALID_DAYS ahead). Returns a KeyPair."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    default_start, default_end = _default_validity()
    start, end = start or default_start, end or default_end
    key = _new_key(out_dir / (name + ".key"))
    csr = out_dir / (name + ".csr")
    cert = out_dir / (name + ".crt")
    _openssl("req", "-new", "-config", ca.directory / "openssl.cnf", "-key", key, "-subj", "/CN=" + name,
             "-out", csr)
    _openssl("ca", "-batch", "-notext", "-config", ca.directory / "openssl.cnf", "-extensions", profile,
             "-startdate", _utc(start), "-enddate", _utc(end), "-in", csr, "-out", cert)
    csr.unlink()
    pem = out_dir / (name + ".pem")
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    pem.chmod(0o600)
    return KeyPair(cert=cert, key=key, pem=pem, common_name=name)


def make_certificates(directory):
    """All the material of the module docstring under `directory` (a pytest tmp dir). Takes about a second."""
    directory = Path(directory)
    ca = make_ca(directory / "ca", "Kafkascope test CA")
    other = make_ca(directory / "other-ca", "Kafkascope unrelated CA")
    leaves = directory / "leaves"
    utc = datetime.timezone.utc
    return Certificates(
        directory=directory,
        ca=ca,
        server=issue(ca, leaves, "server"),
        client=issue(ca, leaves, "kafkascope-it-client", profile="client"),
        expired_server=issue(ca, leaves, "expired-server", start=datetime.datetime(2020, 1, 1, tzinfo=utc),
                             end=datetime.datetime(2020, 1, 2, tzinfo=utc)),
        other_ca=other,
        wrong_ca_server=issue(other, leaves, "wrong-ca-server"),
    )


def issue_server_pair(certs, name="server-2"):
    """Another server certificate/key for 127.0.0.1 and localhost from the same CA (e.g. to reload a listener's
    certificate and see clients accept the new one)."""
    return issue(certs.ca, certs.directory / "leaves", name)


def describe(cert):
    """`openssl x509 -noout -subject -issuer -dates -ext subjectAltName` of a certificate, as text."""
    return _openssl("x509", "-noout", "-in", cert, "-subject", "-issuer", "-dates", "-ext",
                    "subjectAltName").decode()


def verify(ca_cert, cert):
    """(ok, openssl verify output) of `cert` against `ca_cert` alone, at the current time."""
    proc = subprocess.run([tool_binary("openssl", "openssl", env="OPENSSL_BIN"), "verify", "-CAfile", str(ca_cert),
                           str(cert)], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace").strip()
