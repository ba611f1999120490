"""Cross-fitted expert tokens for DEFT's stage 2 (``train.stage2_crossfit``).

Stage 1 leaves experts that are ~99% right on their own training clips, so an LLM trained on
those clips' expert tokens learns to copy confident experts, and meets uncertain ones at test
time. Cross-fitting (as in stacking): the training subjects are split in two halves (within
each source database, by clip count; `deftmer.data.subject_split`), a fresh copy of the
experts is trained on each half exactly as stage 1 trains, and each clip's summaries come from
the copy that never saw its subject. Stage 2 then trains the LLM on every training clip with
that honest evidence; prediction reads the experts stage 1 trained on all clips.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from deftmer.data.sample import Sample
from deftmer.data.subject_split import held_out_subjects
from deftmer.model.deft_inputs import ClipTensors
from deftmer.model.deft_net import DeftNet
from deftmer.utils.console import logger


@dataclass
class CrossFitSummaries:
    """Each training clip's expert summaries (plain and mirrored) from experts that never saw it."""

    plain: dict[str, torch.Tensor]             # {expert: (N, dim)}
    mirrored: dict[str, torch.Tensor] | None
    balanced_accuracy: float                   # the copies' own class head on the clips they scored

    def batch(self, idx: torch.Tensor, flip: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The summaries of rows ``idx``, mirrored where ``flip``."""
        out = {e: v[idx] for e, v in self.plain.items()}
        if self.mirrored is None or flip is None or not flip.any():
            return out
        return {e: torch.where(flip.to(v.device)[:, None], self.mirrored[e][idx], v) for e, v in out.items()}


def crossfit_summaries(net: DeftNet, init_state: dict[str, torch.Tensor], samples: Sequence[Sample],
                       plain: ClipTensors, mirrored: ClipTensors | None, seed: int,
                       fit: Callable[[DeftNet, torch.Tensor, int], None]) -> CrossFitSummaries | None:
    """Train two copies of ``net`` from ``init_state`` with ``fit(copy, rows, k)`` on the two
    halves of the subjects of ``samples``; summaries of each half from the other half's copy.

    None when the subjects cannot be split (one subject per database): stage 2 then reads the
    stage-1 experts. The copies train under their own random state, so the run's random stream
    (LoRA dropout in stage 2, resumed from a checkpoint) is the same with or without them.
    """
    held = held_out_subjects(samples, 0.5, seed)
    in_b = torch.tensor([s.subject in held for s in samples], dtype=torch.bool)
    if in_b.all() or not in_b.any():
        logger.info("train.stage2_crossfit: too few training subjects to split; stage 2 reads the stage-1 experts")
        return None
    dev = plain.labels.device
    in_b = in_b.to(dev)
    rows = torch.arange(len(samples), device=dev)
    out_plain: dict[str, torch.Tensor] = {}
    out_mirror: dict[str, torch.Tensor] = {}
    pred = torch.full((len(samples),), -1, dtype=torch.long, device=dev)
    for k, (fit_on, score_on) in enumerate(((~in_b, in_b), (in_b, ~in_b))):
        half = copy.deepcopy(net)
        half.load_state_dict(init_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 7919 + k)
            fit(half, rows[fit_on], k)
        half.eval()
        score = rows[score_on]
        with torch.no_grad():
            out = half(plain.select(score).feats)
            _put(out_plain, out.summaries, score, len(samples))
            pred[score] = out.class_logits.argmax(-1)
            if mirrored is not None:
                _put(out_mirror, half(mirrored.select(score).feats).summaries, score, len(samples))
    return CrossFitSummaries(out_plain, out_mirror if mirrored is not None else None,
                             _balanced_accuracy(pred, plain.labels))


def _put(into: dict[str, torch.Tensor], summaries: dict[str, torch.Tensor], rows: torch.Tensor, n: int) -> None:
    for e, v in summaries.items():
        if e not in into:
            into[e] = v.new_zeros(n, v.shape[-1])
        into[e][rows] = v


def _balanced_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-class recall (as `deftmer.model.reliability` scores its probe); unknown labels left out."""
    from sklearn.metrics import balanced_accuracy_score

    known = labels >= 0
    if not known.any():
        return float("nan")
    return float(balanced_accuracy_score(labels[known].cpu().numpy(), pred[known].cpu().numpy()))
