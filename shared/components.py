"""Connected pieces of ink in a binary image (8-connectivity), in NumPy.

Each row is cut into runs of ink; a run touches the runs of the next row whose columns overlap it
or meet it diagonally. Runs that touch are joined by repeatedly hooking every run onto the lowest
run id it touches and jumping pointers until nothing changes: a handful of vectorised passes,
whatever the image, rather than a Python loop over its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Component:
    """One connected piece of ink: its pixels and bounding box (half-open, in image pixels)."""

    rows: np.ndarray     # the pixels' row indices
    columns: np.ndarray  # and column indices, the same length
    top: int
    left: int
    bottom: int          # one past the last row
    right: int           # one past the last column

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return len(self.rows)


def label_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs of True in each row of `mask`: (row, start, end, component id), end exclusive,
    the ids numbered 0.. in the order of each component's first run."""
    run_rows, starts, ends = row_runs(mask)
    return run_rows, starts, ends, _join(len(starts), *run_edges(run_rows, starts, ends))


def row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of True in each row of `mask`: (row, start, end), end exclusive, row-major."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    run_rows, starts = np.nonzero(steps == 1)
    ends = np.nonzero(steps == -1)[1]  # row-major order: the n-th end closes the n-th start
    return run_rows, starts, ends


def run_edges(run_rows: np.ndarray, starts: np.ndarray, ends: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (upper[i], lower[i]) of runs in row-major order that touch: lower in the row
    below upper, overlapping it or meeting it diagonally."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    # Wider than any row's span of columns: row * stride + column then orders runs row by row.
    stride = int(ends.max() - starts.min()) + 2
    # Run b in row r + 1 touches run a in row r when b.start <= a.end and b.end >= a.start.
    first = np.searchsorted(run_rows * stride + ends, (run_rows + 1) * stride + starts, "left")
    last = np.searchsorted(run_rows * stride + starts, (run_rows + 1) * stride + ends, "right")
    counts = np.maximum(last - first, 0)
    upper = np.repeat(np.arange(len(starts)), counts)
    lower = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
             + np.repeat(first, counts))
    return upper, lower


def _join(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component ids 0.. of n nodes joined by the edges (a[i], b[i])."""
    parent = np.arange(n)
    while True:
        low = np.minimum(parent[a], parent[b])
        np.minimum.at(parent, parent[a], low)
        np.minimum.at(parent, parent[b], low)
        # (x == y).all(), not np.array_equal: its checks cost more than the comparison here.
        while not ((jumped := parent[parent]) == parent).all():
            parent = jumped
        if (parent[a] == parent[b]).all():
            break
    # Every node now points at its component's root (a node that is its own parent): number the
    # roots 0.. in order, as np.unique's inverse would, without sorting.
    roots = parent == np.arange(n)
    return (np.cumsum(roots) - 1)[parent]


@dataclass(frozen=True)
class RowRuns:
    """A mask's runs of ink (row_runs') and the pairs of them that touch (run_edges'), found
    once. The largest piece of the ink between any two columns then costs one join of the runs
    cut to those columns: cutting runs shorter can part runs that touched, never join others."""

    rows: np.ndarray
    starts: np.ndarray   # columns, offset by the `left` the mask was given with
    ends: np.ndarray
    upper: np.ndarray
    lower: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, left: int = 0) -> RowRuns:
        """The runs of `mask`, whose first column is column `left` of the image."""
        run_rows, starts, ends = row_runs(mask)
        return cls(run_rows, starts + left, ends + left, *run_edges(run_rows, starts, ends))

    def largest_area_between(self, first: int, last: int) -> int:
        """The pixel count of the largest 8-connected piece of the ink in columns [first, last)."""
        starts, ends = np.maximum(self.starts, first), np.minimum(self.ends, last)
        kept = starts < ends
        if not kept.any():
            return 0
        # Cut shorter, two runs may stop touching; runs that did not touch never start to.
        a, b = self.upper, self.lower
        touching = kept[a] & kept[b] & (starts[b] <= ends[a]) & (ends[b] >= starts[a])
        index = np.cumsum(kept) - 1
        ids = _join(int(index[-1]) + 1, index[a[touching]], index[b[touching]])
        return int(np.bincount(ids, weights=(ends - starts)[kept]).max())


def components(mask: np.ndarray) -> list[Component]:
    """The 8-connected pieces of `mask`, in the order of their first pixel (row-major)."""
    run_rows, starts, ends, ids = label_runs(mask)
    if len(ids) == 0:
        return []
    lengths = ends - starts
    order = np.argsort(ids, kind="stable")
    splits = np.cumsum(np.bincount(ids))[:-1]
    found = []
    for runs in np.split(order, splits):
        rows = np.repeat(run_rows[runs], lengths[runs])
        offsets = np.arange(lengths[runs].sum()) - np.repeat(np.cumsum(lengths[runs]) - lengths[runs],
                                                             lengths[runs])
        columns = np.repeat(starts[runs], lengths[runs]) + offsets
        found.append(Component(rows, columns, int(run_rows[runs].min()), int(starts[runs].min()),
                               int(run_rows[runs].max()) + 1, int(ends[runs].max())))
    return found
