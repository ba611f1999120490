"""Preparing a whole dataset: a process pool over the samples, resumable through the cache.

Each worker prepares a sample and writes its cache file itself (arrays never cross process
boundaries); the parent only collects small `SampleOutcome`s for the report. Anything
already in the cache, or recorded as failed, is skipped, so a killed run started again does
only the missing samples.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess.cache import PreparedCache
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.face import get_landmarker
from deftmer.preprocess.pipeline import STAGES, StageTimer, prepare_sample
from deftmer.utils import testhooks
from deftmer.utils.console import console, logger, make_progress
from deftmer.utils.io import TMP_SUFFIX, atomic_write_json, remove_stale_tmp

#: Clips each pool worker must get before starting it pays off. A spawned worker costs about
#: 1 CPU-s (interpreter, imports, landmarker; 5-6 s wall on a busy 2-core box) against about
#: 0.07 CPU-s per clip with DIS/Farneback and 0.28 with TV-L1 (benchmarks/results/preprocess.md);
#: the thresholds ask for roughly 3x the start-up in work.
MIN_CLIPS_PER_WORKER: dict[str, int] = {"dis": 40, "farneback": 40, "tvl1": 10}


def effective_workers(requested: int, clips: int, flow: str, min_clips_per_worker: int | None = None) -> int:
    """Workers actually started: fewer than requested when the run is too short to repay them."""
    per_worker = MIN_CLIPS_PER_WORKER.get(flow, 10) if min_clips_per_worker is None else max(1, min_clips_per_worker)
    return max(1, min(requested, clips // per_worker))


@dataclass
class SampleOutcome:
    """What one worker reports back about one sample."""

    sample_id: str
    ok: bool
    reason: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    head_motion: tuple[float, float] = (0.0, 0.0)
    apex_spotted: bool = False
    landmarks: str = ""  # "detected" / "template" (flowpack fallback)


@dataclass
class Failure:
    sample_id: str
    reason: str


@dataclass
class PrepareReport:
    """Counts, failures with reasons and time per stage of one `prepare_dataset` run."""

    cache_dir: str
    config_hash: str
    flow: str
    workers: int  # started (see `effective_workers`)
    workers_requested: int = 1
    total: int = 0
    computed: int = 0
    cached: int = 0
    failures: list[Failure] = field(default_factory=list)
    failed_before: int = 0        # of the failures: recorded by an earlier run, inputs unchanged, not retried
    retried_changed: int = 0      # failed before, tried again because their input files changed
    unreadable: int = 0           # cache entries that could not be read (truncated): recomputed
    left_out: dict[str, int] = field(default_factory=dict)  # clips not given to prepare, by reason (check-data)
    stage_seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    wall_seconds: float = 0.0
    apex_spotted: int = 0
    template_landmarks: int = 0  # flowpack samples whose regions use the template layout (no face detected)
    head_motion_mean_px: float = 0.0
    head_motion_max_px: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def clips_per_second(self) -> float:
        return self.computed / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["failed"] = self.failed
        d["clips_per_second"] = round(self.clips_per_second, 3)
        return d

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    def rows(self) -> list[tuple[str, str]]:
        """The summary, one row per quantity; rows that would only say 0 for this dataset are left out."""
        now = self.computed > 0   # head motion and speed describe the clips computed in this run
        rows = [("clips to prepare", str(self.total)), ("computed now", str(self.computed)),
                ("from cache", str(self.cached)), ("failed", str(self.failed))]
        if self.failed_before:
            rows.append(("  of which failed before (inputs unchanged)", str(self.failed_before)))
        if self.retried_changed:
            rows.append(("retried: inputs changed since failing", str(self.retried_changed)))
        if self.unreadable:
            rows.append(("unreadable cache entries recomputed", str(self.unreadable)))
        rows += [(f"left out: {reason}", str(n)) for reason, n in sorted(self.left_out.items())]
        rows.append(("apex spotted", str(self.apex_spotted)))
        if self.template_landmarks:
            rows.append(("template landmarks (no face found)", str(self.template_landmarks)))
        rows += [("head motion mean / max, px",
                  f"{self.head_motion_mean_px:.2f} / {self.head_motion_max_px:.2f}" if now else "-"),
                 ("wall seconds", f"{self.wall_seconds:.1f}"),
                 ("clips computed per second", f"{self.clips_per_second:.2f}" if now else "-"),
                 ("cache key", self.config_hash)]
        return rows

    def print(self, max_failures: int = 20) -> None:
        """Rich tables: counts, share of time per stage, and the failures (the first
        ``max_failures``, saying how many more there are and where all of them are)."""
        from rich.table import Table

        asked = f" (of {self.workers_requested} asked: too few clips to repay more)" \
            if self.workers < self.workers_requested else ""
        # one row per quantity: readable at 80 columns (logs, CI) as well as in a wide terminal
        t = Table(title=f"deftmer prepare: {self.flow}, {self.workers} worker(s){asked}", show_header=False)
        t.add_column("quantity")
        t.add_column("value", justify="right")
        for name, value in self.rows():
            t.add_row(name, value)
        console.print(t)
        busy = sum(self.stage_seconds.values())
        if busy > 0:
            st = Table(title="time per stage (worker seconds)")
            st.add_column("stage")
            st.add_column("seconds", justify="right")
            st.add_column("share", justify="right")
            for name, sec in self.stage_seconds.items():
                st.add_row(name, f"{sec:.2f}", f"{100 * sec / busy:.1f}%")
            console.print(st)
        if self.failures:
            more = self.failed - max_failures
            ft = Table(title=f"failures ({self.failed})")
            ft.add_column("sample")
            ft.add_column("reason")
            for f in self.failures[:max_failures]:
                ft.add_row(f.sample_id, f.reason)
            console.print(ft)
            if more > 0:
                console.print(f"... and {more} more failure(s): the first {max_failures} are shown, all "
                              f"{self.failed} are listed in {Path(self.cache_dir) / REPORT}", highlight=False,
                              soft_wrap=True)


REPORT = "report.json"


def init_worker() -> None:
    """Start-up of a pool worker, run once per process (not per sample): one OpenCV thread (the
    pool is the parallelism) and the MediaPipe landmarker loaded once."""
    import cv2


    cv2.setNumThreads(1)
    get_landmarker()


def prepare_one(sample: Sample, cache_dir: str, cfg: PreprocessConfig) -> SampleOutcome:
    """Prepare and cache one sample; a user-actionable problem becomes a failure record."""
    cache = PreparedCache(cache_dir, cfg)
    timer = StageTimer()
    try:
        prepared = prepare_sample(sample, cfg, timer)
    except UserError as e:
        cache.save_failure(sample, str(e))
        return SampleOutcome(sample.id, False, str(e), timer.seconds)
    with timer.stage("write"):
        cache.save(sample, prepared)
    return SampleOutcome(sample.id, True, "", timer.seconds, prepared.head_motion, prepared.apex_spotted,
                         prepared.meta.get("landmarks", ""))


def prepare_dataset(samples: list[Sample], cache_dir: str | Path, cfg: PreprocessConfig, workers: int = 2,
                    progress: bool = True, retry_failed: bool = False,
                    min_clips_per_worker: int | None = None, left_out: dict[str, int] | None = None) -> PrepareReport:
    """Prepare every sample not yet cached; returns (and saves as ``report.json``) the run's report.

    ``workers`` > 1 uses a process pool (spawned processes, started once, one landmarker each),
    but only as many workers as the clips to do repay (``min_clips_per_worker`` each, default
    per flow method from `MIN_CLIPS_PER_WORKER`); the report says how many ran. Ctrl-C keeps
    every finished file; running again resumes. Samples recorded as failed are skipped unless
    ``retry_failed`` or their input files changed; unreadable cache entries are recomputed.
    One process at a time works on a cache folder (a second waits, saying who holds it); when
    everything is already done nothing is written, so a read-only cache serves as it is.
    ``left_out`` counts clips the caller did not pass (excluded or absent), for the report.
    """
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise UserError("sample ids are not unique; the cache is keyed by id (check the dataset's problems)")
    cache = PreparedCache(cache_dir, cfg)
    report, todo = _plan(samples, cache, cfg, workers, retry_failed, left_out, fix=False)
    if not todo and not any(cache.dir.rglob(f".*{TMP_SUFFIX}")):
        return report
    with cache.lock():
        remove_stale_tmp(cache.dir)
        report, todo = _plan(samples, cache, cfg, workers, retry_failed, left_out, fix=True)
        if todo:                     # (another process may have done it all while this one waited)
            cache.write_config()
            _run(todo, cache, cfg, report, workers, progress, min_clips_per_worker)
    if report.template_landmarks:
        logger.warning(f"{report.template_landmarks} apex face(s) had no face MediaPipe could find; their AU regions "
                       "use the template layout (meta 'landmarks' = 'template')")
    return report


def _plan(samples: list[Sample], cache: PreparedCache, cfg: PreprocessConfig, workers: int, retry_failed: bool,
          left_out: dict[str, int] | None, fix: bool) -> tuple[PrepareReport, list[Sample]]:
    """What is cached, what failed before (and stays failed), and what is to do. With ``fix``
    (under the cache's lock) unreadable entries are deleted, so they are computed again."""
    report = PrepareReport(cache_dir=str(cache.dir), config_hash=cfg.cache_hash(), flow=cfg.flow, workers=1,
                           workers_requested=workers, total=len(samples), left_out=dict(left_out or {}))
    todo: list[Sample] = []
    for s in samples:
        if cache.has(s):
            if cache.readable(s):
                report.cached += 1
                continue
            report.unreadable += 1
            if fix:
                cache.path_for(s).unlink(missing_ok=True)
        elif cache.failure_path(s).is_file():
            reason = cache.failure(s)
            if reason is None:
                report.retried_changed += 1
            elif not retry_failed:
                report.failures.append(Failure(s.id, reason))
                report.failed_before += 1
                continue
        todo.append(s)
    return report, todo


def _run(todo: list[Sample], cache: PreparedCache, cfg: PreprocessConfig, report: PrepareReport, workers: int,
         progress: bool, min_clips_per_worker: int | None) -> None:
    """Prepare ``todo`` (in this process or a pool), collecting outcomes into ``report`` and saving it."""
    report.workers = effective_workers(workers, len(todo), cfg.flow, min_clips_per_worker)
    if report.workers < workers and len(todo) > 1:
        logger.info(f"{len(todo)} clips to prepare: using {report.workers} of {workers} workers (a worker's start-up "
                    f"is repaid from about {MIN_CLIPS_PER_WORKER.get(cfg.flow, 10)} {cfg.flow} clips each)")
    heads: list[float] = []
    t0 = time.perf_counter()

    def collect(o: SampleOutcome) -> None:
        for k, v in o.seconds.items():
            report.stage_seconds[k] = report.stage_seconds.get(k, 0.0) + v
        if o.ok:
            report.computed += 1
            report.apex_spotted += int(o.apex_spotted)
            report.template_landmarks += int(o.landmarks == "template")
            heads.append((o.head_motion[0] ** 2 + o.head_motion[1] ** 2) ** 0.5)
        else:
            report.failures.append(Failure(o.sample_id, o.reason))
        testhooks.reached("prepare.clip_done")

    bar = make_progress()
    try:
        with bar if progress else contextlib.nullcontext():
            task = bar.add_task(f"prepare ({cfg.flow})", total=len(todo)) if progress else None
            if report.workers == 1:
                for s in todo:
                    collect(prepare_one(s, str(cache.root), cfg))
                    if task is not None:
                        bar.advance(task)
            else:
                _run_pool(todo, str(cache.root), cfg, report.workers, collect, bar if progress else None, task)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.wall_seconds = time.perf_counter() - t0
        if heads:
            report.head_motion_mean_px = sum(heads) / len(heads)
            report.head_motion_max_px = max(heads)
        report.save(cache.dir / REPORT)


def start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned workers (no MediaPipe/OpenCV threads inherited from the parent), each
    started once with `init_worker`; samples are then fed to the same processes one by one."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker)


def _run_pool(todo: list[Sample], root: str, cfg: PreprocessConfig, workers: int, collect, bar, task) -> None:
    pool = start_pool(min(workers, len(todo)))
    try:
        pending: set[Future] = set()
        queue = iter(todo)
        for s in queue:  # keep at most 2 tasks per worker in flight, so Ctrl-C stops quickly
            pending.add(pool.submit(prepare_one, s, root, cfg))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                collect(fut.result())
                if bar is not None:
                    bar.advance(task)
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(prepare_one, nxt, root, cfg))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)

