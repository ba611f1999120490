"""The LOSO (and LODO) runner: one independent, resumable job per held-out subject.

Layout of a run folder::

    RUN_DIR/run.json                what the run is (model, dataset, protocol, classes, folds)
    RUN_DIR/config.yaml             the resolved experiment config
    RUN_DIR/folds/<subject>/        the fold's model folder (``model.save``) +
                                    predictions.csv + descriptions.jsonl + done.json (last)
    RUN_DIR/predictions.csv         all done folds pooled, sorted by sample id
    RUN_DIR/descriptions.jsonl      the generated answers of all done folds
    RUN_DIR/metrics.json            metrics of the pooled predictions (`deftmer.eval.metrics`)

A fold counts only once its ``done.json`` exists (written last, atomically), so a crash or
Ctrl-C loses at most the fold in progress, and a restart redoes exactly that. Folds depend
only on the run seed and their own name, so running them one by one, resumed, as separate
``--folds`` jobs, or spread over ``accelerate launch`` processes gives the same metrics.
Jobs sharing a run folder never run one fold at once (a lock per fold, `deftmer.train.runfiles`),
and every file read back on resume is validated. No fold ever looks at its test subject before
predicting: models train with fixed settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deftmer.data.dataset import MEDataset
from deftmer.data.labels import ClassSet
from deftmer.data.sample import Sample
from deftmer.errors import CheckpointError, UserError
from deftmer.eval.metrics import MetricsReport, compute_metrics, part_names
from deftmer.eval.predictions import read_predictions
from deftmer.model.api import Prediction, RunConfig, registering_module
from deftmer.models import create_model
from deftmer.preprocess.cache import load_clip_inputs
from deftmer.preprocess.records import ClipInputs
from deftmer.train.folds import Fold, check_no_leak, fold_dir_name, fold_seed, make_folds, select_folds
from deftmer.train.runfiles import (
    DONE,
    PREDICTIONS,
    REMERGE,
    RUN_CARD,
    any_fold_done,
    check_pooled_counts,
    claim_folds,
    read_descriptions,
    read_done,
    read_run_card,
)
from deftmer.train.trainer import fit_model
from deftmer.unimer.answer import claim_support, parse_answer
from deftmer.unimer.motion import region_stats
from deftmer.utils.console import logger, make_progress, quiet_library_chatter
from deftmer.utils.io import atomic_write_json, atomic_write_text, read_json, remove_stale_tmp, save_settings
from deftmer.utils.locks import folder_lock
from deftmer.utils.seed import seed_everything

DESCRIPTIONS = "descriptions.jsonl"
METRICS = "metrics.json"


@dataclass
class FoldRecord:
    """What ``done.json`` says about a finished fold."""

    fold: str
    seed: int
    n_train: int
    n_test: int
    fit_s: float
    predict_s: float
    train_stats: dict[str, Any] = field(default_factory=dict)
    process: int = 0                  # which `accelerate launch` process ran it


@dataclass
class LosoResult:
    """Outcome of one `run_loso` call; ``metrics`` covers every fold done so far."""

    run_dir: Path
    metrics: MetricsReport
    folds_run: list[str]
    folds_skipped: list[str]
    missing_folds: list[str]


def load_fold_clips(samples: Sequence[Sample], cache_dir: Path, cfg: RunConfig) -> list[ClipInputs]:
    """Cached model inputs of ``samples`` (the preprocessing cache)."""

    return load_clip_inputs(list(samples), cache_dir, cfg.preprocess)


def _config_identity(cfg: RunConfig) -> dict[str, Any]:
    """The config as a run folder's identity: all of it but how the folds are shared out."""
    conf = cfg.model_dump(mode="json")
    conf["eval"].pop("folds", None)
    conf["eval"].pop("workers", None)
    conf["train"].pop("data_parallel", None)
    return conf


def _read_as_now(conf: Any, config_type: type) -> Any:
    """A run card's saved config as this version reads it (keys an older version wrote, such as
    ``model.use_motion``, mean what they meant), so the same run resumes; unreadable: as saved."""
    try:
        return _config_identity(config_type.model_validate(conf))
    except ValueError:   # pydantic's ValidationError is a ValueError
        return conf


