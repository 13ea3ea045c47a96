"""Security: no path from a URL reaches the filesystem, optional bearer-token auth, response
headers (no versioned banner, nosniff, CORS only for an allow-list), and the auth settings."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.reliability.checks import problem
from harness.reliability.inputs import path_segments
from harness.server import Server
from service.app import create_app
from service.config import Settings

TOKEN = "s3cret-token-for-tests"
INFER = {"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8", "data": [0] * 784}]}
INSTANCES = {"instances": [[0] * 784]}


# --- no traversal ----------------------------------------------------------------------------

def segment(text: str) -> str:
    """`text` as one URL path segment. Dots are escaped too: HTTP clients resolve a literal
    `..` segment themselves, so it would never reach the server as written."""
    return quote(text, safe="").replace(".", "%2E")


@pytest.fixture(scope="module")
def decoy_server(model_dir: Path, tmp_path_factory):
    """A server whose model directory also holds bundles it must never serve: a folder "other"
    whose version 1 is a copy of mnist's (its manifest names mnist: refused), and a file named
    like a version in the parent directory."""
    directory = tmp_path_factory.mktemp("decoys") / "models"
    shutil.copytree(model_dir, directory)
    good = directory / "mnist" / "1.npz"
    (directory / "other").mkdir()
    shutil.copy(good, directory / "other" / "1.npz")
    shutil.copy(good, directory / "7.npz")
    shutil.copy(good, directory / "mnist" / "1.0.npz")
    with Server(directory, directory.parent / "server.log") as server:
        yield server


@pytest.mark.parametrize("name,version", [
    ("other", None), ("other", "1"), ("..", None), ("../other", "1"), ("mnist/../other", "1"),
    ("mnist", "../7"), ("mnist", "../../models/7"), ("mnist", "1.0"), ("mnist", "1.npz"),
    ("mnist", "7"), ("mnist", "%2e%2e%2f7"), ("mnist", "/etc/passwd"), ("mnist", "-1"),
    ("mnist", "0"), ("mnist", "1e0"), ("mnist", "0x1"), ("mnist", " 1"), ("mnist", "+1"),
    ("mnist", "\u0661"), ("mnist", "\uff11"), ("mnist", "01"), ("mnist", "9" * 40),
])
def test_names_and_versions_from_urls_never_reach_the_filesystem(decoy_server, name, version):
    route = f"{decoy_server.url}/v2/models/{segment(name)}"
    if version is not None:
        route += f"/versions/{segment(version)}"
    for method, path in (("GET", ""), ("GET", "/ready"), ("POST", "/infer")):
        body = INFER if method == "POST" else None
        response = requests.request(method, route + path, json=body, timeout=10)
        if name == "other":  # a model of the repository, with no version it can serve
            assert response.status_code == 503, (method, path, response.text)
            assert "refused: manifest names model 'mnist'" in response.json()["error"]
        else:
            assert response.status_code == 404 and problem(response) is None, (method, path, response.text)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(name=st.one_of(st.just("mnist"), path_segments), version=path_segments)
def test_only_the_integer_of_a_loaded_version_selects_it(decoy_server, name, version):
    route = f"{decoy_server.url}/v2/models/{segment(name)}/versions/{segment(version)}/ready"
    response = requests.get(route, timeout=10)
    assert problem(response) is None
    if response.status_code == 200:
        assert name == "mnist" and version == "1", response.text


# --- bearer token ----------------------------------------------------------------------------

def app_with(monkeypatch, model_dir: Path, **env: str) -> Flask:
    """The app with the settings these variables give (and none of the caller's shell)."""
    return create_app(Settings.from_env({"MODEL_DIR": str(model_dir), **env}))


GUARDED = [("POST", "/predict", INSTANCES), ("GET", "/models", None), ("GET", "/v2/models/mnist", None),
           ("GET", "/v2/models/mnist/versions/1/ready", None), ("POST", "/v2/models/mnist/infer", INFER),
           ("GET", "/v2", None), ("GET", "/models/digits", None),
           ("POST", "/predict/digits", {"instances": [[0] * 64]}), ("POST", "/v2/repository/index", {}),
           ("GET", "/no/such/route", None)]


@pytest.mark.parametrize("method,path,body", GUARDED)
def test_token_guards_prediction_and_model_endpoints(monkeypatch, model_dir, method, path, body):
    client = app_with(monkeypatch, model_dir, API_TOKEN=TOKEN).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 401, headers
        assert "API token" in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    allowed = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == (404 if path == "/no/such/route" else 200)


def test_no_token_configured_means_no_auth(monkeypatch, model_dir):
    client = app_with(monkeypatch, model_dir).test_client()
    for method, path, body in GUARDED[:-1]:
        assert client.open(path, method=method, json=body).status_code == 200, path


@pytest.mark.parametrize("env,health,metrics", [
    ({}, 200, 401),
    ({"METRICS_PUBLIC": "1"}, 200, 200),
    ({"HEALTH_PUBLIC": "0"}, 401, 401),
    ({"HEALTH_PUBLIC": "false", "METRICS_PUBLIC": "true"}, 401, 200),
])
def test_health_and_metrics_are_configurable(monkeypatch, model_dir, env, health, metrics):
    client = app_with(monkeypatch, model_dir, API_TOKEN=TOKEN, **env).test_client()
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert client.get(path).status_code == health, path
    assert client.get("/metrics").status_code == metrics
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=bearer).status_code == 200
    assert client.get("/v2/health/ready", headers=bearer).status_code == 200


