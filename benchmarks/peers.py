"""digitnet beside its peers, serving the same weights on this machine: `make bench-peers`.

Starts digitnet (gunicorn with service/gunicorn.conf.py, one worker per core) and the peers in
their own virtual environments (harness/peers/: made on first use, outside git), all on the
newest bundle in $MODEL_DIR/$MODEL_NAME (or a small model trained for the run):

    KServe     a kserve.Model running digitnet's NumPy forward pass, one uvicorn worker per core
    MLServer   its scikit-learn runtime, the bundle's weights set on an MLPClassifier, inference
               in its HTTP process
    BentoML    a bentoml.service running digitnet's forward pass, one worker per core, answering
               V2 JSON at the V2 path (BentoML has no V2 protocol of its own)

First every server answers a few MNIST test images, as V2 JSON and as V2 binary where it has the
extension; unless every label and probability matches digitnet's forward pass
(harness/peers/answers.py), the benchmark stops without figures. Then wrk drives each server in
turn through each scenario, in rounds, so other load on the machine hits them alike:

    liveness        GET /v2/health/live (BentoML: /livez)
    v2-json-1       POST /v2/models/mnist/infer, 1 digit as JSON, asking for its probabilities
    v2-json-256     the same with 256 digits
    v2-binary-256   256 digits as bytes in and out (servers with the binary tensor extension)
    predict-json-1  digitnet's POST /predict, 1 digit as JSON
    predict-png     digitnet's POST /predict, one PNG upload (a digit drawn at 200 px)

One table per scenario: each server's requests/s (images/s for batches), p50 and p99 latency, its
ratio to the best peer in the same round (the median over rounds) and its processes' CPU time per
request. digitnet's own /predict scenarios are compared with the best peer's v2-json-1, and what a
PNG upload's decoding and preprocessing cost is predict-png's CPU less predict-json-1's. Written
to docs/figures/peers.md.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from benchmarks import table
from benchmarks.serve import Result, Scenario, make_scenarios, median_result, model_directory, run_load
from harness.peers import answers, servers
from harness.peers.export import export_model
from harness.peers.v2 import V2Endpoint, v2_binary_request, v2_json_request
from harness.server import Server
from shared import environment
from shared.bundle import load_bundle
from shared.repository import latest_bundle_path
from trainer.data import load_mnist

PEERS = ("kserve", "mlserver", "bentoml")
CHECK_IMAGES = 8  # the answer check's images: enough to cover several labels
BATCH = 256
WARM_UP_SECONDS = 1

Rounds = dict[str, dict[str, list[Result]]]  # by scenario, then server: one result per round


@dataclass(frozen=True)
class Contender:
    """A running server (digitnet's harness.server.Server or a PeerServer) and its V2 model."""

    server: Server | servers.PeerServer
    endpoint: V2Endpoint
    setting: str  # how it is tuned for the machine, as the figures name it


@dataclass(frozen=True)
class ScenarioTable:
    """A scenario as its table names it; `baseline`: the scenario whose best peer it is compared with."""

    name: str
    heading: str
    images: int
    baseline: str


TABLES = [
    ScenarioTable("liveness", "liveness GET", 0, "liveness"),
    ScenarioTable("v2-json-1", "V2 JSON, 1 image", 1, "v2-json-1"),
    ScenarioTable("v2-json-256", f"V2 JSON, {BATCH} images", BATCH, "v2-json-256"),
    ScenarioTable("v2-binary-256", f"V2 binary, {BATCH} images", BATCH, "v2-binary-256"),
    ScenarioTable("predict-json-1", "digitnet /predict JSON, 1 image", 1, "v2-json-1"),
    ScenarioTable("predict-png", "digitnet /predict PNG upload", 1, "v2-json-1"),
]


def main() -> None:
    args = parse_args()
    # Stopped by SIGTERM as by Ctrl-C: unwinding stops the servers, whose own sessions spare them
    # the terminal's signals.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    mnist = load_mnist()
    with tempfile.TemporaryDirectory(prefix="digitnet-peers-") as folder, contextlib.ExitStack() as stack:
        scratch = Path(folder)
        model_dir = model_directory(scratch, mnist)
        model = load_bundle(latest_bundle_path(model_dir, environment.model_name())).model
        exported = export_model(model, scratch / "exported.npz")
        contenders = start_servers(stack, model_dir, exported, scratch, args)
        endpoints = [c.endpoint for c in contenders.values()]
        problems = answers.disagreements(endpoints, model, mnist.x_test[:CHECK_IMAGES])
        if problems:
            sys.exit("the servers do not answer alike; no figures:\n" + "\n".join(problems))
        print(f"answer check: {', '.join(contenders)} agree with digitnet's forward pass on "
              f"{CHECK_IMAGES} images (labels, probabilities within rtol {answers.RTOL:g})", flush=True)
        rounds = measure(contenders, mnist, args)
    print_tables(rounds, settings(contenders))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15,
                        help="seconds per server and scenario, each round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="every server runs every scenario once per round; figures are medians")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client-threads", type=int, default=2)
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, of {', '.join(PEERS)}")
    parser.add_argument("--kserve-workers", type=int, default=table.cpu_count(),
                        help="KServe's uvicorn workers (default: one per core)")
    parser.add_argument("--mlserver-workers", type=int, default=servers.MLSERVER_PARALLEL_WORKERS,
                        help="MLServer's parallel inference workers (0: in its HTTP process)")
    parser.add_argument("--bentoml-workers", type=int, default=table.cpu_count(),
                        help="BentoML's worker processes (default: one per core)")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--also-gthread", action="store_true",
                        help="a second digitnet with GUNICORN_WORKER_CLASS=gthread, in the same rounds")
    args = parser.parse_args()
    args.peers = [p for p in args.peers.split(",") if p]
    if set(args.peers) - set(PEERS):
        parser.error(f"--peers: choose from {', '.join(PEERS)}")
    args.client = "python" if args.python_client or not shutil.which("wrk") else "wrk"
    return args


