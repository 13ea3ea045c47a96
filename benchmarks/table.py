"""Printing benchmark results as aligned Markdown tables, and writing them as the docs' figures.

`print_table(headers, rows, figure="serve")` prints the table and also writes it to
`docs/figures/serve.md`, which the documentation includes: every figure the docs quote comes from
such a file, never from numbers pasted into prose. The file's first line says what made it (the
command, the date, the machine); the first table a run writes replaces the file, and the run's
further tables with the same name are appended to it.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"

# The figure files this process has started: its later tables are appended to them.
_started: set[Path] = set()


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), separator, *map(line, cells[1:])])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                figure: str | None = None) -> None:
    """Print the table; with `figure`, also write it to docs/figures/<figure>.md."""
    text = format_table(headers, rows)
    print(text, flush=True)
    if figure:
        write_figure(figure, text)


def write_figure(name: str, table: str) -> Path:
    """Write `table` as docs/figures/<name>.md, after a line saying what made it; a second table
    of the same name in the same run is appended."""
    path = FIGURES / f"{name}.md"
    if path in _started:
        with path.open("a") as f:
            f.write(f"\n{table}\n")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{provenance()}\n\n{table}\n")
        _started.add(path)
    return path


def provenance() -> str:
    """One line: the command that ran, the date, and the machine (CPUs available, CPU model)."""
    command = " ".join(["python", *sys.orig_argv[1:]])
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return f"Made by `{command}` on {today}, on {cpu_count()} CPUs ({cpu_model()})."


def cpu_count() -> int:
    """The CPUs this process may run on, as `nproc` counts them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
