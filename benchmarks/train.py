"""`make bench-train`: how fast and how well our network trains, against baselines run here.

1. Speed: one epoch over the 60,000 MNIST training images, hidden (128, 32), batch 128, Adam,
   ours against scikit-learn's MLPClassifier with the same sizes, batch and solver (median of
   a few epochs each; scikit-learn given float32, its fastest, and float64, its usual input),
   and the GFLOP/s our epoch reaches against a plain float32 matrix multiply.
2. Accuracy after the same number of epochs, ours against scikit-learn.
3. The default `python -m trainer` run end to end (a real process): wall time and test accuracy
   against the targets (>= 98.5 %, <= 90 s).
4. What teaching "not a digit" costs (trainer/outliers.py): making the outlier images, and the
   default run again with `--outliers 0`, in the same run.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from benchmarks.table import print_table
from trainer.data import load_mnist
from trainer.network import MLP, TrainingConfig
from trainer.outliers import make_outliers

HIDDEN = (128, 32)
BATCH = 128
REPEATS = 3        # epochs timed per contender; the median is reported
ACCURACY_EPOCHS = 5


def epoch_flops(layer_sizes: list[int], n: int) -> float:
    """Multiply-adds of one epoch, counted as 2 FLOPs: forward (X W), weight gradients (A^T D)
    and the deltas sent back through every layer but the first (D W^T)."""
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    per_sample = sum(2 * a * b for a, b in pairs) * 2 + sum(2 * a * b for a, b in pairs[1:])
    return float(per_sample * n)


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    a = np.random.default_rng(0).random((m, k), dtype=np.float32)
    b = np.random.default_rng(1).random((k, n), dtype=np.float32)
    a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - started) / 1e9


def our_epoch_seconds(x: np.ndarray, y: np.ndarray) -> list[float]:
    config = TrainingConfig.plain(hidden=HIDDEN, batch_size=BATCH, epochs=REPEATS,
                                  validation_fraction=0.0)
    return MLP(config).fit(x, y).history["seconds"]


def sklearn_epoch_seconds(x: np.ndarray, y: np.ndarray, dtype: type) -> list[float]:
    """float32 input is scikit-learn's best case (it then computes in float32); float64 is what
    it gets from the usual `X / 255.0`."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, solver="adam",
                        max_iter=1, warm_start=True, random_state=0)
    x_scaled = (x / 255.0).astype(dtype)  # pre-scaled, outside the timing
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(REPEATS):
            started = time.perf_counter()
            clf.fit(x_scaled, y)
            seconds.append(time.perf_counter() - started)
    return seconds


def accuracies_after(epochs: int, data) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    ours = MLP(TrainingConfig.plain(hidden=HIDDEN, batch_size=BATCH, epochs=epochs,
                                    validation_fraction=0.0)).fit(data.x_train, data.y_train)
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, max_iter=epochs,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((data.x_train / np.float32(255)).astype(np.float32), data.y_train)
    theirs = float((clf.predict((data.x_test / np.float32(255)).astype(np.float32))
                    == data.y_test).mean())
    return ours.accuracy(data.x_test, data.y_test), theirs


def default_training_run(*options: str) -> tuple[float, float, str]:
    """Wall seconds and test accuracy of `python -m trainer` (the `make train` command)."""
    with tempfile.TemporaryDirectory() as model_dir:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "trainer", "--model-dir", model_dir,
                                 *options], capture_output=True, text=True, env=os.environ)
        wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"python -m trainer failed:\n{result.stderr}")
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", result.stdout).group(1))
    return wall, accuracy, result.stderr.splitlines()[0]