def start_servers(stack: contextlib.ExitStack, model_dir: Path, exported: Path, scratch: Path,
                  args: argparse.Namespace) -> dict[str, Contender]:
    """digitnet and each peer, tuned for this machine's cores, by server name."""
    cores = table.cpu_count()
    digitnet = stack.enter_context(Server(model_dir, scratch / "digitnet.log", workers=cores))
    contenders = {"digitnet": Contender(digitnet, V2Endpoint("digitnet", digitnet.url, binary=True),
                                        f"{cores} gunicorn gevent workers, the default")}
    if args.also_gthread:
        gthread = stack.enter_context(Server(model_dir, scratch / "digitnet-gthread.log", workers=cores,
                                             GUNICORN_WORKER_CLASS="gthread"))
        contenders["digitnet-gthread"] = Contender(
            gthread, V2Endpoint("digitnet", gthread.url, binary=True), f"{cores} gthread workers")
    if "kserve" in args.peers:
        kserve = stack.enter_context(servers.start_kserve(exported, scratch, workers=args.kserve_workers))
        contenders[kserve.name] = Contender(kserve, kserve.endpoint, f"{args.kserve_workers} uvicorn workers")
    if "mlserver" in args.peers:
        mlserver = stack.enter_context(servers.start_mlserver(exported, scratch, args.mlserver_workers))
        contenders[mlserver.name] = Contender(mlserver, mlserver.endpoint,
                                              f"parallel_workers {args.mlserver_workers}")
    if "bentoml" in args.peers:
        bentoml = stack.enter_context(servers.start_bentoml(exported, scratch, args.bentoml_workers))
        contenders[bentoml.name] = Contender(bentoml, bentoml.endpoint, f"{args.bentoml_workers} workers")
    print(f"servers: {settings(contenders)}; load: {args.client}, {args.connections} connections, "
          f"{args.duration:g}s per server and scenario, {args.rounds} rounds", flush=True)
    return contenders


def settings(contenders: dict[str, Contender]) -> str:
    return ", ".join(f"{name} ({c.setting})" for name, c in contenders.items())


def server_scenarios(endpoint: V2Endpoint, mnist) -> dict[str, Scenario]:
    """The requests of every scenario `endpoint`'s server takes, by scenario name. V2 requests ask
    for the probabilities alone: the one output every server computes in one forward pass."""
    digits = mnist.x_test[:BATCH]
    scenarios = {"liveness": Scenario("liveness", "GET", endpoint.live_path),
                 "v2-json-1": v2_scenario("v2-json-1", endpoint, v2_json_request, digits[:1]),
                 "v2-json-256": v2_scenario("v2-json-256", endpoint, v2_json_request, digits)}
    if endpoint.binary:
        scenarios["v2-binary-256"] = v2_scenario("v2-binary-256", endpoint, v2_binary_request, digits)
    if endpoint.server == "digitnet":
        own = {s.name: s for s in make_scenarios(mnist)}
        scenarios["predict-json-1"] = own["predict-json"]
        scenarios["predict-png"] = own["predict-image"]
    return scenarios


def v2_scenario(name: str, endpoint: V2Endpoint, make: Callable, images: np.ndarray) -> Scenario:
    """`make`'s V2 request (v2_json_request or v2_binary_request) of `images` as a Scenario."""
    body, headers = make(endpoint, images, [endpoint.probabilities])
    content_type = headers.pop("Content-Type")
    return Scenario(name, "POST", endpoint.infer_path, body, content_type, len(images), headers)


