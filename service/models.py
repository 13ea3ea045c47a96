"""The model repository as clients see it: what is served, by which contract, and why not.

    GET  /models                 every model: its contract, policy, labels and loaded versions
    GET  /models/{name}          one of them
    POST /v2/repository/index    Triton's model repository index: every model and version found,
                                 READY or UNAVAILABLE with the reason

A model's entry carries its input contract (shape, image shape, range, image recipe) and classes
from the bundle of its default version, so a client knows what to send without another tool, and
each loaded version's metrics from its manifest (test accuracy, loss...), to choose a version to
address through /v2/models/{name}/versions/{v}.
"""

from __future__ import annotations

from flask import Blueprint

from service.errors import RequestRefused
from service.inference import registry, request_body, select_model
from service.jsonio import parse_json
from service.registry import ModelState

bp = Blueprint("models", __name__)


@bp.get("/models")
def models():
    snapshot = registry().snapshot
    return {"default_model": snapshot.default_model,
            "models": [model_entry(state) for _, state in sorted(snapshot.models.items())]}


@bp.get("/models/<name>")
def model(name: str):
    return model_entry(select_model(registry().snapshot, name))


def model_entry(state: ModelState) -> dict:
    """The model as /models lists it: contract, policy, labels, loaded versions."""
    default = state.default_version
    contract = state.bundles[default] if default is not None else None
    return {
        "model_name": state.name,
        "default_version": str(default) if default is not None else None,
        "labels": {label: str(v) for label, v in sorted(state.labels.items())},
        "policy": state.policy.to_dict(),
        "input": contract.input.to_dict() if contract else None,
        "classes": contract.model.classes if contract else None,
        "versions": [{
            "version": str(version),
            "default": version == default,
            "labels": sorted(label for label, v in state.labels.items() if v == version),
            "created_at": bundle.manifest.created_at,
            "layer_sizes": bundle.model.layer_sizes,
            "metrics": bundle.manifest.metrics or {},
        } for version, bundle in sorted(state.bundles.items(), reverse=True)],
    }


@bp.post("/v2/repository/index")
def repository_index():
    """`{"ready": true}` lists only the versions ready for inference; an empty body is `{}`."""
    data = request_body()
    body = parse_json(data) if data.strip(b" \t\r\n") else {}  # JSON's whitespace only: \x0c is not
    if not isinstance(body, dict) or not isinstance(body.get("ready", False), bool):
        raise RequestRefused(400, 'the request body must be a JSON object, optionally {"ready": true|false}')
    only_ready = body.get("ready", False)
    return [{"name": state.name, "version": str(v.version),
             "state": "READY" if v.ready else "UNAVAILABLE", "reason": v.reason}
            for _, state in sorted(registry().snapshot.models.items())
            for v in state.versions if v.ready or not only_ready]
