"""DEFT's trained network: the experts (built by name), their class head, the projectors into
the LLM and the LLM's class head. LoRA lives with the LLM (`deftmer.model.language`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deftmer.model.backbones import FrozenBackbone
from deftmer.model.config import DeftConfig
from deftmer.model.experts import Expert, expert_class
from deftmer.model.fusion import ClassHead, ExpertFusion
from deftmer.preprocess.records import PreparedSample


@dataclass
class NetOutput:
    summaries: dict[str, torch.Tensor]   # one (B, dim) per active expert, weighted by its gate
    pooled: list[torch.Tensor]           # the same, unweighted, for disentanglement
    class_logits: torch.Tensor           # (B, n_classes) of the experts' own linear head
    au_logits: torch.Tensor | None       # (B, n_aus): the AU head of the expert that has one (mean if several)


class DeftNet(nn.Module):
    """Every trained module except LoRA: experts, their class head, projectors, the LLM class head.

    ``experts`` are built from the expert registry in the order given (their tokens reach the
    LLM in that order); ``llm_hidden`` None: no LLM, so no projectors and no LLM class head.
    """

    def __init__(self, experts: list[str], cfg: DeftConfig, backbone: FrozenBackbone, n_classes: int,
                 llm_hidden: int | None, embed_scale: float) -> None:
        super().__init__()
        dim = cfg.expert_dim
        self.experts = list(experts)
        # each expert's weight (see model.reliability); 1 = untouched
        self.register_buffer("expert_gate", torch.ones(len(self.experts)))
        self.expert_modules = nn.ModuleDict({e: expert_class(e).from_config(cfg, backbone) for e in self.experts})
        self.class_head = ClassHead(dim * len(experts), n_classes, dropout=0.2)
        self.fusion = None
        self.decision_head = None
        if llm_hidden:
            if cfg.llm_input == "experts":
                tokens = {e: expert_class(e).llm_tokens(cfg) for e in self.experts}
                self.fusion = ExpertFusion(self.experts, dim, llm_hidden, embed_scale, tokens)
            self.decision_head = nn.Sequential(nn.LayerNorm(llm_hidden), nn.Dropout(0.1),
                                               nn.Linear(llm_hidden, n_classes))

    def expert(self, name: str) -> Expert:
        return self.expert_modules[name]

    def build_inputs(self, preps: list[PreparedSample]) -> dict[str, torch.Tensor]:
        """Every expert's inputs for these clips, in one dict (see `Expert.build_inputs`)."""
        feats: dict[str, torch.Tensor] = {}
        for e in self.experts:
            feats.update(self.expert(e).build_inputs(preps))
        return feats

    def fit_statistics(self, views: list[dict[str, torch.Tensor]]) -> None:
        """Let each expert fit its input statistics on the training inputs (plain and mirrored)."""
        for e in self.experts:
            self.expert(e).fit_statistics(views)

    def augment(self, feats: dict[str, torch.Tensor], gen: torch.Generator, cfg: DeftConfig) -> dict[str, torch.Tensor]:
        """A training batch's inputs with each expert's augmentation applied, in expert order."""
        for e in self.experts:
            feats = self.expert(e).augment(feats, gen, cfg)
        return feats

    def forward(self, feats: dict[str, torch.Tensor]) -> NetOutput:
        outs = [self.expert(e)(feats) for e in self.experts]
        plain = [o.summary for o in outs]
        gated = {e: o.summary * self.expert_gate[i] for i, (e, o) in enumerate(zip(self.experts, outs))}
        logits = self.class_head(torch.cat([gated[e] for e in self.experts], -1))
        au = [o.au_logits for o in outs if o.au_logits is not None]
        au_logits = None if not au else au[0] if len(au) == 1 else torch.stack(au).mean(0)
        return NetOutput(gated, plain, logits, au_logits)