def test_the_pages_and_the_api_document_stay_public(monkeypatch, model_dir):
    client = app_with(monkeypatch, model_dir, API_TOKEN=TOKEN).test_client()
    for path in ("/", "/ui/app.js", "/ui/style.css", "/openapi.json", "/docs", "/ui/docs.js",
                 "/docs/swagger-ui-bundle.js"):
        assert client.get(path).status_code == 200, path


def test_token_from_a_file(monkeypatch, model_dir, tmp_path):
    secret = tmp_path / "api_token"
    secret.write_text(TOKEN + "\n")
    client = app_with(monkeypatch, model_dir, API_TOKEN_FILE=str(secret)).test_client()
    assert client.get("/models").status_code == 401
    assert client.get("/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("env,message", [
    ({"API_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
    ({"HEALTH_PUBLIC": "maybe"}, "HEALTH_PUBLIC"),
])
def test_bad_security_settings_stop_the_start(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_token_works_through_gunicorn(model_dir, tmp_path):
    with Server(model_dir, tmp_path / "server.log", API_TOKEN=TOKEN) as server:
        assert requests.post(f"{server.url}/predict", json=INSTANCES, timeout=10).status_code == 401
        ok = requests.post(f"{server.url}/predict", json=INSTANCES, timeout=10,
                           headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert requests.get(f"{server.url}/v2/health/ready", timeout=10).status_code == 200
        assert TOKEN not in server.log()
        assert "no API token set" not in server.log()


def test_start_without_a_token_is_warned_about(server):
    """The session server runs with no token: its log says so at start, once (the app loads
    in the master, before the workers fork)."""
    line = server.wait_for_log("no API token set", timeout=10)
    assert '"WARNING"' in line and server.log().count("no API token set") == 1


# --- headers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v2/health/live", None), ("POST", "/predict", INSTANCES), ("POST", "/predict", None),
    ("GET", "/nowhere", None), ("GET", "/metrics", None), ("GET", "/", None)])
def test_headers_have_no_versioned_banner_and_nosniff(server, method, path, body):
    response = requests.request(method, server.url + path, json=body, timeout=10,
                                headers={"Origin": "https://evil.example"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not any(c.isdigit() for c in response.headers.get("Server", "")), response.headers["Server"]
    assert "X-Powered-By" not in response.headers
    assert not any(h.lower().startswith("access-control-") for h in response.headers), "CORS is off"


def test_cors_only_for_allowed_origins(monkeypatch, model_dir):
    client = app_with(monkeypatch, model_dir,
                      CORS_ALLOW_ORIGINS="https://app.example.com, https://other.example.com/").test_client()
    allowed = client.post("/predict", json=INSTANCES, headers={"Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in allowed.headers.get_all("Vary")
    refused = client.post("/predict", json=INSTANCES, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = client.options("/predict", headers={"Origin": "https://other.example.com",
                                                    "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://other.example.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_preflight_needs_no_token_but_the_call_does(monkeypatch, model_dir):
    client = app_with(monkeypatch, model_dir, API_TOKEN=TOKEN,
                      CORS_ALLOW_ORIGINS="https://app.example.com").test_client()
    origin = {"Origin": "https://app.example.com"}
    assert client.options("/predict", headers=origin).status_code == 200
    refused = client.post("/predict", json=INSTANCES, headers=origin)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "https://app.example.com"  # readable 401
