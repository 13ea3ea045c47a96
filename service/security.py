"""Who may call what, and the headers every response carries.

Settings (fields of service/config.py's `Settings`, from environment variables, all optional):
API_TOKEN or API_TOKEN_FILE, a shared secret every request except the public ones must send as
`Authorization: Bearer <token>` (unset: no auth, for local use); HEALTH_PUBLIC (1: the health
probes need no token) and METRICS_PUBLIC (0: /metrics needs it); CORS_ALLOW_ORIGINS, the origins
allowed to call the API from a browser (unset: no CORS headers, so browsers keep other sites out).

The drawing page, the API's document and its viewer, and their assets (`/`, `/ui/...`,
`/openapi.json`, `/docs...`) are always public: they are the same files for everyone and hold no
data; with a token set, the pages' own calls to the API get a 401 until given the token.
CORS preflight requests (OPTIONS) carry no credentials by design, so they are never guarded.

Every response gets `X-Content-Type-Options: nosniff`. gunicorn's `Server` header is `gunicorn`
with no version (it adds it after the app, so the app cannot remove it).
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, request

from service.config import Settings
from service.errors import error_response

log = logging.getLogger("digitnet.security")
HEALTH_PATHS = ("/v2/health/live", "/v2/health/ready")
METRICS_PATH = "/metrics"
PUBLIC_ENDPOINTS = ("ui.index", "ui.static", "openapi.document", "openapi.docs", "openapi.asset")
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Request-ID"
CORS_MAX_AGE_SECONDS = "600"


def init_security(app: Flask, settings: Settings) -> None:
    """Register the token check (before each request) and the security headers (after)."""
    expected = settings.api_token.encode()
    if not expected:
        log.warning("no API token set (API_TOKEN or API_TOKEN_FILE): every endpoint is open to "
                    "anyone who can reach the service")

    def is_public() -> bool:
        if request.method == "OPTIONS" or request.endpoint in PUBLIC_ENDPOINTS:
            return True
        if request.path in HEALTH_PATHS:
            return settings.health_public
        if request.path == METRICS_PATH:
            return settings.metrics_public
        return False

    def require_token() -> Response | None:
        if not expected or is_public():
            return None
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        # compare_digest takes as long whatever prefix matches: the token cannot be guessed
        # byte by byte from response times.
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected):
            return None
        reason = "missing" if not sent else "invalid"
        response, status = error_response(
            401, f"{reason} API token: send the header 'Authorization: Bearer <token>'")
        response.status_code = status
        response.headers["WWW-Authenticate"] = 'Bearer realm="digitnet"'
        return response

    def add_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        origin = request.headers.get("Origin")
        if origin and settings.cors_origins:
            _add_cors_headers(response, origin, settings.cors_origins)
        return response

    app.before_request(require_token)
    app.after_request(add_headers)


def _add_cors_headers(response: Response, origin: str, allowed: tuple[str, ...]) -> None:
    """Let the browser show the answer to a page of `origin` when it is allowed."""
    response.headers.add("Vary", "Origin")
    if "*" in allowed or origin.rstrip("/") in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE_SECONDS
