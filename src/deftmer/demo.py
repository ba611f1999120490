"""The whole pipeline on SynthME in one call: what `deftmer demo` runs on a fresh machine.

synth -> check-data -> prepare -> Uni-MER -> LOSO (train + test per fold) -> metrics ->
report -> explain one held-out clip. Each step calls the stage's own public function and
writes into one folder; every step resumes from what it finds there, so a rerun after Ctrl-C
(or with more folds) only does the missing work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from deftmer.config import ExperimentConfig, checkpoint_config, save_config
from deftmer.data import load_dataset
from deftmer.data.check import summarise
from deftmer.errors import UserError
from deftmer.eval.figures import explain_figure, figure_to_png
from deftmer.eval.report import write_report
from deftmer.model.card import MODEL_CARD
from deftmer.models import load_model
from deftmer.predict.clip import explain_content, predict_clip
from deftmer.preprocess import load_clip_inputs, prepare_dataset
from deftmer.synth.generate import generate_synthme
from deftmer.train.folds import fold_dir_name
from deftmer.train.loso import run_loso
from deftmer.unimer.build import build_unimer
from deftmer.utils.console import logger
from deftmer.utils.io import atomic_write_bytes


@dataclass
class DemoSettings:
    """Size of the demo; `quick` trades accuracy for a run of a couple of minutes."""

    subjects: int = 8
    clips_per_subject: int = 6
    folds: int | None = None   # None: every subject is a test fold once (full LOSO)
    model: str = "deft"
    workers: int = 2
    seed: int = 0
    quick: bool = False


@dataclass
class DemoResult:
    out: Path
    metrics: dict
    report_html: Path
    explain_png: Path | None
    explained_clip: str | None
    seconds: dict[str, float] = field(default_factory=dict)


def demo_config(settings: DemoSettings, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """The experiment config of the demo: the defaults (real pretrained LLM), or in quick mode
    a tiny in-code LLM, DIS flow and fewer epochs."""
    cfg = (base or ExperimentConfig()).model_copy(deep=True)
    cfg.seed = settings.seed
    cfg.data.dataset = "synthme"
    cfg.model.name = settings.model
    if settings.quick:
        cfg.preprocess.flow = "dis"
        cfg.model.llm = "tiny"
        cfg.train.stage1_epochs = min(cfg.train.stage1_epochs, 4)
        cfg.train.stage2_epochs = min(cfg.train.stage2_epochs, 1)
    return ExperimentConfig.model_validate(cfg.model_dump())


def checked_settings(settings: DemoSettings) -> DemoSettings:
    """``settings`` with ``folds`` filled in (every subject); a size that cannot run is a `UserError`."""
    if settings.subjects < 2:
        raise UserError("--subjects must be at least 2 (LOSO needs a subject to train on and one to test)")
    if settings.folds is None:
        settings = replace(settings, folds=settings.subjects)
    if not 1 <= settings.folds <= settings.subjects:
        raise UserError(f"--folds must be between 1 and --subjects ({settings.subjects})")
    if settings.clips_per_subject < 1:
        raise UserError("--clips-per-subject must be at least 1")
    return settings


def run_demo(out: str | Path, settings: DemoSettings, base: ExperimentConfig | None = None,
             progress: bool = True) -> DemoResult:
    """Run (or resume) every step of the demo into ``out``."""
    settings = checked_settings(settings)
    out = Path(out)
    cfg = demo_config(settings, base)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    seconds: dict[str, float] = {}
    root, cache, run_dir = out / "synthme", out / "cache", out / f"run-{settings.model}"

    t = time.perf_counter()
    generate_synthme(root, subjects=settings.subjects, clips_per_subject=settings.clips_per_subject,
                     seed=settings.seed, progress=progress)
    seconds["synth"] = time.perf_counter() - t

    t = time.perf_counter()
    ds = load_dataset("synthme", root)
    check = summarise(ds)
    if not check.usable:
        raise UserError(f"the generated SynthME at {root} is not usable: {check.unusable_reason}; delete it and rerun")
    if check.problems:
        logger.warning(f"check-data: {len(check.problems)} annotation problem(s) in SynthME; see `deftmer check-data`")
    seconds["check"] = time.perf_counter() - t

    t = time.perf_counter()
    samples = ds.labelled()
    prepare_dataset(samples, cache, cfg.preprocess, workers=settings.workers, progress=progress)
    seconds["prepare"] = time.perf_counter() - t

    t = time.perf_counter()
    clips = load_clip_inputs(samples, cache, cfg.preprocess)
    build_unimer(clips, ds.class_set, cfg.unimer, cfg.seed, "synthme", out / "unimer.jsonl")
    seconds["unimer"] = time.perf_counter() - t

    t = time.perf_counter()
    subjects = sorted({s.subject for s in samples})
    folds = subjects[: settings.folds]
    result = run_loso(cfg, ds, cache, run_dir, folds=folds, progress=progress)
    seconds["loso"] = time.perf_counter() - t

    t = time.perf_counter()
    report = write_report(run_dir)
    seconds["report"] = time.perf_counter() - t

    t = time.perf_counter()
    png, clip_id = _explain_one(run_dir, folds, samples, out / "explain.png")
    seconds["explain"] = time.perf_counter() - t
    return DemoResult(out=out, metrics=result.metrics.to_json(), report_html=report.html, explain_png=png,
                      explained_clip=clip_id, seconds=seconds)


def _explain_one(run_dir: Path, folds: list[str], samples, png: Path) -> tuple[Path | None, str | None]:
    """Explain the first clip of the first test subject with that fold's model (trained without
    that subject), so the figure shows a held-out prediction."""


    fold = folds[0]
    model_dir = run_dir / "folds" / fold_dir_name(fold)
    if not (model_dir / MODEL_CARD).is_file():
        logger.warning(f"no saved model in {model_dir}; skipping the explain figure")
        return None, None
    clip = next(s for s in sorted(samples, key=lambda s: s.id) if s.subject == fold)
    cfg = checkpoint_config(model_dir)
    onset = clip.frame_index(clip.onset) if clip.onset is not None else None
    analysis, prepared = predict_clip(clip.frames[0].parent, load_model(model_dir), cfg, onset=onset)
    atomic_write_bytes(png, figure_to_png(explain_figure(explain_content(analysis, prepared))))
    return png, clip.id
