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
import os

import numpy as np
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

REQUESTS = Counter("digitnet_requests", "HTTP requests answered, by endpoint and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("digitnet_request_duration_seconds", "Time to answer a request, by endpoint.",
                    ["endpoint"],
                    buckets=(.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10))
PREDICTIONS = Counter("digitnet_predictions", "Digits predicted, by model version and label.",
                      ["model_version", "label"])
# One series per live worker (pid label): during a swap the workers' versions can be told apart.
MODEL_VERSION = Gauge("digitnet_model_version", "Model version served by default (0: none).",
                      ["model"], multiprocess_mode="liveall")

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, method, str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def record_predictions(model_version: int, labels: np.ndarray) -> None:
    """Count a batch's labels with one increment per distinct label, not one per image."""
    for label, count in collections.Counter(labels.tolist()).items():
        PREDICTIONS.labels(str(model_version), str(label)).inc(count)


def record_snapshot(snapshot: Snapshot) -> None:
    default = snapshot.default
    MODEL_VERSION.labels(snapshot.model_name).set(default.version if default else 0)
