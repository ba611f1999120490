"""HTNet (Wang et al., "HTNet for micro-expression recognition", Neurocomputing 2024) on our folds.

The published recipe, as its public code does it: the 28 x 28 (u, v, strain) flow map; four
14 x 14 crops centred on the subject's eyes and lip corners (five MTCNN landmarks on the apex
face at 28 px, clipped to [7, 21]); the crops tiled as a 2 x 2 mosaic [eye | eye ; lip | lip]
(28 x 28); a hierarchical (nested) transformer over 7 x 7 patches: three levels with block
repeats (2, 2, 10), width 256 doubling per level, 3 heads doubling per level, conv + LayerNorm +
max-pool aggregation between levels, mean-pooled linear head.

Two departures, both stated: the landmarks are MediaPipe's (the same ones our AU regions use;
MTCNN weights cannot be downloaded here), indexed row = y, column = x (the public script indexes
the flow map with x as the row); and the schedule is fixed (``baselines.htnet``: epochs, lr), where
the public script keeps each subject's best test epoch, i.e. selects on the test subject.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deftmer.baselines.common import (
    load_net_weights,
    read_card,
    save_net,
    softmax,
    to_predictions,
    train_flow_net,
    training_labels,
)
from deftmer.baselines.config import HTNetConfig
from deftmer.data.labels import ClassSet
from deftmer.model.api import Prediction, RunConfig, register_model
from deftmer.model.inputs import mirror_field, resize_field
from deftmer.preprocess.records import ClipInputs, PreparedSample

if TYPE_CHECKING:
    import torch

NAME = "htnet"
WEIGHTS = "model.safetensors"
#: MediaPipe indices of the four crop centres, in mosaic order: image-left eye, image-right eye,
#: image-left lip corner, image-right lip corner (eye centre = mean of its two corners)
_EYES = ((33, 133), (362, 263))
_LIPS = (61, 291)
_SIDE, _HALF = 28, 7


def crop_centres(prepared: PreparedSample) -> np.ndarray:
    """(4, 2) crop centres (x, y) in 28 px map coordinates, clipped to [7, 21] as HTNet does."""
    if prepared.landmarks is None or len(prepared.landmarks) < 468:
        # the public script's fallback: MTCNN's mean five-point layout at 28 px
        pts = np.array([[9.53, 11.06], [21.40, 10.92], [10.26, 22.12], [20.58, 22.26]])
    else:
        lm = np.asarray(prepared.landmarks, np.float64) * (_SIDE / prepared.flow.shape[-1])
        pts = np.stack([lm[list(_EYES[0])].mean(0), lm[list(_EYES[1])].mean(0), lm[_LIPS[0]], lm[_LIPS[1]]])
    return np.clip(np.rint(pts), _HALF, _SIDE - _HALF).astype(int)


def htnet_input(prepared: PreparedSample) -> np.ndarray:
    """(3, 28, 28): the four 14 x 14 flow crops tiled [eye | eye ; lip | lip]."""
    field = resize_field(prepared.flow, prepared.strain, _SIDE)
    crops = [field[:, y - _HALF:y + _HALF, x - _HALF:x + _HALF] for x, y in crop_centres(prepared)]
    top, bottom = np.concatenate(crops[:2], axis=2), np.concatenate(crops[2:], axis=2)
    return np.concatenate([top, bottom], axis=1).astype(np.float32)


def _htnet_layers() -> tuple[type, type, type]:
    """HTNet's building blocks (ChannelNorm, Attention, FeedForward), defined once torch is loaded."""
    import torch
    from torch import nn

    class ChannelNorm(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
            self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

        def forward(self, x):
            var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
            return (x - mean) / (var + 1e-5).sqrt() * self.g + self.b

    class Attention(nn.Module):
        """Pre-norm multi-head self-attention over (B, N, C) tokens (HTNet's 1x1-conv attention)."""

        def __init__(self, dim: int, heads: int, dropout: float) -> None:
            super().__init__()
            inner = (dim // heads) * heads
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.norm, self.qkv = nn.LayerNorm(dim), nn.Linear(dim, inner * 3, bias=False)
            self.out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(self.norm(x)).chunk(3, -1))
            att = torch.softmax(q @ k.transpose(-1, -2) * self.scale, -1)
            return x + self.out((att @ v).transpose(1, 2).reshape(b, n, -1))

    class FeedForward(nn.Module):
        def __init__(self, dim: int, mult: int, dropout: float) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(dim * mult, dim), nn.Dropout(dropout))

        def forward(self, x):
            return x + self.net(x)

    return ChannelNorm, Attention, FeedForward


