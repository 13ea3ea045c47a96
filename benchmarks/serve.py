"""Requests/s and latency of the service under local load: `make bench-serve`.

Starts the real server (gunicorn with service/gunicorn.conf.py) on a free loopback port and drives
it with `wrk` (Debian's package; `apt-get install wrk`) or, when wrk is missing, a bounded Python
load generator (threads with keep-alive connections). Every scenario runs against the same server
in the same run, so the ratios compare like with like:

    trivial         GET /v2/health/live: the app's cheapest route, the baseline
    predict-json    POST /predict, one MNIST digit as JSON (target: >= 75% of trivial's req/s)
    predict-image   POST /predict, one PNG upload (a digit as a person would draw it, 200 px)
    read-4-digits   POST /read, one PNG of a 4-digit number composed of MNIST test digits
                    (harness/numbers.py; target: p50 <= 15 ms, measured alone on one connection)
    batch-256       POST /predict, 256 digits as JSON (images/s is what counts)
    batch-256-binary  POST /v2/models/mnist/infer, the same 256 digits as bytes in and out (the
                    binary tensor data extension; target: >= 2x batch-256's images/s)

and prints a table with p50/p99 latency and each worker's resident memory. The model is the newest
bundle in $MODEL_DIR/$MODEL_NAME, or one trained for the run (a few seconds) when there is none.

A second server then runs trivial and predict-json again with the forward pass replaced by a
constant answer (benchmarks/ceiling_app.py): the ratio a JSON prediction could reach with an
infinitely fast model, what the request's own parsing, checks and answer leave.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks import table
from harness.images import drawn_digit, encode, multipart_file
from harness.load import Load, RepeatedRequest, summarize
from harness.numbers import compose
from harness.server import Launch, Server
from shared import environment
from shared.repository import latest_bundle_path, save_new_version
from trainer.data import load_mnist
from trainer.network import MLP, TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.75
BINARY_TARGET = 2.0  # batch-256-binary's images/s over batch-256's
READ_TARGET_MS = 15.0  # read-4-digits' p50, one request at a time
CEILING_APP = "benchmarks.ceiling_app:create_app()"
START_TIMEOUT_SECONDS = 60


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    body: bytes = b""
    content_type: str = ""
    images_per_request: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    server_cpu_us: float = 0.0  # worker CPU time per request: what the server itself spends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=5,
                        help="scenarios take turns this many times, so other load on the machine "
                             "hits them alike; each figure is the median over rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: the config's)")
    parser.add_argument("--worker-class", help="override gunicorn's worker class (e.g. sync)")
    parser.add_argument("--gunicorn-threads", type=int, help="override threads per worker")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    args = parser.parse_args()

    mnist = load_mnist()
    with tempfile.TemporaryDirectory(prefix="digitnet-bench-") as scratch:
        model_dir = model_directory(Path(scratch), mnist)
        scenarios = make_scenarios(mnist)
        client = "python" if args.python_client or not shutil.which("wrk") else "wrk"
        with Server(model_dir, Path(scratch) / "server.log", **server_options(args)) as server:
            print(f"server: gunicorn, {len(server.workers())} workers "
                  f"{' '.join(server_options(args)['launch'].gunicorn_args)}; "
                  f"load: {client}, {args.connections} connections, "
                  f"{args.duration:g}s per scenario in {args.rounds} rounds", flush=True)
            rounds = measure(server, scenarios, client, args)
            rss = server.worker_rss_mib()
            # /read's latency target is the service's own time: one request at a time.
            reading = next(s for s in scenarios if s.name == "read-4-digits")
            alone = run_python(server.url, reading, args.duration, connections=1)
        # The same service with the forward pass replaced by a constant answer: how close to the
        # trivial endpoint a JSON prediction could come with an infinitely fast model.
        ceiling_scenarios = [s for s in scenarios if s.name in ("trivial", "predict-json")]
        options = server_options(args)
        with Server(model_dir, Path(scratch) / "ceiling.log", workers=options["workers"],
                    launch=replace(options["launch"], app=CEILING_APP)) as server:
            ceiling = measure(server, ceiling_scenarios, client, args)
        print_results(scenarios, rounds, rss, ceiling)
        verdict = "met" if alone.p50_ms <= READ_TARGET_MS else "NOT met"
        target = (f"target: read-4-digits p50 <= {READ_TARGET_MS:g} ms, one request at a time: "
                  f"p50 {alone.p50_ms:.2f} ms, p99 {alone.p99_ms:.2f} ms ({alone.requests} "
                  f"requests), {verdict}")
        print(target)
        table.write_figure("serve", target)  # the README quotes it


def measure(server: Server, scenarios: list[Scenario], client: str,
            args: argparse.Namespace) -> dict[str, list[Result]]:
    """Each scenario's result in every round, the scenarios taking turns after a warm-up."""
    for scenario in scenarios:
        run_load(client, server.url, scenario, 1, args)  # warm-up
        server.wait_until_idle()
    rounds: dict[str, list[Result]] = {s.name: [] for s in scenarios}
    for _ in range(args.rounds):
        for scenario in scenarios:
            cpu_before = server.cpu_seconds()
            result = run_load(client, server.url, scenario, args.duration / args.rounds, args)
            # Requests still in flight when the client stops belong to this scenario.
            server.wait_until_idle()
            result.server_cpu_us = (server.cpu_seconds() - cpu_before) / result.requests * 1e6
            rounds[scenario.name].append(result)
    return rounds


