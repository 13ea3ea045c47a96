"""Bad input, faults and load against a real server, measured: `make reliability`.

The bigger versions of what tests/reliability asserts, with the same code (harness/reliability/),
printed as one table: what was tried, how many, how many 5xx answers, how many requests were lost
or failed, and notes (latency, memory, recovery). Every server runs on a free loopback port and is
stopped by its pid; every loop is bounded in time and count.

    python -m benchmarks.reliability                      # about 12 minutes, 3 of them soaking
    python -m benchmarks.reliability --soak-seconds 30    # or RELIABILITY_SOAK_SECONDS=30
    python -m benchmarks.reliability --schema-examples 200  # or RELIABILITY_SCHEMA_EXAMPLES=200
    python -m benchmarks.reliability --hostile-only       # the hostile-request table alone (~1 min)

A second table follows: each hostile request (harness/reliability/hostile.py) sent to a server
with the default limits, with its status, time and the worker's peak memory growth (VmHWM from
/proc), against the targets: no 5xx, at most MEMORY_LIMIT_MIB, within SECONDS_LIMIT.

Scenarios that need a fix elsewhere still run: their row then shows the failures.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from hypothesis import HealthCheck, Phase, given, settings

from benchmarks.table import print_table
from harness.load import Load, RepeatedRequest, summarize
from harness.reliability.bundles import BROKEN_BUNDLES, PICKLE_MARKER_ENV, place
from harness.reliability.checks import not_serving_only, problem, wrong_predictions
from harness.reliability.export import STAGES, export_killed
from harness.reliability.faults import digit_body, kill_worker_under_load, sigterm_under_load
from harness.reliability.hostile import (
    MEASURING_ENV,
    MEMORY_LIMIT_MIB,
    SECONDS_LIMIT,
    hostile_requests,
    measure,
)
from harness.reliability.inputs import FuzzRequest, fuzz_requests, hostile_images
from harness.reliability.schema import CHECKS, fuzz_operation, load_schema, operations
from harness.reliability.soak import soak
from harness.server import Launch, Server
from harness.training import DIGITS_CONFIG
from shared.repository import save_new_version
from trainer.data import load_digits_dataset, load_mnist
from trainer.network import MLP, TrainingConfig

HEADERS = ("scenario", "tried", "5xx", "lost/failed", "notes")
HOSTILE_HEADERS = ("hostile request", "status", "ms", "peak growth MiB", "error chars", "ready after",
                   "targets")
SETTLE_SECONDS = 1.5        # several watcher polls (0.2 s) in both workers
SCHEMA_SECONDS_PER_OPERATION = 600  # a time bound on each operation's schemathesis cases
BACKGROUND_CONNECTIONS = 2  # light load kept on the server while its model directory is abused


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--soak-seconds", type=float,
                        default=float(os.environ.get("RELIABILITY_SOAK_SECONDS", 180)))
    parser.add_argument("--soak-warmup", type=float, default=20)
    parser.add_argument("--fuzz-examples", type=int,
                        default=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", 2000)))
    parser.add_argument("--hostile-only", action="store_true",
                        help="only the hostile-request table (no fuzzing, faults or soak)")
    parser.add_argument("--schema-examples", type=int,
                        default=int(os.environ.get("RELIABILITY_SCHEMA_EXAMPLES", 1000)),
                        help="schemathesis cases per operation of /openapi.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    mnist = load_mnist()
    print("training a small model for the run (a few seconds)", flush=True)
    mlp = MLP(TrainingConfig.plain(hidden=(128,), epochs=2, seed=0)).fit(mnist.x_train, mnist.y_train)
    images = mnist.x_test[:400]
    correct = np.flatnonzero(mlp.model.predict_proba(images.astype(np.float32)).argmax(axis=1)
                             == mnist.y_test[:400])[:16]
    digits, labels = images[correct].reshape(-1, 28, 28), mnist.y_test[correct]

    with tempfile.TemporaryDirectory(prefix="digitnet-reliability-") as scratch_name:
        scratch = Path(scratch_name)
        base = scratch / "base"
        save_new_version(base, "mnist", mlp.model, {"metrics": {}}, recipe=mnist.recipe)
        with Server(base, scratch / "hostile.log", workers=1, **MEASURING_ENV) as server:
            print("-- hostile requests, default limits, one worker", flush=True)
            hostile_rows = list(hostile_table(server))
        if args.hostile_only:
            print()
            print_table(HOSTILE_HEADERS, hostile_rows, figure="hostile")
            return
        rows = scenario_rows(args, base, digits, labels)

    print()
    print_table(HEADERS, rows, figure="reliability")
    print()
    print_table(HOSTILE_HEADERS, hostile_rows, figure="hostile")


def fresh_copy(base: Path, name: str) -> Path:
    """A copy of the model directory `base`, beside it, for a scenario that may damage it."""
    directory = base.parent / name
    shutil.copytree(base, directory)
    return directory


def run(rows: list[list[object]], title: str, scenario, *extra) -> None:
    """Run one scenario, printing its rows as they come and adding them to `rows`."""
    print(f"-- {title}", flush=True)
    started = time.monotonic()
    for row in scenario(*extra):
        rows.append(row)
        print("   " + " | ".join(str(c) for c in row), flush=True)
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)


def scenario_rows(args: argparse.Namespace, base: Path, digits: np.ndarray,
                  labels: np.ndarray) -> list[list[object]]:
    """Every scenario but the hostile requests, each on its own server or copy of `base`."""
    scratch, rows = base.parent, []
    # The input scenarios' server serves both kinds of model, as the tests' session server does,
    # so fuzzed requests for "digits" reach its contract and its recipe rather than a 404.
    inputs = fresh_copy(base, "inputs")
    digits_data = load_digits_dataset()
    digits_mlp = MLP(DIGITS_CONFIG).fit(digits_data.x_train, digits_data.y_train)
    save_new_version(inputs, "digits", digits_mlp.model, {"metrics": {}},
                     recipe=digits_data.recipe)
    with Server(inputs, scratch / "input.log", MAX_IMAGE_PIXELS="4000000") as server:
        run(rows, "fuzzing every endpoint", fuzz, server, args.fuzz_examples, digits, labels)
        run(rows, "schemathesis, every operation", schema_fuzz, server, args.schema_examples, digits, labels)
        run(rows, "hostile images", hostile, server, digits, labels)
    run(rows, "broken bundles", broken_bundles, fresh_copy(base, "bundles"), scratch, digits, labels)
    run(rows, "model directory faults", directory_faults, fresh_copy(base, "faults"), scratch, digits, labels)
    with Server(base, scratch / "kill.log") as server:
        run(rows, "SIGKILL of a worker under load", worker_kill, server, digits, labels)
    run(rows, "SIGTERM under load", graceful_stop, base, scratch, digits)
    with Server(base, scratch / "soak.log") as server:
        run(rows, "soak", soak_row, server, digits, args.soak_seconds, args.soak_warmup)
    return rows


def hostile_table(server: Server):
    """A row per hostile request: sent once to warm up (imports, first allocations), then
    measured; readiness checked after each."""
    cases = hostile_requests()
    for case in cases:
        case.send(server.url)
    for case in cases:
        outcome = measure(server, case)
        ready = requests.get(server.url + "/v2/health/ready", timeout=10).status_code
        missed = outcome.failures() + ([] if ready == 200 else [f"not ready: {ready}"])
        row = [case.name, outcome.status, f"{outcome.seconds * 1000:.0f}", f"{outcome.growth_mib:.1f}",
               outcome.error_chars, ready, "; ".join(missed) or "met"]
        print("   " + " | ".join(str(c) for c in row), flush=True)
        yield row
    print(f"   targets: no 5xx, peak growth <= {MEMORY_LIMIT_MIB} MiB, within {SECONDS_LIMIT:g} s",
          flush=True)


def fuzz(server: Server, examples: int, digits: np.ndarray, labels: np.ndarray):
    """Hypothesis-generated requests to every endpoint, counted rather than asserted."""
    tally: collections.Counter[str] = collections.Counter()
    examples_of: dict[str, str] = {}
    session = requests.Session()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fuzz_requests())
    def one(request: FuzzRequest) -> None:
        nonlocal session
        tally["tried"] += 1
        try:
            response = request.send(session, server.url)
        except requests.RequestException:
            # Lost on a kept-alive connection? Then a fresh one shows whether the server is fine.
            tally["connection dropped"] += 1
            examples_of.setdefault("connection dropped", repr(request)[:120])
            session = requests.Session()
            return
        if response.status_code >= 500:
            tally["5xx"] += 1
            examples_of.setdefault("5xx", repr(request)[:120])
        elif problem(response):
            tally["bad error body"] += 1
            examples_of.setdefault("bad error body", repr(request)[:120])
        tally[f"{response.status_code // 100}xx"] += response.status_code < 500

    one()
    after = wrong_predictions(server.url, digits, labels)
    notes = [f"{tally['2xx']} answered, {tally['4xx']} refused with a JSON error",
             "still predicting correctly" if after is None else f"AFTERWARDS: {after}"]
    notes += [f"{kind}: e.g. {example}" for kind, example in examples_of.items()]
    yield ["fuzz: random requests, all endpoints", tally["tried"], tally["5xx"],
           tally["connection dropped"] + tally["bad error body"], "; ".join(notes)]


def schema_fuzz(server: Server, examples: int, digits: np.ndarray, labels: np.ndarray):
    """schemathesis: a row per operation of /openapi.json, its answers checked against the document."""
    tallies = []
    for operation in operations(load_schema(server.url)):
        tally = fuzz_operation(operation, server.url, examples, SCHEMA_SECONDS_PER_OPERATION)
        tallies.append(tally)
        notes = [tally.describe_statuses(), f"{tally.seconds:.0f} s"]
        if tally.cut_short:
            notes.append(f"CUT SHORT after {SCHEMA_SECONDS_PER_OPERATION} s")
        if tally.failures:
            notes.append(f"FAILED: {'; '.join(tally.failure_kinds())}")
            for failure in tally.failures:  # each with the curl that replays it, for the log
                print(f"   {tally.operation}: {failure}", flush=True)
        yield [f"schemathesis: {tally.operation}", tally.cases, tally.server_errors, len(tally.failures),
               "; ".join(notes)]
    after = wrong_predictions(server.url, digits, labels)
    yield [f"schemathesis: all {len(tallies)} operations", sum(t.cases for t in tallies),
           sum(t.server_errors for t in tallies), sum(len(t.failures) for t in tallies),
           f"checks: {', '.join(check.__name__ for check in CHECKS)}; at least {examples} per operation: "
           f"{'yes' if all(t.cases >= examples for t in tallies) else 'NO'}; "
           + ("still predicting correctly" if after is None else f"AFTERWARDS: {after}")]


def hostile(server: Server, digits: np.ndarray, labels: np.ndarray):
    """Each hand-made image, sent raw and as a multipart upload."""
    tried = server_errors = wrong = 0
    wrong_names = []
    for case in hostile_images(digits[0], int(labels[0])):
        for files in (None, {"file": ("x.png", case.data)}):
            tried += 1
            response = requests.post(f"{server.url}/predict", files=files, timeout=60,
                                     data=None if files else case.data,
                                     headers={} if files else {"Content-Type": "image/png"})
            server_errors += response.status_code >= 500
            label = response.json()["predictions"][0]["label"] if response.status_code == 200 else None
            if problem(response) or response.status_code != case.status or (
                    case.label is not None and label != case.label) or (
                    case.says and case.says not in response.json().get("error", "")):
                wrong += 1
                wrong_names.append(case.name)
    after = wrong_predictions(server.url, digits, labels)
    notes = "bombs, truncated, 0x0, 1xN, GIF, 16-bit, palette, CMYK, EXIF 1-8: all as expected" \
        if not wrong_names else f"NOT as expected: {sorted(set(wrong_names))}"
    yield ["hostile images (raw and multipart)", tried, server_errors, wrong,
           notes + ("" if after is None else f"; AFTERWARDS: {after}")]


def background_load(server: Server, digits: np.ndarray) -> Load:
    return Load(server.url, RepeatedRequest("/predict", digit_body(digits), "application/json"),
                connections=BACKGROUND_CONNECTIONS, max_seconds=600).start()


def broken_bundles(model_dir: Path, scratch: Path, digits: np.ndarray, labels: np.ndarray):
    marker = scratch / "pickle-ran"
    with Server(model_dir, scratch / "bundles.log", **{PICKLE_MARKER_ENV: str(marker)}) as server:
        load = background_load(server, digits)
        good = (model_dir / "mnist" / "1.npz").read_bytes()
        refused = kept_serving = 0
        for version, (maker, says) in enumerate(BROKEN_BUNDLES.values(), start=2):
            path = place(model_dir, version, maker(good, version))
            line = server.wait_for_log('"bundle rejected', f'"path": "{path}"', timeout=30)
            refused += says in json.loads(line)["reason"]
            time.sleep(SETTLE_SECONDS)
            kept_serving += not_serving_only(server.url, "1", digits, labels) is None
        served = 0
        for stage in STAGES:
            export_killed(model_dir, stage, scratch)
            time.sleep(SETTLE_SECONDS)
            served += not_serving_only(server.url, "1", digits, labels) is None
        left = [p.name for p in (model_dir / "mnist").iterdir() if p.name.endswith(".partial")]
        summary = summarize(load.stop())
    yield ["bad bundles beside a serving v1", len(BROKEN_BUNDLES), summary.server_errors, summary.failed,
           f"{refused}/{len(BROKEN_BUNDLES)} refused with the expected reason, v1 served after "
           f"{kept_serving}; pickle code ran: {'YES' if marker.exists() else 'no'}; "
           f"{summary.sent} requests meanwhile (this row and the next)"]
    yield ["trainer SIGKILLed mid-export", len(STAGES), "-", "-",
           f"no version file left ({len(left)} hidden .partial temp files), v1 served after {served}"]


def directory_faults(model_dir: Path, scratch: Path, digits: np.ndarray, labels: np.ndarray):
    """Unreadable (capabilities to bypass modes dropped when root), emptied, removed."""
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    versions = model_dir / "mnist"
    aside = scratch / "aside"

    def unreadable():
        versions.chmod(0)
        yield
        versions.chmod(0o755)

    def emptied():
        aside.mkdir()
        for bundle in versions.glob("*.npz"):
            bundle.rename(aside / bundle.name)
        yield
        for bundle in aside.glob("*.npz"):
            bundle.rename(versions / bundle.name)
        aside.rmdir()

    def removed():
        versions.rename(aside)
        yield
        aside.rename(versions)

    with Server(model_dir, scratch / "faults.log", launch=Launch(prefix=prefix)) as server:
        for name, fault in (("unreadable", unreadable), ("emptied", emptied), ("removed", removed)):
            load = background_load(server, digits)
            time.sleep(0.5)
            steps = fault()
            next(steps)
            time.sleep(3 * SETTLE_SECONDS)
            during = not_serving_only(server.url, "1", digits, labels) is None
            next(steps, None)
            time.sleep(SETTLE_SECONDS)
            back = not_serving_only(server.url, "1", digits, labels) is None
            summary = summarize(load.stop())
            yield [f"model directory {name} while serving", summary.sent, summary.server_errors,
                   summary.failed, f"kept serving v1: {'yes' if during else 'NO'}; after restoring: "
                                   f"{'yes' if back else 'NO'}"]
        warnings = [json.loads(line)["message"] for line in server.log().splitlines()
                    if '"digitnet.registry"' in line and ('"WARNING"' in line or '"ERROR"' in line)]
        print(f"   registry said: {sorted(set(warnings))}", flush=True)


def worker_kill(server: Server, digits: np.ndarray, labels: np.ndarray):
    result = kill_worker_under_load(server, digit_body(digits), window=5.0)
    yield ["SIGKILL one of 2 workers under load", len(result.outcomes), result.server_errors, result.failed,
           f"replaced in {result.replaced_after:.1f} s; {result.before_per_second:.0f} req/s before, after: "
           f"{result.survivors_per_second:.0f} on the same connections, {result.after_per_second:.0f} on "
           f"fresh ones; at most {result.connections} may fail (one per client connection)"]


def graceful_stop(model_dir: Path, scratch: Path, digits: np.ndarray):
    server = Server(model_dir, scratch / "term.log")
    try:
        result = sigterm_under_load(server, digit_body(digits.repeat(4, axis=0), 64))
    finally:
        server.stop()
    server_errors = sum(o.status is not None and o.status >= 500 for o in result.outcomes)
    yield ["SIGTERM under load (64-digit batches)", result.sent_before, server_errors, result.failed_before,
           f"{result.in_flight} in flight at SIGTERM, all answered; exit code {result.exit_code}; "
           f"{result.refused_after} sent after SIGTERM found it closing"]


def soak_row(server: Server, digits: np.ndarray, seconds: float, warmup: float):
    result = soak(server, digits, seconds, warmup)
    start, end = result.rss_start_mib, result.rss_end_mib
    memory = ", ".join(f"{start[p]:.0f}->{end.get(p, float('nan')):.0f} MiB" for p in start)
    yield [f"soak {seconds:.0f} s at saturation (JSON + PNG)", result.summary.sent,
           result.summary.server_errors, result.summary.failed,
           f"{result.summary.per_second:.0f} req/s, p50 {result.summary.p50_ms:.1f} ms, "
           f"p99 {result.summary.p99_ms:.1f} ms; RSS per worker after {warmup:.0f} s warm-up {memory} "
           f"(max growth {result.rss_growth:+.1%}){'' if result.same_workers else '; WORKERS REPLACED'}"]


if __name__ == "__main__":
    main()
