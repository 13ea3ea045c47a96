"""The images install from lock files (requirements/lock/, made by `make lock`): every package,
transitive ones included, pinned with its hashes, and the same versions as the top-level pins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)", re.M)


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (extras dropped, names normalised)."""
    return {re.sub(r"\[.*\]", "", name).lower().replace("_", "-"): version
            for name, version in PIN.findall(text)}


@pytest.mark.parametrize("image", ["base", "train", "serve"])
def test_lock_pins_every_top_level_pin_with_hashes(image):
    lock_text = (REQUIREMENTS / "lock" / f"{image}.txt").read_text()
    lock = pins(lock_text)
    top = pins((REQUIREMENTS / "base.txt").read_text())
    if image != "base":
        top |= pins((REQUIREMENTS / f"{image}.txt").read_text())
    assert {name: lock.get(name) for name in top} == top, "the lock disagrees with the top-level pins"
    entries = re.split(r"\n(?=[A-Za-z])", lock_text.split("\n\n", 1)[-1].strip())
    unhashed = [entry.split()[0] for entry in entries if PIN.match(entry) and "--hash=sha256:" not in entry]
    assert unhashed == []


def test_the_images_install_only_locked_hashed_packages():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install ([^&\n]*)", dockerfile)
    assert installs and all("--require-hashes --no-deps -r /tmp/requirements/" in i for i in installs)
    copied = re.findall(r"COPY (requirements/\S+)", dockerfile)
    assert sorted(copied) == [f"requirements/lock/{name}.txt" for name in ("base", "serve", "train")]
