"""The containers of a compose stack as an operator sees them, through `docker`: which are running,
their names, addresses, restart counts and CPU time, and the JSON lines they logged.

Every request the compose tests send carries its own X-Request-ID, so its proxy log line (with
the replica's address) and the one replica's log line that answered it can be found.
"""

from __future__ import annotations

import calendar
import json
import re
import subprocess
import time


def docker(*args: str, timeout: float = 60) -> str:
    """`docker ARGS`'s output; a failure raises with docker's own message."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def containers(project: str, service: str) -> list[str]:
    """Ids of the running containers of one compose service (Compose v1 and v2 set these labels)."""
    out = docker("ps", "--filter", f"label=com.docker.compose.project={project}",
                 "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.ID}}")
    return sorted(out.split())


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container).strip()


def name(container: str) -> str:
    return inspect(container, "{{.Name}}").lstrip("/")


def address(container: str) -> str:
    return inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def json_lines(container: str) -> list[dict]:
    """The JSON lines a container wrote (stdout and stderr)."""
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True,
                            timeout=60)
    lines = []
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def request_lines(container: str, prefix: str) -> list[dict]:
    """A container's request log lines whose request id starts with `prefix`."""
    return [line for line in json_lines(container)
            if line.get("message") == "request" and str(line.get("request_id", "")).startswith(prefix)]


def log_seconds(line: dict) -> float:
    """A log line's time ("2026-01-02T03:04:05.678Z", UTC) as a Unix time."""
    seconds, millis = line["time"].rstrip("Z").split(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000


def upstreams(line: dict) -> list[str]:
    """The replica addresses a proxy log line names (more than one when a retry moved it)."""
    return [part.strip().rsplit(":", 1)[0] for part in line.get("upstream", "").split(",") if part.strip()]


def cpu_seconds(container: str) -> float | None:
    """CPU time a container has used so far, from its cgroup (v2: cpu.stat, microseconds; v1:
    cpuacct.usage, nanoseconds); None where neither can be read."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    result = subprocess.run(["docker", "exec", container, "sh", "-c", read],
                            capture_output=True, text=True, timeout=60)
    if v2 := re.search(r"^usage_usec (\d+)$", result.stdout, re.M):
        return int(v2.group(1)) / 1e6
    if v1 := re.fullmatch(r"(\d+)\n?", result.stdout):
        return int(v1.group(1)) / 1e9
    return None
