"""Printed lines taken out of a photo before the digit is cropped: ruled and squared paper, the
box of a form, a table's rules.

Left in, such lines become part of the "digit" that is cropped and scaled. They are long, thin
and straight, nearly horizontal or vertical (a photo is tilted a few degrees at most), and they
reach well beyond the digit written across or inside them. A digit's own straight strokes (the
stem of a 1, the bars of a 4 and a 7) are long and straight too, but they end where the rest of
the digit is. So, on the ink normalised by shared/preprocess.py (0 background, 255 ink level):

1. find lines: on every few columns of the ink mask, rows pooled (a line crosses every
   column), count the ink along each row sheared by the slopes a tilted photo may give; rows
   whose count reaches LONG of the width (or most of what a tilt leaves of a row inside the
   image) are candidates; a lone one shorter than SPAN is a stroke. Each is refined on the
   full image: its slope fitted to its pixels, its band, its ink level, and its length as the
   longest run of columns with ink of its level in the band, bridging short gaps (noise, JPEG);
2. tell page lines from strokes: the rest of the ink (outside every candidate) is the digit;
   a candidate that does not reach OVERHANG beyond the digit at both ends (nor leaves the
   image) is a stroke and joins the digit, until none changes; a box's sides, whose ends sit
   on other sides printed alike, never join. If nothing is left outside the candidates (a 1 or
   a 7 made of straight strokes), the shortest candidate and those touching it are the digit.
   A candidate reaching beyond the digit is a page line when it does not touch it (a margin
   line beside it), when it is much fainter than the digit's ink (rules), or when another of
   its direction is printed alike (rules, a box's two sides); a single dark line through the
   digit may be its own stroke (a 4's stem, a tightly cropped 7's bar) and is kept;
3. erase page lines except where a stroke crosses them (ink of the digit's level just beyond
   the band on both sides, or ink far brighter than a faint line), twice for lines crossing
   each other, and not at all if that would leave almost no ink.

Vertical lines are found and erased by the same code on the transposed image (Line.view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINE_INK = 0.12       # share of the ink level from which a pixel is line or ink: faint rules too
DETECT_SIDE = 128     # lines are searched on the mask pooled to about this side
MAX_SLOPE = 0.07      # rows per column: a photo tilted by up to 4 degrees
LONG = 0.3            # a line spans at least this share of the image
EDGE_PIECE = (0.1, 0.8)  # or, cut by the image's top or bottom, this share of the width at least,
                         # with ink along this share of the part inside
SPAN = 0.8            # a line on its own (no other as long in its direction) spans this share
MIN_LENGTH = 12       # and at least this many pixels
GAP = 0.04            # gaps bridged in a line, share of the image's side
MAX_THICKNESS = 0.04  # a line is at most this share of the image's height thick
OVERHANG = 0.05       # a page line reaches this share of the side (+2 px) beyond the digit
# A line's band: rows with this share of its peak's coverage above the nearby ink, on the coarse
# slope (a tilted line smears over rows) and on the fitted one (a stroke beside it stays out).
BAND_EDGE = (0.2, 0.5)
FAINT = 0.7           # a line reaching beyond the digit this much fainter than its ink is printed
SAME_RUN = 0.5        # along a line, ink at least this share of its level
SAME_LEVEL = 0.35     # the sides of a box differ in ink level by less than this share
END_TOLERANCE = 2     # px between a box's side's end and the side it ends on
MIN_REST = 0.02       # ink outside the lines below this share of the digit's: no digit there
TRIM = 0.005          # the digit's extent ignores this share of its pixels at each side
CROSSING = 0.35       # ink this far above a faint line's level is a stroke lying on it
MIN_KEPT = 0.05       # lines are left alone if erasing them would keep less of the ink


@dataclass(eq=False)
class Line:
    """A straight band of ink along the rows of an image (of its transpose for a vertical line)."""

    vertical: bool
    start: int            # first and last column of the line
    end: int
    centre: np.ndarray    # the band's first row at each column start..end
    thickness: int
    level: float          # the line's own ink level (faint rules are below the digit's)

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def view(self, image: np.ndarray) -> np.ndarray:
        """`image` seen with this line along its rows."""
        return image.T if self.vertical else image

    def band(self, image: np.ndarray, columns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of the band's pixels inside `image` (seen along the line), at all its
        columns or at `columns` (a mask over start..end)."""
        height = self.view(image).shape[0]
        along = np.arange(self.start, self.end + 1)
        first = self.centre if columns is None else self.centre[columns]
        along = along if columns is None else along[columns]
        rows = (first[:, None] + np.arange(self.thickness)).ravel()
        along = np.repeat(along, self.thickness)
        inside = (rows >= 0) & (rows < height)
        return rows[inside], along[inside]

    def erasable(self, ink: np.ndarray, digit_level: float) -> np.ndarray:
        """Columns (a mask over start..end) where no stroke crosses the line in `ink`: no ink
        of the digit's level just beyond the band on both sides, nor ink far brighter than the
        line."""
        image = self.view(ink)
        height = image.shape[0]
        along = np.arange(self.start, self.end + 1)

        def row(offsets: np.ndarray) -> np.ndarray:
            rows = self.centre[:, None] + offsets
            values = image[np.clip(rows, 0, height - 1), along[:, None]]
            return np.where((rows >= 0) & (rows < height), values, 0.0)

        beyond = row(np.array([-2, self.thickness + 1])) >= digit_level
        brightest = row(np.arange(self.thickness)).max(axis=1)
        return ~((beyond[:, 0] & beyond[:, 1]) | (brightest >= self.level + CROSSING * 255.0))

    def across(self, first: float, last: float) -> tuple[float, float]:
        """The band's lowest and highest row (column for a vertical line) between the columns
        `first` and `last`."""
        ends = np.clip(np.array([first, last], dtype=np.int64) - self.start, 0, self.length - 1)
        rows = self.centre[ends]
        return float(rows.min()), float(rows.max() + self.thickness - 1)

    def extent(self) -> np.ndarray:
        """[first row, last row, first column, last column] of the line."""
        low, high = self.across(self.start, self.end)
        return np.array([self.start, self.end, low, high] if self.vertical
                        else [low, high, self.start, self.end], dtype=np.float64)


