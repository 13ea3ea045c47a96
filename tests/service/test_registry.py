"""service/registry.py without HTTP: what the directory holds (bundles and policy files) is what is
served, model by model."""

from __future__ import annotations

import gc
import logging
import shutil
import weakref
from pathlib import Path

import pytest

from harness.clients import write_policy
from service.registry import Registry, VersionState
from shared.repository import save_new_version


class Records(logging.Handler):
    """Collects the records of the logger it is added to (the app's loggers skip the root)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)

    def messages(self, level: str) -> list[str]:
        return [r.getMessage() for r in self.seen if r.levelname == level]


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger("digitnet.registry")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def copy_models(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(model_dir, target)
    return target


def add_versions(models: Path, bundle, count: int, name: str = "mnist") -> None:
    for _ in range(count):
        save_new_version(models, name, bundle.model, {}, recipe="mnist")


def loaded(registry: Registry, name: str = "mnist") -> list[int]:
    return sorted(registry.snapshot.models[name].bundles, reverse=True)


def test_every_model_folder_is_a_model_with_its_own_versions(model_dir, tmp_path):
    registry = Registry(copy_models(model_dir, tmp_path), "mnist", poll_seconds=60)
    assert registry.refresh()
    assert sorted(registry.snapshot.models) == ["digits", "mnist"]
    assert registry.snapshot.default_model_state.name == "mnist"
    assert registry.snapshot.models["digits"].default_bundle().input.image_shape == (8, 8)
    assert registry.snapshot.models["mnist"].default_bundle().input.image_shape == (28, 28)


def test_highest_version_is_default_and_removed_versions_unload(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    assert registry.refresh() and loaded(registry) == [1]
    add_versions(models, bundle, 1)
    assert registry.refresh() and registry.snapshot.default_model_state.default_bundle().version == 2
    (models / "mnist" / "2.npz").unlink()  # rolling back
    assert registry.refresh() and registry.snapshot.default_model_state.default_bundle().version == 1


def test_latest_2_by_default_and_older_versions_are_never_read(model_dir, bundle, tmp_path, records):
    models = copy_models(model_dir, tmp_path)
    (models / "mnist" / "1.npz").write_bytes(b"not a bundle: reading it would log a refusal")
    add_versions(models, bundle, 4)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert loaded(registry) == [5, 4]
    outside = "unloaded: outside the version policy (latest 2)"
    assert registry.snapshot.default_model_state.versions == (
        VersionState(5, True, ""), VersionState(4, True, ""), VersionState(3, False, outside),
        VersionState(2, False, outside), VersionState(1, False, outside))
    assert not records.messages("ERROR")


def test_latest_n_reaches_past_a_broken_newest_version(model_dir, bundle, tmp_path, records):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 1)
    # A copy of version 1 named as version 3 fails verification (its manifest says 1).
    shutil.copy(models / "mnist" / "1.npz", models / "mnist" / "3.npz")
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert loaded(registry) == [2, 1]
    [three] = [v for v in registry.snapshot.default_model_state.versions if v.version == 3]
    assert not three.ready and three.reason == "refused: file name says version 3, manifest says 1"
    assert not registry.refresh()  # not read again until it changes
    assert len([m for m in records.messages("ERROR") if "bundle rejected" in m]) == 1


def test_a_bundle_naming_another_model_is_refused(model_dir, tmp_path):
    models = copy_models(model_dir, tmp_path)
    (models / "copy").mkdir()
    shutil.copy(models / "mnist" / "1.npz", models / "copy" / "1.npz")
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    copy = registry.snapshot.models["copy"]
    assert not copy.bundles and copy.default_bundle() is None
    assert copy.versions[0].reason == "refused: manifest names model 'mnist', expected 'copy'"


@pytest.mark.parametrize("policy, expected", [
    ({"version_policy": {"latest": 1}}, [4]),
    ({"version_policy": {"latest": 3}}, [4, 3, 2]),
    ({"version_policy": {"all": True}}, [4, 3, 2, 1]),
    ({"version_policy": {"specific": [1, 3, 9]}}, [3, 1]),
])
def test_the_version_policy_decides_what_is_loaded(model_dir, bundle, tmp_path, policy, expected):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 3)
    write_policy(models, policy)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert loaded(registry) == expected
    assert registry.snapshot.default_model_state.default_bundle().version == expected[0]


def test_versions_leaving_the_policy_are_unloaded(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    first = weakref.ref(registry.snapshot.default_model_state.bundles[1])
    add_versions(models, bundle, 2)
    registry.refresh()
    assert loaded(registry) == [3, 2]
    gc.collect()
    assert first() is None, "version 1 is still in memory"


def test_labels_name_versions_keep_them_loaded_and_route_the_default(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 3)
    write_policy(models, {"version_policy": {"latest": 1}, "labels": {"stable": 2, "canary": 4},
                          "default": "stable"})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    state = registry.snapshot.default_model_state
    assert loaded(registry) == [4, 2]
    assert dict(state.labels) == {"stable": 2, "canary": 4}
    assert state.default_bundle().version == 2 and state.default_version == 2
    assert state.find("canary").version == 4 and state.find("4").version == 4
    assert state.find("3") is None and state.find("beta") is None and state.find("04") is None

    write_policy(models, {"version_policy": {"latest": 1}, "labels": {"stable": 4}, "default": "stable"})
    assert registry.refresh()
    assert loaded(registry) == [4] and registry.snapshot.default_model_state.default_bundle().version == 4


def test_a_weighted_default_splits_requests_between_labels(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 1)
    write_policy(models, {"labels": {"stable": 1, "canary": 2}, "default": {"stable": 3, "canary": 1}})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    state = registry.snapshot.default_model_state
    draws = [state.default_bundle().version for _ in range(20_000)]
    assert draws.count(2) / len(draws) == pytest.approx(0.25, abs=0.02)  # 0.3% standard deviation
    assert state.default_version == 1  # the one taking most


@pytest.mark.parametrize("bad, says", [
    ("{not json", "not valid JSON"),
    ('{"lables": {"stable": 1}}', "unknown key(s) ['lables']"),
    ('{"version_policy": {"latest": 0}}', '"version_policy"'),
    ('{"labels": {"stable": 7}}', "label 'stable' names version 7, which is not in the folder"),
    ('{"labels": {"stable": 3}}', "label 'stable' names version 3, which was refused: file name says"),
    ('{"labels": {"1": 1}}', "a label starts with a letter"),
    ('{"labels": {"stable": 1}, "default": "canary"}', "\"default\" names 'canary'"),
    ('{"labels": {"a": 1, "b": 2}, "default": {"a": 1, "b": -1}}', "weight -1"),
    ("x" * 70_000, "over the limit"),
])
def test_a_bad_policy_file_changes_nothing(model_dir, bundle, tmp_path, records, bad, says):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 1)
    shutil.copy(models / "mnist" / "1.npz", models / "mnist" / "3.npz")  # refused: says version 1
    write_policy(models, {"labels": {"stable": 1, "canary": 2}, "default": "stable"})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    before = registry.snapshot
    write_policy(models, bad)
    assert not registry.refresh() and not registry.refresh()
    assert registry.snapshot is before
    refusals = [m for m in records.messages("ERROR") if "policy.json refused" in m]
    assert len(refusals) == 1 and says in refusals[0]  # once, not once per poll
    assert "keeping the policy in force (latest 2)" in refusals[0]


def test_a_policy_waiting_for_its_version_applies_when_it_arrives(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    write_policy(models, {"labels": {"stable": 1, "canary": 2}, "default": {"stable": 9, "canary": 1}})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert loaded(registry) == [1] and not registry.snapshot.default_model_state.labels
    add_versions(models, bundle, 1)
    registry.refresh()
    assert dict(registry.snapshot.default_model_state.labels) == {"stable": 1, "canary": 2}


def test_a_labelled_version_whose_file_goes_is_served_until_the_label_moves(model_dir, bundle, tmp_path,
                                                                            records):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 2)
    write_policy(models, {"version_policy": {"latest": 1}, "labels": {"stable": 1}, "default": "stable"})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    (models / "mnist" / "1.npz").unlink()
    registry.refresh()
    registry.refresh()
    assert registry.snapshot.default_model_state.default_bundle().version == 1
    assert len([m for m in records.messages("WARNING") if "still served from memory" in m]) == 1
    write_policy(models, {"version_policy": {"latest": 1}})
    registry.refresh()
    assert loaded(registry) == [3] and registry.snapshot.default_model_state.default_bundle().version == 3


def test_deleting_the_policy_file_restores_the_defaults(model_dir, bundle, tmp_path):
    models = copy_models(model_dir, tmp_path)
    add_versions(models, bundle, 2)
    write_policy(models, {"version_policy": {"all": True}})
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert loaded(registry) == [3, 2, 1]
    (models / "mnist" / "policy.json").unlink()
    registry.refresh()
    assert loaded(registry) == [3, 2]


@pytest.mark.parametrize("fault", ["emptied", "removed", "model folder removed"])
def test_an_emptied_or_removed_directory_keeps_what_is_loaded(model_dir, tmp_path, records, fault):
    models = copy_models(model_dir, tmp_path)
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    before = registry.snapshot
    if fault == "emptied":
        (models / "mnist" / "1.npz").rename(tmp_path / "aside.npz")
    elif fault == "removed":
        shutil.rmtree(models)
    else:
        shutil.rmtree(models / "mnist")
    assert not registry.refresh() and not registry.refresh()
    assert registry.snapshot is before
    warnings = [m for m in records.messages("WARNING") if "keeping" in m]
    assert len(warnings) == 1  # once per fault, not once per poll


def test_swaps_are_published_only_where_the_watcher_runs(model_dir, tmp_path):
    published = []
    registry = Registry(copy_models(model_dir, tmp_path), "mnist", poll_seconds=60,
                        on_swap=published.append)
    registry.refresh()
    assert published == []  # the gunicorn master loads but does not publish metrics
    registry.start_watcher()
    registry.stop_watcher()
    assert [sorted(s.models) for s in published] == [["digits", "mnist"]]


def test_other_files_and_folders_are_ignored(model_dir, tmp_path):
    models = copy_models(model_dir, tmp_path)
    for name in (".2.npz.partial", "latest.npz", "03.npz", "notes.txt"):
        (models / "mnist" / name).write_bytes(b"junk")
    for folder in (".hidden", "lost+found", "empty"):
        (models / folder).mkdir()
    shutil.copy(models / "mnist" / "1.npz", models / ".hidden" / "1.npz")
    (models / "7.npz").write_bytes(b"junk")
    registry = Registry(models, "mnist", poll_seconds=60)
    registry.refresh()
    assert sorted(registry.snapshot.models) == ["digits", "mnist"] and loaded(registry) == [1]


def test_missing_directory_is_empty_not_an_error(tmp_path):
    registry = Registry(tmp_path / "nowhere", "mnist", poll_seconds=60)
    assert not registry.refresh() and registry.snapshot.default_model_state is None
