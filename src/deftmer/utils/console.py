"""The one Rich console and logger the package writes to (never bare print for warnings)."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native libraries write straight to fd 2 (FFmpeg's "moov atom not found",
    MediaPipe/TFLite start-up lines): our own errors say what went wrong in one line instead."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (e.g. captured): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def quiet_library_chatter() -> None:
    """Our own progress bars and one-line errors are the interface: silence the libraries' chatter
    (weight-loading bars, deprecation notices) unless the user asked for it via the env vars.
    The CLI calls this first; scripts that drive the stages directly (benchmarks) may too."""
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\..*)?$")


def print_user_error(error: Exception | str) -> None:
    """A user mistake as the one red line every entry point prints (then it exits non-zero)."""
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)


def shell_arg(value: object) -> str:
    """A path or value as it must be typed in a command we print as a hint (``'my data'``)."""
    return shlex.quote(str(value))
