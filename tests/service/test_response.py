"""service/response.py: an answer's head and single body go out in one send, and the bytes are the
ones gunicorn's own response writes; anything else is left to gunicorn's code."""

from __future__ import annotations

import re
import socket

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from harness.server import Server
from service.response import SingleWriteResponse

BODY = b'{"live":true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY))),
           ("X-Request-ID", "abc")]


class Recorder:
    """A socket that keeps what each send was given."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


def answer(response_class: type, request: bytes, headers: list[tuple[str, str]],
           chunks: list[bytes]) -> list[bytes]:
    """The sends `response_class` makes to answer `request` with `headers` and body `chunks`."""
    cfg = Config()
    req = next(RequestParser(cfg, [request], ("127.0.0.1", 1)))
    sock = Recorder()
    response = response_class(req, sock, cfg)
    response.start_response("200 OK", headers)
    for chunk in chunks:
        response.write(chunk)
    response.close()
    return sock.sends


def without_date(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


@pytest.mark.parametrize("request_bytes", [
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /v2/health/live HTTP/1.0\r\nHost: x\r\n\r\n",
], ids=["keep-alive", "close", "http-1.0"])
def test_one_send_with_gunicorns_bytes(request_bytes: bytes) -> None:
    ours = answer(SingleWriteResponse, request_bytes, HEADERS, [BODY])
    theirs = answer(wsgi.Response, request_bytes, HEADERS, [BODY])
    assert len(ours) == 1 and len(theirs) == 2  # gunicorn: the head, then the body
    assert without_date(ours[0]) == without_date(b"".join(theirs))
    assert re.search(rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n", ours[0])


@pytest.mark.parametrize("request_bytes, headers, chunks", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", HEADERS[:1], [b"a", b"b"]),  # no length: chunked
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", HEADERS, [BODY[:5], BODY[5:]]),  # several chunks
    (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", HEADERS, [BODY]),  # no body goes out
], ids=["chunked", "several-chunks", "head"])
def test_other_answers_are_gunicorns_own(request_bytes: bytes, headers, chunks) -> None:
    ours = answer(SingleWriteResponse, request_bytes, headers, chunks)
    theirs = answer(wsgi.Response, request_bytes, headers, chunks)
    assert [without_date(s) for s in ours] == [without_date(s) for s in theirs]


def test_the_server_answers_keep_alive_requests_whole(server: Server) -> None:
    """Through the real gunicorn: several requests on one connection, each answer complete."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        for _ in range(3):
            client.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            answer_bytes = b""
            while not answer_bytes.endswith(BODY):
                chunk = client.recv(65536)
                assert chunk, "connection closed mid-answer"
                answer_bytes += chunk
            head, _, body = answer_bytes.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\n")
            assert b"\r\nConnection: keep-alive\r\n" in head
            assert f"Content-Length: {len(BODY)}".encode() in head and body == BODY
