"""Progress bars for the long cache commands (``cache_flush``, ``cache_replay``), on stderr: the
commands' result lines on stdout stay exactly as they are, for scripts that read them."""

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from django.core.management.base import CommandParser
from tqdm import tqdm

# Unasked, a bar appears only on a terminal and only once the work has run this long (seconds).
AUTO_DELAY = 1.0


def add_progress_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a progress bar on stderr (default: on a terminal, once the work has run 1 s)",
    )


@contextmanager
def progress_bar(
    options: dict[str, Any], *, desc: str, unit: str, total: int | None = None
) -> Iterator[Callable[[int], object]]:
    """A bar's ``update``, for the work inside the block. Shown with ``--progress``, never with
    ``--no-progress``; unasked, on a terminal (at verbosity 1 or more) once the work has run
    ``AUTO_DELAY`` seconds."""
    # The command's own stderr, as BaseCommand.execute picks it (call_command may pass one).
    stream: TextIO = options.get("stderr") or sys.stderr
    asked: bool | None = options.get("progress")
    show = stream.isatty() and options.get("verbosity", 1) > 0 if asked is None else asked
    bar = tqdm(
        total=total,
        desc=desc,
        unit=f" {unit}",
        file=stream,
        disable=not show,
        delay=AUTO_DELAY if asked is None else 0,
        dynamic_ncols=True,
    )
    with bar, _logs_above(bar, stream):
        yield bar.update


class _AboveTheBar:
    """A log handler's stream that writes above ``bar``: the bar, if it shows yet, is cleared,
    the line written, and the bar drawn again below it."""

    def __init__(self, bar: Any, stream: TextIO) -> None:
        self.bar = bar
        self.stream = stream

    def write(self, text: str) -> None:
        shown = self.bar.last_print_t >= self.bar.start_t + self.bar.delay  # as tqdm.close tells
        if shown:
            self.bar.clear()
        self.stream.write(text)
        if shown:
            self.bar.refresh()

    def flush(self) -> None:
        self.stream.flush()


@contextmanager
def _logs_above(bar: Any, stream: TextIO) -> Iterator[None]:
    """While ``bar`` shows, the ``caching`` log lines that go to ``stream`` (its handlers' or,
    propagated, its ancestors') are written above it, not into it."""
    handlers: list[logging.StreamHandler[Any]] = []
    logger: logging.Logger | None = logging.getLogger("caching")
    while logger is not None and not bar.disable:
        handlers += [
            handler
            for handler in logger.handlers
            if isinstance(handler, logging.StreamHandler) and handler.stream is stream
        ]
        logger = logger.parent if logger.propagate else None
    for handler in handlers:
        handler.setStream(_AboveTheBar(bar, stream))
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stream)
