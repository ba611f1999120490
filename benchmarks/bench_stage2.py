"""Stage 2 of DEFT (the LLM phase, ~80% of a LOSO fold): time with the frozen LLM projections
cast to bf16 once for the phase, against casting them at every matrix product (what bf16
autocast does with float32 weights), and check that both train the same weights bit for bit.

    python benchmarks/bench_stage2.py [--clips 48] [--repeats 2] [--set train.stage2_decision_epochs=1 ...]

Clips are made in code (class-dependent flow in AU regions); the default SmolLM2-135M-Instruct
with LoRA, one thread. The two variants alternate, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "model"))
from model_toys import make_clips  # noqa: E402

from deftmer.config import load_config  # noqa: E402
from deftmer.data.labels import MEGC3  # noqa: E402
from deftmer.model.deft import DeftModel  # noqa: E402
from deftmer.model.language import DeftLanguage  # noqa: E402
from deftmer.train.trainer import fit_model  # noqa: E402
from deftmer.utils.console import quiet_library_chatter  # noqa: E402

CAST_ONCE = DeftLanguage.frozen_weights_cast_once


def cast_every_product(self):
    """The baseline: leave the float32 weights in place, so autocast casts them at every use."""
    return contextlib.nullcontext()


def run(variant: str, cfg, clips) -> tuple[float, dict[str, torch.Tensor]]:
    DeftLanguage.frozen_weights_cast_once = CAST_ONCE if variant == "cast once" else cast_every_product
    model = DeftModel(cfg, MEGC3)
    stats = fit_model(model, clips)
    return float(stats["stage2_s"]), model.trained_state()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    quiet_library_chatter()
    cfg = load_config(None, ["train.stage1_epochs=1", "train.stage1_min_steps=10", *args.set])
    clips = make_clips(n_subjects=max(2, args.clips // 6), per_subject=6, size=64)[: args.clips]
    times: dict[str, list[float]] = {"cast at every product": [], "cast once": []}
    states: dict[str, dict[str, torch.Tensor]] = {}
    for _ in range(args.repeats):
        for variant in times:
            seconds, states[variant] = run(variant, cfg, clips)
            times[variant].append(seconds)
    a, b = states["cast at every product"], states["cast once"]
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base = min(times["cast at every product"])
    print(f"stage 2 of DEFT on {len(clips)} clips, SmolLM2-135M + LoRA, bf16 autocast, 1 thread\n")
    print("| frozen LLM projections | stage 2 (s), best of runs | all runs (s) | speed-up |")
    print("| --- | --- | --- | --- |")
    for variant, ts in times.items():
        print(f"| {variant} | {min(ts):.1f} | {', '.join(f'{t:.1f}' for t in ts)} | {base / min(ts):.2f}x |")
    print(f"\ntrained weights identical: {same}")


if __name__ == "__main__":
    main()
