"""Train one model on every labelled subject: the model folder `predict`/`explain` use.

LOSO measures how well a configuration generalises; this trains the model you ship with the
same configuration. ``training.json`` is written last, so a folder without it is unfinished
and ``--resume`` continues it (from the model's own mid-training checkpoint when it has one).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deftmer.data.dataset import MEDataset
from deftmer.errors import CheckpointError, UserError
from deftmer.model.api import RunConfig
from deftmer.models import create_model
from deftmer.train import loso
from deftmer.train.trainer import fit_model
from deftmer.utils.console import logger, make_progress
from deftmer.utils.io import atomic_write_json, read_json, save_settings
from deftmer.utils.seed import seed_everything

TRAINED = "training.json"


@dataclass
class TrainSummary:
    """What ``training.json`` records about a finished training run."""

    model: str
    dataset: str
    class_set: str
    n_train: int
    subjects: list[str]
    fit_s: float
    resumed: bool = False
    train_stats: dict[str, Any] = field(default_factory=dict)


def train_final_model(cfg: RunConfig, dataset: MEDataset, cache_dir: Path, out_dir: Path,
                      model_name: str | None = None, resume: bool = False, progress: bool = True) -> TrainSummary:
    """Fit ``model_name`` (default: ``cfg.model.name``) on all labelled samples of ``dataset`` and save it
    to ``out_dir``."""
    model_name = model_name or cfg.model.name
    out_dir = Path(out_dir)
    done = out_dir / TRAINED
    if done.is_file():
        if resume:
            logger.info(f"{out_dir} already holds a finished model; nothing to do")
            return TrainSummary(**read_json(done, f"delete {done} and run the same `deftmer train` command again"))
        raise CheckpointError(f"{out_dir} already holds a trained model; choose another --out, delete it, "
                              "or pass --resume to keep it")
    checkpoint = out_dir / "checkpoint"
    resumed = resume and checkpoint.exists()
    if not resume:
        shutil.rmtree(checkpoint, ignore_errors=True)
    samples = dataset.labelled()
    if not samples:
        raise UserError(f"dataset {dataset.name} at {dataset.root} has no samples in class set {dataset.class_set.name}")
    clips = loso.load_fold_clips(samples, Path(cache_dir), cfg)
    seed_everything(cfg.seed)
    model = create_model(model_name, cfg, dataset.class_set)
    t0 = time.perf_counter()
    with make_progress() as bar:
        task = bar.add_task(f"train {model_name}", total=None, visible=progress)

        def on_step(stage: str, i: int, total: int) -> None:
            bar.update(task, description=f"train {model_name}: {stage}", completed=i, total=total)

        stats = fit_model(model, clips, on_step, checkpoint, train_cfg=cfg.train)
    fit_s = time.perf_counter() - t0
    model.save(out_dir)
    save_settings(cfg, out_dir / "config.yaml")
    summary = TrainSummary(model=model_name, dataset=dataset.name, class_set=dataset.class_set.name,
                           n_train=len(clips), subjects=sorted({c.sample.subject for c in clips}),
                           fit_s=round(fit_s, 3), resumed=resumed, train_stats=loso.to_jsonable(stats))
    atomic_write_json(done, asdict(summary))
    shutil.rmtree(checkpoint, ignore_errors=True)
    return summary
