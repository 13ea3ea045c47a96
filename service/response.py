"""gunicorn's HTTP/1 response, writing a whole answer in one send.

gunicorn sends a response's head as soon as the app hands it the first body chunk, and then the
chunk: two system calls, and two TCP segments, for an answer that fits in one. Every answer of the
app is a single body of known length (Flask sets Content-Length on bytes it was given), so this
response joins the head and that body and sends them together. Anything else (a streamed or
chunked body, several chunks, a HEAD answer, a file) goes through gunicorn's own code unchanged.
The head is gunicorn's, field for field; only its Date is formatted once a second, not per answer.

gunicorn.conf.py installs it with `install()`: gunicorn builds its responses from the name
`gunicorn.http.wsgi.Response` when it handles each request, under every worker class.
"""

from __future__ import annotations

import time
from functools import lru_cache

from gunicorn import util
from gunicorn.http import wsgi


def http_date() -> str:
    """gunicorn's `util.http_date()`, formatted once per second."""
    return _http_date(int(time.time()))


@lru_cache(maxsize=1)
def _http_date(second: int) -> str:
    return util.http_date(second)


class SingleWriteResponse(wsgi.Response):
    def write(self, arg: bytes) -> None:
        if (self.headers_sent or self.chunked or self.upgrade or self._omits_body
                or not isinstance(arg, bytes) or self.response_length is None
                or len(arg) != self.response_length):
            super().write(arg)
            return
        util.write(self.sock, self._head() + arg)
        self.headers_sent = True
        self.sent = len(arg)

    def _head(self) -> bytes:
        """What gunicorn's send_headers() sends for a response neither chunked nor upgraded."""
        major, minor = self.req.version
        connection = "close" if self.should_close() else "keep-alive"
        head = [f"HTTP/{major}.{minor} {self.status}\r\nServer: {self.version}\r\n"
                f"Date: {http_date()}\r\nConnection: {connection}\r\n",
                *(f"{name}: {value}\r\n" for name, value in self.headers), "\r\n"]
        return "".join(head).encode("latin-1")


def install() -> None:
    wsgi.Response = SingleWriteResponse
