"""The carriers' HTTP client: R63 timeouts, no retries or redirects, and what each answer means for routing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from switchboard.carriers import http_client
from switchboard.carriers.base import CarrierError, CarrierRejected, CarrierTimeout, CarrierUnavailable
from tests.unit.carriers.conftest import FakeCarrier

pytestmark = pytest.mark.enable_socket


def _no_code(payload: object) -> str:
    return ""


def test_http_client_timeouts_are_r63s_connect_300ms_total_1s() -> None:
    client = http_client.HttpClient()
    assert (client.connect_timeout_s, client.total_timeout_s) == (0.3, 1.0)


def test_http_client_posts_and_returns_the_answer(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 201, b'{"sid": "SM1"}'
    response = http_client.HttpClient().post("fake", fake_carrier.url + "/send", headers={"X-Test": "1"}, body=b"hello")
    assert (response.status, response.json()) == (201, {"sid": "SM1"})
    assert (fake_carrier.last.method, fake_carrier.last.path, fake_carrier.last.body) == ("POST", "/send", b"hello")
    assert fake_carrier.last.headers["x-test"] == "1"


def test_http_client_slow_carrier_times_out_within_about_a_second(fake_carrier: FakeCarrier) -> None:
    fake_carrier.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(CarrierTimeout):
        http_client.HttpClient().post("fake", fake_carrier.url + "/send", headers={}, body=b"x")
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.9  # below the fake's 2 s: the timeout fired (slack for a loaded CI machine)
    assert len(fake_carrier.requests) == 1  # no retry


def test_http_client_unaccepted_connection_times_out_in_about_300ms(unaccepting_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(CarrierTimeout):
        http_client.HttpClient().post("fake", f"http://127.0.0.1:{unaccepting_port}/send", headers={}, body=b"x")
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 0.9  # before the 1 s total could fire: the 300 ms connect timeout did


def test_http_client_refused_connection_is_unavailable(loopback_only: None) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused at once
    with pytest.raises(CarrierError) as caught:
        http_client.HttpClient().post("fake", f"http://127.0.0.1:{port}/send", headers={}, body=b"x")
    assert type(caught.value) is CarrierUnavailable


def test_http_client_refuses_plain_http_beyond_loopback() -> None:
    with pytest.raises(CarrierUnavailable, match="non-HTTPS"):
        http_client.HttpClient().post("fake", "http://api.example.com/send", headers={}, body=b"x")


def test_http_client_oversized_answer_is_unavailable(fake_carrier: FakeCarrier) -> None:
    fake_carrier.body = b"x" * (http_client.MAX_RESPONSE_BYTES + 1)
    with pytest.raises(CarrierUnavailable, match="more than"):
        http_client.HttpClient().post("fake", fake_carrier.url + "/send", headers={}, body=b"x")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_check_5xx_is_unavailable(status: int) -> None:
    with pytest.raises(CarrierUnavailable):
        http_client.check("fake", http_client.Response(status, b"{}"), error_code=_no_code)


@pytest.mark.parametrize("status", [301, 302, 401, 403, 404, 429])
def test_check_redirects_auth_and_throttling_are_unavailable_not_rejected(status: int) -> None:
    with pytest.raises(CarrierError) as caught:
        http_client.check("fake", http_client.Response(status, b""), error_code=_no_code)
    assert type(caught.value) is CarrierUnavailable


@pytest.mark.parametrize("status", [400, 413, 422])
def test_check_invalid_message_statuses_are_rejected(status: int) -> None:
    with pytest.raises(CarrierRejected) as caught:
        http_client.check("fake", http_client.Response(status, b'{"code": 21211}'), error_code=lambda p: str(p["code"]))
    assert caught.value.code == "21211"


def test_check_redirect_is_not_followed(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 307, b""
    response = http_client.HttpClient().post("fake", fake_carrier.url + "/send", headers={}, body=b"x")
    assert response.status == 307
    assert len(fake_carrier.requests) == 1
    with pytest.raises(CarrierUnavailable):
        http_client.check("fake", response, error_code=_no_code)


def test_check_2xx_returns_json_and_tolerates_non_json() -> None:
    assert http_client.check("fake", http_client.Response(200, b'{"a": 1}'), error_code=_no_code) == {"a": 1}
    assert http_client.check("fake", http_client.Response(202, b"<html>"), error_code=_no_code) == {}


def test_http_client_reuses_a_kept_alive_connection_and_drops_one_the_carrier_closed(loopback_only: None) -> None:
    # R63's budget: TLS set-up is most of a send, so a carrier connection is kept; one the carrier has closed since
    # is noticed before reuse (nothing is sent on it), never retried after a send.
    connections: list[socket.socket] = []
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            for _ in range(2):
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            # After two answers the carrier closes the connection (an idle timeout on its side).

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/send"
    client = http_client.HttpClient()
    try:
        assert client.post("fake", url, headers={}, body=b"1").status == 200
        assert client.post("fake", url, headers={}, body=b"2").status == 200
        assert len(connections) == 1  # the second send reused the first connection
        time.sleep(0.2)  # the carrier has closed it by now
        assert client.post("fake", url, headers={}, body=b"3").status == 200
        assert len(connections) == 2  # a closed connection is not reused: a new one, and the send succeeded
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