def _identity(cfg: RunConfig, model_name: str, dataset: MEDataset, protocol: str) -> dict[str, Any]:
    """What must not change between the jobs of one run folder (which folds run may)."""
    conf = _config_identity(cfg)
    labelled = sorted(f"{s.id}={s.label}" for s in dataset.labelled())
    digest = hashlib.sha256("\n".join(labelled).encode()).hexdigest()[:16]
    return {"model": model_name, "dataset": dataset.name, "protocol": protocol,
            "class_set": dataset.class_set.name, "classes": list(dataset.class_set.classes),
            "samples_digest": digest, "n_samples": len(labelled), "config": conf}


def _check_run_card(run_dir: Path, identity: dict[str, Any], config_type: type) -> None:
    """Refuse to mix folds of different runs (another model, config or sample list) in one folder."""
    card = run_dir / RUN_CARD
    if card.is_file() and any_fold_done(run_dir):   # a card no finished fold relies on is simply replaced
        old = read_run_card(run_dir)
        old = {**old, "config": _read_as_now(old["config"], config_type)}
        for key in ("model", "dataset", "protocol", "class_set", "samples_digest", "config"):
            if old.get(key) != identity[key]:
                what = "set of labelled samples" if key == "samples_digest" else key
                raise CheckpointError(
                    f"{run_dir} holds a run with a different {what} ({card}); use a new --out or delete that folder")


def process_share() -> tuple[int, int, Callable[[], None]]:
    """(process index, number of processes, barrier) under a multi-process launch; (0, 1, no-op) alone.

    On a machine without CUDA, Accelerate only forms a process group when asked for CPU
    explicitly, hence ``cpu=``; the long timeout lets one process wait for folds of another.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, lambda: None
    from datetime import timedelta

    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(hours=48))
    return state.process_index, state.num_processes, state.wait_for_everyone


def _aus_cell(sample: Sample) -> str:
    return "+".join(f"{a.side or ''}AU{a.number}{'?' if a.alternative else ''}" for a in sample.aus)


def _claim_support(text: str, clip: ClipInputs, cfg: RunConfig) -> float | None:
    """Share of the answer's motion claims that the clip's flow supports: the Uni-MER dual
    constraint applied to the model's own words."""

    return claim_support(text, region_stats(clip.prepared), cfg.unimer)


def _named_aus(p: Prediction, class_set: ClassSet) -> list[str]:
    """AUs the answer names: the model's own list, else read back from its text."""
    if p.aus or not p.text.strip():
        return list(p.aus)

    return parse_answer(p.text, class_set).aus


def _prediction_rows(fold: Fold, clips: list[ClipInputs], preds: list[Prediction], class_set: ClassSet,
                     cfg: RunConfig) -> tuple[pd.DataFrame, list[dict]]:
    classes = class_set.classes
    by_id = {p.sample_id: p for p in preds}
    if len(preds) != len(clips) or set(by_id) != {c.id for c in clips}:
        raise RuntimeError(f"fold {fold.name}: the model returned {len(preds)} predictions for {len(clips)} clips")
    rows, descriptions = [], []
    for clip in clips:
        p, s = by_id[clip.id], clip.sample
        if p.label not in classes:
            raise RuntimeError(f"fold {fold.name}: model predicted '{p.label}', not a class of {list(classes)}")
        cs = _claim_support(p.text, clip, cfg) if p.text.strip() else None
        named = _named_aus(p, class_set)
        row = {"sample_id": s.id, "subject": s.subject, "source": s.source or s.dataset, "true": s.label,
               "pred": p.label, **{f"prob_{c}": float(p.probs.get(c, 0.0)) for c in classes},
               "text": p.text, "pred_aus": "+".join(named), "true_aus": _aus_cell(s),
               "claim_support": cs, "fold": fold.name,
               **{f"{part}_prob_{c}": float(probs.get(c, 0.0)) for part, probs in p.parts.items() for c in classes}}
        rows.append(row)
        if p.text.strip():
            descriptions.append({"sample_id": s.id, "subject": s.subject, "true": s.label, "pred": p.label,
                                 "text": p.text, "aus": named, "evidence": p.evidence,
                                 "reasoning": p.reasoning, "claim_support": cs})
    return pd.DataFrame(rows), descriptions


