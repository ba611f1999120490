"""Checking the ``**options`` a user gives a loader (from the CLI they arrive as strings)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deftmer.data.dataset import MEDataset
from deftmer.errors import UserError


def call_loader(fn: Callable[..., MEDataset], dataset: str, root: Path, options: dict[str, Any]) -> MEDataset:
    """Call ``fn(root, **options)`` after checking every option name against its signature.

    An unknown option is a user mistake (a typo such as ``anotation=``), answered with the
    options the loader does accept instead of a TypeError traceback.
    """
    params = inspect.signature(fn).parameters
    allowed = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"dataset '{dataset}' has no option {', '.join(unknown)}; its options are: {', '.join(allowed)}"
        )
    return fn(Path(root), **options)
