"""Prometheus metrics, and the `GET /metrics` endpoint that exposes them.

Under gunicorn several worker processes serve requests, and a scrape reaches only one of them. In
prometheus_client's multiprocess mode every process writes its values to files in
$PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up across processes. gunicorn.conf.py sets that
variable before this module is imported (the mode is chosen at import) and clears the directory
when the server starts. Without it (tests using Flask's test client) the ordinary in-process
registry is used.
"""

from __future__ import annotations

import collections
import functools
import os

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.registry import Snapshot

# "model" is the model that answered ("" for requests no model answered): only names of model
# folders being served, never a name a client sent, so the series stay bounded.
REQUESTS = Counter("digitnet_requests", "HTTP requests answered, by endpoint, model and status.",
                   ["endpoint", "model", "method", "status"])
LATENCY = Histogram("digitnet_request_duration_seconds", "Time to answer a request, by endpoint "
                    "and model.", ["endpoint", "model"],
                    buckets=(.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10))
PREDICTIONS = Counter("digitnet_predictions", "Digits predicted, by model, version and label.",
                      ["model", "model_version", "label"])
# One series per live worker (pid label): during a swap the workers' versions can be told apart.
MODEL_VERSION = Gauge("digitnet_model_version", "Model version answering requests that name "
                      "none (with a split, the one taking most; 0: none).",
                      ["model"], multiprocess_mode="liveall")

# Any other method a client sends is counted as "other": each label value is a series of its own,
# and a client must not be able to create them without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def record_request(endpoint: str, model: str, method: str, status: int, seconds: float) -> None:
    requests, latency = _request_series(endpoint, model, method if method in METHODS else "other",
                                        status)
    requests.inc()
    latency.observe(seconds)


def record_predictions(model: str, model_version: int, labels: list[int]) -> None:
    """Count a batch's labels with one increment per distinct label, not one per image."""
    for label, count in collections.Counter(labels).items():
        _prediction_series(model, model_version, label).inc(count)


# The labelled series are looked up once: `labels()` takes a lock and builds its key on every
# call, a noticeable part of a small request's cost. Endpoints (the app's routes), models,
# methods and statuses are bounded sets, as are a model's versions and labels.
@functools.cache
def _request_series(endpoint: str, model: str, method: str, status: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(endpoint, model, method, str(status)), LATENCY.labels(endpoint, model)


@functools.cache
def _prediction_series(model: str, model_version: int, label: int) -> Counter:
    return PREDICTIONS.labels(model, str(model_version), str(label))


def record_snapshot(snapshot: Snapshot) -> None:
    for name, state in snapshot.models.items():
        MODEL_VERSION.labels(name).set(state.default_version or 0)
