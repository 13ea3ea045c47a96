"""The `digitnet` command as a user runs it: the installed console script in a subprocess, against
a real gunicorn, checked by its output and its exit code."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
import requests

from harness.images import drawn_digit, encode, mnist_test_digits
from harness.server import Server, free_port

DIGITNET = Path(sys.executable).parent / "digitnet"  # the console script pip installed
TOKEN = "cli-test-token"


def digitnet(*args: str, stderr_tty: bool = False, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "DIGITNET_URL")}
    if not stderr_tty:
        return subprocess.run([str(DIGITNET), *args], capture_output=True, text=True, timeout=120,
                              env={**environment, **env})
    # A terminal on stderr, 100 columns wide, as a person at a shell has: the progress bar shows.
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    done = subprocess.run([str(DIGITNET), *args], stdout=subprocess.PIPE, stderr=terminal, text=True,
                          timeout=120, env={**environment, **env})
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    done.stderr = shown.decode(errors="replace")
    return done


def test_predict_prints_a_table_of_every_file(url, digit_files):
    folder = next(iter(digit_files)).parent
    done = digitnet("predict", str(folder), "--url", url)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["file", "label", "confidence", "top", "k"]
    assert [row.split()[0] for row in rows] == [str(p) for p in digit_files]
    assert [int(row.split()[1]) for row in rows] == list(digit_files.values())
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


def test_predict_json_lines_with_top_k_and_the_url_from_the_environment(url, digit_files, bundle):
    files = [str(p) for p in digit_files][:5]
    done = digitnet("predict", *files, "--json", "--top-k", "2", "--model", "mnist", DIGITNET_URL=url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    assert [line["label"] for line in lines] == list(digit_files.values())[:5]
    for line in lines:
        assert len(line["top_k"]) == 2 and line["top_k"][0]["label"] == line["label"]
        assert line["model_name"] == "mnist" and line["model_version"] == "1"
        assert 0 < line["confidence"] <= 1 and line["confidence"] == line["top_k"][0]["probability"]
        assert line["confidence_threshold"] == pytest.approx(bundle.confidence_threshold)


def test_answers_below_the_models_threshold_are_marked_not_sure(url, digit_files, mnist, tmp_path):
    """Two digits drawn over each other are read with little confidence; the table says so exactly
    where the service's confidence is below the model's threshold."""
    pairs, _ = mnist_test_digits(mnist, 8, seed=36)
    files = [str(p) for p in list(digit_files)[:2]]
    for i in range(4):
        files.append(str(tmp_path / f"overlap-{i}.png"))
        Path(files[-1]).write_bytes(encode(drawn_digit(np.maximum(pairs[2 * i], pairs[2 * i + 1]))))
    answer = requests.post(f"{url}/predict", files=[("file", Path(f).read_bytes()) for f in files]).json()
    unsure = [p["confidence"] < answer["confidence_threshold"] for p in answer["predictions"]]
    assert True in unsure and False in unsure, "no answer on each side of the threshold to show"
    done = digitnet("predict", *files, "--url", url)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[1:]
    assert ["(not sure)" in row for row in rows] == unsure


def test_a_progress_bar_on_a_terminal(url, digit_files):
    done = digitnet("predict", *map(str, digit_files), "--url", url, stderr_tty=True)
    assert done.returncode == 0, done.stderr
    n = len(digit_files)
    assert "100%" in done.stderr and f"{n}/{n}" in done.stderr and "image" in done.stderr


def test_files_that_cannot_be_read_exit_1_and_the_others_are_printed(url, digit_files, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture")
    good = [str(p) for p in digit_files][:2]
    done = digitnet("predict", good[0], str(junk), str(tmp_path / "missing.png"), good[1], "--json",
                    "--url", url)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["file"] for line in lines] == [good[0], str(junk), str(tmp_path / "missing.png"), good[1]]
    assert lines[1]["status"] == 400 and "not a readable image" in lines[1]["error"]
    assert lines[1]["request_id"]
    assert "No such file" in lines[2]["error"] and lines[2]["status"] is None
    assert "label" in lines[0] and "label" in lines[3]
    assert "2 of 4 inputs could not be predicted" in done.stderr


def test_models_and_health(url):
    done = digitnet("models", "--url", url)
    assert done.returncode == 0, done.stderr
    digits, mnist = done.stdout.split("\n\n")
    assert digits.startswith("model digits: 8x8 values 0-16, images read as optdigits; policy latest 2; "
                             "labels none; default version 1\n")
    assert mnist.startswith("model mnist (the default model): 28x28 values 0-255, images read as mnist;")
    assert "64-64-10" in digits and "784-128-10" in mnist
    lines = [json.loads(line) for line in digitnet("models", "--url", url, "--json").stdout.splitlines()]
    assert [(m["model_name"], m["default_version"]) for m in lines] == [("digits", "1"), ("mnist", "1")]
    one = digitnet("models", "mnist", "--url", url)
    assert one.returncode == 0 and one.stdout.startswith("model mnist: ") and "digits" not in one.stdout
    unknown = digitnet("models", "fashion", "--url", url)
    assert unknown.returncode == 4 and "unknown model 'fashion'" in unknown.stderr
    health = digitnet("health", "--url", url)
    assert health.returncode == 0 and health.stdout.strip() == "live: yes, ready: yes"
    assert json.loads(digitnet("health", "--json", "--url", url).stdout) == {
        "live": True, "ready": True, "error": None}


def test_a_version_by_label_and_the_labels_listed(labelled, digit_files):
    path, label = next(iter(digit_files.items()))
    for version, answered in (("stable", "1"), ("canary", "2"), ("1", "1"), (None, "2")):
        done = digitnet("predict", str(path), "--url", labelled.url, "--json",
                        *(["--version", version] if version else []))
        assert done.returncode == 0, done.stderr
        line = json.loads(done.stdout)
        assert (line["label"], line["model_version"]) == (label, answered), version
    unknown = digitnet("predict", str(path), "--url", labelled.url, "--version", "beta")
    assert unknown.returncode == 4 and "no version or label 'beta'" in unknown.stderr
    listed = digitnet("models", "mnist", "--url", labelled.url)
    heading, header, *rows = listed.stdout.splitlines()
    assert heading.endswith("; labels canary = 2, stable = 1; default version 2")
    assert header.split()[:3] == ["version", "default", "labels"]
    assert rows[0].split()[:3] == ["2", "yes", "canary"] and rows[1].split()[:2] == ["1", "stable"]


def test_exit_codes_a_script_can_rely_on(url, digit_files, model_dir, tmp_path):
    path = str(next(iter(digit_files)))
    assert digitnet("predict").returncode == 2  # no file
    for bad in ("three", "0", "-2"):
        assert digitnet("predict", path, "--top-k", bad).returncode == 2
    unreachable = digitnet("predict", path, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0")
    assert unreachable.returncode == 3 and "no answer from" in unreachable.stderr
    too_many = digitnet("predict", *map(str, digit_files), "--url", url, "--top-k", "11")
    assert too_many.returncode == 4 and "top_k must be an integer from 1 to 10" in too_many.stderr
    unknown = digitnet("predict", path, "--url", url, "--model", "fashion")
    assert unknown.returncode == 4 and "unknown model 'fashion'" in unknown.stderr
    assert "request id" in unknown.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    with Server(empty, tmp_path / "empty.log") as no_model:
        not_ready = digitnet("health", "--url", no_model.url)
        assert not_ready.returncode == 5 and "ready: no" in not_ready.stdout
        refused = digitnet("predict", path, "--url", no_model.url, "--retries", "1")
        assert refused.returncode == 5 and "no model loaded" in refused.stderr


def test_the_token_comes_from_the_environment(model_dir, tmp_path, digit_files):
    path, label = next(iter(digit_files.items()))
    with Server(model_dir, tmp_path / "server.log", API_TOKEN=TOKEN) as server:
        missing = digitnet("predict", str(path), "--url", server.url)
        assert missing.returncode == 4 and "missing API token" in missing.stderr
        wrong = digitnet("models", "--url", server.url, API_TOKEN="nope")
        assert wrong.returncode == 4 and "invalid API token" in wrong.stderr
        allowed = digitnet("predict", str(path), "--url", server.url, "--json", API_TOKEN=TOKEN)
        assert allowed.returncode == 0 and json.loads(allowed.stdout)["label"] == label
        assert TOKEN not in server.log()


@pytest.mark.parametrize("command", [["--help"], ["predict", "--help"]])
def test_help_lists_the_exit_codes(command):
    done = digitnet(*command)
    assert done.returncode == 0 and "exit codes:" in done.stdout and "could not be reached" in done.stdout


def test_python_dash_m_client_is_the_same_command(url):
    done = subprocess.run([sys.executable, "-m", "client", "health", "--url", url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "live: yes, ready: yes"
