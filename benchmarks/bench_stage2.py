"""Stage 2 of DEFT (the LLM phase, ~80% of a LOSO fold): what the two CPU speed-ups of the LLM pass buy.

1. the frozen LLM projections cast to bf16 once for the phase, against casting them at every
   matrix product (what bf16 autocast does with float32 weights): must train the same weights
   bit for bit;
2. eager attention (``model.llm_attention=eager``, what ``auto`` picks on CPU) against PyTorch's
   fused sdpa kernel, whose CPU backward pass is slow for short rows: the same attention up to
   float rounding, so the weights differ by rounding only (the table gives the largest difference).

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


#: variant -> (frozen projections cast once?, attention)
VARIANTS = {"sdpa, cast at every product": (False, "sdpa"), "sdpa, cast once": (True, "sdpa"),
            "eager, cast once (the CPU default)": (True, "eager")}


def run(variant: str, cfg, clips) -> tuple[float, dict[str, torch.Tensor]]:
    cast_once, attention = VARIANTS[variant]
    DeftLanguage.frozen_weights_cast_once = CAST_ONCE if cast_once else cast_every_product
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"llm_attention": attention})})
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
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    states: dict[str, dict[str, torch.Tensor]] = {}
    for _ in range(args.repeats):
        for variant in times:
            seconds, states[variant] = run(variant, cfg, clips)
            times[variant].append(seconds)
    a, b, c = (states[v] for v in VARIANTS)
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rounding = max(float((b[k].float() - c[k].float()).abs().max()) for k in b if b[k].is_floating_point())
    base = min(times["sdpa, cast at every product"])
    print(f"stage 2 of DEFT on {len(clips)} clips, SmolLM2-135M + LoRA, bf16 autocast, 1 thread\n")
    print("| attention, frozen LLM projections | stage 2 (s), best of runs | all runs (s) | speed-up |")
    print("| --- | --- | --- | --- |")
    for variant, ts in times.items():
        print(f"| {variant} | {min(ts):.1f} | {', '.join(f'{t:.1f}' for t in ts)} | {base / min(ts):.2f}x |")
    print(f"\ncast once vs at every product, trained weights identical: {same}")
    print(f"eager vs sdpa attention, largest difference of a trained weight: {rounding:.2e}")


if __name__ == "__main__":
    main()