def remove_lines(ink: np.ndarray, digit_level: float) -> np.ndarray:
    """`ink` (float, ink level 255 on 0) without the printed lines that cross it; pixels from
    `digit_level` up are the digit's (the crop's threshold)."""
    mask = ink >= LINE_INK * 255.0
    lines = find_lines(ink, mask, vertical=False) + find_lines(ink, mask, vertical=True)
    if not lines:
        return ink
    digit = ink >= digit_level
    page = page_lines(lines, ink, digit)
    if not page:
        return ink
    cleaned = ink.copy()
    # Twice: where two page lines cross (squared paper, a box's corners) each first sees the
    # other as a stroke crossing it.
    for _ in range(2):
        for line in page:
            line.view(cleaned)[line.band(cleaned, line.erasable(cleaned, digit_level))] = 0.0
    if np.count_nonzero(cleaned >= digit_level) < MIN_KEPT * np.count_nonzero(digit):
        return ink
    return cleaned


def page_lines(lines: list[Line], ink: np.ndarray, digit: np.ndarray) -> list[Line]:
    """Which of `lines` are printed on the page rather than strokes of the digit (`digit`: the
    ink mask at the crop's threshold)."""
    rest = digit.copy()
    for line in lines:
        line.view(rest)[line.band(rest)] = False
    pen = float(np.percentile(ink[rest], 90)) if rest.any() else 255.0  # the digit's ink level
    # A box's sides end on its other sides: they never count as strokes, however close the
    # digit comes to the box.
    framed = [line for line in lines if ends_on_lines(line, lines, digit.shape)]
    undecided = list(lines)
    extent = digit_extent(rest, np.count_nonzero(digit))
    if extent is None:  # the digit is made of straight strokes: start from them
        extent = strokes_extent(lines, framed, undecided, digit.shape)
    changed = True
    while changed:
        changed = False
        for line in list(undecided):
            if line not in framed and not overhangs(line, extent, digit.shape):
                undecided.remove(line)
                extent = union(extent, line.extent())
                changed = True
    return [line for line in undecided
            if not touches(line, extent) or line.level < FAINT * pen or any(
                other is not line and other.vertical == line.vertical and same_print(line, other)
                for other in undecided)]


def strokes_extent(lines: list[Line], framed: list[Line], undecided: list[Line],
                   shape: tuple[int, int]) -> np.ndarray:
    """The extent of a digit drawn only with straight strokes: the shortest line neither
    framed nor crossing the image, and those touching it (a 4's bar and stem), taken out of
    `undecided`."""
    strokes = [line for line in lines if line not in framed and not spans(line, shape)]
    first = min(strokes or lines, key=lambda line: line.length / shape[line.vertical ^ 1])
    undecided.remove(first)
    extent = first.extent()
    grown = True
    while grown:
        grown = False
        for line in strokes:
            if line in undecided and touches(line, extent):
                undecided.remove(line)
                extent, grown = union(extent, line.extent()), True
    return extent


