"""Local network endpoints for a test: a free loopback port, and a CA with a serving certificate
for an IP address (openssl, files under the test's directory)."""

import socket
import subprocess


def free_port():
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificate(tmp_path, ip):
    """A CA and a serving certificate for `ip` signed by it: (ca, cert, key)."""
    ca_key, ca, key, cert = (tmp_path / n for n in ("ca.key", "ca.crt", "tls.key", "tls.crt"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca), "-days", "1", "-subj", "/CN=test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(tmp_path / "tls.csr"), "-subj", "/CN=collector")
    (tmp_path / "ext").write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(tmp_path / "tls.csr"), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "1", "-extfile", str(tmp_path / "ext"), "-out", str(cert))
    return ca, cert, key
