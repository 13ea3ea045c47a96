"""GET /metrics: Prometheus text, summed across the gunicorn workers, labelled by model."""

from __future__ import annotations

import re

import requests

from harness.images import mnist_test_digits

Sample = tuple[str, dict[str, str], float]


def scrape(url: str) -> list[Sample]:
    """Every digitnet sample: (name, labels, value)."""
    response = requests.get(f"{url}/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = []
    for line in response.text.splitlines():
        if match := re.match(r"^(digitnet_\w+)(?:\{(.*)\})? (\S+)$", line):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(value for n, have, value in samples
               if n == name and all(have.get(k) == v for k, v in labels.items()))


def test_counts_move_across_workers(url, mnist, digits):
    images, _ = mnist_test_digits(mnist, 5, seed=21)
    before = scrape(url)
    requests_sent = 10  # two workers: some land on each, the totals must still add up
    for _ in range(requests_sent):
        assert requests.post(f"{url}/predict", json={"instances": images.tolist()}).ok
    assert requests.post(f"{url}/predict/digits", json={"instances": digits.x_test[:3].tolist()}).ok
    requests.post(f"{url}/predict", json={"instances": [[0] * 3]})
    after = scrape(url)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("digitnet_requests_total", endpoint="/predict", model="mnist", status="200") == requests_sent
    assert moved("digitnet_requests_total", endpoint="/predict", model="mnist", status="400") == 1
    assert moved("digitnet_requests_total", endpoint="/predict/<name>", model="digits", status="200") == 1
    latency = moved("digitnet_request_duration_seconds_count", endpoint="/predict", model="mnist")
    assert latency == requests_sent + 1
    assert moved("digitnet_predictions_total", model="mnist", model_version="1") == requests_sent * 5
    assert moved("digitnet_predictions_total", model="digits", model_version="1") == 3


def test_model_version_per_worker_and_model(url):
    versions = [(labels, value) for name, labels, value in scrape(url) if name == "digitnet_model_version"]
    for model in ("mnist", "digits"):
        mine = [value for labels, value in versions if labels["model"] == model]
        assert mine == [1.0, 1.0]  # one series per live worker


def test_unknown_methods_share_one_series(url):
    """Each label value is a series of its own: clients must not be able to create them at will."""
    for method in ("PROPFIND", "BREW", "XYZZY"):
        assert requests.request(method, f"{url}/predict").status_code == 405
    text = requests.get(f"{url}/metrics").text
    assert not re.search("PROPFIND|BREW|XYZZY", text)
    assert total(scrape(url), "digitnet_requests_total", method="other", status="405") >= 3


def test_model_names_sent_by_clients_make_no_series(url):
    for name in ("fashion", "nope", "x" * 60):
        assert requests.post(f"{url}/predict/{name}", json={"instances": [[0] * 784]}).status_code == 404
    models = {labels.get("model") for name, labels, _ in scrape(url) if name == "digitnet_requests_total"}
    assert models <= {"", "mnist", "digits"}
