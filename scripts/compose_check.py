"""Check a running digitnet service from outside, as a user would: used by compose-test.sh.

    python scripts/compose_check.py --url http://127.0.0.1:8000 --version 2 [--wait 60]

Takes real MNIST test digits (from $MNIST_DIR), waits until the service serves `--version`, then
  - posts each digit as a PNG file, drawn like a person would (black ink on white, 112x112), to
    `POST /predict` and checks the version and the labels;
  - sends them all, as raw pixels, in one Open Inference Protocol (KServe V2) `infer` request
    and checks the version, the output's shape, that each row of probabilities sums to 1 and
    the labels.
The model compose-test trains is small, so "most labels right" (MIN_CORRECT of N_DIGITS) is the
bar, not all. Exits 1 with the reasons on any failure.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
import requests
from PIL import Image

from trainer.data import load_mnist

N_DIGITS = 10
MIN_CORRECT = 8
TIMEOUT = 10  # seconds, per request


def digit_png(pixels: np.ndarray) -> bytes:
    """An MNIST image (28x28, white ink on black) as a PNG of black ink on white, 4x larger."""
    image = Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def wait_for_version(url: str, model: str, version: int, seconds: float) -> None:
    """Poll the model's readiness until its default (newest) version is `version`."""
    deadline = time.monotonic() + seconds
    seen = None
    while True:
        try:
            answer = requests.get(f"{url}/v2/models/{model}/ready", timeout=TIMEOUT)
            seen = answer.json().get("version") if answer.ok else f"HTTP {answer.status_code}"
        except (requests.RequestException, ValueError) as e:
            seen = f"{type(e).__name__}: {e}"
        if seen == str(version):
            return
        if time.monotonic() > deadline:
            sys.exit(f"FAIL: after {seconds:.0f} s the service still serves {seen!r}, "
                     f"not version {version}")
        time.sleep(0.5)


def check_predict(url: str, version: int, images: np.ndarray, labels: np.ndarray) -> list[str]:
    failures, correct = [], 0
    for pixels, label in zip(images, labels):
        answer = requests.post(f"{url}/predict", timeout=TIMEOUT,
                               files={"file": ("digit.png", digit_png(pixels), "image/png")})
        if answer.status_code != 200:
            return [f"/predict: HTTP {answer.status_code}: {answer.text[:300]}"]
        body = answer.json()
        if body["model_version"] != str(version):
            failures.append(f"/predict: model_version {body['model_version']!r}, "
                            f"expected {str(version)!r}")
        correct += body["predictions"][0]["label"] == int(label)
    print(f"/predict (PNG files): {correct}/{len(labels)} digits read right, version {version}")
    if correct < MIN_CORRECT:
        failures.append(f"/predict: only {correct}/{len(labels)} right, need {MIN_CORRECT}")
    return failures


def check_infer(url: str, model: str, version: int, images: np.ndarray,
                labels: np.ndarray) -> list[str]:
    n = len(labels)
    request = {"inputs": [{"name": "input", "shape": [n, 784], "datatype": "FP32",
                           "data": images.reshape(-1).astype(float).tolist()}]}
    answer = requests.post(f"{url}/v2/models/{model}/infer", json=request, timeout=TIMEOUT)
    if answer.status_code != 200:
        return [f"infer: HTTP {answer.status_code}: {answer.text[:300]}"]
    body = answer.json()
    failures = []
    if body["model_version"] != str(version):
        failures.append(f"infer: model_version {body['model_version']!r}, expected {str(version)!r}")
    output = next((o for o in body["outputs"] if o["name"] == "probabilities"), None)
    if output is None or output["shape"] != [n, 10] or output["datatype"] != "FP32":
        return failures + [f"infer: no FP32 'probabilities' output of shape [{n}, 10] in {body}"]
    proba = np.asarray(output["data"], dtype=np.float64).reshape(n, 10)
    sums = proba.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        failures.append(f"infer: probabilities do not sum to 1: {sums.tolist()}")
    correct = int((proba.argmax(axis=1) == labels).sum())
    print(f"V2 infer ({n} digits in one request): {correct}/{n} right, rows sum to 1, "
          f"version {version}")
    if correct < MIN_CORRECT:
        failures.append(f"infer: only {correct}/{n} right, need {MIN_CORRECT}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--version", type=int, required=True, help="the version expected")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for that version")
    args = parser.parse_args()

    mnist = load_mnist()  # from $MNIST_DIR
    pick = np.random.default_rng(0).choice(len(mnist.y_test), size=N_DIGITS, replace=False)
    images, labels = mnist.x_test[pick].reshape(-1, 28, 28), mnist.y_test[pick].astype(int)

    wait_for_version(args.url, args.model, args.version, args.wait)
    failures = (check_predict(args.url, args.version, images, labels)
                + check_infer(args.url, args.model, args.version, images, labels))
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
