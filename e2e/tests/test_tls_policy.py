"""`tls_min_version` and `tls_cipher_suites` with the Go server's values, checked with a real TLS
client (Python's ssl, OpenSSL): under a 1.3 minimum a TLS 1.2 handshake is refused, a TLS 1.2
suite left off the list is refused while a listed one is served, and a suite name Go does not
know stops the start-up with an error naming it. Runs the server binary."""

import socket
import ssl
import subprocess

import pytest

from support.net import make_certificate
from support.server import HttpServer
from support.stack import SERVER


def handshake(url, ca, max_version=None, ciphers=None):
    """(TLS version, cipher) a client negotiates with the server at `url`."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(ca))
    if max_version:
        context.maximum_version = max_version
    if ciphers:
        context.set_ciphers(ciphers)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version(), tls.cipher()[0]


def serve(tmp_path, toml):
    ca, cert, key = make_certificate(tmp_path, "127.0.0.1")
    config = tmp_path / "config.toml"
    config.write_text(toml)
    return ca, HttpServer("--config", str(config), "--tls-cert", str(cert), "--tls-key", str(key), drain=True)


def test_a_tls_1_3_minimum_refuses_a_tls_1_2_client(tmp_path):
    ca, server = serve(tmp_path, 'tls_min_version = "1.3"\n')
    with server:
        assert handshake(server.url, ca)[0] == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            handshake(server.url, ca, max_version=ssl.TLSVersion.TLSv1_2)
    assert not any("tls_min_version" in line for line in server.stderr_lines), server.stderr_lines


def test_only_the_listed_tls_1_2_suites_are_served(tmp_path):
    ca, server = serve(tmp_path, 'tls_min_version = "1.2"\ntls_cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]\n')
    with server:
        assert handshake(server.url, ca, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES256-GCM-SHA384") == \
            ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
        with pytest.raises(ssl.SSLError):
            handshake(server.url, ca, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256")
        # TLS 1.3 suites are not configurable, as in Go.
        assert handshake(server.url, ca)[0] == "TLSv1.3"


@pytest.mark.parametrize("name, why", [("TLS_FOO", "is unknown"), ("TLS_RSA_WITH_AES_128_CBC_SHA", "not implemented")])
def test_a_suite_this_server_cannot_serve_stops_the_start_up(tmp_path, name, why):
    config = tmp_path / "config.toml"
    config.write_text(f'port = "0"\ntls_cipher_suites = ["{name}"]\n')
    done = subprocess.run([str(SERVER), "--config", str(config)], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0 and "tls_cipher_suites" in done.stderr and name in done.stderr and why in done.stderr, done.stderr
