"""service/registry.py without HTTP: what the directory holds is what is served."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from service.registry import Registry
from shared.bundle import save_new_version


class Records(logging.Handler):
    """Collects the records of the logger it is added to (the app's loggers skip the root)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


def copy_models(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(model_dir, target)
    return target


def test_highest_version_is_default_and_removed_versions_unload(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    assert registry.refresh() and registry.snapshot.versions == [1]
    save_new_version(models, "mnist", bundle.model, {})
    assert registry.refresh() and registry.snapshot.default.version == 2
    (models / "mnist" / "2.npz").unlink()  # rolling back
    assert registry.refresh() and registry.snapshot.default.version == 1


def test_a_bad_bundle_is_skipped_and_not_retried_until_it_changes(model_dir, tmp_path):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    # A copy of version 1 named as version 2 fails verification (its manifest says 1).
    shutil.copy(models / "mnist" / "1.npz", models / "mnist" / "2.npz")
    assert not registry.refresh() and registry.snapshot.default.version == 1
    assert not registry.refresh()
    assert registry._rejected.keys() == {2}


@pytest.mark.parametrize("fault", ["emptied", "removed"])
def test_an_emptied_or_removed_directory_keeps_what_is_loaded(model_dir, tmp_path, fault):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    loaded = registry.snapshot
    if fault == "emptied":
        (models / "mnist" / "1.npz").rename(tmp_path / "aside.npz")
    else:
        shutil.rmtree(models)
    records = Records()
    logger = logging.getLogger("digitnet.registry")
    logger.addHandler(records)
    try:
        assert not registry.refresh() and not registry.refresh()
    finally:
        logger.removeHandler(records)
    assert registry.snapshot is loaded
    warnings = [r for r in records.seen if r.levelname == "WARNING" and "keeping" in r.getMessage()]
    assert len(warnings) == 1  # once per fault, not once per poll


def test_swaps_are_published_only_where_the_watcher_runs(model_dir, tmp_path):
    published = []
    registry = Registry(copy_models(model_dir, tmp_path), "mnist", poll_seconds=60,
                        on_swap=published.append)
    registry.refresh()
    assert published == []  # the gunicorn master loads but does not publish metrics
    registry.start_watcher()
    registry.stop_watcher()
    assert [s.versions for s in published] == [[1]]


def test_other_files_are_ignored(model_dir, tmp_path):
    models = copy_models(model_dir, tmp_path)
    for name in (".2.npz.partial", "latest.npz", "03.npz", "notes.txt"):
        (models / "mnist" / name).write_bytes(b"junk")
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert registry.snapshot.versions == [1]


def test_missing_directory_is_empty_not_an_error(tmp_path):
    registry = Registry(tmp_path / "nowhere", "mnist", poll_seconds=60)
    assert not registry.refresh() and registry.snapshot.default is None
