"""`deftmer unimer`: build the motion-grounded instruction file (JSONL) and its dataset card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.cli.options import (
    CacheOpt,
    ClassSetOpt,
    ConfigOption,
    DatasetOpt,
    PolicyName,
    RootOpt,
    SetOption,
    resolve_config,
    stage_dataset,
    with_cache_preparation,
)
from deftmer.config import save_config
from deftmer.data import get_class_set
from deftmer.errors import UserError
from deftmer.preprocess.cache import load_clip_inputs
from deftmer.unimer.build import build_unimer
from deftmer.utils.console import console, make_progress


@app.command("unimer")
def unimer_cmd(
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    cache: CacheOpt = Path("cache"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output instruction file (.jsonl); the card is written beside it.")] = Path("unimer.jsonl"),
    policy: Annotated[Optional[PolicyName], typer.Option("--policy", help="keep_all | drop_contradicted (AUs the flow contradicts leave the text) | drop_low_score (also drop clips below unimer.min_score).")] = None,
    class_set: ClassSetOpt = None,
    subjects: Annotated[Optional[str], typer.Option("--subjects", help="Comma-separated subjects to include (e.g. one LOSO fold's training subjects).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of template choice (same seed -> identical file).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Build Uni-MER instructions: check each clip's AU labels against its optical flow (dual
    constraint) and write four grounded tasks per clip (emotion, AUs, local motion, reasoning)."""

    cfg = resolve_config(config, set_, data__dataset=dataset, data__root=str(root) if root else None,
                         data__class_set=class_set, unimer__policy=policy, seed=seed)
    if cfg.data.root is None:
        raise UserError("no dataset root given; pass --root PATH (or data.root in --config)")
    if out.suffix != ".jsonl":
        raise UserError(f"--out {out} must end in .jsonl (one instruction record per line)")
    cfg = with_cache_preparation(cfg, cache, config, set_)
    ds = stage_dataset(cfg)
    cs = get_class_set(cfg.data.class_set) if cfg.data.class_set else ds.class_set
    samples = ds.labelled()
    wanted: set[str] | None = None
    if subjects:
        wanted = {s.strip() for s in subjects.split(",") if s.strip()}
        unknown = sorted(wanted - set(ds.subjects))
        if unknown:
            raise UserError(f"--subjects names {', '.join(unknown)}, not in {cfg.data.dataset}; known: {', '.join(ds.subjects)}")
        samples = [s for s in samples if s.subject in wanted]
    if not samples:
        raise UserError(f"{cfg.data.dataset} at {cfg.data.root} has no labelled samples for class set {cs.name}")
    clips = load_clip_inputs(samples, cache, cfg.preprocess)
    with make_progress() as progress:
        task = progress.add_task("dual constraint", total=len(clips))
        built = build_unimer(clips, cs, cfg.unimer, cfg.seed, cfg.data.dataset, out, lambda: progress.advance(task))
    records, card, md = built.records, built.card, built.card_md
    save_config(cfg, out.with_suffix(".config.yaml"))
    v = card.verdicts
    total = sum(v.values())
    console.print(f"wrote {len(records)} records from {card.clips_kept}/{card.clips} clips to {out}")
    if total:
        console.print(f"labelled AUs: {v['supported']}/{total} supported, {v['weak']} weak, "
                      f"{v['contradicted']} contradicted; card: {md}")
    else:
        console.print(f"no AU labels: AUs read from motion only; card: {md}")
