"""DEFT's experts, registered by name (`deftmer.model.registry.EXPERTS`) behind one interface.

* ``structure`` — StructureExpert: static structure/appearance of the onset face (apex when no onset).
* ``dynamic`` — DynamicTextureExpert: appearance change, the apex-onset difference and the dynamic image.
* ``motion`` — MotionSemanticsExpert: optical flow (u, v) and strain pooled in each AU region
  (``facs.REGIONS``), one token per region plus a learned region embedding, the flow field
  itself, and an auxiliary multi-label AU head over ``facs.MODEL_AUS`` so the region tokens
  carry AU meaning.

Every expert is an `Expert`: ``build_inputs(prepared clips) -> {name: tensor}`` makes what it
reads (the structure and dynamic-texture experts read a frozen vision backbone,
`deftmer.model.backbones`), and ``forward(inputs) -> ExpertOutput`` turns a batch of them into
tokens, a summary and, for an expert with an AU head, auxiliary AU logits. `DeftNet` builds the
experts ``model.experts`` names from the registry; a new expert is one registered subclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from deftmer.errors import UserError
from deftmer.facs import MODEL_AUS, REGION_NAMES
from deftmer.model.backbones import FrozenBackbone
from deftmer.model.config import DeftConfig
from deftmer.model.inputs import REGION_FEATURES, flow_field, region_motion_features
from deftmer.model.intensity import MOTION_COLUMNS, scale_by_max_region_magnitude
from deftmer.model.registry import EXPERTS
from deftmer.preprocess.records import PreparedSample

_STRAIN_COL = REGION_FEATURES.index("mean_strain")


@dataclass
class ExpertOutput:
    """What an expert makes of a batch."""

    tokens: torch.Tensor                     # (B, T, dim)
    summary: torch.Tensor                    # (B, dim): what the class head and the LLM projector read
    au_logits: torch.Tensor | None = None    # (B, n_aus) over MODEL_AUS, for an expert with an AU head


class Expert(nn.Module):
    """The interface of a DEFT expert (see module docstring); subclasses register with ``@EXPERTS.register``."""

    title: ClassVar[str]                     # how messages name it, e.g. "dynamic-texture"
    reads_backbone: ClassVar[bool] = False   # True: its inputs are vision backbone features

    @classmethod
    def from_config(cls, cfg: DeftConfig, backbone: FrozenBackbone) -> Expert:
        """The expert as ``cfg`` sets it up, reading ``backbone`` when it reads images."""
        raise NotImplementedError

    @classmethod
    def llm_tokens(cls, cfg: DeftConfig) -> int:
        """How many LLM tokens the expert's summary is projected to."""
        return 1

    @classmethod
    def missing_input(cls, prepared: PreparedSample) -> str | None:
        """Why this clip cannot feed the expert (e.g. "no onset frames"), or None when it can."""
        return None

    @staticmethod
    def probe_input(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The expert's raw input as (N, D), for the cross-subject probe (`deftmer.model.reliability`)."""
        raise NotImplementedError

    def build_inputs(self, preps: list[PreparedSample]) -> dict[str, torch.Tensor]:
        """The stacked inputs of these clips, by name (names are unique across experts)."""
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> ExpertOutput:
        """A batch of the inputs `build_inputs` makes -> tokens, summary, AU logits (or None)."""
        raise NotImplementedError

    def fit_statistics(self, views: list[dict[str, torch.Tensor]]) -> None:
        """Fit input statistics on the training clips' inputs (each view: the clips or their mirror)."""

    def augment(self, inputs: dict[str, torch.Tensor], gen: torch.Generator, cfg: DeftConfig) -> dict[str, torch.Tensor]:
        """A training batch's inputs as a physically valid variant (default: unchanged)."""
        return inputs


def expert_class(name: str) -> type[Expert]:
    """The expert class registered as ``name`` (one `ConfigError` naming the registered ones)."""
    return EXPERTS.get(name)


class _TokenHead(nn.Module):
    """Trained head over frozen features: Linear -> GELU -> Linear, LayerNorm on the output."""

    def __init__(self, in_dim: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x))


class _BackboneExpert(Expert):
    """An expert over frozen vision-backbone features: a trained `_TokenHead` per image token."""

    reads_backbone = True

    def __init__(self, feat_dim: int, dim: int, dropout: float = 0.1, backbone: FrozenBackbone | None = None) -> None:
        super().__init__()
        self.head = _TokenHead(feat_dim, dim, dropout)
        self.backbone = backbone

    @classmethod
    def from_config(cls, cfg: DeftConfig, backbone: FrozenBackbone) -> _BackboneExpert:
        return cls(backbone.feature_dim(), cfg.expert_dim, cfg.dropout, backbone)

    def features(self, images: list[np.ndarray], kind: str) -> torch.Tensor:
        """Backbone features (N, tokens, C) of images of one kind (see `FrozenBackbone.features`)."""
        if self.backbone is None:
            raise ValueError(f"the {self.title} expert was built without a vision backbone; use from_config")
        return self.backbone.features(images, kind)


