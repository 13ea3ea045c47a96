"""The page's files as served, without a browser: fast checks of what the browser test relies on."""

import re
from pathlib import Path

import pytest
from flask import Flask

from service import ui

STATIC = Path(ui.__file__).parent / "static"


@pytest.fixture
def client():
    app = Flask(__name__)
    app.register_blueprint(ui.bp)
    return app.test_client()


def test_index_is_the_drawing_page(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for element in ('id="pad"', 'id="predict"', 'id="clear"', 'id="file"', 'id="bars"', 'id="seen"'):
        assert element in html
    # A new deploy shows at once: the page is revalidated, never served stale from a cache.
    assert "no-cache" in response.headers["Cache-Control"]


def test_everything_the_page_loads_is_served_here(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "ui/app.js" in assets and "ui/style.css" in assets
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert not re.match(r"^(https?:)?//", asset), f"{asset} comes from elsewhere (no CDN)"
        assert client.get("/" + asset).status_code == 200, asset


def test_no_external_urls_in_any_static_file() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name


def test_security_headers(client) -> None:
    for url in ("/", "/ui/app.js"):
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_script_or_style() -> None:
    """The Content-Security-Policy allows none, so any would silently not run."""
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
