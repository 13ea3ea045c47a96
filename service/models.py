"""`GET /models`: which versions are loaded, which one answers by default, and how good each is.

The metrics are the ones the trainer wrote into each bundle's manifest (test accuracy, loss...),
so choosing a version to address through /v2/models/{name}/versions/{v} needs no other tool.
"""

from __future__ import annotations

from flask import Blueprint

from service.inference import registry

bp = Blueprint("models", __name__)


@bp.get("/models")
def models():
    snapshot = registry().snapshot
    default = snapshot.default
    return {
        "model_name": snapshot.model_name,
        "default_version": str(default.version) if default else None,
        "versions": [{
            "version": str(version),
            "default": bundle is default,
            "created_at": bundle.manifest.get("created_at"),
            "layer_sizes": bundle.model.layer_sizes,
            "metrics": bundle.manifest.get("metrics", {}),
        } for version, bundle in sorted(snapshot.bundles.items(), reverse=True)],
    }
