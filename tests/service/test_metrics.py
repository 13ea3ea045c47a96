"""GET /metrics: Prometheus text, summed across the gunicorn workers."""

from __future__ import annotations

import re

import requests

from tests.helpers import mnist_test_digits


def scrape(url: str) -> dict[str, float]:
    response = requests.get(f"{url}/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if match := re.match(r"^(digitnet_\S+) (\S+)$", line):
            samples[match.group(1)] = float(match.group(2))
    return samples


def test_counts_move_across_workers(url, mnist):
    digits, labels = mnist_test_digits(mnist, 5, seed=21)
    before = scrape(url)
    requests_sent = 10  # two workers: some land on each, the totals must still add up
    for _ in range(requests_sent):
        assert requests.post(f"{url}/predict", json={"instances": digits.tolist()}).ok
    requests.post(f"{url}/predict", json={"instances": [[0] * 3]})
    after = scrape(url)

    ok = 'digitnet_requests_total{endpoint="/predict",method="POST",status="200"}'
    bad = 'digitnet_requests_total{endpoint="/predict",method="POST",status="400"}'
    assert after[ok] - before.get(ok, 0) == requests_sent
    assert after[bad] - before.get(bad, 0) == 1
    latency = 'digitnet_request_duration_seconds_count{endpoint="/predict"}'
    assert after[latency] - before.get(latency, 0) == requests_sent + 1

    predicted = sum(v for k, v in after.items() if k.startswith("digitnet_predictions_total"))
    predicted_before = sum(v for k, v in before.items() if k.startswith("digitnet_predictions_total"))
    assert predicted - predicted_before == requests_sent * len(digits)


def test_model_version_per_worker(url):
    versions = {k: v for k, v in scrape(url).items() if k.startswith("digitnet_model_version")}
    assert len(versions) == 2 and set(versions.values()) == {1.0}  # one series per live worker


def test_unknown_methods_share_one_series(url):
    """Each label value is a series of its own: clients must not be able to create them at will."""
    for method in ("PROPFIND", "BREW", "XYZZY"):
        assert requests.request(method, f"{url}/predict").status_code == 405
    text = requests.get(f"{url}/metrics").text
    assert not re.search("PROPFIND|BREW|XYZZY", text)
    other = [v for k, v in scrape(url).items()
             if k.startswith("digitnet_requests_total{") and 'method="other",status="405"' in k]
    assert sum(other) >= 3
