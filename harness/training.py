"""The training configurations of the models tests and benchmarks train for themselves."""

from trainer.network import TrainingConfig

# Small and quick (a few seconds), and good enough to read real digits (~97% on MNIST test).
FIXTURE_CONFIG = TrainingConfig.plain(hidden=(128,), epochs=4, batch_size=64, seed=0)
# About a second: ~98% on the digits' own test set.
DIGITS_CONFIG = TrainingConfig.plain(hidden=(64,), epochs=30, batch_size=32, seed=0)