def main() -> None:
    data = load_mnist()
    layer_sizes = [784, *HIDDEN, 10]
    print(f"MNIST {len(data.y_train)} training images; hidden {HIDDEN}, batch {BATCH}, Adam; "
          f"{os.cpu_count()} cores; numpy {np.__version__}\n", flush=True)

    ours = statistics.median(our_epoch_seconds(data.x_train, data.y_train))
    theirs = statistics.median(sklearn_epoch_seconds(data.x_train, data.y_train, np.float32))
    theirs64 = statistics.median(sklearn_epoch_seconds(data.x_train, data.y_train, np.float64))
    our_acc, their_acc = accuracies_after(ACCURACY_EPOCHS, data)
    print_table(
        ["one epoch, 60k images", "digitnet (NumPy, float32)", "scikit-learn MLPClassifier",
         "ratio (sklearn / ours)"],
        [["seconds per epoch, sklearn given float32 (median of 3)", f"{ours:.3f}",
          f"{theirs:.3f}", f"{theirs / ours:.2f}x faster"],
         ["seconds per epoch, sklearn given float64 (median of 3)", f"{ours:.3f}",
          f"{theirs64:.3f}", f"{theirs64 / ours:.2f}x faster"],
         [f"test accuracy after {ACCURACY_EPOCHS} epochs (sklearn float32)", f"{our_acc:.4f}",
          f"{their_acc:.4f}", f"{our_acc - their_acc:+.4f}"]], figure="train")

    flops = epoch_flops(layer_sizes, len(data.y_train))
    reached = flops / ours / 1e9
    batch_matmul = matmul_gflops(BATCH, 784, HIDDEN[0])
    big_matmul = matmul_gflops(1024, 1024, 1024)
    print()
    print_table(["compute", "GFLOP/s", "share of a 1024^3 float32 matmul"],
                [["our training epoch (useful FLOPs / time)", f"{reached:.1f}",
                  f"{reached / big_matmul:.0%}"],
                 [f"plain matmul {BATCH}x784 @ 784x{HIDDEN[0]} (first layer's shape)",
                  f"{batch_matmul:.1f}", f"{batch_matmul / big_matmul:.0%}"],
                 ["plain matmul 1024x1024 @ 1024x1024", f"{big_matmul:.1f}", "100%"]], figure="train")

    wall, accuracy, network = default_training_run()
    print()
    print_table(["default `make train` (python -m trainer)", "measured", "target", "met"],
                [["wall time, data load to saved bundle", f"{wall:.1f} s", "<= 90 s",
                  "yes" if wall <= 90 else "NO"],
                 ["MNIST test accuracy", f"{accuracy:.4f}", ">= 0.9850",
                  "yes" if accuracy >= 0.985 else "NO"],
                 ["epoch speed vs scikit-learn as usually fed (float64, ~1.3 s/epoch)",
                  f"{theirs64 / ours:.2f}x", ">= 1.5x", "yes" if theirs64 / ours >= 1.5 else "NO"],
                 ["epoch speed vs scikit-learn's float32 best case", f"{theirs / ours:.2f}x",
                  "(for information)", "-"]], figure="train")
    print(f"\n({network})")

    started = time.perf_counter()
    bank = make_outliers(data.x_train[:10000], data.y_train[:10000], (28, 28),
                         np.random.default_rng(0))
    making = time.perf_counter() - started
    plain_wall, plain_accuracy, _ = default_training_run("--outliers", "0")
    print()
    print_table(["teaching 'not a digit' (default preset)",
                 f"with outliers ({TrainingConfig().outliers:.0%})",
                 "without (--outliers 0)", "ratio"],
                [["wall time of `python -m trainer`", f"{wall:.1f} s", f"{plain_wall:.1f} s",
                  f"{wall / plain_wall:.2f}x"],
                 ["MNIST test accuracy", f"{accuracy:.4f}", f"{plain_accuracy:.4f}",
                  f"{accuracy - plain_accuracy:+.4f}"],
                 [f"making the {len(bank)} outlier images, once per run", f"{making:.1f} s",
                  "-", "-"]], figure="train")


if __name__ == "__main__":
    main()
