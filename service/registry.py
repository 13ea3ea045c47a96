"""The loaded model versions, and the watcher that keeps them in step with the model directory.

Requests never see a half-updated state: every change builds a new immutable `Snapshot` and
replaces the registry's reference to it in one assignment (atomic in Python). A request reads
`registry.snapshot` once and uses that for its whole life, so a swap in the middle of a request
cannot mix two versions, and no request waits on a lock.

The directory is the source of truth: versions that appear are loaded, versions removed are
unloaded (deleting a bad version is how to roll back), and the highest loaded version is the
default. A file that fails verification is logged once and skipped until it changes (a copy still
in progress is retried when it grows); the versions already loaded keep serving. A directory that
becomes empty, missing or unreadable is a fault, not an instruction to stop serving: the loaded
versions stay, with a warning, until bundles are back.

Threads do not survive fork, so under gunicorn each worker starts its own watcher after it is
forked (see gunicorn.conf.py); the master only loads the models once, before forking, so workers
start with them already in (shared) memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.bundle import Bundle, BundleError, list_versions, load_bundle, version_path

log = logging.getLogger("digitnet.registry")

FileKey = tuple[int, int, int]  # (inode, size, mtime_ns): a changed file gets a new key


@dataclass(frozen=True)
class Snapshot:
    """The versions loaded at one moment. Never mutated: a change makes a new snapshot."""

    model_name: str
    bundles: dict[int, Bundle] = field(default_factory=dict)

    @property
    def default(self) -> Bundle | None:
        """The highest version, served when a request names none."""
        return self.bundles[max(self.bundles)] if self.bundles else None

    @property
    def versions(self) -> list[int]:
        return sorted(self.bundles)


class Registry:
    """Knows the model directory and what is loaded from it; knows nothing of HTTP."""

    def __init__(self, model_dir: Path, model_name: str, poll_seconds: float,
                 on_swap: Callable[[Snapshot], None] = lambda snapshot: None) -> None:
        self.model_dir = Path(model_dir)
        self.model_name = model_name
        self.poll_seconds = poll_seconds
        self.snapshot = Snapshot(model_name)
        self._on_swap = on_swap
        self._watching = False       # on_swap is only called in processes that watch
        self._loaded: dict[int, FileKey] = {}
        self._rejected: dict[int, FileKey] = {}
        self._fault: str | None = None  # the directory fault being ridden out, if any
        self._lock = threading.Lock()  # one refresh at a time; readers never take it
        self._stop = threading.Event()

    def refresh(self) -> bool:
        """Bring the snapshot in line with the directory. Returns whether anything changed."""
        with self._lock:
            try:
                on_disk = {v: key for v in list_versions(self.model_dir, self.model_name)
                           if (key := self._file_key(v)) is not None}
            except OSError as e:
                self._report_fault(f"cannot read the model directory: {e}")
                return False
            if not on_disk and self.snapshot.bundles:
                self._report_fault(f"no bundle in {self.model_dir / self.model_name}")
                return False
            self._fault = None
            bundles = {v: b for v, b in self.snapshot.bundles.items()
                       if v in on_disk and self._loaded[v] == on_disk[v]}
            self._loaded = {v: self._loaded[v] for v in bundles}
            for version, key in sorted(on_disk.items()):
                if version in bundles or self._rejected.get(version) == key:
                    continue
                if (bundle := self._load(version, key)) is not None:
                    bundles[version] = bundle
                    self._loaded[version] = key
            if bundles.keys() == self.snapshot.bundles.keys() and all(
                    bundles[v] is self.snapshot.bundles[v] for v in bundles):
                return False
            previous = self.snapshot.default
            self.snapshot = Snapshot(self.model_name, bundles)
            self._log_change(previous, self.snapshot)
            if self._watching:
                self._on_swap(self.snapshot)
            return True

    def _report_fault(self, problem: str) -> None:
        if problem != self._fault:  # once per fault, not once per poll
            outcome = "keeping the loaded versions" if self.snapshot.bundles else "nothing to serve"
            log.warning(f"{problem}: {outcome}", extra={
                "versions": self.snapshot.versions, "model_dir": str(self.model_dir)})
            self._fault = problem

    def start_watcher(self) -> None:
        """Refresh now, then every `poll_seconds` in a daemon thread of this process."""
        self._watching = True
        if not self.refresh():
            self._on_swap(self.snapshot)  # publish what this process serves, changed or not
        self._stop.clear()
        threading.Thread(target=self._watch, name="model-watcher", daemon=True).start()

    def stop_watcher(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise (a vanished directory...)
                log.exception("model directory scan failed", extra={"model_dir": str(self.model_dir)})

    def _file_key(self, version: int) -> FileKey | None:
        try:
            st = os.stat(version_path(self.model_dir, self.model_name, version))
        except OSError:  # removed between listing and stat
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _load(self, version: int, key: FileKey) -> Bundle | None:
        path = version_path(self.model_dir, self.model_name, version)
        try:
            bundle = load_bundle(path)
            if bundle.name != self.model_name:
                raise BundleError(f"{path}: manifest names model {bundle.name!r}, "
                                  f"expected {self.model_name!r}")
        except BundleError as e:
            self._rejected[version] = key
            log.error("bundle rejected, not served", extra={"path": str(path), "reason": str(e)})
            return None
        self._rejected.pop(version, None)
        return bundle

    @staticmethod
    def _log_change(previous: Bundle | None, snapshot: Snapshot) -> None:
        current = snapshot.default
        log.info("model versions changed", extra={
            "versions": snapshot.versions,
            "default_version": current.version if current else None,
            "previous_default": previous.version if previous else None,
        })
