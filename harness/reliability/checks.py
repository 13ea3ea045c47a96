"""The invariants every answer must keep, as functions both the tests and the script call."""

from __future__ import annotations

import numpy as np
import requests


def problem(response: requests.Response) -> str | None:
    """What is wrong with an answer to a bad (or good) request, or None when it is fine.

    Fine: a 2xx, or a 4xx whose body is JSON `{"error": "<non-empty text>"}`. Never a 5xx.
    """
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    if status < 400 or response.request.method == "HEAD":  # HEAD: headers only, by definition
        return None
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return f"{status} with Content-Type {response.headers.get('Content-Type')!r}"
    try:
        error = response.json().get("error")
    except ValueError:
        return f"{status} with a body that is not JSON: {response.text[:200]!r}"
    if not isinstance(error, str) or not error.strip():
        return f"{status} without an error message: {response.text[:200]!r}"
    return None


def wrong_predictions(url: str, digits: np.ndarray, labels: np.ndarray,
                      session: requests.Session | None = None) -> str | None:
    """None when the server is up and reads `digits` as it should, else what went wrong.

    The fixture model is ~97% accurate: the digits passed are ones it reads correctly, so any
    difference means the server is not the one it was.
    """
    http = session or requests
    try:
        response = http.post(f"{url}/predict", json={"instances": digits.reshape(len(digits), -1).tolist()},
                             timeout=30)
    except requests.RequestException as e:
        return f"no answer: {e!r}"
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:300]}"
    predicted = [p["label"] for p in response.json()["predictions"]]
    if predicted != labels.tolist():
        return f"predicted {predicted}, expected {labels.tolist()}"
    return None


def not_serving_only(url: str, version: str, digits: np.ndarray, labels: np.ndarray) -> str | None:
    """None when the server is ready, lists only `version` and answers from it (asked several
    times, so every worker is likely asked), reading `digits` correctly; else what is wrong."""
    try:
        if (ready := requests.get(f"{url}/v2/health/ready", timeout=10)).status_code != 200:
            return f"not ready: {ready.text[:200]}"
        listed = [v["version"] for v in requests.get(f"{url}/models/mnist", timeout=10).json()["versions"]]
        if listed != [version]:
            return f"lists versions {listed}, expected only {version}"
        for _ in range(4):
            answer = requests.post(f"{url}/predict", timeout=10,
                                   json={"instances": digits[:1].reshape(1, -1).tolist()})
            if answer.status_code != 200 or answer.json()["model_version"] != version:
                return f"answered {answer.status_code}: {answer.text[:200]}"
    except requests.RequestException as e:
        return f"no answer: {e!r}"
    return wrong_predictions(url, digits, labels)