def measure(contenders: dict[str, Contender], mnist, args: argparse.Namespace) -> Rounds:
    """Every server's result in every round, by scenario then server: servers take turns within
    a scenario, scenarios within a round, after one warm-up request and run of each."""
    requests_by_server = {name: server_scenarios(c.endpoint, mnist) for name, c in contenders.items()}
    for name, scenarios in requests_by_server.items():
        for scenario in scenarios.values():
            preflight(contenders[name].server.url, scenario)
            run_load(args.client, contenders[name].server.url, scenario, WARM_UP_SECONDS, args)
    rounds: Rounds = {t.name: {} for t in TABLES}
    for _ in range(args.rounds):
        for spec in TABLES:
            for name, scenarios in requests_by_server.items():
                if spec.name in scenarios:
                    result = run_measured(contenders[name].server, scenarios[spec.name], args)
                    rounds[spec.name].setdefault(name, []).append(result)
    return rounds


def run_measured(server: Server | servers.PeerServer, scenario: Scenario,
                 args: argparse.Namespace) -> Result:
    """One load of `scenario` on `server`, with the server's CPU time per request."""
    server.wait_until_idle()
    cpu_before = server.cpu_seconds()
    result = run_load(args.client, server.url, scenario, args.duration, args)
    server.wait_until_idle()  # requests still in flight when the client stops belong to this run
    result.server_cpu_us = (server.cpu_seconds() - cpu_before) / max(result.requests, 1) * 1e6
    return result


def preflight(url: str, scenario: Scenario) -> None:
    """One request of `scenario`, which must succeed: a load of refusals measures nothing."""
    headers = dict(scenario.headers)
    if scenario.content_type:
        headers["Content-Type"] = scenario.content_type
    response = requests.request(scenario.method, url + scenario.path, data=scenario.body or None,
                                headers=headers, timeout=30)
    if not response.ok:
        raise RuntimeError(f"{url}: {scenario.name} answered {response.status_code}: {response.text[:300]}")


def versus_best_peer(rounds: Rounds, spec: ScenarioTable, server: str) -> float | None:
    """The median over rounds of `server`'s requests/s over the best peer's in `spec.baseline`
    of the same round (scaled to images for batches); None when no peer ran the baseline."""
    peers = {name: runs for name, runs in rounds[spec.baseline].items()
             if not name.startswith("digitnet")}
    if not peers:
        return None
    ratios = []
    for i, run in enumerate(rounds[spec.name][server]):
        best = max(runs[i].requests_per_second for runs in peers.values())
        ratios.append(run.requests_per_second / best if best else float("nan"))
    return float(np.median(ratios))


def print_tables(rounds: Rounds, servers_run: str) -> None:
    """One table per scenario, every server a row, all into docs/figures/peers.md; then what a
    PNG upload's decoding and preprocessing cost digitnet."""
    for spec in TABLES:
        if not rounds[spec.name]:
            continue
        rows = []
        for server, runs in rounds[spec.name].items():
            r = median_result(runs)
            images = f"{r.requests_per_second * spec.images:,.0f}" if spec.images else "-"
            ratio = versus_best_peer(rounds, spec, server)
            rows.append([server, f"{r.requests_per_second:,.0f}", images, f"{r.p50_ms:.2f}",
                         f"{r.p99_ms:.2f}", "-" if ratio is None else f"{ratio:.2f}x",
                         f"{r.server_cpu_us:,.0f} us", r.errors])
        print()
        baseline = "" if spec.baseline == spec.name else f" ({spec.baseline})"
        table.print_table([spec.heading, "req/s", "images/s", "p50 ms", "p99 ms",
                           f"vs best peer{baseline}", "server CPU/req", "errors"], rows, figure="peers")
    notes = [f"Servers: {servers_run}. Figures are medians over the rounds; each ratio compares a round "
             "with the best peer's run in the same round. Server CPU/req is the server's processes' CPU "
             "time per request."]
    upload = upload_cost_us(rounds)
    if upload is not None:
        notes.append(f"A PNG upload's decoding and preprocessing cost digitnet {upload:,.0f} us of CPU per "
                     "image (predict-png's server CPU per request less predict-json-1's).")
    print("\n" + "\n".join(notes))
    table.write_figure("peers", "\n\n".join(notes))


def upload_cost_us(rounds: Rounds) -> float | None:
    """digitnet's CPU per PNG upload beyond a JSON digit's (median over rounds), if both ran."""
    png, json_1 = rounds["predict-png"].get("digitnet"), rounds["predict-json-1"].get("digitnet")
    if not png or not json_1:
        return None
    return float(np.median([p.server_cpu_us - j.server_cpu_us for p, j in zip(png, json_1)]))


if __name__ == "__main__":
    main()
