"""DEFT's inputs: which experts the clips can feed, and the clips' stacked inputs and targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deftmer.data.labels import ClassSet
from deftmer.errors import UserError
from deftmer.facs import MODEL_AUS
from deftmer.model.config import DeftConfig
from deftmer.model.deft_net import DeftNet
from deftmer.model.experts import expert_class
from deftmer.preprocess.records import ClipInputs
from deftmer.utils.console import logger

_AU_INDEX = {n: i for i, n in enumerate(MODEL_AUS)}


@dataclass
class ClipTensors:
    """Model inputs of a list of clips, stacked: the experts' inputs and the targets."""

    feats: dict[str, torch.Tensor]   # every expert's inputs by name, e.g. "face" (N,T,C), "motion" (N,R,F)
    labels: torch.Tensor             # (N,) class index, -1 when unknown
    au_targets: torch.Tensor         # (N, n_aus) multi-hot over MODEL_AUS
    au_mask: torch.Tensor            # (N,) 1 where the clip has AU annotations

    def select(self, idx: torch.Tensor) -> ClipTensors:
        return ClipTensors({k: v[idx] for k, v in self.feats.items()}, self.labels[idx],
                           self.au_targets[idx], self.au_mask[idx])

    def to(self, device: torch.device) -> ClipTensors:
        return ClipTensors({k: v.to(device) for k, v in self.feats.items()}, self.labels.to(device),
                           self.au_targets.to(device), self.au_mask.to(device))


@dataclass
class Mixup:
    """Stage 1's mixup of a batch: the clip each row is blended with and the row's own share."""

    partner: torch.Tensor   # (N,) row index of the other clip
    share: torch.Tensor     # (N,) weight of the row's own clip, in [0, 1]

    @staticmethod
    def draw(n: int, gen: torch.Generator, alpha: float) -> Mixup | None:
        """Partners and shares for ``n`` rows (shares ~ Beta(alpha, alpha)) from ``gen``; None when off,
        drawing nothing, so a run without mixup keeps its random stream."""
        if alpha <= 0:
            return None
        partner = torch.randperm(n, generator=gen)
        rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        return Mixup(partner, torch.from_numpy(rng.beta(alpha, alpha, n)).float())

    def blend(self, x: torch.Tensor) -> torch.Tensor:
        """``share * x + (1 - share) * x[partner]`` row by row."""
        w = self.share.to(x.device).view(-1, *([1] * (x.dim() - 1)))
        return w * x + (1 - w) * x[self.partner.to(x.device)]

    def both(self, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` kept only on rows whose partner has it too (a blend needs both clips' targets)."""
        return mask * mask[self.partner.to(mask.device)]

    def inputs(self, batch: ClipTensors) -> ClipTensors:
        """The batch with every expert input blended; targets are blended by the losses."""
        return ClipTensors({k: self.blend(v) for k, v in batch.feats.items()}, batch.labels,
                           batch.au_targets, batch.au_mask)


def active_experts(cfg: DeftConfig, clips: list[ClipInputs]) -> list[str]:
    """The configured experts whose inputs every clip has; says which were dropped and why."""
    wanted = list(cfg.experts)
    if not wanted:
        raise UserError("every expert is switched off (model.experts is empty); name at least one")
    for name in list(wanted):
        cls = expert_class(name)
        reason = next((r for c in clips if (r := cls.missing_input(c.prepared))), None)
        if reason is None:
            continue
        if wanted == [name]:
            raise UserError(f"{reason}, so no {cls.title} input, and the {cls.title} expert is the only one "
                            "switched on; add another expert to model.experts (e.g. model.experts=[structure,motion])")
        logger.info("%s expert left out: some clips have %s", cls.title, reason)
        wanted.remove(name)
    return wanted


def clip_tensors(net: DeftNet, clips: list[ClipInputs], class_set: ClassSet) -> ClipTensors:
    """The experts' stacked inputs of ``clips`` (frozen features come from the content cache),
    their class indices and their AU targets."""
    feats = net.build_inputs([c.prepared for c in clips])
    labels = torch.tensor([class_set.index(c.sample.label) if c.sample.label in class_set.classes
                           else -1 for c in clips], dtype=torch.long)
    au_t = torch.zeros(len(clips), len(MODEL_AUS))
    au_m = torch.zeros(len(clips))
    for i, c in enumerate(clips):
        if c.sample.aus:
            au_m[i] = 1.0
            for a in c.sample.aus:
                if a.number in _AU_INDEX and not a.alternative:
                    au_t[i, _AU_INDEX[a.number]] = 1.0
    return ClipTensors(feats, labels, au_t, au_m)
