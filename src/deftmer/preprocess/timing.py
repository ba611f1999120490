"""Wall time per preprocessing stage, summed over samples for the run's report."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

#: Stages timed for the report, in pipeline order ("write" is timed by the cache runner).
STAGES: tuple[str, ...] = ("decode", "landmarks", "align", "apex", "flow", "strain", "regions", "dynamic", "write")


class StageTimer:
    """Accumulates wall time per stage (seconds) for the preprocessing report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {s: 0.0 for s in STAGES}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