def build_htnet(s: HTNetConfig, n_classes: int) -> torch.nn.Module:
    """The nested hierarchical transformer of HTNet (see module docstring)."""
    import torch
    from torch import nn

    ChannelNorm, Attention, FeedForward = _htnet_layers()

    class HTNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            levels = s.hierarchies
            fmap = _SIDE // s.patch_size
            seq = (fmap // 2 ** (levels - 1)) ** 2
            dims = [s.dim * 2 ** i for i in range(levels)]
            self.embed = nn.Conv2d(3 * s.patch_size ** 2, dims[0], 1)
            self.blocks, self.positions, self.merges = nn.ModuleList(), nn.ParameterList(), nn.ModuleList()
            for i, (d, reps) in enumerate(zip(dims, s.block_repeats)):
                heads = s.heads * 2 ** i
                self.positions.append(nn.Parameter(torch.randn(seq)))
                self.blocks.append(nn.Sequential(*[m for _ in range(reps) for m in
                                                   (Attention(d, heads, s.dropout), FeedForward(d, 4, s.dropout))]))
                last = i == levels - 1
                self.merges.append(nn.Identity() if last else nn.Sequential(
                    nn.Conv2d(d, dims[i + 1], 3, padding=1), ChannelNorm(dims[i + 1]), nn.MaxPool2d(3, 2, 1)))
            self.head = nn.ModuleDict({"norm": ChannelNorm(dims[-1]), "fc": nn.Linear(dims[-1], n_classes)})
            self.register_buffer("input_scale", torch.ones(3))
            self.register_buffer("present", torch.ones(n_classes, dtype=torch.bool))

        def forward(self, img):
            x = img / self.input_scale.view(1, 3, 1, 1)
            p = s.patch_size
            b = x.shape[0]
            x = x.unfold(2, p, p).unfold(3, p, p)                           # (b, 3, H/p, W/p, p, p)
            x = x.permute(0, 4, 5, 1, 2, 3).reshape(b, 3 * p * p, _SIDE // p, _SIDE // p)
            x = self.embed(x)
            levels = len(self.blocks)
            for i, (block, pos, merge) in enumerate(zip(self.blocks, self.positions, self.merges)):
                k = 2 ** (levels - 1 - i)                                   # blocks per side at this level
                c, h, w = x.shape[1:]
                hb, wb = h // k, w // k
                # (b, c, h, w) -> one token sequence per block: (b*k*k, hb*wb, c)
                x = x.reshape(b, c, k, hb, k, wb).permute(0, 2, 4, 3, 5, 1).reshape(b * k * k, hb * wb, c)
                x = block(x + pos[: hb * wb].view(1, -1, 1))
                x = x.reshape(b, k, k, hb, wb, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)
                x = merge(x)
            logits = self.head["fc"](self.head["norm"](x).mean((2, 3)))
            return logits.masked_fill(~self.present, float("-inf"))

    return HTNet()


class HTNetModel:
    """`MERModel` around `build_htnet`; weights in ``model.safetensors``."""

    name = NAME

    def __init__(self, cfg: RunConfig, class_set: ClassSet) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.settings: HTNetConfig = cfg.baselines.htnet
        self.net: torch.nn.Module | None = None

    def inputs(self, clips: list[ClipInputs]) -> np.ndarray:
        return np.stack([htnet_input(c.prepared) for c in clips])

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        import torch

        if not train:
            raise ValueError("htnet: no training clips")
        s, k = self.settings, len(self.class_set)
        t0 = time.perf_counter()
        x_np, y = self.inputs(train), training_labels(train, self.class_set)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed)
            gen = torch.Generator().manual_seed(self.cfg.seed)
            net = build_htnet(s, k)
            x = torch.from_numpy(x_np)
            loss_value = train_flow_net(net, x, mirror_field(x), y, torch.optim.Adam(net.parameters(), lr=s.lr),
                                        epochs=s.epochs, batch_size=s.batch_size, flip_augment=s.flip_augment,
                                        class_weighted=s.class_weighted, gen=gen, progress=progress)
        self.net = net
        return {"n_train": len(y), "epochs": s.epochs, "final_loss": loss_value, "seconds": time.perf_counter() - t0}

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        import torch

        if self.net is None:
            raise RuntimeError("htnet: predict called before fit/load")
        if not clips:
            return []
        with torch.no_grad():
            logits = self.net(torch.from_numpy(self.inputs(clips))).double().numpy()
        return to_predictions(clips, self.class_set, softmax(logits))

    def save(self, out_dir: Path) -> None:
        if self.net is None:
            raise RuntimeError("htnet: save called before fit")
        save_net(self.net, out_dir, NAME, self.cfg, self.class_set, WEIGHTS,
                 probabilities="softmax of the HTNet logits (classes absent from training: 0)")

    @classmethod
    def load(cls, model_dir: Path) -> HTNetModel:
        card = read_card(model_dir, NAME)
        model = cls(card.cfg, card.class_set)
        model.net = load_net_weights(build_htnet(model.settings, len(card.class_set)), model_dir, WEIGHTS)
        return model


@register_model(NAME, "HTNet: eye and lip-corner crops of the 28x28 flow map, hierarchical transformer",
                loader=HTNetModel.load)
def create_htnet(cfg: RunConfig, class_set: ClassSet) -> HTNetModel:
    return HTNetModel(cfg, class_set)
