"""Stage 2's time against the share of answers it trains (``train.stage2_answer_share``).

    python benchmarks/bench_answer_share.py ../shared/data/megc2019-dev \\
        --casme2-coding ../shared/data/casme2-sub01/CASME2-coding-20140508.xlsx [--shares 1,0.5,0.25]

One LOSO fold of a flow pack (every clip but one subject's), the default DEFT with the real
SmolLM2-135M and one thread, trained once per share in the same process; stage 1 is cut to a few
steps, since only stage 2 (the LLM phase) depends on the share. The table gives stage 2's seconds,
the speed-up against the first share and how many rows trained their answer. Accuracy is not measured here: that takes a whole LOSO (README, Real data).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_real import open_pack
from bench_setup import experiment_config, prepare, run_script, show_table


def fit_stats(cfg, class_set, train) -> dict:
    """The training stats of one fit of the default DEFT on ``train`` (stage 2's seconds among them)."""
    from deftmer.models import create_model
    from deftmer.train.trainer import fit_model

    return fit_model(create_model("deft", cfg, class_set), train)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="flow pack root (combined_3_class2_for_optical_flow.csv + datasets/)")
    ap.add_argument("--casme2-coding", type=Path, help="CASME2-coding-*.xlsx: real AUs of the CASME II clips")
    ap.add_argument("--work", type=Path, default=Path("bench_work/real"), help="folder for the prepared cache")
    ap.add_argument("--shares", default="1,0.5,0.25", help="comma-separated answer shares; the first is the baseline")
    ap.add_argument("--test-subject", default=None, help="the fold's test subject (default: the first one)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    ap.add_argument("--markdown", type=Path, help="append the table as Markdown to this file")
    args = ap.parse_args(argv)

    from deftmer.train.loso import load_fold_clips, set_threads

    set_threads(1)
    base = [*args.sets, "train.stage1_min_steps=5", "train.stage1_epochs=1"]
    cfg = experiment_config(None, base)
    ds = open_pack(args.root, args.casme2_coding, None, cfg)
    cache = args.work / "cache"
    prepare(ds, cache, cfg, workers=1)
    test_subject = args.test_subject or sorted(ds.subjects)[0]
    clips = load_fold_clips(ds.labelled(), cache, cfg)
    train = [c for c in clips if c.sample.subject != test_subject]
    rows, first = [], None
    for share in [float(s) for s in args.shares.split(",")]:
        cfg = experiment_config(None, [*base, f"train.stage2_answer_share={share}"])
        t0 = time.perf_counter()
        stats = fit_stats(cfg, ds.class_set, train)
        s2 = stats["stage2_s"]
        first = first or s2
        rows.append([f"{share:g}", stats["stage2/answered_rows"], round(s2, 1), round(first / s2, 2),
                     round(time.perf_counter() - t0, 1)])
        print(f"share {share}: stage 2 {s2:.1f} s", flush=True)
    show_table(f"Stage 2 against the answer share: {args.root.name}, fold {test_subject} ({len(train)} training clips)",
               ["answer share", "answered rows", "stage 2 s", "speed-up", "fit s"], rows, args.markdown,
               f"default config except {args.sets or 'nothing'}; stage 1 cut to 5 steps; one thread; "
               f"{time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    run_script(main)
