"""The drawing page: `GET /` serves a static page that draws a digit and calls `/predict`.

Everything the page needs is in `service/static/` and served from here (no build step, no CDN).
The assets live under `/ui/`; the app itself has no `/static` route (Flask's default one would serve
these same files without the headers below).
"""

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).with_name("static")

bp = Blueprint("ui", __name__, static_folder=STATIC, static_url_path="/ui")

# The page loads only its own files and talks only to this service; images it shows are drawn on
# canvases or previewed from local files (blob:/data:). Nothing inline, so XSS has nowhere to run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


@bp.get("/")
def index() -> Response:
    """The drawing page (revalidated on each load so a new deploy shows at once)."""
    return send_from_directory(STATIC, "index.html", max_age=0)


@bp.after_request
def security_headers(response: Response) -> Response:
    """Headers for the pages and their assets only (here and at /docs); the JSON API sets its own."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
