"""The model repository: every model folder in MODEL_DIR, what is loaded of each, and the watcher
that keeps it all in step with the directory.

    $MODEL_DIR/mnist/1.npz 2.npz 3.npz policy.json
    $MODEL_DIR/digits/1.npz

Requests never see a half-updated state: every change builds a new immutable `Snapshot` and
replaces the registry's reference to it in one assignment (atomic in Python). A request reads
`registry.snapshot` once and uses that for its whole life, so a swap in the middle of a request
cannot mix two versions, and no request waits on a lock or touches a file.

What is loaded, for each model folder:
- the versions its version policy picks (service/policy.py; by default the latest 2 that verify)
  and every version a label names. Nothing else stays in memory: a version leaving the policy is
  unloaded, so memory is bounded by the policy however many versions are written.
- A bundle that fails verification (or names another model) is logged once and skipped until
  its file changes; "latest N" then reaches down to the next good version. The index keeps its
  reason.
- The policy file is read when it changes and applied whole or not at all: a file that does not
  parse, or whose labels name versions that are missing or do not verify, is logged and the
  policy in force stays. A labelled version is never dropped for a file that went bad or
  vanished: moving the label is how to stop serving it.
- A request naming no version gets the model's default version: the policy's default route (a
  label, or a weighted draw between labels), else the highest loaded version. A request naming
  no model gets the default model (DEFAULT_MODEL).

The directory is the source of truth, but a fault is not an instruction to stop serving: a
MODEL_DIR or model folder that becomes unreadable, empty or missing keeps its loaded versions,
with a warning, until bundles are back. A model is only dropped by a restart.

Threads do not survive fork, so under gunicorn each worker starts its own watcher after it is
forked (see gunicorn.conf.py); the master only loads the models once, before forking, so workers
start with them already in (shared) memory.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.policy import (
    MAX_POLICY_BYTES,
    POLICY_FILE,
    VERSION,
    Policy,
    PolicyError,
    parse_policy,
)
from shared.bundle import Bundle, load_bundle
from shared.errors import BundleError
from shared.repository import list_models, list_versions, version_path

log = logging.getLogger("digitnet.registry")

FileKey = tuple[int, int, int]  # (inode, size, mtime_ns): a changed file gets a new key
REPOSITORY = ""                 # the scope of faults of MODEL_DIR itself, beside model names


@dataclass(frozen=True)
class VersionState:
    """One version of a model as the repository index shows it."""

    version: int
    ready: bool
    reason: str  # why it is not loaded; "" when it is


@dataclass(frozen=True, eq=False)
class ModelState:
    """One model at one moment: its loaded versions, labels and default route. Never mutated."""

    name: str
    bundles: Mapping[int, Bundle]               # the loaded versions
    policy: Policy                              # the policy in force
    labels: Mapping[str, int]                   # label -> loaded version
    versions: tuple[VersionState, ...]          # every version known, newest first
    default_route: tuple[tuple[float, Bundle], ...]  # (cumulative share, bundle) of unversioned requests

    def default_bundle(self) -> Bundle | None:
        """The bundle answering a request that names no version (drawn, when the policy splits)."""
        route = self.default_route
        if len(route) == 1:
            return route[0][1]
        if not route:
            return None
        draw = random.random()
        return next((bundle for edge, bundle in route if draw < edge), route[-1][1])

    @property
    def default_version(self) -> int | None:
        """The version taking most of the requests that name no version (the one, without a
        split): the version /models calls the default."""
        heaviest, share, below = None, 0.0, 0.0
        for edge, bundle in self.default_route:
            if edge - below > share:
                heaviest, share = bundle, edge - below
            below = edge
        return heaviest.version if heaviest else None

    def find(self, selector: str) -> Bundle | None:
        """The loaded bundle a version number ("3") or a label ("stable") names, or None."""
        if VERSION.match(selector):
            return self.bundles.get(int(selector))
        return self.bundles.get(self.labels.get(selector))

    def same_as(self, other: ModelState | None) -> bool:
        """Whether `other` shows the same thing (bundles compared by identity, not by weights)."""
        return (other is not None and self.policy == other.policy and self.labels == other.labels
                and self.versions == other.versions and self.bundles.keys() == other.bundles.keys()
                and all(b is other.bundles[v] for v, b in self.bundles.items())
                and _versions(self.default_route) == _versions(other.default_route))


def _versions(route: tuple[tuple[float, Bundle], ...]) -> list[tuple[float, int]]:
    return [(edge, bundle.version) for edge, bundle in route]


@dataclass(frozen=True)
class Snapshot:
    """Every model at one moment. Never mutated: a change makes a new snapshot."""

    default_model: str                          # the name of the model answering requests naming none
    models: Mapping[str, ModelState] = field(default_factory=dict)

    @property
    def default_model_state(self) -> ModelState | None:
        return self.models.get(self.default_model)


@dataclass
class _Folder:
    """What the watcher knows of one model folder. Only the refresh (under its lock) touches it."""

    name: str
    directory: Path
    loaded: dict[int, tuple[FileKey, Bundle]] = field(default_factory=dict)
    rejected: dict[int, tuple[FileKey, str]] = field(default_factory=dict)  # version -> (key, reason)
    policy_key: FileKey | None = None        # the policy file's key when last read
    policy_read: Policy | str | None = None  # what it held: a policy, why it was refused, or no file
    policy: Policy = field(default_factory=Policy)  # the policy in force
    said: set[str] = field(default_factory=set)  # the problems logged, while they last


class Registry:
    """Knows the model directory and what is loaded from it; knows nothing of HTTP."""

    def __init__(self, model_dir: Path, default_model: str, poll_seconds: float,
                 on_swap: Callable[[Snapshot], None] = lambda snapshot: None) -> None:
        self.model_dir = Path(model_dir)
        self.default_model = default_model
        self.poll_seconds = poll_seconds
        self.snapshot = Snapshot(default_model)
        self._on_swap = on_swap
        self._watching = False       # on_swap is only called in processes that watch
        self._folders: dict[str, _Folder] = {}
        self._faults: dict[str, str] = {}  # scope (a model, or REPOSITORY) -> fault being ridden out
        self._lock = threading.Lock()  # one refresh at a time; readers never take it
        self._stop = threading.Event()

    def refresh(self) -> bool:
        """Bring the snapshot in line with the directory. Returns whether anything changed."""
        with self._lock:
            current = self.snapshot.models
            try:
                names = list_models(self.model_dir)
            except OSError as e:
                self._fault(REPOSITORY, f"cannot read the model directory: {e}")
                return False
            if not names and any(state.bundles for state in current.values()):
                self._fault(REPOSITORY, f"no model folder in {self.model_dir}")
                return False
            self._faults.pop(REPOSITORY, None)
            models = {}
            for name in sorted(set(names) | set(current)):
                if name not in names:
                    self._fault(name, f"the folder {self.model_dir / name} is gone")
                    models[name] = current[name]
                elif (state := self._refresh_model(name, current.get(name))) is not None:
                    models[name] = state
            if models.keys() == current.keys() and all(models[n] is current[n] for n in models):
                return False
            previous = self.snapshot
            self.snapshot = Snapshot(self.default_model, models)
            for name, state in models.items():
                if state is not previous.models.get(name):
                    self._log_change(state, previous.models.get(name))
            if self._watching:
                self._on_swap(self.snapshot)
            return True

    def _refresh_model(self, name: str, previous: ModelState | None) -> ModelState | None:
        """The model's new state, `previous` itself when nothing changed, or None for a folder
        that has never held a version (not a model yet)."""
        if name not in self._folders:
            self._folders[name] = _Folder(name, self.model_dir / name)
        folder = self._folders[name]
        directory = folder.directory
        try:
            on_disk = {v: key for v in list_versions(self.model_dir, name)
                       if (key := _file_key(version_path(self.model_dir, name, v))) is not None}
            policy_key = _file_key(directory / POLICY_FILE)
        except OSError as e:
            self._fault(name, f"cannot read {directory}: {e}")
            return previous
        if not on_disk and previous is not None and previous.bundles:
            self._fault(name, f"no bundle in {directory}")
            return previous
        self._faults.pop(name, None)
        if not on_disk and previous is None:
            return None
        folder.rejected = {v: r for v, r in folder.rejected.items() if on_disk.get(v) == r[0]}
        problems: dict[str, str] = {}  # problem -> log level; logged with the policy in force
        policy = self._policy(folder, policy_key, on_disk, problems)

        def usable(version: int) -> bool:
            return self._obtain(folder, on_disk, version) is not None

        bundles = {v: folder.loaded[v][1] for v in policy.select(on_disk, usable)}
        for label, version in policy.labels:
            if version not in bundles and (usable(version) or version in folder.loaded):
                bundles[version] = folder.loaded[version][1]
                if on_disk.get(version) != folder.loaded[version][0]:
                    problems[f"version {version} is labelled {label!r} but its file is gone or "
                             "refused: still served from memory"] = "warning"
        folder.loaded = {v: folder.loaded[v] for v in bundles}  # the rest is unloaded
        for problem, level in problems.items():
            if problem not in folder.said:  # once while it lasts, not once per poll
                getattr(log, level)(problem, extra={"model": name, "policy": folder.policy.to_dict()})
        folder.said = set(problems)
        state = _model_state(name, bundles, policy, on_disk, folder.rejected)
        return previous if state.same_as(previous) else state

    def _policy(self, folder: _Folder, key: FileKey | None, on_disk: dict[int, FileKey],
                problems: dict[str, str]) -> Policy:
        """The policy to apply now: the file's when it can be applied, else the one in force."""
        directory = folder.directory
        if key != folder.policy_key:  # the file appeared, changed or went: read it again
            folder.policy_key = key
            folder.policy_read = None if key is None else _read_policy(directory / POLICY_FILE)
        candidate = Policy() if folder.policy_read is None else folder.policy_read
        problem = candidate if isinstance(candidate, str) else \
            self._unlabelled(folder, on_disk, candidate)
        if problem:
            problems[f"{directory / POLICY_FILE} refused, keeping the policy in force "
                     f"({folder.policy.summary}): {problem}"] = "error"
            return folder.policy
        if candidate != folder.policy:
            folder.policy = candidate
            log.info("policy applied", extra={"model": folder.name, "policy": candidate.to_dict()})
        return candidate

    def _unlabelled(self, folder: _Folder, on_disk: dict[int, FileKey], policy: Policy) -> str:
        """Why `policy`'s labels cannot all be served ("" when they can). Versions known to be
        missing or refused are found without reading anything, so a policy waiting for its
        version costs nothing per poll; only then are the others loaded (and kept, if applied)."""
        def why(version: int) -> str:
            if version in folder.loaded:
                return ""
            if version in folder.rejected:
                return f"was refused: {folder.rejected[version][1]}"
            return "" if version in on_disk else "is not in the folder"

        for load in (False, True):
            if load:
                for _, version in policy.labels:
                    self._obtain(folder, on_disk, version)
            missing = [f"label {label!r} names version {v}, which {reason}"
                       for label, v in policy.labels if (reason := why(v))]
            if missing:
                return "; ".join(missing)
        return ""

    def _obtain(self, folder: _Folder, on_disk: dict[int, FileKey], version: int) -> Bundle | None:
        """Version `version` as on disk now: the loaded bundle, a fresh load, or None (missing,
        or refused; a refused file is not read again until it changes)."""
        key = on_disk.get(version)
        if key is None or folder.rejected.get(version, (None,))[0] == key:
            return None
        held = folder.loaded.get(version)
        if held is not None and held[0] == key:
            return held[1]
        name, path = folder.name, version_path(self.model_dir, folder.name, version)
        try:
            bundle = load_bundle(path)
            if bundle.name != name:
                raise BundleError(f"{path}: manifest names model {bundle.name!r}, expected {name!r}")
        except BundleError as e:
            folder.rejected[version] = (key, str(e).removeprefix(f"{path}: "))
            log.error("bundle rejected, not served", extra={"path": str(path), "reason": str(e)})
            return None
        folder.loaded[version] = (key, bundle)
        return bundle

    def _fault(self, scope: str, problem: str) -> None:
        if self._faults.get(scope) != problem:  # once per fault, not once per poll
            models = [self.snapshot.models[scope]] if scope in self.snapshot.models else \
                list(self.snapshot.models.values()) if scope == REPOSITORY else []
            loaded = any(state.bundles for state in models)
            log.warning(f"{problem}: {'keeping the loaded versions' if loaded else 'nothing to serve'}",
                        extra={"model": scope or None, "model_dir": str(self.model_dir),
                               "versions": {m.name: sorted(m.bundles) for m in models}})
            self._faults[scope] = problem

    def start_watcher(self) -> None:
        """Refresh now, then every `poll_seconds` in a daemon thread of this process.

        The lock and the stop event are made anew here, in the worker: the ones made in the
        master before fork belong to the threading of the master, and under gevent's worker,
        which patches threading after fork, waiting on them would block every greenlet."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watching = True
        if not self.refresh():
            self._on_swap(self.snapshot)  # publish what this process serves, changed or not
        threading.Thread(target=self._watch, name="model-watcher", daemon=True).start()

    def stop_watcher(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise (a vanished directory...)
                log.exception("model directory scan failed", extra={"model_dir": str(self.model_dir)})

    @staticmethod
    def _log_change(state: ModelState, previous: ModelState | None) -> None:
        log.info("model versions changed", extra={
            "model": state.name,
            "versions": sorted(state.bundles),
            "labels": dict(state.labels),
            "default_version": state.default_version,
            "previous_default": previous.default_version if previous else None,
        })


def _model_state(name: str, bundles: dict[int, Bundle], policy: Policy,
                 on_disk: Mapping[int, FileKey], rejected: Mapping[int, tuple[FileKey, str]]) -> ModelState:
    labels = {label: v for label, v in policy.labels if v in bundles}
    shares = [(bundles[labels[label]], share) for label, share in policy.default_route
              if label in labels]
    if not shares and bundles:
        shares = [(bundles[max(bundles)], 1.0)]
    route, edge = [], 0.0
    for bundle, share in shares:
        edge += share
        route.append((edge, bundle))
    if route:
        route[-1] = (1.0, route[-1][1])  # rounding must not leave a gap at the top
    versions = tuple(
        VersionState(v, v in bundles, "" if v in bundles else f"refused: {rejected[v][1]}"
                     if v in rejected else f"unloaded: outside the version policy ({policy.summary})")
        for v in sorted(set(on_disk) | set(bundles), reverse=True))
    return ModelState(name, bundles, policy, labels, versions, tuple(route))


def _read_policy(path: Path) -> Policy | str:
    """The policy in the file at `path`, or the reason it cannot be used."""
    try:
        with open(path, "rb") as f:
            # One byte over the limit, so that parse_policy sees a file too long.
            return parse_policy(f.read(MAX_POLICY_BYTES + 1))
    except (OSError, PolicyError) as e:
        return str(e)


def _file_key(path: Path) -> FileKey | None:
    """The file's identity now, or None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:  # removed between listing and stat, or never there
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
