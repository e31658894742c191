"""One progress bar for the long imports (`import ics`, `member import`), only where a person
watches it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress_bar(label: str = "Importing") -> Iterator[Callable[[int, int], None] | None]:
    """A `progress(done, total)` that draws a click progress bar on stderr when stderr is a
    terminal; None otherwise, so pipes and CI logs get the summary line and nothing else."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=0, label=label, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress
