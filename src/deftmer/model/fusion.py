"""Fusion of the experts: projectors into the LLM's embedding space and the disentanglement loss.

Each expert gets its own MLP projector (LLaVA style) plus an expert-type embedding, so the LLM
can tell a structure token from a motion token. The disentanglement loss keeps the experts'
pooled features statistically apart, so each expert carries what the others do not.
"""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """An expert's summary (dim) -> ``tokens`` LLM embeddings (tokens, hidden): Linear -> GELU -> Linear."""

    def __init__(self, in_dim: int, hidden: int, tokens: int = 1) -> None:
        super().__init__()
        self.tokens, self.hidden = tokens, hidden
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden * tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], self.tokens, self.hidden)


class ExpertFusion(nn.Module):
    """Project each active expert's summary into a few LLM tokens, tagged by expert type.

    The summary is what the expert's own heads read (its pooled feature, weighted by the
    expert's cross-subject reliability), so the LLM receives exactly the evidence the experts
    extracted, in a handful of tokens: on CPU every token costs a pass through the LLM.
    ``embed_scale`` matches the projected tokens to the norm of the LLM's word embeddings, so
    expert tokens start at a scale the pretrained LLM is used to.
    """

    def __init__(self, experts: list[str], dim: int, hidden: int, embed_scale: float = 1.0,
                 tokens: dict[str, int] | None = None) -> None:
        super().__init__()
        self.experts = list(experts)
        tokens = tokens or {}
        self.projectors = nn.ModuleDict({e: Projector(dim, hidden, tokens.get(e, 1)) for e in self.experts})
        self.type_embed = nn.Embedding(len(self.experts), hidden)
        nn.init.normal_(self.type_embed.weight, std=0.02)
        self.embed_scale = embed_scale

    @property
    def n_tokens(self) -> int:
        return sum(p.tokens for p in self.projectors.values())

    def forward(self, summaries: dict[str, torch.Tensor]) -> torch.Tensor:
        """{expert: (B, dim)} -> (B, n_tokens, hidden) in the fixed expert order."""
        out = []
        for i, e in enumerate(self.experts):
            p = self.projectors[e](summaries[e])
            p = p / (p.norm(dim=-1, keepdim=True) + 1e-6) * self.embed_scale
            out.append(p + self.type_embed.weight[i])
        return torch.cat(out, dim=1)


def disentanglement_loss(pooled: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared cross-correlation between every pair of experts' pooled features (B, D_e).

    Each feature is centred and scaled over the batch; the loss is 0 when the experts'
    features are uncorrelated (orthogonal after centring) and grows with shared directions.
    With fewer than two experts or a batch of one there is nothing to separate: 0.
    """
    if len(pooled) < 2 or pooled[0].shape[0] < 2:
        return pooled[0].new_zeros(()) if pooled else torch.zeros(())
    z = [(p - p.mean(0)) / (p.std(0, unbiased=False) + 1e-5) for p in pooled]
    n = z[0].shape[0]
    total, pairs = z[0].new_zeros(()), 0
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            c = z[i].T @ z[j] / n          # (D_i, D_j) cross-correlation
            total = total + (c ** 2).mean()
            pairs += 1
    return total / pairs


class ClassHead(nn.Module):
    """Discriminative head on the fused (concatenated pooled) expert features."""

    def __init__(self, in_dim: int, n_classes: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
