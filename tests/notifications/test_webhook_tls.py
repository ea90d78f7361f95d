"""The https path of webhook delivery: the request connects to the address that was checked, while
TLS verifies the certificate against the URL's host name (a local HTTPS server with its own CA)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from portal.notifications.channels import webhook as channel

HOST = "hooks.meridian.test"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[dict[str, Any]]]]:
    cert, key = _certificate(tmp_path)
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(
                {"host": self.headers["Host"], "body": self.rfile.read(int(self.headers["Content-Length"]))}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, received
    server.shutdown()
    server.server_close()


def _resolving(host: str, address: str) -> Any:
    real = socket.getaddrinfo

    def fake(name: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(name, port, *args, **kwargs)

    return mock.patch.object(channel.socket, "getaddrinfo", side_effect=fake)


def _trusting(cafile: Path) -> Any:
    # Trust the test's own CA only (the channel otherwise uses the system's trust store).
    real = ssl.create_default_context
    return mock.patch.object(channel.ssl, "create_default_context", lambda: real(cafile=str(cafile)))


def test_https_connects_to_the_checked_address_and_verifies_the_host_name(
    tls_server: tuple[int, Path, list[dict[str, Any]]],
) -> None:
    port, cert, received = tls_server
    # Given the host resolves to the (loopback, allowed here) address that was checked
    with _resolving(HOST, "127.0.0.1"), _trusting(cert):
        result = channel.send(
            url=f"https://{HOST}:{port}/hook", secret="whsec_x", body=b"{}", headers={}, timeout=5
        )
    # Then the request arrived over TLS for the host name
    assert result.ok and result.status == 204
    assert received == [{"host": f"{HOST}:{port}", "body": b"{}"}]


def test_a_certificate_for_another_name_is_refused(
    tls_server: tuple[int, Path, list[dict[str, Any]]],
) -> None:
    port, cert, received = tls_server
    with _resolving("other.meridian.test", "127.0.0.1"), _trusting(cert):
        result = channel.send(
            url=f"https://other.meridian.test:{port}/hook", secret="s", body=b"{}", headers={}, timeout=5
        )
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert received == []
