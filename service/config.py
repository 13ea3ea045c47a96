"""The service's settings, read once from environment variables.

    MODEL_DIR            the model repository: a folder per model, `<MODEL_DIR>/<model>/<version>.npz`
                         and optionally `<MODEL_DIR>/<model>/policy.json`; every model is served
                         (./models)
    MODEL_NAME           the default model: it answers requests that name none, and the server is
                         ready once it has a version loaded (mnist)
    MODEL_POLL_SECONDS   how often each worker looks for new or removed versions and policies (2)
    MAX_CONTENT_LENGTH   largest request body in bytes, larger is a 413 (16777216 = 16 MiB)
    MAX_BATCH            most images in one request, more is a 413 (256)
    MAX_IMAGE_PIXELS     most pixels in one uploaded image, more is a 413 (12600000: a 12-megapixel
                         phone photo, 4032x3024 or 4080x3072, fits)
    MAX_REQUEST_PIXELS   most pixels decoded for one request, all its images together, more is a
                         413 (16000000; a JPEG counts at the reduced size it is decoded at)
    REQUEST_DEADLINE_SECONDS  a request still decoding images after this long is answered 503
                         instead of holding its thread (10)
    LOG_LEVEL            DEBUG, INFO, WARNING or ERROR (INFO)

HOST, PORT and WEB_CONCURRENCY belong to the server, not the app: see gunicorn.conf.py.
A bad value stops the service at start with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.repository import MODEL_NAME


@dataclass(frozen=True)
class Settings:
    model_dir: Path = Path("models")
    model_name: str = "mnist"
    poll_seconds: float = 2.0
    max_content_length: int = 16 * 1024 * 1024
    max_batch: int = 256
    max_image_pixels: int = 12_600_000
    max_request_pixels: int = 16_000_000
    deadline_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        settings = cls(
            model_dir=Path(env.get("MODEL_DIR") or cls.model_dir),
            model_name=env.get("MODEL_NAME") or cls.model_name,
            poll_seconds=_number(env, "MODEL_POLL_SECONDS", cls.poll_seconds, float),
            max_content_length=_number(env, "MAX_CONTENT_LENGTH", cls.max_content_length, int),
            max_batch=_number(env, "MAX_BATCH", cls.max_batch, int),
            max_image_pixels=_number(env, "MAX_IMAGE_PIXELS", cls.max_image_pixels, int),
            max_request_pixels=_number(env, "MAX_REQUEST_PIXELS", cls.max_request_pixels, int),
            deadline_seconds=_number(env, "REQUEST_DEADLINE_SECONDS", cls.deadline_seconds, float),
            log_level=(env.get("LOG_LEVEL") or cls.log_level).upper(),
        )
        if not MODEL_NAME.match(settings.model_name):
            raise ValueError(f"MODEL_NAME={settings.model_name!r} is not a valid model name")
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"LOG_LEVEL={settings.log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        return settings


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value
