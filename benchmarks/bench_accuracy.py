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

from bench_setup import (ALL_MODELS, ensure_synthme, experiment_config, open_dataset, parse_list, prepare,
                         run_model_loso, show_table)


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
    args = ap.parse_args(argv)
    if args.dataset and not args.root:
        ap.error("--dataset needs --root")

    cfg = experiment_config(args.config, args.sets)
    models = parse_list(args.models)
    targets = []
    if not args.no_synthme:
        ds = ensure_synthme(args.work / "synthme", args.subjects, args.clips_per_subject, args.synth_seed)
        targets.append((f"SynthME {args.subjects} subj x {args.clips_per_subject} clips", ds))
    if args.dataset:
        targets.append((f"{args.dataset} ({args.root})", open_dataset(args.dataset, args.root, cfg)))

    for title, ds in targets:
        cache = args.work / "cache" / ds.name
        prep_s = prepare(ds, cache, cfg, args.workers)
        rows = []
        for m in models:
            out = run_model_loso(cfg, ds, cache, args.work / "runs" / ds.name / m, m)
            rows.append([m, out.uf1, out.uar, out.accuracy, out.n_samples, out.n_folds, round(out.seconds, 1),
                         out.error or ""])
        note = (f"{len(ds.labelled())} labelled clips, {len(ds.subjects)} subjects, class set "
                f"{ds.class_set.name}, flow {cfg.preprocess.flow}, LLM {cfg.model.llm}, seed {cfg.seed}; "
                f"prepare {prep_s:.1f} s; {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
        show_table(f"LOSO accuracy on {title}", ["model", "UF1", "UAR", "accuracy", "clips", "folds", "LOSO s", "error"],
                   rows, args.markdown, note)


if __name__ == "__main__":
    main()
