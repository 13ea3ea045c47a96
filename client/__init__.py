"""The Python client and command line of the digitnet service.

    from client import Client
    with Client("http://127.0.0.1:8000") as digitnet:
        for prediction in digitnet.predict(["seven.png", "two.jpg"]):
            print(prediction.source, prediction.label, prediction.confidence)

Read in this order:

    api.py      Client: predict(), read(), their _each(), models(), health(); retries; batching
    inputs.py   paths, bytes, Pillow images and NumPy arrays turned into batched requests
    errors.py   the exception types, one per kind of failure
    cli.py      the `digitnet` command: predict, read, models, health
"""

from client.api import Client, Digit, Health, Limits, Outcome, Prediction, Reading, Retries
from client.errors import (
    ApiError,
    BadRequest,
    ConnectionFailed,
    DigitnetError,
    InputError,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)

__all__ = ["Client", "Digit", "Health", "Limits", "Outcome", "Prediction", "Reading", "Retries", "ApiError",
           "BadRequest", "ConnectionFailed", "DigitnetError", "InputError", "NotFound", "PayloadTooLarge",
           "ServerError", "ServiceUnavailable", "Unauthorized", "UnsupportedMediaType"]
