"""The proxy's configuration (proxy/) agrees with the service and the compose file.

Its behaviour is tested for real, in containers, by `make compose-test`
(tests/deploy/test_compose.py): these checks keep the settings that must match from drifting apart,
and every copy of a limit equal to shared/limits.py's.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.app import REQUEST_ID, create_app
from service.config import Settings, environment_variables
from shared import limits
from tests.reliability.test_containers import dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = (ROOT / "proxy" / "nginx.conf").read_text()
ENTRYPOINT = (ROOT / "proxy" / "entrypoint.sh").read_text()
GUNICORN_CONF = (ROOT / "service" / "gunicorn.conf.py").read_text()
PREDICTING = {"predict.predict", "read.read", "v2.infer"}  # endpoints whose answer depends only on the body


def directive(name: str, text: str = NGINX_CONF) -> list[str]:
    """The arguments of every `name ...;` directive in the nginx configuration."""
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{name}\s+([^;]*);", text, re.M)]


def gunicorn_setting(name: str) -> int:
    return int(re.search(rf"^{name} = (\d+)", GUNICORN_CONF, re.M).group(1))


def test_request_ids_the_proxy_keeps_are_the_ones_the_service_keeps():
    kept = re.search(r'map \$http_x_request_id \$digitnet_request_id \{\s*"~([^"]+)"', NGINX_CONF)
    assert kept and kept.group(1) == REQUEST_ID.pattern


def test_body_limit_is_the_services(compose):
    """The proxy's default and compose's, for the proxy and the service, are shared/limits.py's."""
    assert directive("client_max_body_size") == ["@MAX_CONTENT_LENGTH@"]
    default = re.search(r"MAX_CONTENT_LENGTH=\$\{MAX_CONTENT_LENGTH:-(\d+)\}", ENTRYPOINT).group(1)
    assert int(default) == limits.MAX_CONTENT_LENGTH == Settings().max_content_length
    services = compose["services"]
    assert (services["proxy"]["environment"]["MAX_CONTENT_LENGTH"]
            == services["service"]["environment"]["MAX_CONTENT_LENGTH"]
            == f"${{MAX_CONTENT_LENGTH:-{limits.MAX_CONTENT_LENGTH}}}")


def test_compose_sets_only_variables_the_service_reads(compose):
    """Every variable compose gives the service is a field of its settings (a typo, or a setting
    that was renamed, is caught)."""
    assert set(compose["services"]["service"]["environment"]) <= set(environment_variables())


def test_only_the_proxy_is_published_on_its_listening_port(compose):
    published = {name: s["ports"] for name, s in compose["services"].items() if "ports" in s}
    assert list(published) == ["proxy"]
    (port,) = published["proxy"]
    listen = directive("listen")
    exposed = re.search(r"^EXPOSE (\d+)$", (ROOT / "proxy" / "Dockerfile").read_text(), re.M).group(1)
    assert port.rsplit(":", 1)[1] == listen[0] == exposed


def test_upstream_is_the_service_port(compose):
    upstream = compose["services"]["proxy"]["environment"]["PROXY_UPSTREAM"]
    service_port = re.search(r"\bPORT=(\d+)", " ".join(dockerfile_stages()["service"])).group(1)
    assert upstream == f"service:{service_port}"


def test_timeouts_fit_gunicorns():
    """nginx drops idle upstream connections before gunicorn closes them (else a request sent on
    one as it closes fails), and waits for an answer longer than gunicorn lets a worker run."""
    (upstream_idle,) = directive("keepalive_timeout", NGINX_CONF.split("upstream digitnet_service")[1])
    assert int(upstream_idle.rstrip("s")) < gunicorn_setting("keepalive")
    (read_timeout,) = directive("proxy_read_timeout")
    assert int(read_timeout.rstrip("s")) > gunicorn_setting("timeout")


def test_every_error_the_proxy_answers_has_a_json_message():
    (pages,) = directive("error_page")
    statuses = pages.split()[:-1]
    messages = re.search(r"map \$status \$digitnet_error \{(.*?)\}", NGINX_CONF, re.S).group(1)
    with_message = set(re.findall(r"^\s*(\d{3})\s", messages, re.M))
    assert set(statuses) == with_message
    assert {"413", "429", "502", "503", "504"} <= with_message


def test_metrics_are_not_served_from_outside():
    locations = dict(re.findall(r"location = (\S+) \{([^}]*)\}", NGINX_CONF))
    assert locations["/metrics"].split() == ["return", "404;"]


def test_predictions_alone_are_retried_after_being_sent(tmp_path):
    """nginx never resends a POST it has sent, unless `non_idempotent`: only where the request is
    a pure function of its body (a prediction), on every route of the app that predicts, whatever
    the model and version."""
    locations = re.findall(r"location ([^{]*)\{([^}]*)\}", NGINX_CONF)
    resent = [where.split(maxsplit=1) for where, body in locations if "non_idempotent" in body]

    def is_resent(path: str) -> bool:  # nginx's exact (=) and regular expression (~) locations
        return any(path == where.strip() if kind == "=" else re.search(where.strip(), path)
                   for kind, where in resent)

    for rule in create_app(Settings(model_dir=tmp_path)).url_map.iter_rules():
        assert is_resent(re.sub(r"<[^>]+>", "digits", rule.rule)) == (rule.endpoint in PREDICTING), rule.rule
    assert directive("proxy_next_upstream_tries") == ["2"]


def test_the_token_secret_reaches_the_service_as_a_file(compose):
    """deploy/compose/secrets.yml, which `make up` adds when secrets/api-token exists: the service
    reads the token from the secret's file, never from the environment."""
    overlay = yaml.safe_load((ROOT / "deploy" / "compose" / "secrets.yml").read_text())
    service = overlay["services"]["service"]
    assert set(overlay["services"]) <= set(compose["services"])
    assert service["secrets"] == ["api_token"]
    assert service["environment"] == {"API_TOKEN": "", "API_TOKEN_FILE": "/run/secrets/api_token"}
    # Compose resolves every file's paths from the project directory, the first file's.
    secret = (ROOT / overlay["secrets"]["api_token"]["file"]).resolve()
    assert secret == ROOT / "secrets" / "api-token"
    assert "/secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "-f deploy/compose/secrets.yml" in (ROOT / "Makefile").read_text()