def spans(line: Line, shape: tuple[int, int]) -> bool:
    """Whether `line` runs from one edge of the image to the other."""
    return line.start == 0 and line.end == shape[line.vertical ^ 1] - 1


def ends_on_lines(line: Line, lines: list[Line], shape: tuple[int, int]) -> bool:
    """Whether both ends of `line` are closed by lines across it printed alike, as a box's or
    a table's sides are, or open out of the image, where the photo cut through the box."""
    side, length = (shape[1], shape[0]) if line.vertical else shape
    first, last = int(line.centre[0]), int(line.centre[-1])

    def out(across: int) -> bool:
        return across <= 0 or across + line.thickness >= side

    ends = 0
    for along, across, other_end in ((line.start, first, last), (line.end, last, first)):
        # Out through the image's end, or out through its side at this end only (a tilt).
        if along in (0, length - 1) or (out(across) and not out(other_end)):
            ends += 1
        elif any(closes(other, along, across + line.thickness // 2) and same_print(line, other)
                 for other in lines if other.vertical != line.vertical):
            ends += 1
    return ends == 2


def closes(line: Line, row: int, column: int) -> bool:
    """Whether `line` passes through (row, column) of its own view, give or take END_TOLERANCE
    (and its thickness past its ends: two sides meeting at a corner)."""
    reach = END_TOLERANCE + line.thickness
    if not line.start - reach <= column <= line.end + reach:
        return False
    low = line.centre[np.clip(column - line.start, 0, line.length - 1)]
    return bool(low - END_TOLERANCE <= row <= low + line.thickness - 1 + END_TOLERANCE)


def union(extent: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The smallest extent holding both [first row, last row, first column, last column]."""
    return np.where([True, False, True, False], np.minimum(extent, other), np.maximum(extent, other))


def digit_extent(rest: np.ndarray, digit_pixels: int) -> np.ndarray | None:
    """[first row, last row, first column, last column] of the ink in `rest`, ignoring a few
    stray pixels; None when there is next to none."""
    rows, columns = np.nonzero(rest)
    if rows.size < max(1, MIN_REST * digit_pixels):
        return None
    return np.r_[np.quantile(rows, [TRIM, 1 - TRIM]), np.quantile(columns, [TRIM, 1 - TRIM])]


def overhangs(line: Line, extent: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether `line` reaches beyond `extent` at both of its ends, or leaves the image."""
    first, last = extent[[0, 1]] if line.vertical else extent[[2, 3]]
    side = shape[1 if line.vertical else 0]
    margin = OVERHANG * shape[0 if line.vertical else 1] + 2

    def out(across: int) -> bool:  # through the image's top or bottom (sides for a vertical)
        return across <= 0 or across + line.thickness >= side

    return ((line.start <= first - margin or out(int(line.centre[0])))
            and (line.end >= last + margin or out(int(line.centre[-1]))))


def touches(line: Line, extent: np.ndarray) -> bool:
    """Whether `line` passes through or along `extent` (the digit's, which leaves out the ink
    under the lines: a line as thick as itself away still touches it)."""
    first, last = extent[[0, 1]] if line.vertical else extent[[2, 3]]
    low, high = line.across(first, last)
    lowest, highest = extent[[2, 3]] if line.vertical else extent[[0, 1]]
    near = line.thickness + 2
    return high >= lowest - near and low <= highest + near


def find_lines(ink: np.ndarray, mask: np.ndarray, vertical: bool) -> list[Line]:
    """The long, thin lines of `mask` (of `ink`) nearly along its rows, or its columns."""
    factor = max(1, -(-max(mask.shape) // DETECT_SIDE))
    candidates = candidate_rows(pooled(mask, factor, vertical), factor)
    ink, mask = (ink.T, mask.T) if vertical else (ink, mask)
    # Rows searched either side of a line: half the thickest line, and the pooling's rounding.
    reach = int(np.ceil(MAX_THICKNESS * mask.shape[0])) + 2 * factor + 2
    padded = np.zeros((mask.shape[0] + 2 * reach, mask.shape[1]), dtype=bool)
    padded[reach:reach + mask.shape[0]] = mask
    search = LineSearch(ink, padded, reach, vertical)
    lines: list[Line] = []
    for slope, row, need in candidates:
        line = refine(search, slope, row, need)
        if line is not None and not any(same_line(line, other) for other in lines):
            lines.append(line)
    return lines


def pooled(mask: np.ndarray, factor: int, vertical: bool) -> np.ndarray:
    """`mask` shrunk by `factor` for finding lines along its rows (columns if `vertical`, then
    transposed): every factor-th column, each pixel set if any of its `factor` rows is (a line
    runs through every column, so skipping columns loses none of it)."""
    sub = mask[::factor].T if vertical else mask[:, ::factor]
    blocks = -(-sub.shape[0] // factor)
    padded = np.zeros((blocks * factor, sub.shape[1]), dtype=bool)
    padded[:sub.shape[0]] = sub
    return np.logical_or.reduce(padded.reshape(blocks, factor, sub.shape[1]), axis=1)


def candidate_rows(pooled: np.ndarray, factor: int) -> list[tuple[float, float, float]]:
    """(slope, row at the first column, columns of ink needed) of full-resolution lines long
    enough to be candidates,
    the longest first, from a projection along a range of slopes of the mask `pooled` by
    `factor`. A lone candidate shorter than SPAN is a digit's stroke (one line on its own is a
    page line only when it crosses the image), and is not looked at."""
    height, width = pooled.shape
    ys, xs = np.nonzero(pooled)
    steps = int(np.ceil(MAX_SLOPE * width))
    slopes = np.arange(-steps, steps + 1) / width
    shift = steps + 1
    # The row each pixel projects to, for every slope: a table over the columns, then a lookup.
    table = shift - np.rint(slopes[:, None] * (np.arange(width) - width / 2)).astype(np.intp)
    span = height + 2 * shift
    table += (np.arange(len(slopes)) * span)[:, None]
    counts = np.bincount((table[:, xs] + ys).ravel(), minlength=len(slopes) * span)
    counts = counts.reshape(len(slopes), span)
    # How many columns each sheared row has inside the image: near the top or bottom a tilted
    # rule leaves the image part way, and the piece left is as much a line.
    inside = np.cumsum(np.bincount(table.ravel(), minlength=len(slopes) * span)
                       - np.bincount((table + height).ravel(), minlength=len(slopes) * span + height)
                       [:len(slopes) * span]).reshape(len(slopes), span)
    inside -= np.r_[0, inside[:-1, -1]][:, None]  # the running sum restarts at each slope
    piece = (counts >= EDGE_PIECE[1] * inside) & (inside >= EDGE_PIECE[0] * width)
    score = np.where((counts >= LONG * width) | piece, counts, 0)
    best, which = score.max(axis=0), score.argmax(axis=0)
    left, right = np.r_[0, best[:-1]], np.r_[best[1:], 0]
    peaks = np.flatnonzero((best > 0) & (best >= left) & (best > right))
    if len(peaks) == 1 and best[peaks[0]] < SPAN * width:
        return []
    candidates = []
    for peak in peaks[np.argsort(-best[peaks], kind="stable")]:  # the longest first
        slope = slopes[which[peak]]
        # pooled row r' at pooled column c is y = r' + slope (c - width / 2); back to full size
        row = factor * (peak - shift - slope * width / 2) + (factor - 1) / 2
        need = factor * min(LONG * width, EDGE_PIECE[1] * inside[which[peak], peak])
        candidates.append((float(slope), float(row), float(need)))
    return candidates


@dataclass(frozen=True)
class LineSearch:
    """An image made ready for finding lines along its rows: its ink (transposed when the lines
    sought are `vertical`), and its mask with `reach` blank rows added above and below."""

    ink: np.ndarray
    padded: np.ndarray
    reach: int
    vertical: bool


def refine(search: LineSearch, slope: float, row: float, need: float) -> Line | None:
    """The line near `row` + slope * column on the full image: its band and extent, with its
    slope fitted to its own pixels. None when there is no thin line there at least `need`
    columns long."""
    ink, padded, reach = search.ink, search.padded, search.reach
    height, width = ink.shape
    columns = np.arange(width)
    # The coarse slope may drift a pixel or two along the line: fit it to its pixels' middle.
    found = band_near(padded, reach, row + slope * columns, BAND_EDGE[0])
    if found is None:
        return None
    centre, low, high = found
    rows = centre[None, :] + np.arange(low, high + 1)[:, None]
    inked = padded[rows + reach, columns]
    count = inked.sum(axis=0)
    used = np.flatnonzero(count)
    if used.size < need:
        return None
    middle = (inked * rows).sum(axis=0)[used] / count[used]
    fitted = straight_line(used, middle)
    straight = np.abs(middle - (fitted[0] + fitted[1] * used)) <= 2  # not a stroke beside it
    if straight.sum() >= need:
        fitted = straight_line(used[straight], middle[straight])
    # Fitted, the line is within half its greatest thickness of the middle: a narrower search.
    found = band_near(padded, reach, fitted[0] + fitted[1] * columns, BAND_EDGE[1],
                      int(np.ceil(MAX_THICKNESS * height / 2)) + 4)
    if found is None:
        return None
    centre, low, high = found
    low, high = low - 1, high + 1  # and the antialiased rim
    rows = centre[None, :] + np.arange(low, high + 1)[:, None]
    values = np.where((rows >= 0) & (rows < height), ink[np.clip(rows, 0, height - 1), columns], 0.0)
    brightest = values.max(axis=0)
    inked = brightest >= LINE_INK * 255.0
    if not inked.any():
        return None
    # A line is as dark all along: a fainter line or stroke running into its band is not it.
    level = float(np.median(brightest[inked]))
    start, end = longest_run(brightest >= max(LINE_INK * 255.0, SAME_RUN * level),
                             max(2, round(GAP * width)))
    if end - start + 1 < max(need, MIN_LENGTH):
        return None
    edge = high - low + 3
    if start <= edge:  # a line reaching the edge is erased up to the edge
        start = 0
    if end >= width - 1 - edge:
        end = width - 1
    return Line(search.vertical, start, end, centre[start:end + 1] + low, high - low + 1, level)


def straight_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through the points (x, y)."""
    x_mean, y_mean = x.mean(), y.mean()
    spread = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / spread if spread else 0.0
    return float(y_mean - slope * x_mean), slope


def band_near(padded: np.ndarray, reach: int, middle: np.ndarray, share: float,
              within: int | None = None) -> tuple[np.ndarray, int, int] | None:
    """The band of a thin line within `within` rows (default: `reach`) of the rows `middle`
    (one per column) of a mask padded by `reach` blank rows: the rows rounded, and the band's
    first and last offset from them. None when the band is too thick for a line."""
    height = padded.shape[0] - 2 * reach
    centre = np.clip(np.rint(middle).astype(np.intp), -1, height)
    within = reach if within is None else within
    offsets = np.arange(-within + 1, within)
    profile = padded[centre[None, :] + offsets[:, None] + reach, np.arange(len(centre))].sum(axis=1)
    # The band: rows well above the ink nearby (a stroke beside the line fills the window too)
    # The median of the window's odd number of rows, without np.median's generality.
    nearby = float(np.partition(profile, within - 1)[within - 1])
    peak = int(profile.argmax())
    edge = nearby + share * (profile[peak] - nearby)
    low, high = peak, peak
    while low > 0 and profile[low - 1] >= edge:
        low -= 1
    while high < len(offsets) - 1 and profile[high + 1] >= edge:
        high += 1
    if high - low + 1 > MAX_THICKNESS * height + 2 or low < 2 or high > len(offsets) - 3:
        return None
    return centre, int(offsets[low]), int(offsets[high])


def same_print(line: Line, other: Line) -> bool:
    """Whether two lines look printed by the same pen: as thick and as dark."""
    return (abs(line.thickness - other.thickness) <= max(2, other.thickness // 2)
            and abs(line.level - other.level) <= SAME_LEVEL * 255.0)


def same_line(line: Line, other: Line) -> bool:
    """Whether two lines of the same direction share their band over most of their length
    (two candidate slopes found one line)."""
    first, last = max(line.start, other.start), min(line.end, other.end)
    if last - first < 0.5 * min(line.length, other.length):
        return False
    ours = line.centre[first - line.start:last - line.start + 1]
    theirs = other.centre[first - other.start:last - other.start + 1]
    return bool(np.median(np.abs(ours - theirs)) <= max(line.thickness, other.thickness))


def longest_run(covered: np.ndarray, gap: int) -> tuple[int, int]:
    """First and last index of the longest run of True in `covered` bridging gaps of up to
    `gap` Falses; (0, -1) when there is none."""
    where = np.flatnonzero(covered)
    if where.size == 0:
        return 0, -1
    breaks = np.flatnonzero(np.diff(where) > gap + 1)
    firsts = np.r_[0, breaks + 1]
    lasts = np.r_[breaks, where.size - 1]
    longest = int(np.argmax(where[lasts] - where[firsts]))
    return int(where[firsts[longest]]), int(where[lasts[longest]])
