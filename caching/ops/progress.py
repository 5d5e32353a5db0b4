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
from tqdm.contrib.logging import logging_redirect_tqdm

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
    """A bar's ``update``, for the work inside the block; unasked (no ``--[no-]progress``), shown
    on a terminal at verbosity 1 or more once the work has run ``AUTO_DELAY`` seconds."""
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
    # The caching log lines to a console are written above the bar, not into it.
    with bar, logging_redirect_tqdm([logging.getLogger("caching")]):
        yield bar.update
