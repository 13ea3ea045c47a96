"""Learning-rate schedules: the learning rate as a function of how far training has come.

Each schedule maps `progress` (epochs completed, fractional within an epoch) and the total number
of epochs to a multiple of the base learning rate. The trainer asks once per mini-batch, so the
smooth schedules change the rate continuously, not in steps. Adding a schedule is one function
and one line in the table.

- exponential: the rate is multiplied by `lr_decay` after every epoch (1.0 = constant).
- cosine: from the base rate down to zero along half a cosine (Loshchilov & Hutter, 2017).
- one_cycle: a warm-up from base/25 to the base rate over the first 30 % of training, then a
  cosine down to base/10^4 (Smith & Topin, 2018): large steps explore while the network is far
  from a minimum, small steps settle into one at the end.
"""

from __future__ import annotations

import math

ONE_CYCLE_WARMUP = 0.3
ONE_CYCLE_START = 1 / 25
ONE_CYCLE_END = 1e-4


def exponential(progress: float, epochs: int, lr_decay: float) -> float:
    return lr_decay ** math.floor(progress)


def cosine(progress: float, epochs: int, lr_decay: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(progress / epochs, 1.0)))


def one_cycle(progress: float, epochs: int, lr_decay: float) -> float:
    t = min(progress / epochs, 1.0)
    if t < ONE_CYCLE_WARMUP:
        return ONE_CYCLE_START + (1 - ONE_CYCLE_START) * t / ONE_CYCLE_WARMUP
    down = (t - ONE_CYCLE_WARMUP) / (1 - ONE_CYCLE_WARMUP)
    return ONE_CYCLE_END + (1 - ONE_CYCLE_END) * 0.5 * (1 + math.cos(math.pi * down))


SCHEDULES = {"exponential": exponential, "cosine": cosine, "one_cycle": one_cycle}
