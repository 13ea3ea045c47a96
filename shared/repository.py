"""The model repository on disk: one folder per model, one bundle file per version, as TF
Serving's version directories:

    $MODEL_DIR/<model-name>/<version>.npz        version = 1, 2, 3, ...

A model's name is a folder name, never a path (MODEL_NAME); only files named `<integer>.npz` are
versions. A new version is one above the highest present, claimed by an atomic write that never
replaces a file, so two trainers saving at once get two versions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.bundle import VERSION_FILE, Bundle, build_manifest, write_bundle
from shared.errors import BundleError
from shared.model import Model
from shared.storage import remove_stale_partials

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # never a path
MAX_CLAIM_ATTEMPTS = 100  # another trainer may take the version picked: try the next, this often


def list_versions(model_dir: Path, name: str) -> list[int]:
    """Versions present for model `name`, ascending. Files not named `<integer>.npz` are ignored."""
    directory = Path(model_dir) / name
    if not directory.is_dir():
        return []
    found = (VERSION_FILE.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def list_models(model_dir: Path) -> list[str]:
    """The model folders in `model_dir` (names a model may have), sorted. Raises OSError when
    the directory cannot be read; a missing directory holds no models."""
    if not Path(model_dir).is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(model_dir)
                  if MODEL_NAME.match(entry.name) and entry.is_dir())


def version_path(model_dir: Path, name: str, version: int) -> Path:
    if not MODEL_NAME.match(name):
        raise BundleError(f"invalid model name {name!r}: letters, digits, '_', '-', '.' only")
    return Path(model_dir) / name / f"{int(version)}.npz"


def latest_bundle_path(model_dir: Path, name: str) -> Path | None:
    versions = list_versions(model_dir, name)
    return version_path(model_dir, name, versions[-1]) if versions else None


def save_new_version(model_dir: Path, name: str, model: Model, extra: Mapping[str, Any],
                     recipe: str | None = None) -> Bundle:
    """Save `model` as the next version of `name` (one above the highest present). `extra` holds
    the trainer's manifest sections and `recipe` names how uploads become the model's input
    (see shared.bundle.build_manifest)."""
    remove_stale_partials(version_path(model_dir, name, 1).parent)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        version = max(list_versions(model_dir, name), default=0) + 1
        manifest = build_manifest(model, name, version, extra, recipe)
        try:
            return write_bundle(version_path(model_dir, name, version), model, manifest)
        except FileExistsError:
            continue
    raise BundleError(f"could not claim a new version in {Path(model_dir) / name}")
