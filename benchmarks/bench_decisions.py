"""Every way DEFT can decide, scored on the saved fold models of finished LOSO runs.

    python benchmarks/bench_decisions.py runs/dev-deft [runs/dev-deft-seed1 ...] --cache cache/dev \\
        [--markdown decisions.md]

A DEFT run keeps each fold's trained model, and training does not depend on ``model.decision``,
so one set of models can be scored under every decision without retraining: the LLM's class head
(``llm``), the likelihood of each ``Emotion: <class>`` answer (``options``), both (``hybrid``), the
experts' own linear head (``head``), and the LLM's class head and the experts' head together
(``joint``, the default: the sum of their log-probabilities). Mirror TTA as the run's config says.
The same trained models under each decision: the differences are the decisions', free of the seed
noise between separately trained runs. The row of the run's own decision must reproduce its
predictions; the table says how far it is (max |p - p_run|).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_setup import run_script, show_table
from deftmer.errors import UserError

DECISIONS = ("llm", "options", "hybrid", "head", "joint")


def fold_logprobs(fold_dir: Path, by_id: dict, cache: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The fold's own predictions and its test clips' class log-probabilities under each decision."""
    import torch

    from deftmer.model.deft_decision import class_logprobs
    from deftmer.model.inputs import mirror_clip
    from deftmer.models import load_model
    from deftmer.preprocess.cache import load_clip_inputs

    model = load_model(fold_dir)
    if getattr(model, "language", None) is None:
        raise UserError(f"{fold_dir} is not a DEFT model with an LLM; pass runs of `deftmer loso` with --model deft")
    run_preds = pd.read_csv(fold_dir / "predictions.csv")
    clips = load_clip_inputs([by_id[i] for i in run_preds["sample_id"]], cache, model.cfg.preprocess)
    views = [clips] + ([[mirror_clip(c) for c in clips]] if model.cfg.model.mirror_tta else [])
    model.net.eval()
    model.language.llm.model.eval()
    probs = {d: 0.0 for d in DECISIONS}
    with torch.no_grad():
        for view in views:
            out = model.net(model.tensors(view).feats)
            lp = {d: class_logprobs(model.net, model.language, d, out) for d in DECISIONS}
            for d in DECISIONS:
                probs[d] = probs[d] + lp[d].exp().cpu().numpy() / len(views)
    return run_preds, probs


def uf1_uar(true: pd.Series, pred: np.ndarray, classes: tuple[str, ...]) -> str:
    """UF1 / UAR by the package's own rule (`deftmer.eval.metrics.group_scores`), as in metrics.json."""
    from deftmer.eval.metrics import group_scores

    g = group_scores(true.astype(str).tolist(), list(pred), classes)
    return f"{g.uf1:.3f} / {g.uar:.3f}"


def run_labels(runs: list[Path]) -> list[str]:
    """Each run's name in the table: its folder name, or as many parent folders as it takes to
    tell runs apart (`bench_real.py` names every DEFT run folder ``deft``)."""
    parts = [r.resolve().parts for r in runs]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def score_run(run_dir: Path, cache: Path, label: str) -> tuple[list[list], list[str]]:
    """Table rows (one per decision) for the run in ``run_dir``, and the sources in its columns."""
    from deftmer.config import load_config
    from deftmer.data.dataset import load_dataset

    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run folder of `deftmer loso` (no config.yaml); pass the --out of a DEFT run")
    cfg = load_config(run_dir / "config.yaml")
    ds = load_dataset(cfg.data.dataset, cfg.data.root, **cfg.data.options)
    by_id, classes = {s.id: s for s in ds.labelled()}, ds.class_set.classes
    folds = sorted(p.parent for p in (run_dir / "folds").glob("*/done.json"))
    if not folds:
        raise UserError(f"{run_dir} has no finished folds (folds/*/done.json); pass the --out of `deftmer loso`")
    frames, probs = [], {d: [] for d in DECISIONS}
    t0 = time.perf_counter()
    for k, fold in enumerate(folds):
        preds, p = fold_logprobs(fold, by_id, cache)
        frames.append(preds)
        for d in DECISIONS:
            probs[d].append(p[d])
        print(f"{label}: fold {fold.name} ({k + 1}/{len(folds)}, {time.perf_counter() - t0:.0f} s)", flush=True)
    runs = pd.concat(frames, ignore_index=True)
    own = runs[[f"prob_{c}" for c in classes]].to_numpy()
    sources = sorted(runs["source"].unique())
    masks = [(runs["source"] == s).to_numpy() for s in sources]
    rows = []
    for d in DECISIONS:
        p = np.concatenate(probs[d])
        pred = np.array(classes)[p.argmax(1)]
        per_source = [uf1_uar(runs["true"][m], pred[m], classes) for m in masks]
        rows.append([label, d, uf1_uar(runs["true"], pred, classes), *per_source,
                     f"{np.mean(pred == runs['pred'].to_numpy()):.3f}",
                     f"{np.abs(p - own).max():.1e}" if d == cfg.model.decision else ""])
    return rows, sources


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="run folders of `deftmer loso` with a DEFT model")
    ap.add_argument("--cache", type=Path, required=True, help="the preprocessing cache the runs were trained from")
    ap.add_argument("--markdown", type=Path, help="append the table as Markdown to this file")
    args = ap.parse_args(argv)

    from deftmer.train.loso import set_threads

    set_threads(1)
    rows, sources = [], []
    for run, label in zip(args.runs, run_labels(args.runs)):
        run_rows, sources = score_run(run, args.cache, label)
        rows += run_rows
    show_table("DEFT's decisions on the same trained fold models",
               ["run", "decision", "UF1 / UAR", *[f"{s} UF1 / UAR" for s in sources], "agrees with the run",
                "max |p - p_run|"], rows, args.markdown,
               f"saved fold models re-scored, mirror TTA as configured, one thread; {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    run_script(main)
