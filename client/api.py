"""The Python client of the digitnet service.

    from client import Client

    with Client("http://127.0.0.1:8000") as digitnet:      # token=... when the service has one
        digitnet.health()                                   # Health(live=True, ready=True, error=None)
        [p.label for p in digitnet.predict(["seven.png", "two.jpg"])]
        [r.text for r in digitnet.read(["year.png", "phone.jpg"])]   # whole numbers: "2026", ...
        digitnet.predict(x_test)                            # pixels 0-255, (n, 28, 28) or (n, 784)
        digitnet.predict(scans, model="digits", version="stable")   # a model, a version or label
        digitnet.models(), digitnet.model("digits")

Every request goes through one `requests` session whose urllib3 `Retry` sends it again, with
exponential backoff (`retries=Retries(times=3, backoff=0.5)`), after a connection error and on
502, 503 and 504 (a restarting worker, a proxy without its upstream, no model loaded yet). A
prediction has no side effect, so POSTs are retried too. Inputs are split into requests of at
most the service's MAX_BATCH images and MAX_CONTENT_LENGTH bytes, which the client learns from
the service's /openapi.json (`info.x-limits`) unless `max_batch` is given. Failures raise the
types of client/errors.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from client.errors import ApiError, ConnectionFailed, DigitnetError, api_error
from client.inputs import Input, Item, batches, items
from shared.limits import MAX_BATCH, MAX_CONTENT_LENGTH

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = (502, 503, 504)
ITEM_STATUSES = (400, 413, 415)  # an input's own fault; any other refusal concerns every input


@dataclass(frozen=True)
class Prediction:
    source: str                          # the input: its path, or "image 3", "array 3"
    label: int
    confidence: float                    # the calibrated probability of `label`
    probabilities: list[float]           # one per class, in the order of the model's classes
    top_k: list[tuple[int, float]]       # (label, probability), most probable first
    model_name: str
    model_version: str                   # the version that answered
    confidence_threshold: float | None   # the model's: answers below it are guesses (None: no threshold)
    is_digit: bool = True                # whether the model takes the input for a digit at all
    digit_score: float | None = None     # the score that decides it (None from an older server)
    marked_sure: bool | None = None      # the service's own verdict, when it gives one
    digits_found: int | None = None      # an image holding several digits: how many (see read())

    @property
    def sure(self) -> bool:
        """Whether the answer can be taken as right: the service's verdict (never sure for an image
        of several digits or for what the model does not take for a digit), else whether it
        reaches the model's confidence threshold (answers at least that confident were 99.5 %
        right on held-out data); a model without a threshold is taken at its word."""
        if self.marked_sure is not None:
            return self.marked_sure
        return self.is_digit and (self.confidence_threshold is None
                                  or self.confidence >= self.confidence_threshold)


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float                     # the calibrated probability of `label`
    box: tuple[int, int, int, int]        # x, y, width, height in the image's pixels


@dataclass(frozen=True)
class Reading:
    """A whole number read from one image: its digits left to right."""

    source: str
    text: str
    confidence: float                     # the probability that the whole string is right
    sure: bool                            # whether it reaches the model's threshold
    digits: list[Digit]
    model_name: str
    model_version: str


@dataclass(frozen=True)
class Outcome:
    """What became of one input: a prediction, or the error that concerns it alone."""

    source: str
    prediction: Prediction | Reading | None = None   # a Reading from read_each()
    error: DigitnetError | None = None


@dataclass(frozen=True)
class Health:
    live: bool
    ready: bool
    error: str | None = None  # why it is not ready


@dataclass(frozen=True)
class Limits:
    max_batch: int
    max_content_length: int


# The service's defaults (shared/limits.py), for one that states none.
DEFAULT_LIMITS = Limits(MAX_BATCH, MAX_CONTENT_LENGTH)


@dataclass(frozen=True)
class Retries:
    """How often a request is sent again after a connection error or a 502/503/504, and the
    first wait in seconds (doubling each time)."""

    times: int = 3
    backoff: float = 0.5


class Client:
    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 60.0,
                 retries: Retries = Retries(), max_batch: int | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_batch = max_batch
        self._limits: Limits | None = None
        times, backoff = retries.times, retries.backoff
        self._session = self._new_session(token, Retry(
            total=times, connect=times, read=times, status=times, other=0,
            backoff_factor=backoff, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            raise_on_status=False, respect_retry_after_header=True))
        # Health probes answer at once: "not ready" is an answer, not a failure to retry.
        self._probe = self._new_session(token, Retry(total=times, connect=times, read=0, status=0,
                                                     other=0, backoff_factor=backoff))

    @staticmethod
    def _new_session(token: str | None, retry: Retry) -> requests.Session:
        session = requests.Session()
        for scheme in ("http://", "https://"):
            session.mount(scheme, HTTPAdapter(max_retries=retry))
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    def close(self) -> None:
        self._session.close()
        self._probe.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what the service offers ---------------------------------------------------------------

    def health(self) -> Health:
        """Liveness and readiness (a model is loaded)."""
        live = self._request("GET", "/v2/health/live", self._probe)
        if live.status_code == 401:  # the service guards its probes (HEALTH_PUBLIC=0)
            raise self._error(live)
        ready = self._request("GET", "/v2/health/ready", self._probe)
        if ready.status_code == 200:
            return Health(live=live.ok, ready=True)
        if ready.status_code != 503:
            raise self._error(ready)
        return Health(live=live.ok, ready=False, error=self._error(ready).message)

    def models(self) -> dict:
        """`GET /models`: `{"default_model", "models": [...]}`, every model served (as `model()`)."""
        return self._json(self._request("GET", "/models"))

    def model(self, name: str) -> dict:
        """`GET /models/{name}`: the model's input contract, classes, version policy, labels, default
        version, and each loaded version with its labels and metrics."""
        return self._json(self._request("GET", f"/models/{quote(name, safe='')}"))

    def limits(self) -> Limits:
        """The service's MAX_BATCH (or this client's `max_batch`) and MAX_CONTENT_LENGTH."""
        if self._limits is None:
            response = self._request("GET", "/openapi.json")
            stated = self._json(response).get("info", {}).get("x-limits", {}) if response.ok else {}
            self._limits = Limits(stated.get("max_batch", DEFAULT_LIMITS.max_batch),
                                  stated.get("max_content_length", DEFAULT_LIMITS.max_content_length))
        if self.max_batch:
            return Limits(self.max_batch, self._limits.max_content_length)
        return self._limits

    # ---- predictions ---------------------------------------------------------------------------

    def predict(self, images: Input | Iterable[Input], *, top_k: int | None = None,
                model: str | None = None, version: str | int | None = None) -> list[Prediction]:
        """One prediction per image, in order, from `model` (default: the service's default model)
        and `version`, a number or a label (default: the model's default version). Raises the first
        input's error, if any."""
        predictions = []
        for outcome in self.predict_each(images, top_k=top_k, model=model, version=version):
            if outcome.error is not None:
                raise outcome.error
            predictions.append(outcome.prediction)
        return predictions

    def predict_each(self, images: Input | Iterable[Input], *, top_k: int | None = None,
                     model: str | None = None, version: str | int | None = None) -> Iterator[Outcome]:
        """An Outcome per image, in order, batch by batch as the answers come. An input the
        service refuses (not an image, no ink, too large...) is an Outcome with its error; a
        failure that concerns every input (unreachable, 401, unknown model, 503) is raised."""
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        found = items(images)
        if not found:
            return
        limits = self.limits()
        params = {name: value for name, value in (("top_k", top_k), ("model", model), ("version", version))
                  if value is not None}
        for batch in batches(found, limits.max_batch, limits.max_content_length):
            yield from self._predict_batch(batch, params)

    def read(self, images: Input | Iterable[Input], *, model: str | None = None,
             version: str | int | None = None) -> list[Reading]:
        """`POST /read`: every digit of each image (paths, bytes or Pillow images), read in order
        as one number. Raises the first input's error, if any."""
        readings = []
        for outcome in self.read_each(images, model=model, version=version):
            if outcome.error is not None:
                raise outcome.error
            readings.append(outcome.prediction)
        return readings

    def read_each(self, images: Input | Iterable[Input], *, model: str | None = None,
                  version: str | int | None = None) -> Iterator[Outcome]:
        """An Outcome per image (its `prediction` a Reading), in order, as predict_each()."""
        found = items(images)
        if any(not item.is_image for item in found):
            raise ValueError("read() takes images (paths, bytes or Pillow images), not pixel arrays")
        limits = self.limits()
        params = {name: value for name, value in (("model", model), ("version", version))
                  if value is not None}
        for batch in batches(found, limits.max_batch, limits.max_content_length):
            yield from self._predict_batch(batch, params, self._send_read)

    def _predict_batch(self, batch: list[Item], params: dict, send=None) -> list[Outcome]:
        send = send or self._send
        outcomes: list[Outcome | None] = [None] * len(batch)
        payloads = []
        for i, item in enumerate(batch):
            try:
                payloads.append((i, item, item.encoded() if item.is_image else item.pixels()))
            except DigitnetError as e:
                outcomes[i] = Outcome(item.source, error=e)
        if payloads:
            try:
                answered = send([(item, payload) for _, item, payload in payloads], params)
                for (i, item, _), prediction in zip(payloads, answered):
                    outcomes[i] = Outcome(item.source, prediction=prediction)
            except ApiError as e:
                if e.status not in ITEM_STATUSES:
                    raise
                if len(payloads) == 1:
                    i, item, _ = payloads[0]
                    e.source = item.source
                    outcomes[i] = Outcome(item.source, error=e)
                else:
                    self._predict_alone(payloads, params, e, outcomes, send)
        return outcomes

    def _predict_alone(self, payloads: list, params: dict, refusal: ApiError,
                       outcomes: list[Outcome | None], send) -> None:
        """Which input did the service refuse? Each, sent alone, says. When the first two alone
        get the batch's very refusal, it concerns the request (a `top_k` above the number of
        classes...), not an input: it is raised rather than pinned on every input."""
        for n, (i, item, _) in enumerate(payloads):
            outcomes[i] = self._predict_batch([item], params, send)[0]
            if n == 1 and all(isinstance(outcomes[j].error, ApiError)
                              and outcomes[j].error.message == refusal.message
                              for j, _, _ in payloads[:2]):
                raise refusal

    def _send(self, sent: list[tuple[Item, bytes | list]], params: dict) -> list[Prediction]:
        if sent[0][0].is_image:
            files = [("file", (item.filename(), data, "application/octet-stream")) for item, data in sent]
            response = self._request("POST", "/predict", params=params, files=files)
        else:
            response = self._request("POST", "/predict", params=params,
                                     json={"instances": [pixels for _, pixels in sent]})
        answer = self._json(response)
        return [Prediction(source=item.source, label=p["label"], confidence=p["confidence"],
                           probabilities=p["probabilities"],
                           top_k=[(r["label"], r["probability"]) for r in p["top_k"]],
                           model_name=answer["model_name"], model_version=answer["model_version"],
                           confidence_threshold=answer["confidence_threshold"],
                           is_digit=p.get("digit", True), digit_score=p.get("digit_score"),
                           marked_sure=p.get("sure"), digits_found=p.get("digits_found"))
                for (item, _), p in zip(sent, answer["predictions"])]

    def _send_read(self, sent: list[tuple[Item, bytes]], params: dict) -> list[Reading]:
        files = [("file", (item.filename(), data, "application/octet-stream")) for item, data in sent]
        answer = self._json(self._request("POST", "/read", params=params, files=files))
        return [Reading(source=item.source, text=r["text"], confidence=r["confidence"], sure=r["sure"],
                        digits=[Digit(d["label"], d["confidence"], tuple(d["box"][k] for k in
                                                                      ("x", "y", "width", "height")))
                                for d in r["digits"]],
                        model_name=answer["model_name"], model_version=answer["model_version"])
                for (item, _), r in zip(sent, answer["readings"])]

    # ---- HTTP ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, session: requests.Session | None = None,
                 **kwargs) -> requests.Response:
        try:
            return (session or self._session).request(method, self.url + path, timeout=self.timeout,
                                                      **kwargs)
        except requests.RequestException as e:
            raise ConnectionFailed(f"no answer from {self.url}: {_reason(e)}") from e

    def _json(self, response: requests.Response) -> dict:
        if not response.ok:
            raise self._error(response)
        return response.json()

    @staticmethod
    def _error(response: requests.Response) -> ApiError:
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):  # not the service's JSON (a proxy's page...)
            message = response.text.strip()[:300] or response.reason
        return api_error(response.status_code, message, response.headers.get("X-Request-ID"))


def _reason(error: requests.RequestException) -> str:
    """The last failure behind urllib3's retries ("Connection refused", "Read timed out")."""
    cause = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
    cause = getattr(cause, "reason", None) or cause  # MaxRetryError: the failure of the last try
    return re.sub(r"<[^>]*>: ", "", str(cause))  # without urllib3's "<...Connection object at 0x...>"
