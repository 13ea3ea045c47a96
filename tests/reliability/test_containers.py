"""Container hardening: non-root users, read-only root filesystems, dropped capabilities, and
nothing in the images but the code and its dependencies (no secrets, no data, no .git).

The file checks always run; the image checks need the Docker engine and the images that
`make up` or `make compose-test` build, and are skipped without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"  # one multi-stage file: targets "trainer" and "service"
IMAGES = ("digitnet-service", "digitnet-trainer")
PROXY_IMAGE = "digitnet-proxy"  # proxy/Dockerfile: nginx, no Python code
SECRET_NAMES = re.compile(r"TOKEN|SECRET|PASSW|API_KEY|PRIVATE", re.IGNORECASE)


def dockerfile_stages() -> dict[str, list[str]]:
    """Instructions (continuation lines joined, comments dropped) of each `FROM ... AS name` stage."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    text = "\n".join(line for line in lines if not line.startswith("#"))
    for line in text.replace("\\\n", " ").splitlines():
        if not line:
            continue
        if match := re.match(r"(?i)^FROM\s+\S+\s+AS\s+(\S+)", line):
            current = stages.setdefault(match.group(1), [])
        current.append(line)
    return stages


@pytest.mark.parametrize("stage", ["trainer", "service"])
def test_image_runs_as_a_non_root_user(stage: str):
    lines = dockerfile_stages()[stage]
    users = [(i, line.split()[1]) for i, line in enumerate(lines) if line.upper().startswith("USER ")]
    assert users and users[-1][1] not in ("root", "0", "0:0"), "the last USER must not be root"
    starts = [i for i, line in enumerate(lines) if line.upper().startswith(("CMD", "ENTRYPOINT"))]
    assert starts and min(starts) > users[-1][0], "USER must come before CMD/ENTRYPOINT"


def test_dockerfile_bakes_in_no_secret_and_copies_no_context():
    for lines in dockerfile_stages().values():
        for line in lines:
            if line.upper().startswith(("ENV ", "ARG ")):
                assert not SECRET_NAMES.search(line), f"a secret-like setting baked into an image: {line}"
            assert not re.match(r"(?i)^(COPY|ADD)\s+\.\s", line), f"copies the whole context: {line}"


def test_build_context_is_an_allow_list():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore must start by excluding everything"
    allowed = [rule[1:] for rule in rules if rule.startswith("!")]
    assert not [a for a in allowed if a.startswith((".env", ".git", "models", "tests", ".venv"))]


def compose_service(name: str) -> str:
    """The text of one service's block in docker-compose.yml (two-space indented under services)."""
    text = (ROOT / "docker-compose.yml").read_text()
    block = re.search(rf"^  {name}:\n(.*?)(?=^  \S|^\S)", text, re.M | re.S)
    assert block, f"no service {name!r} in docker-compose.yml"
    return block.group(1)


@pytest.mark.parametrize("service", ["trainer", "service", "proxy"])
def test_compose_hardens_every_container(service: str):
    block = compose_service(service)
    assert re.search(r"^\s+read_only: true$", block, re.M), "root filesystem not read-only"
    assert re.search(r"^\s+cap_drop:\n\s+- ALL$", block, re.M), "capabilities not dropped"
    assert "no-new-privileges:true" in block
    assert not re.search(r"^\s+(privileged: true|user: ['\"]?(root|0)\b)", block, re.M)
    # Secrets come from the environment at run time, never written into the file.
    for value in re.findall(r"^\s+API_TOKEN: (.*)$", block, re.M):
        assert value.startswith("${"), "API_TOKEN is written into docker-compose.yml"


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; under CI (which builds the images first) fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"container checks cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def images() -> tuple[str, ...]:
    if not shutil.which("docker") or docker("info").returncode != 0:
        _unavailable("no Docker engine")
    missing = [image for image in (*IMAGES, PROXY_IMAGE) if docker("image", "inspect", image).returncode != 0]
    if missing:
        _unavailable(f"images not built ({', '.join(missing)}): run `make up` or `make compose-test`")
    return IMAGES


@pytest.mark.docker
@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_as_non_root_on_a_read_only_root(images, image):
    result = docker("run", "--rm", "--read-only", "--cap-drop", "ALL", "--security-opt",
                    "no-new-privileges", "--entrypoint", "sh", image, "-c",
                    "id -u; touch /app/x 2>/dev/null && echo writable || echo read-only; "
                    "env; ls -A /app")
    assert result.returncode == 0, result.stderr
    uid, root_fs, *rest = result.stdout.split("\n")
    assert uid != "0" and root_fs == "read-only"
    environment = [line for line in rest if "=" in line]
    assert not [line for line in environment if SECRET_NAMES.search(line.split("=")[0])], environment
    contents = set(rest) - set(environment) - {""}
    assert contents <= {"shared", "service", "trainer"}, contents


@pytest.mark.docker
def test_proxy_image_runs_as_non_root_on_a_read_only_root(images):
    result = docker("run", "--rm", "--read-only", "--cap-drop", "ALL", "--security-opt",
                    "no-new-privileges", "--entrypoint", "sh", PROXY_IMAGE, "-c",
                    "id -u; touch /etc/nginx/x 2>/dev/null && echo writable || echo read-only; env")
    assert result.returncode == 0, result.stderr
    uid, root_fs, *environment = result.stdout.split("\n")
    assert uid == "10001" and root_fs == "read-only"
    assert not [line for line in environment if SECRET_NAMES.search(line.split("=")[0])], environment
