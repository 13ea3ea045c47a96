"""Training presets: named configurations, each written as its differences from `TrainingConfig`'s
defaults, which are the "default" preset (what `make train` trains).

`PLAIN` is the textbook network without the default's extras: Adam at a constant learning rate
of 1e-3, the parameters as they are (no moving average), the images as they are (no
augmentation), no outliers. `TrainingConfig.plain(...)` builds one; the small models of the tests
and the comparison with scikit-learn are plain.
"""

from __future__ import annotations

from dataclasses import replace

from trainer.augment import REAL_HANDWRITING, AugmentConfig

PLAIN: dict = dict(hidden=(256, 128), learning_rate=1e-3, epochs=20, schedule="exponential",
                   lr_decay=1.0, ema=0.0, augment=AugmentConfig(), outliers=0.0)

PRESETS: dict[str, dict] = {
    # Targets >= 98.5 % MNIST test accuracy in well under 90 s on 2 cores (`make bench-quality`).
    "default": {},
    # Targets >= 99.2 % MNIST test accuracy within 15 minutes on 2 cores (`make train-best`):
    # wider layers, larger batches (half the optimiser steps per epoch) and four times the
    # epochs. 30 % of the 1s, 7s and 9s styled, not 60 %: at 50-60 % this network gave up the
    # tenth of a point of MNIST that keeps it above 99.2 %, for no more real handwriting.
    "best": dict(hidden=(1024, 512), learning_rate=3e-3, batch_size=256, epochs=80, ema=0.998,
                 augment=replace(REAL_HANDWRITING, styles=0.3)),
    # The classic from-scratch article: full-batch gradient descent, 200 epochs.
    "seed": {**PLAIN, "hidden": (128, 32), "optimizer": "sgd", "momentum": 0.0,
             "learning_rate": 0.03, "batch_size": 0, "epochs": 200, "validation_fraction": 0.0},
    # Seconds, for smoke tests and CI: a small network, one epoch.
    "quick": {**PLAIN, "hidden": (64,), "learning_rate": 2e-3, "batch_size": 64, "epochs": 1},
}
