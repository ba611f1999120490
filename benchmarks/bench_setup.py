"""What the baseline benchmarks share: make/reuse a SynthME tree, prepare it, run a LOSO, print tables.

Every number the benchmark scripts print comes from the package's own stages (SynthME
generator, `prepare_dataset`, `run_loso`), never from a side path written for benchmarking.
Work folders are reused between runs when their parameters match (a SynthME tree is
byte-identical for a seed, and the preprocessing cache is keyed by the preprocess config), so
re-running a benchmark only re-times the step it measures.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from deftmer.config import ExperimentConfig, load_config
from deftmer.data.dataset import MEDataset, load_dataset
from deftmer.utils.console import console, logger, quiet_library_chatter

quiet_library_chatter()

ALL_MODELS = ("deft", "deft-no-llm", "deft-structure-only", "deft-dynamic-only", "deft-motion-only",
              "deft-no-motion", "flow-cnn", "mdmo-svm")
REFERENCE = "flow-cnn"


def parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def experiment_config(config: str | None, sets: Sequence[str]) -> ExperimentConfig:
    return load_config(config, list(sets))


def ensure_synthme(root: Path, subjects: int, clips_per_subject: int, seed: int) -> MEDataset:
    """Generate SynthME into ``root`` unless a tree with the same parameters is already there."""
    from deftmer.synth.generate import generate_synthme

    params = {"subjects": subjects, "clips_per_subject": clips_per_subject, "seed": seed}
    stamp = root / "bench_params.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == params):
        if root.exists():
            shutil.rmtree(root)
        t0 = time.perf_counter()
        generate_synthme(root, subjects=subjects, clips_per_subject=clips_per_subject, seed=seed)
        logger.info(f"SynthME {subjects} subjects x {clips_per_subject} clips generated in {time.perf_counter() - t0:.1f} s")
        stamp.write_text(json.dumps(params))
    return load_dataset("synthme", root)


def open_dataset(name: str, root: str | Path, cfg: ExperimentConfig) -> MEDataset:
    options: dict[str, Any] = dict(cfg.data.options)
    if cfg.data.class_set:
        options["class_set"] = cfg.data.class_set
    return load_dataset(name, root, **options)


def prepare(dataset: MEDataset, cache_dir: Path, cfg: ExperimentConfig, workers: int) -> float:
    """Fill the preprocessing cache for the labelled samples; returns the seconds it took."""
    from deftmer.preprocess.runner import prepare_dataset

    t0 = time.perf_counter()
    prepare_dataset(dataset.labelled(), cache_dir, cfg.preprocess, workers=workers, progress=True)
    return time.perf_counter() - t0


@dataclass
class LosoOutcome:
    model: str
    seconds: float
    uf1: float = math.nan
    uar: float = math.nan
    accuracy: float = math.nan
    n_samples: int = 0
    n_folds: int = 0
    error: str = ""
    au_f1: float = math.nan       # F1 of the AUs the model's answers name (models that write answers)
    resumed: bool = False         # folds of an earlier run were kept: seconds cover only the rest


def run_model_loso(cfg: ExperimentConfig, dataset: MEDataset, cache_dir: Path, run_dir: Path, model: str,
                   resume: bool = False) -> LosoOutcome:
    """A fresh LOSO run of one model (``resume``: keep the folds a previous run finished, so the
    seconds then cover only the rest); a model that cannot run on these inputs is reported, not fatal."""
    from deftmer.train.loso import run_loso

    resumed = resume and run_dir.exists()
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    try:
        res = run_loso(cfg, dataset, cache_dir, run_dir, model_name=model, resume=resume, progress=True)
    except Exception as e:  # noqa: BLE001 - the table says which model failed and why
        logger.warning(f"{model}: LOSO failed: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return LosoOutcome(model, time.perf_counter() - t0, error=f"{e.__class__.__name__}: {str(e)[:80]}")
    m = res.metrics
    return LosoOutcome(model, time.perf_counter() - t0, m.uf1, m.uar, m.accuracy, m.n_samples, m.n_folds,
                       au_f1=math.nan if m.au_f1 is None else m.au_f1, resumed=resumed)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def in_child(fn: Callable[..., dict], *args: Any) -> dict:
    """Run ``fn(*args)`` in a fresh spawned process so its peak memory is its own."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


def fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def show_table(title: str, columns: list[str], rows: list[list[Any]], markdown: Path | None = None,
               note: str = "") -> str:
    """Print a Rich table and return (and optionally write) the same table as Markdown."""
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[fmt(v) for v in r])
    console.print(table)
    md = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    text = "\n".join(md) + "\n" + (f"\n{note}\n" if note else "")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        with markdown.open("a") as f:
            f.write(text + "\n")
    return text


def run_script(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main`` the way the CLI runs a command: a user mistake (a missing root,
    a bad override) is one red line and exit code 2, Ctrl-C exits 130; only bugs show a traceback."""
    from deftmer.errors import UserError
    from deftmer.utils.console import err_console, print_user_error

    try:
        main()
    except UserError as e:
        print_user_error(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished folds and caches are kept (bench_accuracy --resume)")
        sys.exit(130)
