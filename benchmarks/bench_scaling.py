"""Scaling benchmark: wall time of a whole LOSO run against the number of clips (SynthME 1x, 2x, 4x).

The dataset grows by subjects (as real collections do), so both the number of folds and each
fold's training set grow; the fitted exponent says how total cost grows with clips
(time ~ clips^k; k near 2 is what LOSO's folds x training-set size predicts for a model whose
fit is linear in its training set).

    python benchmarks/bench_scaling.py --subjects 3 --clips-per-subject 4 --scales 1,2,4
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench_setup import ensure_synthme, experiment_config, parse_list, prepare, run_model_loso, run_script, show_table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("bench_work"))
    ap.add_argument("--subjects", type=int, default=3, help="subjects at scale 1x")
    ap.add_argument("--clips-per-subject", type=int, default=4)
    ap.add_argument("--scales", default="1,2,4")
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--models", default="flow-cnn,mdmo-svm,deft-no-llm,deft")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. model.llm=tiny")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    cfg = experiment_config(None, args.sets)
    models = parse_list(args.models)
    scales = [int(s) for s in parse_list(args.scales)]
    rows, times = [], {m: [] for m in models}
    uf1_rows = []
    clip_counts = []
    for k in scales:
        n_subj = args.subjects * k
        ds = ensure_synthme(args.work / f"synthme_x{k}", n_subj, args.clips_per_subject, args.synth_seed)
        n = len(ds.labelled())
        clip_counts.append(n)
        prep_s = prepare(ds, args.work / "cache" / f"scaling_x{k}", cfg, args.workers)
        row = [f"{k}x", n_subj, n, round(prep_s, 1)]
        uf1_row = [f"{k}x", n_subj, n]
        for m in models:
            out = run_model_loso(cfg, ds, args.work / "cache" / f"scaling_x{k}", args.work / "runs" / f"scaling_x{k}" / m, m)
            times[m].append(math.nan if out.error else out.seconds)
            row.append(round(out.seconds, 1) if not out.error else f"failed ({out.error[:30]})")
            uf1_row.append(out.uf1)
        rows.append(row)
        uf1_rows.append(uf1_row)
    exp_row = ["exponent k", "", "", ""]
    for m in models:
        t = times[m]
        ok = [(c, s) for c, s in zip(clip_counts, t) if not math.isnan(s)]
        exp_row.append(round(math.log(ok[-1][1] / ok[0][1]) / math.log(ok[-1][0] / ok[0][0]), 2) if len(ok) >= 2 else "-")
    rows.append(exp_row)
    show_table(f"LOSO wall time vs clips (SynthME {args.subjects} subj x {args.clips_per_subject} clips at 1x)",
               ["scale", "subjects", "clips", "prepare s", *[f"{m} LOSO s" for m in models]], rows, args.markdown,
               f"prepare = preprocessing with {args.workers} workers (flow {cfg.preprocess.flow}); LOSO s = one fresh "
               f"run_loso (all folds, fit + predict + fold files). k from the first and last scale: time ~ clips^k.")
    show_table(f"LOSO UF1 at each scale (same runs; SynthME seed {args.synth_seed})",
               ["scale", "subjects", "clips", *[f"{m} UF1" for m in models]], uf1_rows, args.markdown,
               "Each scale is its own SynthME tree (same seed, more subjects), so UF1 moves with the data as well as with "
               "the training-set size.")


if __name__ == "__main__":
    run_script(main)
