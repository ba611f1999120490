"""The three DEFT experts.

* StructureExpert — static structure/appearance of the onset face (apex when no onset).
* DynamicTextureExpert — appearance change: the apex-onset difference and the dynamic image.
* MotionSemanticsExpert — optical flow (u, v) and strain pooled in each AU region
  (``facs.REGIONS``), one token per region plus a learned region embedding, and an auxiliary
  multi-label AU head over ``facs.MODEL_AUS`` so the region tokens carry AU meaning.

The structure and dynamic-texture experts read a frozen vision backbone (`deftmer.model.backbones`).
"""

from __future__ import annotations

import torch
from torch import nn

from deftmer.facs import MODEL_AUS, REGION_NAMES
from deftmer.model.inputs import REGION_FEATURES
from deftmer.model.intensity import scale_by_max_region_magnitude


class _TokenHead(nn.Module):
    """Trained head over frozen features: Linear -> GELU -> Linear, LayerNorm on the output."""

    def __init__(self, in_dim: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x))


class StructureExpert(nn.Module):
    """Static face structure: backbone tokens of the onset (or apex) face -> (B, T, dim)."""

    def __init__(self, feat_dim: int, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.head = _TokenHead(feat_dim, dim, dropout)

    def forward(self, face_feats: torch.Tensor) -> torch.Tensor:
        return self.head(face_feats)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(1)


class DynamicTextureExpert(nn.Module):
    """Appearance change: tokens of the difference image and of the dynamic image -> (B, 2T, dim)."""

    def __init__(self, feat_dim: int, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.head = _TokenHead(feat_dim, dim, dropout)
        self.source_embed = nn.Parameter(torch.zeros(2, dim))  # which image a token came from

    def forward(self, diff_feats: torch.Tensor, dyn_feats: torch.Tensor) -> torch.Tensor:
        d = self.head(diff_feats) + self.source_embed[0]
        y = self.head(dyn_feats) + self.source_embed[1]
        return torch.cat([d, y], dim=1)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(1)


class FlowFieldEncoder(nn.Module):
    """The flow field read as STSTNet does: parallel 3x3 conv branches over (u, v, strain).

    Shallow on purpose: a few hundred training clips support a handful of filters, not a deep
    network (deeper CNNs did worse on real micro-expressions). Each branch is conv -> ReLU ->
    BatchNorm -> 3x3 max-pool; the concatenated maps are average-pooled to a small grid whose
    cells become field tokens, and a linear readout over the whole grid keeps where each
    pattern sits on the face.
    """

    def __init__(self, dim: int, size: int = 28, channels: tuple[int, ...] = (6, 10, 16),
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c), nn.MaxPool2d(3, 3, padding=1))
            for c in channels)
        self.pool = nn.AvgPool2d(2, 2)
        side = ((size + 2 - 3) // 3 + 1) // 2
        width = sum(channels)
        self.grid = side * side
        self.token = nn.Linear(width, dim)
        self.position = nn.Parameter(torch.zeros(self.grid, dim))
        self.readout = nn.Sequential(nn.Dropout(dropout), nn.Linear(width * self.grid, dim), nn.GELU())

    def forward(self, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) -> field tokens (B, grid, dim) and the field summary (B, dim)."""
        maps = self.pool(torch.cat([b(field) for b in self.branches], 1))      # (B, C, side, side)
        cells = maps.flatten(2).transpose(1, 2)                                 # (B, grid, C)
        return self.token(cells) + self.position, self.readout(maps.flatten(1))


class MotionSemanticsExpert(nn.Module):
    """Flow read region by region and as a field: region tokens, field tokens, an AU head.

    Region features are standardised with statistics of the training clips (buffers, saved
    with the weights), since flow magnitudes differ by orders of magnitude between datasets,
    and also given relative to the clip's strongest region (`scale_by_max_region_magnitude`). With
    ``field_size`` set, the u/v/strain field is read by a `FlowFieldEncoder` beside them.
    """

    def __init__(self, dim: int, n_regions: int = len(REGION_NAMES), n_feats: int = len(REGION_FEATURES),
                 n_aus: int = len(MODEL_AUS), dropout: float = 0.1, field_size: int | None = 28,
                 field_channels: tuple[int, ...] = (6, 10, 16), field_dropout: float = 0.5) -> None:
        super().__init__()
        self.register_buffer("feat_mean", torch.zeros(n_regions, n_feats))
        self.register_buffer("feat_std", torch.ones(n_regions, n_feats))
        self.encode = nn.Sequential(nn.Linear(2 * n_feats, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.region_embed = nn.Embedding(n_regions, dim)
        self.mix = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=dim * 2, dropout=dropout,
                                              batch_first=True)
        self.norm = nn.LayerNorm(dim)
        # WHERE the face moved is the message: the readout keeps region identity (a mean over
        # regions could not tell raised brows from raised lip corners).
        self.readout = nn.Sequential(nn.Linear(n_regions * dim, dim), nn.GELU())
        self.field = FlowFieldEncoder(dim, field_size, field_channels, field_dropout) if field_size else None
        self.summary_norm = nn.LayerNorm(dim)
        self.au_head = nn.Linear(dim, n_aus)
        self.n_regions = n_regions
        nn.init.normal_(self.region_embed.weight, std=0.5)

    def set_normalisation(self, feats: torch.Tensor) -> None:
        """Fit the standardisation on training features (N, R, F)."""
        self.feat_mean.copy_(feats.mean(0))
        self.feat_std.copy_(feats.std(0).clamp_min(1e-4))

    def forward(self, region_feats: torch.Tensor, field: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, R, F) [+ (B, 3, S, S)] -> tokens (B, R [+ grid], dim), summary (B, dim), AU logits."""
        x = torch.cat([(region_feats - self.feat_mean) / self.feat_std, scale_by_max_region_magnitude(region_feats)], -1)
        ids = torch.arange(x.shape[1], device=x.device)
        tokens = self.norm(self.mix(self.encode(x) + self.region_embed(ids)))
        summary = self.readout(tokens.flatten(1))
        if self.field is not None:
            if field is None:
                raise ValueError("this motion expert reads the flow field; pass it")
            field_tokens, field_summary = self.field(field)
            tokens = torch.cat([tokens, field_tokens], 1)
            summary = summary + field_summary
        summary = self.summary_norm(summary)
        return tokens, summary, self.au_head(summary)
