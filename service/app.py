"""The Flask application factory: settings, model registry, blueprints, errors, request log.

gunicorn calls `create_app()` once in the master (the app is preloaded, so the models are loaded
once and shared by the forked workers); gunicorn.conf.py then starts each worker's model watcher.
Settings come from one `Settings` object (service/config.py): `create_app()` reads it from the
environment, `create_app(settings)` takes it as given (tests). The app keeps it in
`app.extensions`, where `current_settings()` finds it.

Every request gets an id (the client's `X-Request-ID` when it sent a sane one, else a new one),
returned in the `X-Request-ID` header, counted in the metrics and logged as one JSON line. The
optional bearer token, security headers and CORS are service/security.py's hooks.
"""

from __future__ import annotations

import logging
import random
import re
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from service import metrics, models, predict, read, ui, v2
from service.config import EXTENSION, Settings, current_settings
from service.errors import register_error_handlers
from service.jsonio import OrjsonProvider
from service.log import configure_logging
from service.openapi import init_openapi
from service.registry import Registry
from service.security import init_security

DRAIN_CHUNK = 64 * 1024
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # anything else could forge log lines

log = logging.getLogger("digitnet.request")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    app = Flask(__name__, static_folder=None)  # the pages serve their files under /ui (ui.py)
    app.extensions[EXTENSION] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length  # werkzeug enforces it
    app.json = OrjsonProvider(app)

    registry = Registry(settings.model_dir, settings.model_name, settings.poll_seconds,
                        on_swap=metrics.record_snapshot)
    registry.refresh()
    app.extensions["digitnet.registry"] = registry

    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.after_request(_drain_unread_body)
    init_security(app, settings)
    register_error_handlers(app)
    for blueprint in (ui.bp, predict.bp, read.bp, v2.bp, models.bp, metrics.bp):
        app.register_blueprint(blueprint)
    init_openapi(app, settings)
    return app


def _start_request() -> None:
    g.start = time.perf_counter()
    sent = request.headers.get("X-Request-ID")
    g.request_id = sent if sent and REQUEST_ID.match(sent) else new_request_id()


def new_request_id() -> str:
    """32 random hex digits, as a UUID's hex. An id only has to be unique, not secret: Python's
    generator, reseeded in each forked worker, makes one without the system call per request
    that uuid4 and secrets take."""
    return f"{random.getrandbits(128):032x}"


def _drain_unread_body(response: Response) -> Response:
    """Read what is left of a body the app refused without reading (415, 404, a bad query...).

    gunicorn keeps the connection alive, but discards at most 64 KiB of an unread body before the
    next request and otherwise closes the connection: the client's next request on it would fail.
    Bodies over MAX_CONTENT_LENGTH are not read: for those, closing is the right thing.
    """
    length = request.content_length
    if length and length <= current_settings().max_content_length:
        try:
            while request.stream.read(DRAIN_CHUNK):
                pass
        except (OSError, ClientDisconnected):
            pass  # the client is gone: nothing to keep alive
        except RequestEntityTooLarge:
            pass  # a body of exactly MAX_CONTENT_LENGTH, all read: werkzeug refuses to read past it
    return response


def _finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.start
    response.headers["X-Request-ID"] = g.request_id
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    model = g.get("model_name")
    metrics.record_request(endpoint, model or "", request.method, response.status_code, seconds)
    log.info("request", extra={
        "request_id": g.request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 3),
        "model": model,
        "model_version": g.get("model_version"),
        "remote_addr": request.remote_addr,
    })
    return response
