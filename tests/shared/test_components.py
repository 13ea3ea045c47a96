"""shared/components.py: 8-connected pieces of a binary image, checked against a flood fill."""

from __future__ import annotations

import numpy as np
import pytest

from shared.components import RowRuns, components


def flood_fill(mask: np.ndarray) -> np.ndarray:
    """Each pixel's piece number (-1 for background), by the textbook 8-neighbour flood fill."""
    labels = np.full(mask.shape, -1)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start] >= 0:
            continue
        labels[start], stack = count, [start]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    if (0 <= n[0] < mask.shape[0] and 0 <= n[1] < mask.shape[1] and mask[n]
                            and labels[n] < 0):
                        labels[n] = count
                        stack.append(n)
        count += 1
    return labels


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6])
def test_pieces_are_those_of_a_flood_fill(density):
    mask = np.random.default_rng(int(density * 100)).random((40, 57)) < density
    reference = flood_fill(mask)
    found = components(mask)
    assert len(found) == reference.max() + 1
    assert sum(piece.area for piece in found) == mask.sum()
    for piece in found:
        numbers = np.unique(reference[piece.rows, piece.columns])
        assert len(numbers) == 1 and (reference == numbers[0]).sum() == piece.area
        assert (piece.top, piece.left) == (piece.rows.min(), piece.columns.min())
        assert (piece.bottom, piece.right) == (piece.rows.max() + 1, piece.columns.max() + 1)


def test_diagonal_neighbours_are_one_piece_and_a_gap_parts_two():
    mask = np.zeros((6, 6), dtype=bool)
    mask[[0, 1, 2], [0, 1, 2]] = True   # a diagonal: one piece
    mask[0:6, 5] = True                 # a column two pixels away: another
    assert sorted(p.area for p in components(mask)) == [3, 6]


def test_an_empty_image_has_no_pieces():
    assert components(np.zeros((5, 7), dtype=bool)) == []


@pytest.mark.parametrize("density", [0.0, 0.2, 0.45, 0.6])
def test_the_largest_area_is_that_of_the_largest_flood_filled_piece(density):
    mask = np.random.default_rng(int(density * 100) + 1).random((30, 41)) < density
    labels = flood_fill(mask)
    expected = np.bincount(labels[labels >= 0]).max() if mask.any() else 0
    assert RowRuns.of(mask).largest_area_between(0, mask.shape[1]) == expected


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6])
def test_the_largest_area_between_two_columns_is_that_of_the_mask_cut_there(density):
    """RowRuns cuts the whole mask's runs to the columns asked for: runs that touched may no
    longer, as in the cut mask flood-filled anew. Columns are the image's, the mask at `left`."""
    rng = np.random.default_rng(int(density * 100) + 2)
    mask, left = rng.random((30, 41)) < density, 7
    runs = RowRuns.of(mask, left)
    spans = [(7, 48), (7, 8), (20, 21), (47, 48), (0, 60)] + [
        tuple(sorted(rng.choice(np.arange(7, 49), 2, replace=False))) for _ in range(20)]
    for first, last in spans:
        cut = mask[:, max(first - left, 0):last - left]
        labels = flood_fill(cut)
        expected = np.bincount(labels[labels >= 0]).max() if cut.any() else 0
        assert runs.largest_area_between(first, last) == expected, (first, last)
