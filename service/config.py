"""The service's settings: one typed object, read from environment variables once.

Each field of `Settings` carries its variable's name, its default and a one-line description:
`Settings.from_env()` reads them, `python -m service.config --markdown` prints the table of
docs/reference/environment.md from them, and a test keeps that page in step. The app
(`create_app(settings)`), its security layer (service/security.py) and the server
(service/gunicorn.conf.py) all read this one object; during a request, `current_settings()`
finds it. The limits' defaults are shared/limits.py's. A bad value stops the service at start
with a message naming the variable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flask import current_app

from shared import limits
from shared.environment import DEFAULT_MODEL_DIR, DEFAULT_MODEL_NAME
from shared.repository import MODEL_NAME

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
WORKER_CLASSES = ("gthread", "gevent")  # the gunicorn workers service/gunicorn.conf.py supports
EXTENSION = "digitnet.settings"  # where create_app keeps the settings: app.extensions[EXTENSION]


# --- how each kind of value is read ------------------------------------------------------------
# A parser turns a variable's text into a value, or None for "unset": the default applies.

def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _positive(kind: type) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise ValueError(f"{name}={raw!r} must be positive")
        return value
    return parse


def _flag(name: str, raw: str) -> bool | None:
    value = raw.strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: use 1 or 0")


def _origins(name: str, raw: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{name}={level!r}: use DEBUG, INFO, WARNING or ERROR")
    return level


def _worker_class(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in WORKER_CLASSES:
        raise ValueError(f"{name}={value!r}: use {' or '.join(WORKER_CLASSES)}")
    return value


def setting(env: str, default: Any, description: str, parse: Callable[[str, str], Any] = _text,
            shown: str | None = None) -> Any:
    """A field of Settings read from the variable `env`. `shown` is the default as the table
    writes it, when the value alone does not say it."""
    return field(default=default, metadata={
        "env": env, "description": description, "parse": parse,
        "shown": shown if shown is not None else str(default)})


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told. `Settings.from_env()` reads each field from its
    variable; `Settings(model_dir=..., max_batch=...)` (a test) reads nothing: the fields not
    given keep their defaults."""

    # The model repository
    model_dir: Path = setting(
        "MODEL_DIR", DEFAULT_MODEL_DIR, "the model repository: a folder per model, "
        "`<MODEL_DIR>/<model>/<version>.npz` and optionally `<MODEL_DIR>/<model>/policy.json`; "
        "every model is served", _path)
    model_name: str = setting(
        "MODEL_NAME", DEFAULT_MODEL_NAME, "the default model: it answers requests that name none, and the "
        "server is ready once it has a version loaded")
    poll_seconds: float = setting(
        "MODEL_POLL_SECONDS", 2.0, "how often each worker looks for new or removed versions and "
        "policies", _positive(float), "2")
    # Limits (shared/limits.py)
    max_content_length: int = setting(
        "MAX_CONTENT_LENGTH", limits.MAX_CONTENT_LENGTH, "largest request body in bytes, larger "
        "is a 413 (16 MiB)", _positive(int))
    max_batch: int = setting(
        "MAX_BATCH", limits.MAX_BATCH, "most images in one request, more is a 413", _positive(int))
    max_image_pixels: int = setting(
        "MAX_IMAGE_PIXELS", limits.MAX_IMAGE_PIXELS, "most pixels in one uploaded image, more is "
        "a 413 (a 12-megapixel phone photo, 4032x3024 or 4080x3072, fits)", _positive(int))
    max_request_pixels: int = setting(
        "MAX_REQUEST_PIXELS", limits.MAX_REQUEST_PIXELS, "most pixels decoded for one request, "
        "all its images together, more is a 413 (a JPEG counts at the reduced size it is "
        "decoded at)", _positive(int))
    deadline_seconds: float = setting(
        "REQUEST_DEADLINE_SECONDS", limits.REQUEST_DEADLINE_SECONDS, "a request still decoding "
        "images after this long is answered 503 instead of holding its thread", _positive(float),
        f"{limits.REQUEST_DEADLINE_SECONDS:g}")
    log_level: str = setting(
        "LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR; the app's and gunicorn's", _log_level)
    # Who may call what (service/security.py)
    api_token: str = setting(
        "API_TOKEN", "", "a shared secret: when set, every request except the public ones needs "
        "`Authorization: Bearer <API_TOKEN>`, else 401; unset or empty: no auth (local use)",
        shown="")
    api_token_file: Path | None = setting(
        "API_TOKEN_FILE", None, "a file holding the token (a Docker or Kubernetes secret), used "
        "when API_TOKEN is unset; one trailing newline is ignored", _path, "")
    health_public: bool = setting(
        "HEALTH_PUBLIC", True, "1: /v2/health/live and /v2/health/ready need no token, so probes "
        "and load balancers work; 0 guards them too", _flag, "1")
    metrics_public: bool = setting(
        "METRICS_PUBLIC", False, "0: /metrics needs the token (Prometheus sends it with "
        "`authorization: {credentials: ...}`); 1 leaves it open", _flag, "0")
    cors_origins: tuple[str, ...] = setting(
        "CORS_ALLOW_ORIGINS", (), "comma-separated origins (`https://app.example.com`) allowed to "
        "call the API from a browser; `*` allows any; unset: no CORS headers", _origins, "")
    # The server (service/gunicorn.conf.py)
    host: str = setting("HOST", "127.0.0.1", "address to bind (the Dockerfile sets 0.0.0.0)")
    port: int = setting("PORT", 8000, "port to bind", _positive(int))
    workers: int | None = setting(
        "WEB_CONCURRENCY", None, "gunicorn worker processes", _positive(int),
        "one per CPU core available")
    threads: int = setting("GUNICORN_THREADS", 2, "threads per worker (`gthread` workers)",
                           _positive(int))
    worker_class: str = setting(
        "GUNICORN_WORKER_CLASS", "gevent", "how a worker serves its connections: `gevent`, a "
        "greenlet per connection, or `gthread`, a pool of GUNICORN_THREADS threads (see "
        "docs/serving-performance.md)", _worker_class)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """The settings the variables in `env` give; unset or empty ones keep their defaults."""
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            value = f.metadata["parse"](f.metadata["env"], raw) if raw else None
            if value is not None:
                values[f.name] = value
        settings = cls(**values)
        if not MODEL_NAME.match(settings.model_name):
            raise ValueError(f"MODEL_NAME={settings.model_name!r} is not a valid model name")
        if not settings.api_token and settings.api_token_file:
            return settings._with_token_from_file()
        return settings

    def _with_token_from_file(self) -> Settings:
        path = self.api_token_file
        try:
            token = path.read_text().removesuffix("\n")
        except OSError as e:
            raise ValueError(f"API_TOKEN_FILE={str(path)!r}: cannot read: {e.strerror}") from None
        if not token:
            raise ValueError(f"API_TOKEN_FILE={str(path)!r} is empty")
        return replace(self, api_token=token)


def current_settings() -> Settings:
    """The settings of the app handling the request (create_app keeps them)."""
    return current_app.extensions[EXTENSION]


def environment_variables() -> list[str]:
    """Every variable the settings read, in the table's order."""
    return [f.metadata["env"] for f in fields(Settings)]


def markdown_table() -> str:
    """The table of environment variables: name, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for f in fields(Settings):
        shown = f.metadata["shown"]
        default = "unset" if not shown else shown if " " in shown else f"`{shown}`"  # prose as is
        rows.append(f"| `{f.metadata['env']}` | {default} | {f.metadata['description']} |")
    return "\n".join(rows) + "\n"


def markdown_page() -> str:
    """docs/reference/environment.md, as `python -m service.config --markdown` prints it."""
    return ("# Environment variables\n\n"
            "The service reads these variables once, at start (`service/config.py`, where each is "
            "a field of `Settings`); a bad value stops it with a message naming the variable. "
            "This page is generated: `python -m service.config --markdown > "
            "docs/reference/environment.md`.\n\n" + markdown_table())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.config", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true",
                        help="print docs/reference/environment.md (the table of variables)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_page(), end="")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
