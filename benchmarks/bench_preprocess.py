"""Preprocessing throughput on SynthME: clips/s per flow method and worker count, share of time
per stage, and peak memory (parent + workers).

    python benchmarks/bench_preprocess.py --subjects 4 --clips 4 --workers 1 2 --flows dis tvl1 farneback

Each (flow, workers) cell prepares the same clips into a fresh cache, so nothing is reused.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from deftmer.data import load_dataset
from deftmer.data.synth import generate_synthme
from deftmer.preprocess import PreprocessConfig, prepare_dataset
from deftmer.preprocess.pipeline import STAGES


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips", type=int, default=4, help="clips per subject")
    ap.add_argument("--flows", nargs="+", default=["dis", "tvl1", "farneback"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--spot-apex", choices=["missing", "always"], default="missing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthme"
        generate_synthme(root, subjects=args.subjects, clips_per_subject=args.clips, seed=0, progress=False)
        samples = load_dataset("synthme", root).samples
        rows = []
        for flow in args.flows:
            for w in args.workers:
                cfg = PreprocessConfig(flow=flow, spot_apex=args.spot_apex)
                t0 = time.perf_counter()
                rep = prepare_dataset(samples, Path(tmp) / f"cache_{flow}_{w}", cfg, workers=w, progress=False)
                wall = time.perf_counter() - t0
                busy = sum(rep.stage_seconds.values()) or 1.0
                share = {s: 100 * rep.stage_seconds.get(s, 0.0) / busy for s in STAGES}
                rows.append((flow, w, len(samples) / wall, share, peak_rss_mb()))
        print(f"{len(samples)} SynthME clips ({args.subjects} subjects x {args.clips}), spot_apex={args.spot_apex}\n")
        print("| flow | workers | clips/s | 442 clips (min) | " + " | ".join(f"{s} %" for s in STAGES) + " | peak RSS MB |")
        print("|" + "---|" * (5 + len(STAGES)))
        for flow, w, cps, share, mem in rows:
            print(f"| {flow} | {w} | {cps:.2f} | {442 / cps / 60:.1f} | "
                  + " | ".join(f"{share[s]:.0f}" for s in STAGES) + f" | {mem:.0f} |")


if __name__ == "__main__":
    main()
