"""The API's description: `GET /openapi.json` (OpenAPI 3.1) and `GET /docs`, which renders it.

The document is written by hand in service/openapi.yaml, beside the code it describes: one source,
read by people in review, by Swagger UI at /docs, by schemathesis in the tests, and by the Python
client (which learns the server's limits from it). What depends on how this server runs is filled
in when the app is created: the package's version, MAX_BATCH as the `maxItems` of a batch, and the
limits under `info.x-limits`. The tests check that its paths and the app's routes agree both ways.

/docs is Swagger UI: its files come from the pinned flask-swagger-ui package and are served here
(no CDN), and our own script starts it, so the page runs under the same strict Content Security
Policy as the drawing page. The page, its files and the document are public: they hold no data.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
import yaml
from flask import Blueprint, Flask, Response, current_app, send_from_directory

import shared
from service.config import Settings
from service.jsonio import dumps
from service.ui import STATIC, security_headers

DOCUMENT = Path(__file__).with_name("openapi.yaml")
SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"

bp = Blueprint("openapi", __name__)
bp.after_request(security_headers)


def build_document(settings: Settings) -> dict:
    """service/openapi.yaml with this server's version and limits filled in."""
    document = yaml.safe_load(DOCUMENT.read_text())
    document["info"]["version"] = shared.__version__
    document["info"]["x-limits"] = {
        "max_batch": settings.max_batch,
        "max_content_length": settings.max_content_length,
        "max_image_pixels": settings.max_image_pixels,
        "max_request_pixels": settings.max_request_pixels,
        "request_deadline_seconds": settings.deadline_seconds,
    }
    schemas = document["components"]["schemas"]
    for batch in ("Instances", "ImageFiles"):
        schemas[batch]["maxItems"] = settings.max_batch
    return document


def init_openapi(app: Flask, settings: Settings) -> None:
    """Serve the document (encoded once) and its viewer."""
    app.extensions["digitnet.openapi"] = dumps(build_document(settings))
    app.register_blueprint(bp)


@bp.get("/openapi.json")
def document() -> Response:
    return Response(current_app.extensions["digitnet.openapi"], mimetype="application/json")


@bp.get("/docs")
def docs() -> Response:
    return send_from_directory(STATIC, "docs.html", max_age=0)


@bp.get("/docs/<any('swagger-ui.css', 'swagger-ui-bundle.js'):asset>")
def asset(asset: str) -> Response:
    return send_from_directory(SWAGGER_UI, asset)
