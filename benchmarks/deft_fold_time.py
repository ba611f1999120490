"""Time LOSO folds of the default DEFT model at MEGC-2019 scale (435 train + 7 test clips).

Clips are made in code (class-dependent flow in AU regions, 224x224 images): the first fold also pays the
one-time backbone feature extraction (cached for later folds). This measures where
the time of `fit`/`predict` goes with the real EfficientNet-Lite0 and SmolLM2-135M, not accuracy.
    python benchmarks/deft_fold_time.py [--explain] [--set model.llm_layers=8 ...]
``--explain`` times predict with explanations (grounded evidence + LLM-written reasoning).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "model"))
from model_toys import make_clips  # noqa: E402

from deftmer.config import load_config  # noqa: E402
from deftmer.data.labels import MEGC3  # noqa: E402
from deftmer.model.deft import DeftModel  # noqa: E402
from deftmer.train.trainer import fit_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--subjects", type=int, default=68)
    ap.add_argument("--per-subject", type=int, default=6)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--explain", action="store_true", help="predict with explain=True")
    args = ap.parse_args()
    cfg = load_config(None, args.set)
    clips = make_clips(n_subjects=args.subjects, per_subject=args.per_subject + 1, size=224)[:442]
    subjects = sorted({c.sample.subject for c in clips})
    rows = []
    for fold in subjects[: args.folds]:
        train = [c for c in clips if c.sample.subject != fold]
        test = [c for c in clips if c.sample.subject == fold]
        t0 = time.perf_counter()
        model = DeftModel(cfg, MEGC3)
        stats = fit_model(model, train)
        t1 = time.perf_counter()
        model.predict(test, explain=args.explain)
        t2 = time.perf_counter()
        rows.append({"fold": fold, "n_train": len(train), "fit_s": round(t1 - t0, 2), "predict_s": round(t2 - t1, 2),
                     **{k: v for k, v in stats.items() if k.endswith("_s") or k == "n_records" or k.startswith("gate/")}})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