def to_jsonable(obj: Any) -> Any:
    """Training stats as plain JSON (numpy scalars to numbers, anything else to text)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def run_fold(fold: Fold, clips: dict[str, ClipInputs], cfg: RunConfig, class_set: ClassSet,
             model_name: str, fold_dir: Path, progress: Callable[[str, int, int], None] | None = None,
             checkpoint_dir: Path | None = None, process: int = 0) -> FoldRecord:
    """Train on the fold's training subjects, predict its test subject, write the fold folder.

    ``checkpoint_dir`` (outside ``fold_dir``) keeps mid-training state, so a fold interrupted
    during a long fit continues where it stopped; it is removed once the fold is done.
    """
    train = [clips[i] for i in fold.train_ids if i in clips]
    test = [clips[i] for i in fold.test_ids if i in clips]
    check_no_leak(fold, [c.sample for c in train], [c.sample for c in test])
    if fold_dir.exists():          # a fold interrupted before done.json: start it again cleanly
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True)

    seed = fold_seed(cfg.seed, fold.name)
    seed_everything(seed)
    fold_cfg = cfg.model_copy(update={"seed": seed}, deep=True)
    model = create_model(model_name, fold_cfg, class_set)
    t0 = time.perf_counter()
    stats = fit_model(model, train, progress, checkpoint_dir, train_cfg=fold_cfg.train)
    fit_s = time.perf_counter() - t0
    preds = model.predict(test, explain=cfg.eval.generate_explanations)
    predict_s = time.perf_counter() - t0 - fit_s

    df, descriptions = _prediction_rows(fold, test, preds, class_set, cfg)
    model.save(fold_dir)
    atomic_write_text(fold_dir / PREDICTIONS, df.to_csv(index=False))
    atomic_write_text(fold_dir / DESCRIPTIONS, "".join(json.dumps(d) + "\n" for d in descriptions))
    record = FoldRecord(fold=fold.name, seed=seed, n_train=len(train), n_test=len(test),
                        fit_s=round(fit_s, 3), predict_s=round(predict_s, 3), train_stats=to_jsonable(stats), process=process)
    atomic_write_json(fold_dir / DONE, record.__dict__)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return record


def fold_is_done(run_dir: Path, fold: str) -> bool:
    """Finished, with intact files (a damaged fold counts as not done, so resuming redoes it)."""
    return read_done(run_dir, fold) is not None


def merge_run(run_dir: Path, write: bool = True) -> MetricsReport:
    """Pool the predictions of every done fold and compute the run's metrics.

    Reads only ``run.json`` and the fold folders, so it works after any mix of jobs; with
    ``write`` it (re)writes predictions.csv, descriptions.jsonl and metrics.json.
    """
    card_path = run_dir / RUN_CARD
    if not card_path.is_file():
        raise CheckpointError(f"{run_dir} is not a LOSO run folder (no {RUN_CARD}); pass the --out of `deftmer loso`")
    card = read_run_card(run_dir)
    classes = card["classes"]
    frames, descriptions, per_fold, done = [], [], {}, []
    for name in card["folds"]:
        fdir = run_dir / "folds" / fold_dir_name(name)
        if (fold_files := read_done(run_dir, name, classes)) is None:
            continue
        done.append(name)
        rec, fold_predictions = fold_files
        per_fold[name] = {"fit_s": rec["fit_s"], "predict_s": rec["predict_s"], "n_train": rec["n_train"],
                          "n_test": rec["n_test"]}
        frames.append(fold_predictions)
        descriptions += read_descriptions(fdir / DESCRIPTIONS)
    cols = ["sample_id", "subject", "source", "true", "pred", *[f"prob_{c}" for c in classes], "text",
            "pred_aus", "true_aus", "claim_support", "fold"]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    df = df.sort_values("sample_id", kind="stable").reset_index(drop=True)
    cols += [f"{part}_prob_{c}" for part in part_names(df.columns, classes) for c in classes]
    missing = [f for f in card["folds"] if f not in done]
    if missing:
        logger.warning(f"{len(missing)} of {len(card['folds'])} folds not done yet ({', '.join(missing[:8])}"
                       f"{'...' if len(missing) > 8 else ''}): metrics cover the done folds only")
    timing = {"fit_s": round(sum(v["fit_s"] for v in per_fold.values()), 3),
              "predict_s": round(sum(v["predict_s"] for v in per_fold.values()), 3),
              "mean_fold_s": round(sum(v["fit_s"] + v["predict_s"] for v in per_fold.values()) / max(len(per_fold), 1), 3),
              "per_fold": per_fold}
    metrics = compute_metrics(df, classes, n_folds=len(done), folds_expected=len(card["folds"]),
                              missing_folds=missing, model=card["model"], dataset=card["dataset"],
                              protocol=card["protocol"], class_set=card["class_set"], timing=timing)
    if write:
        with folder_lock(run_dir, f"the run folder {run_dir}"):
            remove_stale_tmp(run_dir, recursive=False)
            atomic_write_text(run_dir / PREDICTIONS, df[cols].to_csv(index=False))
            descriptions.sort(key=lambda d: d["sample_id"])
            atomic_write_text(run_dir / DESCRIPTIONS, "".join(json.dumps(d) + "\n" for d in descriptions))
            atomic_write_text(run_dir / METRICS, metrics.dumps())
    return metrics


def run_loso(cfg: RunConfig, dataset: MEDataset, cache_dir: Path, run_dir: Path, model_name: str | None = None,
             folds: list[str] | None = None, protocol: str = "loso", resume: bool = True,
             progress: bool = True) -> LosoResult:
    """Run (or resume) the folds of ``dataset`` under ``protocol`` and merge all done folds.

    ``folds`` limits this call to some held-out groups (independent jobs share ``run_dir``).
    Alone, it spreads the folds over ``eval.workers`` processes (default: one per CPU core,
    each with its share of the threads). Under a multi-process launch (``accelerate launch
    --multi_gpu --num_processes N`` or ``torchrun``; on CPU too) each process runs every N-th
    fold still to do, then the main process merges once all have finished.
    """
    run_dir, cache_dir = Path(run_dir), Path(cache_dir)
    model_name = model_name or cfg.model.name   # the config names the model; an argument overrides it
    samples = dataset.labelled()
    if not samples:
        raise UserError(f"dataset {dataset.name} at {dataset.root} has no samples in class set "
                        f"{dataset.class_set.name}; check --dataset/--root and data.class_set")
    all_folds = make_folds(samples, protocol)  # type: ignore[arg-type]
    chosen = select_folds(all_folds, folds or cfg.eval.folds)
    identity = _identity(cfg, model_name, dataset, protocol)
    rank, world, barrier = process_share()
    if rank == 0:
        with folder_lock(run_dir, f"the run folder {run_dir}"):
            _check_run_card(run_dir, identity, type(cfg))
            atomic_write_json(run_dir / RUN_CARD, {**identity, "folds": [f.name for f in all_folds]})
            # the run's config, not this job's: which folds a job ran is not part of it
            save_settings(cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"folds": None})}, deep=True),
                        run_dir / "config.yaml")
    barrier()

    # share out the folds still to do (not all folds), so resumed runs stay balanced
    skipped = [f.name for f in chosen if resume and fold_is_done(run_dir, f.name)]
    todo = [f for f in chosen if f.name not in skipped][rank::world]
    if skipped and rank == 0:
        logger.info(f"resuming: {len(skipped)} fold(s) already done, {len(todo)} to run")
    run_cfg = cfg
    if world > 1:
        set_threads(max(1, (os.cpu_count() or 1) // world))
        run_cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"data_parallel": False})}, deep=True)

    if todo:
        jobs = fold_workers(cfg.eval.workers, len(todo)) if world == 1 else 1
        args = (run_cfg, samples, dataset.class_set, model_name, cache_dir, run_dir, resume, protocol)
        if jobs > 1:
            _run_in_workers(todo, jobs, args, progress)
        else:
            _run_folds(todo, *args, progress=progress, label=f" (process {rank + 1}/{world})" if world > 1 else "",
                       process=rank)
    barrier()
    metrics = merge_run(run_dir, write=rank == 0)
    return LosoResult(run_dir=run_dir, metrics=metrics, folds_run=[f.name for f in todo], folds_skipped=skipped,
                      missing_folds=list(metrics.missing_folds))


def fold_workers(requested: int, n_folds: int) -> int:
    """How many fold processes to run: ``requested``, or one per CPU core when 0 (never more
    than there are folds; one on a CUDA machine, where a process owns the GPU)."""
    import torch

    if requested > 0:
        return min(requested, n_folds)
    if torch.cuda.is_available():
        return 1
    return max(1, min(os.cpu_count() or 1, n_folds))


def set_threads(n: int) -> None:
    """Intra-op threads of torch and OpenCV in this process: with N fold processes on N cores,
    one each, so they never oversubscribe the machine."""
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _run_folds(todo: list[Fold], cfg: RunConfig, samples: list[Sample], class_set: ClassSet, model_name: str,
               cache_dir: Path, run_dir: Path, resume: bool, protocol: str, progress: bool = True,
               label: str = "", process: int = 0) -> None:
    """Run ``todo`` one after the other in this process, with a progress bar per fold step."""
    needed = {i for f in todo for i in (*f.train_ids, *f.test_ids)}
    clips = {c.id: c for c in load_fold_clips([s for s in samples if s.id in needed], cache_dir, cfg)}
    with make_progress() as bar:
        folds_task = bar.add_task(f"{protocol} folds{label}", total=len(todo), visible=progress)
        step_task = bar.add_task("", total=None, visible=False)

        def on_step(stage: str, done: int, total: int) -> None:
            bar.update(step_task, description=f"  {stage}", completed=done, total=total, visible=progress)

        for fold in claim_folds(todo, run_dir, resume):   # each under its lock: jobs never share a fold
            bar.update(folds_task, description=f"{protocol} fold {fold.name}{label}")
            ckpt = run_dir / "checkpoints" / fold_dir_name(fold.name)
            if not resume:
                shutil.rmtree(ckpt, ignore_errors=True)
            rec = run_fold(fold, clips, cfg, class_set, model_name, run_dir / "folds" / fold_dir_name(fold.name),
                           progress=on_step, checkpoint_dir=ckpt, process=process)
            bar.update(step_task, visible=False)
            bar.advance(folds_task)
            logger.info(f"fold {fold.name}{label}: trained on {rec.n_train}, tested {rec.n_test} "
                        f"({rec.fit_s:.1f} s fit, {rec.predict_s:.1f} s predict)")


def _worker(todo: list[Fold], threads: int, args: tuple, process: int, model_module: str | None) -> None:
    """One fold process: its own threads, no progress bar (the parent draws one). A spawned
    process starts empty: it imports the module that registered the model first."""
    import importlib


    set_threads(threads)
    quiet_library_chatter()
    if model_module and model_module != "__main__":
        try:
            importlib.import_module(model_module)
        except ImportError:
            raise UserError(f"model '{args[3]}' is registered by the module '{model_module}', which a fold process "
                            "cannot import; make it importable (PYTHONPATH) or run the folds here with "
                            "--workers 1") from None
    _run_folds(todo, *args, progress=False, process=process)


def _run_in_workers(todo: list[Fold], jobs: int, args: tuple, progress: bool) -> None:
    """Spread ``todo`` over ``jobs`` processes (spawned: no state shared with this one); the
    parent shows the folds progress as their ``done.json`` files appear."""
    from concurrent.futures import ProcessPoolExecutor, wait
    from multiprocessing import get_context

    run_dir = args[5]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    logger.info(f"running {len(todo)} folds in {jobs} processes, {threads} thread(s) each")
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool, make_progress() as bar:
        module = registering_module(args[3])
        futures = [pool.submit(_worker, todo[i::jobs], threads, args, i, module) for i in range(jobs)]
        task = bar.add_task(f"{args[7]} folds ({jobs} processes)", total=len(todo), visible=progress)
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=2.0)
            bar.update(task, completed=sum(fold_is_done(run_dir, f.name) for f in todo))
        for f in futures:
            f.result()   # re-raise a worker's error here


def evaluate_run(run_dir: Path, write: bool = False) -> MetricsReport:
    """Recompute a run's metrics from its pooled ``predictions.csv`` (e.g. after a metrics
    change, or on a table edited by hand); ``write`` replaces ``metrics.json``, which is rebuilt
    anyway when it is missing or unreadable. Every file read is validated first."""
    run_dir = Path(run_dir)
    card_path, pred_path = run_dir / RUN_CARD, run_dir / PREDICTIONS
    for p in (card_path, pred_path):
        if not p.is_file():
            raise CheckpointError(f"{run_dir} is not a finished LOSO run folder (no {p.name}); "
                                  "pass the --out folder of `deftmer loso`")
    card = read_run_card(run_dir)
    df = read_predictions(pred_path, card["classes"], REMERGE)
    check_pooled_counts(run_dir, df, pred_path)
    done = set(df["fold"].astype(str)) if "fold" in df.columns else set(card["folds"])
    old = run_dir / METRICS
    try:
        timing, intact = dict(read_json(old, "").get("timing") or {}), True
    except (UserError, AttributeError, TypeError, ValueError):
        timing, intact = {}, False
    metrics = compute_metrics(df, card["classes"], n_folds=len(done), folds_expected=len(card["folds"]),
                              missing_folds=[f for f in card["folds"] if f not in done], model=card["model"],
                              dataset=card["dataset"], protocol=card["protocol"], class_set=card["class_set"],
                              timing=timing)
    if write or not intact:
        if not intact:
            logger.info(f"{old} was missing or unreadable: rebuilt from {pred_path}")
        atomic_write_text(old, metrics.dumps())
    return metrics
