"""Who may call what, and the headers every response carries.

Settings, from environment variables (all optional):

    API_TOKEN        a shared secret: when set, every request except the public ones below needs
                     `Authorization: Bearer <API_TOKEN>`, else 401. Unset or empty: no auth
                     (local use).
    API_TOKEN_FILE   a file holding the token (a Docker or Kubernetes secret), used when
                     API_TOKEN is unset; one trailing newline is ignored.
    HEALTH_PUBLIC    1 (default): /v2/health/live and /v2/health/ready need no token, so probes
                     and load balancers work; 0 guards them too.
    METRICS_PUBLIC   0 (default): /metrics needs the token (Prometheus sends it with
                     `authorization: {credentials: ...}`); 1 leaves it open.
    CORS_ALLOW_ORIGINS  comma-separated origins (`https://app.example.com`) allowed to call the
                     API from a browser; `*` allows any. Unset: no CORS headers, so browsers
                     keep other sites out.

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
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request

from service.errors import error_response

log = logging.getLogger("digitnet.security")
HEALTH_PATHS = ("/v2/health/live", "/v2/health/ready")
METRICS_PATH = "/metrics"
PUBLIC_ENDPOINTS = ("ui.index", "ui.static", "openapi.document", "openapi.docs", "openapi.asset")
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Request-ID"
CORS_MAX_AGE_SECONDS = "600"


@dataclass(frozen=True)
class SecuritySettings:
    api_token: str = ""
    health_public: bool = True
    metrics_public: bool = False
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SecuritySettings:
        token = env.get("API_TOKEN") or ""
        if not token and env.get("API_TOKEN_FILE"):
            path = Path(env["API_TOKEN_FILE"])
            try:
                token = path.read_text().removesuffix("\n")
            except OSError as e:
                raise ValueError(f"API_TOKEN_FILE={str(path)!r}: cannot read: {e.strerror}") from None
            if not token:
                raise ValueError(f"API_TOKEN_FILE={str(path)!r} is empty")
        origins = tuple(o.strip().rstrip("/") for o in (env.get("CORS_ALLOW_ORIGINS") or "").split(",")
                        if o.strip())
        return cls(api_token=token,
                   health_public=_flag(env, "HEALTH_PUBLIC", cls.health_public),
                   metrics_public=_flag(env, "METRICS_PUBLIC", cls.metrics_public),
                   cors_origins=origins)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r}: use 1 or 0")


def init_security(app: Flask, settings: SecuritySettings) -> None:
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
            response.headers.add("Vary", "Origin")
            if "*" in settings.cors_origins or origin.rstrip("/") in settings.cors_origins:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
                if request.method == "OPTIONS":
                    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE_SECONDS
        return response

    app.before_request(require_token)
    app.after_request(add_headers)
