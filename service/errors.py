"""Every failure is a JSON body `{"error": "..."}` with a 4xx status that names the problem.

Handlers turn our own `RequestRefused`, werkzeug's HTTP errors (404 unknown path, 405 wrong method,
413 body over MAX_CONTENT_LENGTH, ...) and anything unexpected (500, logged with its traceback,
never shown to the client) into that one shape.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.config import current_settings

log = logging.getLogger("digitnet.errors")
ECHO_CHARS = 80  # what an error message quotes of a value the client sent


class RequestRefused(Exception):
    """A request the service refuses, with the status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def echo(value: object) -> str:
    """`value` as an error message shows it: its repr, cut to ECHO_CHARS, so a client sending
    megabytes of nonsense does not get them back."""
    text = repr(value)
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + f"... ({len(text)} characters)"


def error_response(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestRefused)
    def refused(e: RequestRefused):
        return error_response(e.status, e.message)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e: RequestEntityTooLarge):
        limit = current_settings().max_content_length
        if (request.content_length or 0) <= limit:  # a multipart limit (parts, field size) instead
            return error_response(413, f"{e.name}: {e.description}")
        return error_response(413, f"request body of {request.content_length} bytes is over the "
                                   f"limit of {limit} (MAX_CONTENT_LENGTH)")

    @app.errorhandler(MemoryError)
    def out_of_memory(e: MemoryError):
        # Every limit is meant to keep requests far from this: refused, never a 500.
        log.warning("request ran out of memory")
        return error_response(413, "the request needs more memory than the service can give it: "
                                   "send fewer or smaller inputs")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        response, status = error_response(e.code or 500, f"{e.name}: {e.description}")
        if e.code == 405 and e.valid_methods:
            response.headers["Allow"] = ", ".join(e.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        if type(e).__module__.startswith("gunicorn.http"):
            # gunicorn could not read the body (a bad chunk size, say): the client's fault.
            return error_response(400, f"malformed request body: {e}")
        log.exception("unhandled error")
        return error_response(500, "internal error; the request id in X-Request-ID finds it in the log")
