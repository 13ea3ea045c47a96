"""When an answer is marked sure: one rule for the service, the evaluation and the clients.

A model's `confidence_threshold` is chosen on held-out data so that single digits read at least
that confidently were 99.5 % right. A whole number is sure when the probability that the whole
string is right (shared/segment.py's Reading.confidence) reaches the same threshold. A single
digit answered for an image that holds several digits is never sure: it cannot be the answer.
A model without a threshold is taken at its word.
"""

from __future__ import annotations

from shared.segment import Reading


def reading_is_sure(reading: Reading, threshold: float | None) -> bool:
    return bool(reading.digits) and (threshold is None or reading.confidence >= threshold)


def predict_is_sure(confidence: float, digits_found: int, threshold: float | None) -> bool:
    return digits_found <= 1 and (threshold is None or confidence >= threshold)
