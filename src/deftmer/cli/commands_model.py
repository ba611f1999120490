"""`deftmer train`, `deftmer loso`, `deftmer evaluate`: fit a model, run the LOSO protocol,
and read a run's metrics back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.cli.options import (
    CacheOpt,
    ConfigOption,
    DatasetOpt,
    ModelOpt,
    ProtocolName,
    RootOpt,
    SetOption,
    resolve_config,
    stage_dataset,
    with_cache_preparation,
)
from deftmer.cli.render import print_metrics
from deftmer.config import ExperimentConfig
from deftmer.errors import UserError
from deftmer.models import list_models
from deftmer.train.final_model import train_final_model
from deftmer.train.loso import evaluate_run, process_share, run_loso
from deftmer.utils.console import console, shell_arg


def _stage_inputs(cfg: ExperimentConfig, cache: Path, config: Path | None, sets: list[str] | None):
    """(config, dataset) after checking root, cache and model name up front; the config takes
    the preprocessing of the cache's preparation (see `with_cache_preparation`)."""

    if cfg.data.root is None:
        raise UserError("no dataset root given; pass --root PATH (or data.root in --config)")
    if not Path(cfg.data.root).expanduser().exists():
        raise UserError(f"dataset root {cfg.data.root} does not exist; pass --root pointing at the {cfg.data.dataset} folder")
    if not cache.is_dir():
        raise UserError(f"cache folder {cache} does not exist; run `deftmer prepare --dataset {cfg.data.dataset} "
                        f"--root {shell_arg(cfg.data.root)} --cache {shell_arg(cache)}` first")
    models = list_models()
    if cfg.model.name not in models:
        raise UserError(f"unknown model '{cfg.model.name}'; known models: {', '.join(models)}")
    cfg = with_cache_preparation(cfg, cache, config, sets)
    return cfg, stage_dataset(cfg)


@app.command("loso")
def loso_cmd(
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    cache: CacheOpt = Path("cache"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (folds, predictions, metrics).")] = Path("runs/loso"),
    model: ModelOpt = None,
    folds: Annotated[Optional[str], typer.Option("--folds", help="Comma-separated held-out subjects (or sources with lodo) to run in this job; default all.")] = None,
    protocol: Annotated[Optional[ProtocolName], typer.Option("--protocol", help="loso: leave one subject out; lodo: leave one source dataset of a composite out.")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Skip folds already done in --out (default) or redo them.")] = True,
    explain: Annotated[Optional[bool], typer.Option("--explain/--no-explain", help="Generate evidence/reasoning text for test clips (AU F1, claim support).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-w", min=0, help="Fold processes at once, each with cores/workers threads (0: one per CPU core).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Leave-one-subject-out evaluation: one resumable fold per subject, metrics of the pooled
    predictions (UF1, UAR, accuracy, per class, per source) in OUT/metrics.json.

    Folds are independent jobs: they run in --workers processes (default one per CPU core),
    subsets can run as separate jobs with --folds (same --out), or spread them over N
    processes (or machines) with `accelerate launch --multi_gpu --num_processes N -m deftmer.cli loso ...`
    (on CPU as well; `accelerate launch --cpu` starts a single process) or `torchrun --nproc_per_node N`.
    """

    fold_list = [f.strip() for f in folds.split(",") if f.strip()] if folds else None
    cfg = resolve_config(config, set_, data__dataset=dataset, data__root=str(root) if root else None,
                         model__name=model, eval__protocol=protocol, eval__folds=fold_list,
                         eval__generate_explanations=explain, eval__workers=workers)
    cfg, ds = _stage_inputs(cfg, cache, config, set_)
    res = run_loso(cfg, ds, cache, out, folds=cfg.eval.folds,
                   protocol=cfg.eval.protocol, resume=resume)

    if process_share()[0] == 0:
        print_metrics(res.metrics)
        console.print(f"run folder: {out} (metrics.json, predictions.csv, descriptions.jsonl)")


@app.command("train")
def train_cmd(
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    cache: CacheOpt = Path("cache"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (what predict/explain take as --checkpoint).")] = Path("models/deft"),
    model: ModelOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted training in --out (or keep a finished one).")] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Train a model on every labelled subject of a dataset and save its model folder."""

    cfg = resolve_config(config, set_, data__dataset=dataset, data__root=str(root) if root else None,
                         model__name=model)
    cfg, ds = _stage_inputs(cfg, cache, config, set_)
    s = train_final_model(cfg, ds, cache, out, resume=resume)
    console.print(f"trained {s.model} on {s.n_train} clips of {len(s.subjects)} subjects ({s.fit_s:.1f} s); "
                  f"model folder: {out}")


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `deftmer loso`.")],
    write: Annotated[bool, typer.Option("--write", help="Also rewrite RUN_DIR/metrics.json with the recomputed metrics.")] = False,
) -> None:
    """Recompute and print a LOSO run's metrics from its predictions.csv."""

    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist; pass the --out folder of `deftmer loso`")
    print_metrics(evaluate_run(run_dir, write=write))
