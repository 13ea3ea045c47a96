"""The drawing page at `/` (placeholder until the page lands)."""

from flask import Blueprint

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():
    return "digitnet", 200, {"Content-Type": "text/plain"}
