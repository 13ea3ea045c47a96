"""HTTP on bare sockets, for what a client library will not send: a head without its body, bytes
that are not HTTP, and connections that trickle their headers a byte a second (`Trickle`)."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass

TIMEOUT = 10  # seconds, per connection


def raw_exchange(host: str, port: int, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send bytes on a fresh connection and read until the server closes or the answer is whole."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
        return answer


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """An answer's status, headers (lower-case names) and body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@dataclass
class Trickle:
    """`count` connections sending a request's headers one byte a second, reopened when the
    server closes them, until stopped (bounded by `max_seconds`)."""

    host: str
    port: int
    count: int
    max_seconds: float

    def __post_init__(self) -> None:
        self.closed_by_server: list[float] = []  # how long each closed connection had lived
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Trickle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 30)

    def _open(self) -> tuple[socket.socket, float]:
        s = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        s.setblocking(False)
        s.send(b"POST /predict HTTP/1.1\r\nHost: slow\r\n")
        return s, time.monotonic()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        sockets = [self._open() for _ in range(self.count)]
        while not self._stop.wait(1.0) and time.monotonic() < deadline:
            for i, (s, opened) in enumerate(sockets):
                try:  # one more byte of a header name that never ends, unless the server closed it
                    gone = _closed_by_peer(s) or not s.send(b"X")
                except OSError:
                    gone = True
                if gone:
                    self.closed_by_server.append(time.monotonic() - opened)
                    s.close()
                    sockets[i] = self._open()
        for s, _ in sockets:
            s.close()


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(4096, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # nothing to read: still open
