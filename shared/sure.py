"""When an answer is marked sure: one rule for the service, the evaluation and the clients.

A model's `confidence_threshold` is chosen on held-out data so that single digits read at least
that confidently were 99.5 % right. A whole number is sure when the probability that the whole
string is right (shared/segment.py's Reading.confidence) reaches the same threshold. A single
digit answered for an image that holds several digits is never sure: it cannot be the answer;
nor is one for ink wider than any digit that no cut could part (shared/segment.py reads it whole
as a guess), nor one for what the model does not take for a digit.
A model without a threshold is taken at its word.
"""

from __future__ import annotations

from shared.segment import Reading


def reading_is_sure(reading: Reading, threshold: float | None) -> bool:
    return bool(reading.digits) and (threshold is None or reading.confidence >= threshold)


def predict_is_sure(confidence: float, reading: Reading | None, threshold: float | None,
                    is_digit: bool = True) -> bool:
    """`confidence` of a single-digit answer; `reading` what /read finds in the same image, None
    when its ink is one piece that no cut may part (shared.segment.read_unless_single);
    `is_digit` whether the model takes the input for a digit at all (shared.model.Model.is_digit).
    """
    if not is_digit:
        return False
    if reading is not None and (len(reading.digits) > 1 or reading.segmentation == 0.0):
        return False
    return threshold is None or confidence >= threshold
