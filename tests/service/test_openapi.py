"""The OpenAPI document: valid OpenAPI 3.1 by a maintained validator, in agreement with the routes the
app registers (both ways) and with who may call what, examples that match their schemas, this
server's limits, and the /docs page with every file it loads."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from service.app import create_app
from service.config import Settings

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
AUTOMATIC = {"HEAD", "OPTIONS"}  # Flask answers these for every route by itself
TOKEN = "openapi-test-token"


@pytest.fixture(scope="module")
def document(url) -> dict:
    response = requests.get(f"{url}/openapi.json", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return response.json()


def make_app(monkeypatch, model_dir: Path, settings: Settings | None = None, **env: str) -> Flask:
    """The app with `settings`, else with the settings these variables give (none of the shell's)."""
    return create_app(settings or Settings.from_env({"MODEL_DIR": str(model_dir), **env}))


def operations(document: dict):
    """(path, METHOD, operation) for every operation the document describes."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


def test_the_served_document_is_valid_openapi_3_1(document):
    OpenAPIV31SpecValidator(document).validate()  # raises, naming the first problem
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] and document["info"]["x-limits"]["max_batch"] == 256


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """(path, METHOD) for every route, in OpenAPI's path syntax: `<converter(args):name>` -> `{name}`."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^<>]*:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods - AUTOMATIC}
    return routes


def test_the_routes_and_the_document_agree_both_ways(monkeypatch, model_dir, document):
    registered = app_routes(make_app(monkeypatch, model_dir))
    described = {(path, method) for path, method, _ in operations(document)}
    assert registered - described == set(), "routes the document does not describe"
    assert described - registered == set(), "operations the app does not serve"


def test_every_operation_is_named_summarised_and_answers_something(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, operation in operations(document):
        assert operation.get("summary"), (method, path)
        assert any(status.startswith("2") for status in operation["responses"]), (method, path)
        assert "default" not in operation["responses"], "every status is listed, so checks can fail"


def test_who_may_call_what_is_as_documented(monkeypatch, model_dir, document):
    """With a token set and none sent: operations documented as public answer, every other one
    is refused with the 401 its responses list."""
    client = make_app(monkeypatch, model_dir, API_TOKEN=TOKEN).test_client()
    for path, method, operation in operations(document):
        concrete = path.format(name="mnist", version="1", filename="app.js", asset="swagger-ui.css")
        status = client.open(concrete, method=method).status_code
        public = operation.get("security") == [] or "/health/" in path  # HEALTH_PUBLIC=1 by default
        if public:
            assert status != 401, (method, path)
        else:
            assert status == 401 and "401" in operation["responses"], (method, path, status)


def pointer(*parts: str) -> str:
    return "urn:openapi#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def examples_with_schemas(node: object, at: tuple[str, ...] = ()):
    """(where, example, JSON pointer to its schema) for every example in the document: those of
    media types and parameters (`example`, `examples`) and those inside schemas themselves."""
    if isinstance(node, dict):
        if "schema" in node and not isinstance(node["schema"], str):
            schema = pointer(*at, "schema")
            if "example" in node:
                yield "/".join(at), node["example"], schema
            for name, example in node.get("examples", {}).items():
                yield "/".join((*at, name)), example["value"], schema
        elif at and at[-2:-1] in (("schemas",), ("properties",)) or at[-1:] == ("schema",):
            for i, example in enumerate(node.get("examples", []) if isinstance(node.get("examples"), list)
                                        else []):
                yield "/".join((*at, str(i))), example, pointer(*at)
            if "example" in node:
                yield "/".join(at), node["example"], pointer(*at)
        for key, value in node.items():
            yield from examples_with_schemas(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from examples_with_schemas(value, (*at, str(i)))


def test_every_example_matches_its_schema(document):
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(
        document, default_specification=DRAFT202012))
    checked = []
    for where, example, schema in examples_with_schemas(document):
        validator = Draft202012Validator({"$ref": schema}, registry=registry)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                  for e in validator.iter_errors(example)]
        assert errors == [], where
        checked.append(where)
    # The seven is in /predict's and /infer's requests and in the 28x28 schema; answers have theirs.
    assert len(checked) >= 12 and any("Image28x28" in w for w in checked), checked


def test_the_documented_input_forms_are_the_served_models_contracts(url, document):
    """Each model served takes JSON instances the document describes: flat, and in rows of its
    image shape, with its value range (its bundle's contract, as GET /models gives it)."""
    schemas = document["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        return schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    def form(schema: dict) -> tuple:
        """An image schema as (items at each level..., lowest value, highest value)."""
        counts = []
        while schema["type"] == "array":
            assert schema["minItems"] == schema["maxItems"]
            counts.append(schema["maxItems"])
            schema = resolve(schema["items"])
        return (*counts, schema["minimum"], schema["maximum"])

    described = {form(resolve(option["items"])) for option in schemas["Instances"]["oneOf"]}
    models = requests.get(f"{url}/models", timeout=10).json()["models"]
    assert {model["model_name"] for model in models} == {"mnist", "digits"}
    for model in models:
        contract = model["input"]
        low, high = contract["range"]
        served = {(*contract["shape"], low, high), (*contract["image_shape"], low, high)}
        assert served <= described, (model["model_name"], served, described)


def test_the_document_states_this_servers_limits(monkeypatch, model_dir):
    settings = Settings(model_dir=model_dir, max_batch=7, max_content_length=123_456, max_image_pixels=999,
                        max_request_pixels=1999, deadline_seconds=2.5)
    document = make_app(monkeypatch, model_dir, settings).test_client().get("/openapi.json").get_json()
    assert document["info"]["x-limits"] == {"max_batch": 7, "max_content_length": 123_456,
                                            "max_image_pixels": 999, "max_request_pixels": 1999,
                                            "request_deadline_seconds": 2.5}
    schemas = document["components"]["schemas"]
    assert schemas["Instances"]["maxItems"] == schemas["ImageFiles"]["maxItems"] == 7


class Assets(HTMLParser):
    """The files a page loads: scripts, stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.found.append(attributes["src"])
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.found.append(attributes["href"])


def test_the_docs_page_and_everything_it_loads_come_from_the_service(url):
    page = requests.get(f"{url}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    parser = Assets()
    parser.feed(page.text)
    assert "<script>" not in page.text, "inline scripts would break the policy"
    assert len(parser.found) == 4, parser.found
    kinds = {".js": "text/javascript", ".css": "text/css"}
    for asset in parser.found:
        assert not asset.startswith(("http:", "https:", "//")), "no CDN"
        response = requests.get(f"{url}/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert response.headers["Content-Type"].startswith(kinds[Path(asset).suffix]), asset
    bundle = requests.get(f"{url}/docs/swagger-ui-bundle.js", timeout=10).text
    assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000
    assert requests.get(f"{url}/docs/LICENSE", timeout=10).status_code == 404  # only what the page uses
