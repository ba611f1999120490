"""Grounded Evidence for DEFT's explanations: which AUs the answer may name, and in what words.

What is grounded by design and what the LLM writes (`deftmer.model.deft_explain`):

* **Emotion** — the class the model decided (classification head and/or option scoring).
* **Evidence** — NOT free text. Candidate AUs come from the motion expert's auxiliary AU head
  (sigmoid >= ``model.evidence_au_threshold``, at most ``model.evidence_max_aus``); each one's
  side is read from the measured left/right region motion of THIS clip, and it is kept only
  when the Uni-MER dual constraint (`deftmer.unimer.constraints.au_verdict`) calls it
  "supported" by this clip's optical flow. Its wording comes from `deftmer.unimer.describe`,
  i.e. from the measured direction and strength of its regions. Without a motion expert (an
  ablation), or when none of the AU head's candidates is supported, the evidence is the AUs the
  flow alone supports (`infer_aus`), written "motion consistent with AUn", so the answer never
  says that no AU is supported while the flow supports one.
* **Reasoning** — written by the LLM, greedy, continuing the assistant turn after the fixed
  "Emotion: ... / Evidence: ... / Reasoning:" prefix, so it is conditioned on the expert tokens,
  the decided class and the grounded evidence. It is the only free text, and it is not checked.

The test clip's AU labels are never read here: only its flow and the model's own AU head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deftmer.data.sample import ActionUnit
from deftmer.facs import AUS, MODEL_AUS, expected_motions
from deftmer.preprocess.records import PreparedSample
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.constraints import au_verdict, infer_aus
from deftmer.unimer.describe import EvidenceItem, describe_au
from deftmer.unimer.motion import region_stats
from deftmer.unimer.records import AUVerdict, RegionMotionStats


def _lateral(number: int) -> bool:
    return any(r.endswith(("_L", "_R")) for r, *_ in expected_motions(ActionUnit(number)))


def sided_verdict(number: int, stats: list[RegionMotionStats], cfg: UnimerConfig) -> AUVerdict | None:
    """The AU on the side(s) where this clip's flow supports it; None when no side does.

    Both sides supported -> bilateral ("AU12"); one side -> that side ("LAU12", the subject's
    left); an AU without left/right regions is checked as a whole.
    """
    info = AUS.get(number)
    if info is None or not info.local:
        return None
    if not _lateral(number):
        v = au_verdict(ActionUnit(number), stats, cfg)
        return v if v is not None and v.verdict == "supported" else None
    sides = [s for s in ("L", "R")
             if (v := au_verdict(ActionUnit(number, s), stats, cfg)) is not None and v.verdict == "supported"]
    if not sides:
        return None
    return au_verdict(ActionUnit(number, sides[0] if len(sides) == 1 else None), stats, cfg)


def grounded_evidence(prepared: PreparedSample, au_probs: Sequence[float] | None, cfg: UnimerConfig,
                      threshold: float = 0.5, max_aus: int = 3) -> list[EvidenceItem]:
    """Evidence items for one clip: AU-head candidates that its flow supports, described from the flow.

    ``au_probs`` follows ``facs.MODEL_AUS``. With None (no motion expert), or when no candidate
    of the AU head is supported, the items are the AUs the flow alone supports, marked inferred.
    """
    stats = region_stats(prepared)
    if au_probs is None:
        return _inferred(stats, cfg, max_aus)
    probs = np.asarray(au_probs, dtype=float)
    order = [i for i in np.argsort(-probs, kind="stable") if probs[i] >= threshold]
    items: list[EvidenceItem] = []
    for i in order:
        v = sided_verdict(MODEL_AUS[i], stats, cfg)
        if v is not None:
            items.append(describe_au(v, stats, cfg))
        if len(items) >= max_aus:
            break
    return items or _inferred(stats, cfg, max_aus)


def _inferred(stats: list[RegionMotionStats], cfg: UnimerConfig, max_aus: int) -> list[EvidenceItem]:
    return [describe_au(v, stats, cfg, inferred=True) for v in infer_aus(stats, cfg)[:max_aus]]