def server_options(args: argparse.Namespace) -> dict:
    """harness.server.Server's options for the command line's worker count, class and threads."""
    gunicorn_args = []
    if args.worker_class:
        gunicorn_args += ["--worker-class", args.worker_class]
    threads = args.gunicorn_threads or (1 if args.worker_class == "sync" else None)
    if threads:  # gunicorn quietly runs `sync` as gthread when threads > 1
        gunicorn_args += ["--threads", str(threads)]
    workers = args.workers or int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)))
    return {"workers": workers, "launch": Launch(gunicorn_args=tuple(gunicorn_args))}


def model_directory(scratch: Path, mnist) -> Path:
    """$MODEL_DIR when it holds a bundle of $MODEL_NAME, else a freshly trained small model."""
    model_dir = environment.model_dir()
    name = environment.model_name()
    if latest_bundle_path(model_dir, name) is not None:
        return model_dir.resolve()
    print(f"no bundle in {model_dir / name}: training a small one for the benchmark", flush=True)
    mlp = MLP(TrainingConfig.plain(hidden=(128,), epochs=2, seed=0)).fit(mnist.x_train, mnist.y_train)
    save_new_version(scratch, name, mlp.model, {"metrics": {}}, recipe=mnist.recipe)
    return scratch


def make_scenarios(mnist) -> list[Scenario]:
    digits = mnist.x_test[:256]
    png = encode(drawn_digit(digits[0].reshape(28, 28), side=200, canvas=(320, 280), at=(70, 40)))
    multipart, multipart_type = multipart_file(png, "digitnet-bench-boundary")
    number, _ = compose(mnist.x_test[256:260].reshape(-1, 28, 28), np.random.default_rng(0))
    return [
        Scenario("trivial", "GET", "/v2/health/live"),
        Scenario("predict-json", "POST", "/predict",
                 json.dumps({"instances": digits[:1].tolist()}).encode(), "application/json", 1),
        Scenario("predict-image", "POST", "/predict", multipart, multipart_type, 1),
        Scenario("read-4-digits", "POST", "/read", encode(number), "image/png", 1),
        Scenario("batch-256", "POST", "/predict",
                 json.dumps({"instances": digits.tolist()}).encode(), "application/json", 256),
        binary_batch(digits),
    ]


def binary_batch(digits: np.ndarray) -> Scenario:
    """The 256 digits as V2 bytes after a JSON header, every output asked as bytes."""
    pixels = np.ascontiguousarray(digits, dtype=np.uint8).tobytes()
    header = json.dumps({
        "inputs": [{"name": "input", "shape": [len(digits), 784], "datatype": "UINT8",
                    "parameters": {"binary_data_size": len(pixels)}}],
        "parameters": {"binary_data_output": True},
    }).encode()
    return Scenario("batch-256-binary", "POST", "/v2/models/mnist/infer", header + pixels,
                    "application/octet-stream", len(digits),
                    {"Inference-Header-Content-Length": str(len(header))})


def median_result(runs: list[Result]) -> Result:
    def median(field: str) -> float:
        return float(np.median([getattr(r, field) for r in runs]))

    return Result(median("requests_per_second"), median("p50_ms"), median("p99_ms"),
                  sum(r.errors for r in runs), sum(r.requests for r in runs), median("server_cpu_us"))


def run_load(client: str, url: str, scenario: Scenario, duration: float,
             args: argparse.Namespace) -> Result:
    if client == "wrk":
        return run_wrk(url, scenario, duration, args)
    return run_python(url, scenario, duration, args.connections)


WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = f:read("*all")
f:close()
if os.getenv("BENCH_TYPE") ~= "" then wrk.headers["Content-Type"] = os.getenv("BENCH_TYPE") end
for name, value in string.gmatch(os.getenv("BENCH_HEADERS"), "([^:\\n]+): ([^\\n]*)") do
  wrk.headers[name] = value
end
"""


def run_wrk(url: str, scenario: Scenario, duration: float, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory() as scratch:
        script, body = Path(scratch, "request.lua"), Path(scratch, "body")
        script.write_text(WRK_SCRIPT)
        body.write_bytes(scenario.body)
        env = {**os.environ, "BENCH_BODY": str(body), "BENCH_METHOD": scenario.method,
               "BENCH_TYPE": scenario.content_type,
               "BENCH_HEADERS": "".join(f"{k}: {v}\n" for k, v in scenario.headers.items())}
        output = subprocess.run(
            ["wrk", f"-t{args.client_threads}", f"-c{args.connections}", f"-d{max(1, round(duration))}s",
             "--latency", "-s", str(script), url + scenario.path],
            env=env, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|errors: connect|read|write|"
                                            r"timeout):? (\d+)", output))
    return Result(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                  _wrk_ms(output, "50%"), _wrk_ms(output, "99%"), errors,
                  int(re.search(r"(\d+) requests in", output).group(1)))


def _wrk_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_python(url: str, scenario: Scenario, duration: float, connections: int) -> Result:
    """Fallback load: `connections` threads, each looping on one keep-alive connection."""
    request = RepeatedRequest(scenario.path, scenario.body, scenario.content_type,
                              method=scenario.method, headers=scenario.headers)
    load = Load(url, request, connections=connections, max_seconds=duration)
    summary = summarize(load.run(duration))
    return Result(summary.per_second, summary.p50_ms, summary.p99_ms, summary.failed, summary.sent)


def ratio(rounds: dict[str, list[Result]], name: str, field: str, inverse: bool = False,
          baseline: str = "trivial") -> float:
    """Median over the rounds of scenario `name`'s `field` against the `baseline` run of the same
    round, so a burst of other load on the machine does not favour one scenario."""
    pairs = zip(rounds[name], rounds[baseline])
    return float(np.median([getattr(t, field) / getattr(r, field) if inverse
                            else getattr(r, field) / getattr(t, field) for r, t in pairs]))


def print_results(scenarios: list[Scenario], rounds: dict[str, list[Result]], rss: list[float],
                  ceiling: dict[str, list[Result]]) -> None:
    """Medians over the rounds, ratios within each round."""
    results = {name: median_result(runs) for name, runs in rounds.items()}

    rows = []
    for scenario in scenarios:
        r = results[scenario.name]
        images = f"{r.requests_per_second * scenario.images_per_request:,.0f}" \
            if scenario.images_per_request else "-"
        speed = ratio(rounds, scenario.name, "requests_per_second")
        cost = ratio(rounds, scenario.name, "server_cpu_us", inverse=True)
        rows.append([scenario.name, f"{r.requests_per_second:,.0f}", images, f"{r.p50_ms:.2f}",
                     f"{r.p99_ms:.2f}", f"{speed:.0%}", f"{r.server_cpu_us:,.0f} us", f"{cost:.0%}",
                     r.errors])
    print()
    table.print_table(["scenario", "req/s", "images/s", "p50 ms", "p99 ms", "vs trivial",
                       "server CPU/req", "vs trivial", "errors"], rows, figure="serve")
    print(f"\nRSS per worker: {', '.join(f'{m:.0f} MiB' for m in rss)}")
    print("Figures are medians over the rounds; ratios compare each round with its own trivial run.\n"
          "Server CPU/req is the workers' CPU time per request (their capacity, whatever the client).")
    achieved = ratio(rounds, "predict-json", "requests_per_second")
    verdict = "met" if achieved >= TARGET_RATIO else "NOT met"
    print(f"target: predict-json >= {TARGET_RATIO:.0%} of trivial req/s: {achieved:.0%}, {verdict}")
    binary = ratio(rounds, "batch-256-binary", "requests_per_second", baseline="batch-256")
    print(f"target: batch-256-binary >= {BINARY_TARGET:g}x the images/s of batch-256 (JSON): {binary:.2f}x, "
          f"{'met' if binary >= BINARY_TARGET else 'NOT met'}")
    print(f"ceiling: with the forward pass replaced by a constant answer ({CEILING_APP}), "
          f"predict-json reaches {ratio(ceiling, 'predict-json', 'requests_per_second'):.0%} "
          "of trivial req/s: what parsing, checking and answering the request cost alone")


if __name__ == "__main__":
    main()
