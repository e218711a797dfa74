"""The sender connects to the checked address but speaks TLS for the hostname: SNI and certificate verification."""

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard import webhook_client
from tests.certificates import write_self_signed


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, list[str | None]]]:
    """A TLS listener on 127.0.0.1 with a self-signed certificate for localhost; records each SNI name."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=1))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert_file, key_file, "localhost", valid=valid, dns_names=["localhost"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, server_name, _ctx: names.append(server_name)  # type: ignore[assignment]

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1024)
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused our certificate: expected

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], names
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_https_delivery_pins_the_checked_ip_and_verifies_tls_for_the_hostname(
    tls_server: tuple[int, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, names = tls_server
    resolved: list[str] = []
    monkeypatch.setattr(webhook_client, "resolve", lambda host, _port: resolved.append(host) or ["127.0.0.1"])

    answer = webhook_client.post(f"https://localhost:{port}/hook", b"{}", {}, local=True)

    assert resolved == ["localhost"]  # one lookup; the connection goes to the address it returned
    assert names == ["localhost"]  # SNI carries the hostname although the socket connected to 127.0.0.1
    assert answer.status is None
    assert answer.error == "SSLError"  # self-signed: verification for the hostname refuses it
    assert not answer.delivered
