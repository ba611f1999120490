"""Accuracy benchmark: UF1 / UAR / accuracy of DEFT, its ablations and the baselines under LOSO.

Every model runs on the same prepared cache and the same folds (one per subject, through
`deftmer.train.loso.run_loso`), with fixed training settings: no epoch or model is chosen on
a test subject.

    python benchmarks/bench_accuracy.py --subjects 6 --clips-per-subject 6
    python benchmarks/bench_accuracy.py --dataset flowpack --root /data/megc_flowpack --models flow-cnn,mdmo-svm,deft
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from bench_setup import (
    ALL_MODELS,
    ensure_synthme,
    experiment_config,
    open_dataset,
    parse_list,
    prepare,
    run_model_loso,
    run_script,
    show_table,
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("bench_work"), help="folder for data, caches and run folders")
    ap.add_argument("--subjects", type=int, default=6, help="SynthME subjects (one LOSO fold each)")
    ap.add_argument("--clips-per-subject", type=int, default=6)
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--no-synthme", action="store_true", help="skip SynthME (only the --dataset given)")
    ap.add_argument("--dataset", help="also benchmark this registered dataset (e.g. casme2, flowpack)")
    ap.add_argument("--root", type=Path, help="root folder of --dataset")
    ap.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated model names")
    ap.add_argument("--workers", type=int, default=2, help="preprocessing processes")
    ap.add_argument("--config", help="experiment config YAML")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. model.llm=tiny")
    ap.add_argument("--markdown", type=Path, help="append the tables as Markdown to this file")
    ap.add_argument("--figure", type=Path, help="save a bar chart of UF1 / UAR per model (PNG; one per dataset)")
    ap.add_argument("--resume", action="store_true",
                    help="keep folds finished by an earlier run in --work (LOSO s then covers only the rest)")
    args = ap.parse_args(argv)
    if args.dataset and not args.root:
        ap.error("--dataset needs --root")

    cfg = experiment_config(args.config, args.sets)
    models = parse_list(args.models)
    targets = []
    if not args.no_synthme:
        ds = ensure_synthme(args.work / "synthme", args.subjects, args.clips_per_subject, args.synth_seed)
        targets.append((f"SynthME {args.subjects} subj x {args.clips_per_subject} clips", ds,
                        f"SynthME seed {args.synth_seed}"))
    if args.dataset:
        targets.append((f"{args.dataset} ({args.root})", open_dataset(args.dataset, args.root, cfg), str(args.root)))

    for title, ds, source in targets:
        cache = args.work / "cache" / ds.name
        prep_s = prepare(ds, cache, cfg, args.workers)
        rows, outcomes = [], []
        for m in models:
            out = run_model_loso(cfg, ds, cache, args.work / "runs" / ds.name / m, m, resume=args.resume)
            outcomes.append(out)
            seconds = f"{out.seconds:.1f} (resumed)" if out.resumed else round(out.seconds, 1)
            rows.append([m, out.uf1, out.uar, out.accuracy, out.au_f1, out.n_samples, out.n_folds,
                         seconds, out.error or ""])
        note = (f"{source}: {len(ds.labelled())} labelled clips, {len(ds.subjects)} subjects, class set "
                f"{ds.class_set.name}, flow {cfg.preprocess.flow}, size {cfg.preprocess.size}, LLM {cfg.model.llm}, "
                f"training seed {cfg.seed}; au_f1 = F1 of the AUs named in the model's answers ('-': "
                f"the model names none); "
                f"prepare {prep_s:.1f} s; {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
        show_table(f"LOSO accuracy on {title}",
                   ["model", "UF1", "UAR", "accuracy", "au_f1", "clips", "folds", "LOSO s", "error"],
                   rows, args.markdown, note)
        if args.figure is not None:
            save_score_figure(outcomes, len(ds.class_set.classes), f"LOSO on {title}", args.figure.with_stem(f"{args.figure.stem}_{ds.name}")
                              if len(targets) > 1 else args.figure)


def save_score_figure(outcomes: list, n_classes: int, title: str, path: Path) -> None:
    """UF1 and UAR per model as grouped bars, with the chance UAR (1 / classes) drawn in."""
    from deftmer.eval.figures import figure_to_png, grouped_bar_figure

    done = [o for o in outcomes if not o.error]
    fig = grouped_bar_figure([o.model for o in done], {"UF1": [o.uf1 for o in done], "UAR": [o.uar for o in done]},
                             title, ylabel="score")
    ax = fig.axes[0]
    ax.axhline(1.0 / n_classes, color="grey", linestyle="--", linewidth=1, label=f"chance UAR {1.0 / n_classes:.2f}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_to_png(fig, dpi=110))


if __name__ == "__main__":
    run_script(main)