@EXPERTS.register("structure", "the onset face (apex when no onset) through the frozen vision backbone")
class StructureExpert(_BackboneExpert):
    """Static face structure: backbone tokens of the onset (or apex) face -> (B, T, dim)."""

    title = "structure"

    @staticmethod
    def probe_input(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return inputs["face"].mean(1)

    def build_inputs(self, preps: list[PreparedSample]) -> dict[str, torch.Tensor]:
        faces = [p.onset_face if p.onset_face is not None else p.apex_face for p in preps]
        return {"face": self.features(faces, "face")}

    def forward(self, inputs: dict[str, torch.Tensor]) -> ExpertOutput:
        tokens = self.head(inputs["face"])
        return ExpertOutput(tokens, tokens.mean(1))


@EXPERTS.register("dynamic", "the apex-onset difference and the dynamic image through the frozen vision backbone")
class DynamicTextureExpert(_BackboneExpert):
    """Appearance change: tokens of the difference image and of the dynamic image -> (B, 2T, dim)."""

    title = "dynamic-texture"

    def __init__(self, feat_dim: int, dim: int, dropout: float = 0.1, backbone: FrozenBackbone | None = None) -> None:
        super().__init__(feat_dim, dim, dropout, backbone)
        self.source_embed = nn.Parameter(torch.zeros(2, dim))  # which image a token came from

    @classmethod
    def missing_input(cls, prepared: PreparedSample) -> str | None:
        if prepared.diff is None or prepared.dynamic is None:
            return "no onset frames (no difference/dynamic image, e.g. a flowpack dataset)"
        return None

    @staticmethod
    def probe_input(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([inputs["diff"].mean(1), inputs["dynamic"].mean(1)], -1)

    def build_inputs(self, preps: list[PreparedSample]) -> dict[str, torch.Tensor]:
        missing = [p.sample_id for p in preps if self.missing_input(p)]
        if missing:
            raise UserError(f"{len(missing)} clips (e.g. {missing[0]}) have no difference/dynamic image but this "
                            "model was trained with the dynamic-texture expert; prepare them with onset frames "
                            "or train without it in model.experts")
        return {"diff": self.features([p.diff for p in preps], "diff"),
                "dynamic": self.features([p.dynamic for p in preps], "dynamic")}

    def forward(self, inputs: dict[str, torch.Tensor]) -> ExpertOutput:
        d = self.head(inputs["diff"]) + self.source_embed[0]
        y = self.head(inputs["dynamic"]) + self.source_embed[1]
        tokens = torch.cat([d, y], dim=1)
        return ExpertOutput(tokens, tokens.mean(1))


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


@EXPERTS.register("motion", "flow and strain per AU region and the flow field, with an auxiliary AU head")
class MotionSemanticsExpert(Expert):
    """Flow read region by region and as a field: region tokens, field tokens, an AU head.

    Region features are standardised with statistics of the training clips (buffers, saved
    with the weights; `fit_statistics`), since flow magnitudes differ by orders of magnitude
    between datasets, and also given relative to the clip's strongest region
    (`scale_by_max_region_magnitude`). With ``field_size`` set, the u/v/strain field is read
    by a `FlowFieldEncoder` beside them.
    """

    title = "motion-semantics"

    def __init__(self, dim: int, n_regions: int = len(REGION_NAMES), n_feats: int = len(REGION_FEATURES),
                 n_aus: int = len(MODEL_AUS), dropout: float = 0.1, field_size: int | None = 28,
                 field_channels: tuple[int, ...] = (6, 10, 16), field_dropout: float = 0.5,
                 field_only_summary: bool = False, field_scale: str = "p99") -> None:
        super().__init__()
        if field_only_summary and not field_size:
            raise UserError("model.motion_field_only_summary needs model.motion_field_size (the field it reads)")
        self.reads_regions = not field_only_summary
        self.register_buffer("feat_mean", torch.zeros(n_regions, n_feats))
        self.register_buffer("feat_std", torch.ones(n_regions, n_feats))
        if self.reads_regions:
            self._build_region_reader(dim, n_regions, n_feats, dropout)
        self.field = FlowFieldEncoder(dim, field_size, field_channels, field_dropout) if field_size else None
        self.summary_norm = nn.LayerNorm(dim)
        self.au_head = nn.Linear(dim, n_aus)
        self.n_regions = n_regions
        self.field_size = field_size
        self.field_scale = field_scale
        if self.reads_regions:
            nn.init.normal_(self.region_embed.weight, std=0.5)

    def _build_region_reader(self, dim: int, n_regions: int, n_feats: int, dropout: float) -> None:
        """One token per AU region (+ a learned region embedding), mixed by a transformer layer."""
        self.encode = nn.Sequential(nn.Linear(2 * n_feats, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.region_embed = nn.Embedding(n_regions, dim)
        self.mix = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=dim * 2, dropout=dropout,
                                              batch_first=True)
        self.norm = nn.LayerNorm(dim)
        # WHERE the face moved is the message: the readout keeps region identity (a mean over
        # regions could not tell raised brows from raised lip corners).
        self.readout = nn.Sequential(nn.Linear(n_regions * dim, dim), nn.GELU())

    @classmethod
    def from_config(cls, cfg: DeftConfig, backbone: FrozenBackbone) -> MotionSemanticsExpert:
        return cls(cfg.expert_dim, dropout=cfg.dropout, field_size=cfg.motion_field_size,
                   field_channels=tuple(cfg.motion_field_channels), field_dropout=cfg.motion_field_dropout,
                   field_only_summary=cfg.motion_field_only_summary, field_scale=cfg.motion_field_scale)

    @classmethod
    def llm_tokens(cls, cfg: DeftConfig) -> int:
        return cfg.motion_llm_tokens  # motion carries the class: more tokens

    @staticmethod
    def probe_input(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        m = inputs["motion"]
        return torch.cat([m, scale_by_max_region_magnitude(m)], -1).flatten(1)

    def build_inputs(self, preps: list[PreparedSample]) -> dict[str, torch.Tensor]:
        """``motion``: region statistics (N, R, F); ``field``: the flow field (N, 3, S, S) when read."""
        out = {"motion": torch.from_numpy(np.stack([region_motion_features(p.flow, p.strain, p.roi_masks)
                                                    for p in preps]))}
        if out["motion"].shape[1:] != (self.n_regions, len(REGION_FEATURES)):
            raise UserError(f"prepared clips have {out['motion'].shape[1]} ROI masks, the model expects "
                            f"{self.n_regions} (facs.REGIONS); re-run `deftmer prepare`")
        if self.field_size:
            out["field"] = torch.from_numpy(np.stack([flow_field(p, self.field_size, self.field_scale)
                                                  for p in preps]))
        return out

    def set_normalisation(self, feats: torch.Tensor) -> None:
        """Fit the standardisation on training features (N, R, F)."""
        self.feat_mean.copy_(feats.mean(0))
        self.feat_std.copy_(feats.std(0).clamp_min(1e-4))

    def fit_statistics(self, views: list[dict[str, torch.Tensor]]) -> None:
        self.set_normalisation(torch.cat([v["motion"] for v in views]))

    def augment(self, inputs: dict[str, torch.Tensor], gen: torch.Generator, cfg: DeftConfig) -> dict[str, torch.Tensor]:
        """The same motion a bit stronger or weaker (``model.intensity_jitter``): flow columns and
        strain each scaled by a log-normal factor per clip, like a mirror image a valid variant."""
        sigma = cfg.intensity_jitter
        if sigma <= 0:
            return inputs
        x = inputs["motion"]
        scale = torch.exp(torch.randn(x.shape[0], 2, generator=gen) * sigma).to(x.device)
        x = x.clone()
        x[..., MOTION_COLUMNS] = x[..., MOTION_COLUMNS] * scale[:, :1, None]
        x[..., _STRAIN_COL] = x[..., _STRAIN_COL] * scale[:, 1:]
        return {**inputs, "motion": x}

    def forward(self, inputs: dict[str, torch.Tensor]) -> ExpertOutput:
        """``motion`` (B, R, F) [+ ``field`` (B, 3, S, S)] -> tokens (B, R [+ grid], dim), summary, AU logits."""
        region_feats, field = inputs["motion"], inputs.get("field")
        tokens = summary = None
        if self.reads_regions:
            x = torch.cat([(region_feats - self.feat_mean) / self.feat_std,
                           scale_by_max_region_magnitude(region_feats)], -1)
            ids = torch.arange(x.shape[1], device=x.device)
            tokens = self.norm(self.mix(self.encode(x) + self.region_embed(ids)))
            summary = self.readout(tokens.flatten(1))
        if self.field is not None:
            if field is None:
                raise ValueError("this motion expert reads the flow field; pass it")
            field_tokens, field_summary = self.field(field)
            tokens = field_tokens if tokens is None else torch.cat([tokens, field_tokens], 1)
            summary = field_summary if summary is None else summary + field_summary
        summary = self.summary_norm(summary)
        return ExpertOutput(tokens, summary, self.au_head(summary))
