"""Real micro-expressions: LOSO and leave-one-database-out of every model on a flow pack.

    python benchmarks/bench_real.py ../shared/data/megc2019-dev \\
        --casme2-coding ../shared/data/casme2-sub01/CASME2-coding-20140508.xlsx --markdown real.md

Prepares the pack (the `flowpack` loader, real AUs from the coding sheets given), then runs
each model through `deftmer.train.loso.run_loso` on the same cache and folds: LOSO over all
subjects, and LODO (train on every other source database, test on one) for each source. The
table gives pooled UF1 / UAR, UF1 / UAR per source database (under LODO: of the database held
out, i.e. each transfer direction), the F1 of the AUs named in answers
against the coding sheet's AUs, and wall minutes. Every model trains with a fixed schedule:
nothing is chosen on a test subject or a test database.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

from bench_setup import experiment_config, parse_list, prepare, run_script, show_table
from deftmer.errors import UserError

MODELS = ("deft", "deft-no-llm", "deft-motion-text", "deft-motion-only", "deft-structure-only", "htnet",
          "flow-cnn", "mdmo-svm", "field-svm")


def open_pack(root: Path, casme2: Path | None, samm: Path | None, cfg):
    """The flow pack, and ``cfg.data`` set to it, so each run folder's config.yaml names the data
    it was trained on (as `deftmer loso` writes it) and tools that reopen a run find it."""
    from deftmer.data.dataset import load_dataset

    if not (root / "combined_3_class2_for_optical_flow.csv").is_file():
        raise UserError(f"{root} is not a flow pack (no combined_3_class2_for_optical_flow.csv); pass the pack's root")
    options = dict(cfg.data.options)
    if casme2:
        options["casme2_coding"] = str(casme2)
    if samm:
        options["samm_coding"] = str(samm)
    cfg.data.dataset, cfg.data.root, cfg.data.options = "flowpack", str(root), options
    return load_dataset("flowpack", root, **options)


def run(cfg, ds, cache: Path, run_dir: Path, model: str, protocol: str, resume: bool) -> dict:
    """One model under one protocol; a failure is a row in the table, not the end of the benchmark."""
    import shutil

    from deftmer.train.loso import run_loso

    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    try:
        m = run_loso(cfg, ds, cache, run_dir, model_name=model, protocol=protocol, resume=resume).metrics
    except Exception as e:  # noqa: BLE001 - the row says which model failed and why
        return {"error": f"{e.__class__.__name__}: {str(e)[:80]}", "minutes": (time.perf_counter() - t0) / 60}
    src = {k: f"{v.uf1:.3f} / {v.uar:.3f}" for k, v in m.per_source.items()}
    return {"uf1": m.uf1, "uar": m.uar, "per_source": src, "au_f1": math.nan if m.au_f1 is None else m.au_f1,
            "minutes": (time.perf_counter() - t0) / 60, "n": m.n_samples, "folds": m.n_folds}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="flow pack root (combined_3_class2_for_optical_flow.csv + datasets/)")
    ap.add_argument("--casme2-coding", type=Path, help="CASME2-coding-*.xlsx: real AUs of the CASME II clips")
    ap.add_argument("--samm-coding", type=Path, help="SAMM_Micro_FACS_Codes_v2.xlsx: real AUs of the SAMM clips")
    ap.add_argument("--work", type=Path, default=Path("bench_work/real"), help="folder for the cache and run folders")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--protocols", default="loso,lodo", help="loso, lodo or both")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. eval.workers=2")
    ap.add_argument("--markdown", type=Path, help="append the tables as Markdown to this file")
    ap.add_argument("--resume", action="store_true", help="keep folds finished by an earlier run in --work")
    args = ap.parse_args(argv)

    cfg = experiment_config(None, args.sets)
    ds = open_pack(args.root, args.casme2_coding, args.samm_coding, cfg)
    cache = args.work / "cache"
    prep_s = prepare(ds, cache, cfg, workers=1)
    sources = sorted({s.source or s.dataset for s in ds.labelled()})
    for protocol in parse_list(args.protocols):
        rows = []
        for model in parse_list(args.models):
            r = run(cfg, ds, cache, args.work / "runs" / protocol / model, model, protocol, args.resume)
            per = r.get("per_source", {})
            rows.append([model, r.get("uf1", math.nan), r.get("uar", math.nan),
                         *[per.get(s, "-") for s in sources], r.get("au_f1", math.nan),
                         round(r["minutes"], 1), r.get("error", "")])
        what = ("leave one subject out" if protocol == "loso" else
                "leave one database out (train on the others, test on each; pooled)")
        note = (f"{args.root}: {len(ds.labelled())} clips, {len(ds.subjects)} subjects, sources {', '.join(sources)}; "
                f"{what}; default config except {args.sets or 'nothing'}; prepare {prep_s:.0f} s; "
                f"au_f1 against the coding sheets' AUs; {platform.machine()}, {time.strftime('%Y-%m-%d')}")
        show_table(f"Real data, {protocol.upper()}: {args.root.name}",
                   ["model", "UF1", "UAR", *[f"{s} UF1 / UAR" for s in sources], "au_f1", "minutes", "error"],
                   rows, args.markdown, note)


if __name__ == "__main__":
    run_script(main)
