"""What can go wrong when asking the service, as exception types a program can catch one by one.

Every refusal of the service is an `ApiError` carrying its status, the service's own message and
the request id (`X-Request-ID`), which finds the request's line in the service's log. The common
statuses have a class of their own; the command line turns each kind into its own exit code.
"""

from __future__ import annotations


class DigitnetError(Exception):
    """Anything the client could not do. `source` names the input concerned, when there is one."""

    source: str | None = None


class InputError(DigitnetError, ValueError):
    """An input the client cannot send: a file it cannot read, a type it does not know."""

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class ConnectionFailed(DigitnetError):
    """The service could not be reached, even after the retries."""


class ApiError(DigitnetError):
    """The service answered with an error."""

    def __init__(self, status: int, message: str, request_id: str | None = None,
                 source: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.request_id = request_id
        self.source = source

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status}, request id {self.request_id or 'none'})"


class BadRequest(ApiError):
    """400: the request or one of its inputs is wrong (not an image, no ink, wrong shape...)."""


class Unauthorized(ApiError):
    """401: the service needs a token (API_TOKEN) and got none, or a wrong one."""


class NotFound(ApiError):
    """404: no such model or version."""


class PayloadTooLarge(ApiError):
    """413: a body, batch or image over the service's limits."""


class UnsupportedMediaType(ApiError):
    """415: a kind of body the service does not take."""


class ServiceUnavailable(ApiError):
    """503: no model loaded yet (after the retries)."""


class ServerError(ApiError):
    """Another 5xx: the service (or a proxy before it) failed."""


BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 404: NotFound,
                                        413: PayloadTooLarge, 415: UnsupportedMediaType,
                                        503: ServiceUnavailable}


def api_error(status: int, message: str, request_id: str | None) -> ApiError:
    """The most specific error class for `status`."""
    kind = BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, message, request_id)
