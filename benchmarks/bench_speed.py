"""Speed benchmark: preprocessing clips/s per flow method, training throughput, warm inference
latency (p50/p95 per clip) and peak memory, with ratios against the flow-CNN baseline.

Each measurement runs in its own spawned process, so "peak MB" is that step's own peak
resident memory (it includes the Python + library imports, reported as "base MB").

    python benchmarks/bench_speed.py --subjects 4 --clips-per-subject 6 --flows tvl1,dis,farneback
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from bench_setup import (
    ALL_MODELS,
    REFERENCE,
    ensure_synthme,
    experiment_config,
    in_child,
    parse_list,
    peak_rss_mb,
    prepare,
    run_script,
    show_table,
)


def time_preprocess(root: str, cache: str, sets: list[str], flow: str, limit: int) -> dict:
    """Prepare up to ``limit`` clips with one flow method in this (single) process."""
    from deftmer.data.dataset import load_dataset
    from deftmer.preprocess.runner import prepare_dataset

    cfg = experiment_config(None, [*sets, f"preprocess.flow={flow}"])
    samples = load_dataset("synthme", root).labelled()[:limit]
    base = peak_rss_mb()
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    prepare_dataset(samples, Path(cache), cfg.preprocess, workers=1, progress=False)
    s = time.perf_counter() - t0
    return {"clips": len(samples), "seconds": s, "clips_per_s": len(samples) / s, "base_mb": base, "peak_mb": peak_rss_mb()}


def time_model(root: str, cache: str, sets: list[str], model_name: str, repeats: int) -> dict:
    """Fit on every subject but the last, then time ``predict([clip])`` on the held-out clips, warm."""
    from deftmer.data.dataset import load_dataset
    from deftmer.models import create_model
    from deftmer.preprocess.cache import load_clip_inputs
    from deftmer.train.trainer import fit_model
    from deftmer.utils.seed import seed_everything

    cfg = experiment_config(None, sets)
    ds = load_dataset("synthme", root)
    clips = load_clip_inputs(ds.labelled(), Path(cache), cfg.preprocess)
    held_out = sorted({c.sample.subject for c in clips})[-1]
    train = [c for c in clips if c.sample.subject != held_out]
    test = [c for c in clips if c.sample.subject == held_out]
    seed_everything(cfg.seed)
    base = peak_rss_mb()
    model = create_model(model_name, cfg, ds.class_set)
    t0 = time.perf_counter()
    stats = fit_model(model, train) or {}
    fit_s = time.perf_counter() - t0
    model.predict(test[:1])                       # warm-up: lazy loads, caches, allocator
    lat = []
    for _ in range(repeats):
        for c in test:
            t = time.perf_counter()
            model.predict([c])
            lat.append((time.perf_counter() - t) * 1000)
    explain_lat = []
    if getattr(model, "llm", None) is not None:       # DEFT with an LLM: also time the written explanation
        model.predict(test[:1], explain=True)
        for c in test:
            t = time.perf_counter()
            model.predict([c], explain=True)
            explain_lat.append((time.perf_counter() - t) * 1000)
    timings = {k: float(v) for k, v in stats.items() if k.endswith("_s") and isinstance(v, (int, float))}
    return {"n_train": len(train), "fit_s": fit_s, "train_clips_per_s": len(train) / fit_s,
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)), "n_latency": len(lat),
            "explain_p50_ms": float(np.percentile(explain_lat, 50)) if explain_lat else float("nan"),
            "base_mb": base, "peak_mb": peak_rss_mb(), "fit_timings": timings}


STAGE_COLUMNS = ["features s", "stage 1 /s", "stage 1 s", "stage 1b /s", "stage 1b s", "stage 2 /s", "stage 2 s"]


def stage_cells(result: dict) -> list:
    """One row of the per-stage table from the stats a model's ``fit`` reported."""
    st = result.get("fit_timings", {})
    if "train_samples_per_s" in st:                       # flow-cnn: a single supervised stage
        return ["-", st["train_samples_per_s"], result["fit_s"], "-", "-", "-", "-"]
    get = (lambda k: st.get(k, "-"))
    return [get("features_s"), get("stage1/samples_per_s"), get("stage1_s"), get("stage1_llm/samples_per_s"),
            get("stage1_llm_s"), get("stage2/samples_per_s"), get("stage2_s")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("bench_work"))
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=6)
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--flows", default="tvl1,dis,farneback", help="flow methods to time (empty: skip)")
    ap.add_argument("--preprocess-clips", type=int, default=12, help="clips prepared per flow method")
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--repeats", type=int, default=3, help="passes over the held-out clips for latency")
    ap.add_argument("--workers", type=int, default=2, help="processes for the shared model-input cache")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. model.llm=tiny")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    cfg = experiment_config(None, args.sets)
    root = args.work / "synthme_speed"
    ds = ensure_synthme(root, args.subjects, args.clips_per_subject, args.synth_seed)
    size = f"SynthME {args.subjects} subj x {args.clips_per_subject} clips"

    flows = parse_list(args.flows)
    if flows:
        rows = []
        for flow in flows:
            r = in_child(time_preprocess, str(root), str(args.work / "speed_prep" / flow), args.sets, flow,
                         args.preprocess_clips)
            rows.append([flow, r["clips"], round(r["seconds"], 2), r["clips_per_s"], round(r["base_mb"]), round(r["peak_mb"])])
        show_table(f"Preprocessing speed ({size}, 1 process, size {cfg.preprocess.size})",
                   ["flow", "clips", "seconds", "clips/s", "base MB", "peak MB"], rows, args.markdown,
                   "Includes face landmarks, alignment, apex, flow, strain, ROIs, dynamic image and the cache write; "
                   "the first clip pays the MediaPipe model load.")

    cache = args.work / "cache" / f"speed_{ds.name}"
    prepare(ds, cache, cfg, args.workers)
    models = parse_list(args.models)
    results = {}
    for m in models:
        try:
            results[m] = in_child(time_model, str(root), str(cache), args.sets, m, args.repeats)
        except Exception as e:  # noqa: BLE001 - reported in the table
            results[m] = {"error": f"{e.__class__.__name__}: {str(e)[:80]}"}
    ref = results.get(REFERENCE, {})
    rows = []
    for m in models:
        r = results[m]
        if "error" in r:
            rows.append([m] + ["-"] * 9 + [r["error"]])
            continue
        ratio = (lambda k, r=r: r[k] / ref[k] if ref.get(k) else float("nan"))
        rows.append([m, r["n_train"], round(r["fit_s"], 2), r["train_clips_per_s"], r["p50_ms"], r["p95_ms"],
                     r["explain_p50_ms"], round(r["peak_mb"]), ratio("fit_s"), ratio("p50_ms"), ratio("peak_mb")])
    show_table(f"Training and inference speed ({size}, fit on all subjects but one)",
               ["model", "train clips", "fit s", "train clips/s", "p50 ms/clip", "p95 ms/clip", "p50 ms explain", "peak MB",
                f"fit x {REFERENCE}", f"p50 x {REFERENCE}", f"mem x {REFERENCE}"],
               rows, args.markdown,
               f"Latency: predict([clip]) on warm models, explain=False, {args.repeats} passes over the held-out "
               f"subject's clips; 'p50 ms explain' = predict([clip], explain=True) (grounded "
               f"evidence + up to {cfg.model.explain_max_tokens} LLM-written tokens), one pass. LLM {cfg.model.llm}; torch "
               "threads default.")
    stage_rows = [[m, *stage_cells(results[m])] for m in models if "error" not in results[m]]
    show_table(f"Training throughput per stage ({size}; training examples per second)",
               ["model", *STAGE_COLUMNS], stage_rows, args.markdown,
               "DEFT stages: features = frozen backbone features + cross-subject expert probe (seconds); "
               "stage 1 = experts and heads (clips); stage 1b = projectors on answer tokens, LLM frozen (Uni-MER "
               "records); stage 2 = LoRA + projectors + experts (records). flow-cnn: its one training stage "
               "(clips x epochs). '-' = the model has no such stage.")


if __name__ == "__main__":
    run_script(main)
