"""Preprocessing throughput on SynthME: clips/s and CPU seconds per clip for each flow method and
worker count, share of time per stage, peak memory; the pool's start-up cost; and the cache's
storage formats (write/read time, size, float16 error).

    OMP_NUM_THREADS=1 python benchmarks/bench_preprocess.py --subjects 6 --clips 4 --workers 1 2 --flows dis tvl1 farneback

Each (flow, workers) cell prepares the same clips into a fresh cache, so nothing is reused.
CPU s/clip (parent + workers, user + system) is printed beside wall-clock clips/s because on a
shared machine wall time mostly measures the other jobs.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from deftmer.data import load_dataset
from deftmer.preprocess import PreprocessConfig, prepare_dataset, prepare_sample
from deftmer.preprocess.cache import encode_npz, from_arrays, to_arrays
from deftmer.preprocess.pipeline import STAGES
from deftmer.preprocess.runner import start_pool
from deftmer.synth.generate import generate_synthme


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def cpu_seconds() -> float:
    """User + system time of this process and its finished (joined) children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def _noop() -> int:
    return 0


def pool_startup_seconds(workers: int) -> float:
    """Wall time to spawn ``workers`` processes, import the stack and load the landmarker in each."""
    t0 = time.perf_counter()
    pool = start_pool(workers)
    try:
        for f in [pool.submit(_noop) for _ in range(workers)]:
            f.result()
        return time.perf_counter() - t0
    finally:
        pool.shutdown(wait=True)


def format_one_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The previous cache format: float32 maps, unpacked masks, zlib-compressed."""
    old = dict(arrays)
    for k in ("flow", "strain", "dynamic"):
        old[k] = old[k].astype(np.float32)
    shape = tuple(old.pop("roi_masks_shape"))
    old["roi_masks"] = np.unpackbits(old.pop("roi_masks_packed"), axis=-1, count=shape[-1]).astype(bool).reshape(shape)
    buf = io.BytesIO()
    np.savez_compressed(buf, **old)
    return buf.getvalue()


def bench_storage(prepared, repeats: int = 10) -> list[tuple[str, float, float, float]]:
    """(format, encode ms, decode ms, MB) for one prepared sample."""
    rows = []
    for name, encode in (("format 1: compressed float32", lambda: format_one_bytes(to_arrays(prepared))),
                         ("format 2: uncompressed float16 + packed masks", lambda: encode_npz(to_arrays(prepared)))):
        t0 = time.perf_counter()
        for _ in range(repeats):
            blob = encode()
        enc = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            with np.load(io.BytesIO(blob)) as z:
                from_arrays({k: z[k] for k in z.files})
        dec = (time.perf_counter() - t0) / repeats
        rows.append((name, 1000 * enc, 1000 * dec, len(blob) / 1e6))
    return rows


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
        startup = {w: pool_startup_seconds(w) for w in args.workers if w > 1}
        rows = []
        for flow in args.flows:
            for w in args.workers:
                cfg = PreprocessConfig(flow=flow, spot_apex=args.spot_apex)
                t0, c0 = time.perf_counter(), cpu_seconds()
                rep = prepare_dataset(samples, Path(tmp) / f"cache_{flow}_{w}", cfg, workers=w, progress=False,
                                      min_clips_per_worker=1)  # measure the pool even where it does not pay
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                assert rep.failed == 0, rep.failures
                busy = sum(rep.stage_seconds.values()) or 1.0
                share = {s: 100 * rep.stage_seconds.get(s, 0.0) / busy for s in STAGES}
                write_ms = 1000 * rep.stage_seconds["write"] / len(samples)
                rows.append((flow, w, len(samples) / wall, cpu / len(samples), write_ms, share, peak_rss_mb()))
        prepared = prepare_sample(samples[0], PreprocessConfig(flow=args.flows[0], spot_apex=args.spot_apex))
        storage = bench_storage(prepared)
        flow = prepared.flow
        f16 = flow.astype(np.float16).astype(np.float32)
        moving = np.abs(flow) > 1e-3
        f16_error = {"flow max |flow| px": float(np.abs(flow).max()),
                     "flow max abs error px": float(np.abs(f16 - flow).max()),
                     "flow max relative error": float((np.abs(f16 - flow)[moving] / np.abs(flow)[moving]).max())}

        print(f"{len(samples)} SynthME clips ({args.subjects} subjects x {args.clips}), spot_apex={args.spot_apex}\n")
        print("| flow | workers | clips/s | 442 clips (min) | CPU s/clip | write ms/clip | "
              + " | ".join(f"{s} %" for s in STAGES) + " | peak RSS MB |")
        print("|" + "---|" * (7 + len(STAGES)))
        for flow, w, cps, cpu, write_ms, share, mem in rows:
            print(f"| {flow} | {w} | {cps:.2f} | {442 / cps / 60:.1f} | {cpu:.2f} | {write_ms:.1f} | "
                  + " | ".join(f"{share[s]:.0f}" for s in STAGES) + f" | {mem:.0f} |")
        print("\npool start-up (spawn + imports + landmarker, all workers):",
              ", ".join(f"{w} workers {s:.1f} s" for w, s in startup.items()) or "n/a")
        print("\n| cache format | encode ms | decode ms | MB per clip |\n|---|---|---|---|")
        for name, enc, dec, mb in storage:
            print(f"| {name} | {enc:.1f} | {dec:.1f} | {mb:.2f} |")
        print("\nfloat16 storage of one clip's flow:", json.dumps({k: float(f"{v:.3g}") for k, v in f16_error.items()}))


if __name__ == "__main__":
    main()
