"""The one Rich console and logger the package writes to (never bare print for warnings)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

console = Console(stderr=False)
err_console = Console(stderr=True)

logger = logging.getLogger("deftmer")
if not logger.handlers:
    logger.addHandler(RichHandler(console=err_console, show_path=False, rich_tracebacks=False))
    logger.setLevel(logging.INFO)
    logger.propagate = False


def make_progress(transient: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time, for every long step."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal and False,
    )
