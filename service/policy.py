"""A model's version policy and labels: which versions stay loaded, and names for them.

TF Serving's `model_version_policy` and `version_labels`, as a small JSON file in the model's
folder, `$MODEL_DIR/<model>/policy.json`:

    {
      "version_policy": {"latest": 2},        or {"all": true}, or {"specific": [3, 5]}
      "labels": {"stable": 3, "canary": 4},   names for versions: requests may use them
      "default": "stable"                     what answers a request that names no version:
                                              a label, or weights {"stable": 9, "canary": 1}
    }

Every key is optional; without the file or a key: the latest 2 versions, no labels, and the
highest loaded version answers requests that name none. Weights split those requests at random
in proportion (canary traffic); every answer says which version gave it.

The registry (service/registry.py) reads the file when it changes and applies it whole, in one
swap, or not at all: a file that does not parse, or whose labels name versions that are not
there or do not verify, is logged and the policy in force stays. This module only parses and
selects; it reads no file and knows nothing of HTTP.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

POLICY_FILE = "policy.json"
MAX_POLICY_BYTES = 64 * 1024
LATEST_WITHOUT_POLICY = 2
VERSION = re.compile(r"^[1-9][0-9]{0,17}$")           # as in bundle file names: no "01" or "+1"
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")  # starts with a letter: never a version
KEYS = ("version_policy", "labels", "default")


class PolicyError(ValueError):
    """A policy file that cannot be applied; the message says why."""


@dataclass(frozen=True)
class Policy:
    """A parsed policy file. `Policy()` is the policy of a model without one."""

    kind: str = "latest"                       # "latest", "all" or "specific"
    latest: int = LATEST_WITHOUT_POLICY               # for "latest": how many versions
    specific: tuple[int, ...] = ()             # for "specific": which versions
    labels: tuple[tuple[str, int], ...] = ()   # (label, version), sorted by label
    # The file's "default": (label, share of the requests naming no version); (): the highest.
    default_route: tuple[tuple[str, float], ...] = ()

    def select(self, on_disk: Iterable[int], usable: Callable[[int], bool]) -> list[int]:
        """The versions the policy keeps loaded, newest first, among those on disk.

        `usable(version)` loads the version (or finds it loaded) and says whether it verified;
        it is asked newest first, and "latest N" stops after N usable ones, so a broken newest
        version leaves the N newest good ones loaded and older versions are never read.
        """
        candidates = sorted(on_disk, reverse=True)
        if self.kind == "specific":
            candidates = [v for v in candidates if v in self.specific]
        chosen: list[int] = []
        for version in candidates:
            if self.kind == "latest" and len(chosen) == self.latest:
                break
            if usable(version):
                chosen.append(version)
        return chosen

    @property
    def summary(self) -> str:
        """The version policy in words, for logs and the reasons of unloaded versions."""
        if self.kind == "latest":
            return f"latest {self.latest}"
        if self.kind == "specific":
            return f"specific {', '.join(map(str, self.specific))}"
        return "all"

    def to_dict(self) -> dict[str, Any]:
        """The policy as the file would say it."""
        rule: dict[str, Any] = {"latest": self.latest} if self.kind == "latest" else \
            {"specific": list(self.specific)} if self.kind == "specific" else {"all": True}
        route: Any = None
        if len(self.default_route) == 1:
            route = self.default_route[0][0]
        elif self.default_route:
            route = dict(self.default_route)
        return {"version_policy": rule, "labels": dict(self.labels), "default": route}


def parse_policy(data: bytes) -> Policy:
    """A policy file's bytes as a Policy. Raises PolicyError naming the first problem."""
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{len(data)} bytes, over the limit of {MAX_POLICY_BYTES}")
    try:
        document = json.loads(data)
    except ValueError as e:  # UnicodeDecodeError too
        raise PolicyError(f"not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise PolicyError("must be a JSON object")
    if unknown := sorted(set(document) - set(KEYS)):
        raise PolicyError(f"unknown key(s) {unknown}: the keys are {', '.join(KEYS)}")
    kind, latest, specific = _version_policy(document.get("version_policy"))
    labels = _labels(document.get("labels"))
    return Policy(kind, latest, specific, tuple(sorted(labels.items())),
                  _default_route(document.get("default"), labels))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _version_policy(value: object) -> tuple[str, int, tuple[int, ...]]:
    if value is None:
        return "latest", LATEST_WITHOUT_POLICY, ()
    if not isinstance(value, dict) or len(value) != 1:
        raise PolicyError('"version_policy" must be one of {"latest": N}, {"all": true}, '
                          f'{{"specific": [versions]}}, got {value!r}')
    (kind, setting), = value.items()
    if kind == "latest" and _is_count(setting):
        return "latest", setting, ()
    if kind == "all" and setting is True:
        return "all", LATEST_WITHOUT_POLICY, ()
    if kind == "specific" and isinstance(setting, list) and setting and all(map(_is_count, setting)):
        return "specific", LATEST_WITHOUT_POLICY, tuple(sorted(set(setting)))
    raise PolicyError(f'"version_policy" {value!r}: "latest" takes a count of at least 1, "all" '
                      'takes true, "specific" a non-empty list of versions')


def _labels(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f'"labels" must be an object of label: version, got {value!r}')
    for label, version in value.items():
        if not LABEL.match(label):
            raise PolicyError(f"label {label!r}: a label starts with a letter, then letters, digits, "
                              "'_', '-' or '.' (at most 64)")
        if not _is_count(version):
            raise PolicyError(f"label {label!r} names {version!r}: a version is an integer from 1")
    return value


def _default_route(value: object, labels: dict[str, int]) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        weights: dict = {value: 1}
    elif isinstance(value, dict) and len(value) >= 2:
        weights = value
    else:
        raise PolicyError('"default" must be a label, or an object of two or more labels and '
                          f"their weights, got {value!r}")
    for label, weight in weights.items():
        if label not in labels:
            raise PolicyError(f'"default" names {label!r}, which is not among the labels '
                              f"({', '.join(labels) or 'none'})")
        if isinstance(weight, bool) or not isinstance(weight, int | float) \
                or not math.isfinite(weight) or weight <= 0:
            raise PolicyError(f'"default" gives {label!r} the weight {weight!r}: a positive number')
    total = sum(weights.values())
    return tuple((label, weight / total) for label, weight in weights.items())
