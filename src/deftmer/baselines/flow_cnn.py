"""Deep baseline: a shallow optical-flow CNN in the STSTNet / Off-ApexNet style.

STSTNet (Liong et al., FG 2019) feeds u, v and optical strain at 28 x 28 into three parallel
3x3 convolution branches (3, 5 and 8 channels), pools, and classifies with one linear layer;
it is the field's standard "flow only" deep reference. It reads the same cached flow as the
DEFT motion expert, but no regions, no appearance and no language.

Training is a fixed recipe (epochs, lr, batch size from ``baselines.flow_cnn``): nothing is
selected on a test subject. Inputs are scaled by the per-channel standard deviation of the
*training* clips, stored with the weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from deftmer.baselines.config import FlowCnnConfig
from deftmer.baselines.features import flow_image, mirror_flow_image
from deftmer.data.labels import ClassSet
from deftmer.model.api import Prediction, RunConfig, register_model
from deftmer.preprocess.records import ClipInputs

if TYPE_CHECKING:
    import torch

NAME = "flow-cnn"
WEIGHTS = "model.safetensors"


def build_ststnet(settings: FlowCnnConfig, n_classes: int) -> torch.nn.Module:
    """The network: three parallel conv branches -> concat -> 2x2 average pool -> linear.

    Built in a function so that importing this module (which the config tree does) stays
    free of torch.
    """
    import torch
    from torch import nn

    class STSTNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branches = nn.ModuleList(
                nn.Sequential(nn.Conv2d(3, c, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(c),
                              nn.MaxPool2d(kernel_size=3, stride=3, padding=1))
                for c in settings.channels
            )
            self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
            side = ((settings.input_size + 2 - 3) // 3 + 1) // 2
            self.head = nn.Linear(sum(settings.channels) * side * side, n_classes)
            self.register_buffer("input_scale", torch.ones(3))
            self.register_buffer("present", torch.ones(n_classes, dtype=torch.bool))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x / self.input_scale.view(1, 3, 1, 1)
            h = torch.cat([b(x) for b in self.branches], dim=1)
            logits = self.head(self.pool(h).flatten(1))
            return logits.masked_fill(~self.present, float("-inf"))

    return STSTNet()


class _Threads:
    """Run a block with a given number of torch threads, restoring the previous count."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.prev = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_num_threads(self.prev)


class FlowCnnModel:
    """`MERModel` around `build_ststnet`; weights in ``model.safetensors``."""

    name = NAME

    def __init__(self, cfg: RunConfig, class_set: ClassSet) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.settings: FlowCnnConfig = cfg.baselines.flow_cnn
        self.net: torch.nn.Module | None = None

    def inputs(self, clips: list[ClipInputs]) -> np.ndarray:
        return np.stack([flow_image(c.prepared, self.settings.input_size) for c in clips])

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        import torch

        if not train:
            raise ValueError("flow-cnn: no training clips")
        s = self.settings
        t0 = time.perf_counter()
        x_np = self.inputs(train)
        y = training_labels(train, self.class_set)
        k = len(self.class_set)
        with _Threads(s.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed)
            gen = torch.Generator().manual_seed(self.cfg.seed)
            net = build_ststnet(s, k)
            x_mirror = torch.from_numpy(np.stack([mirror_flow_image(im) for im in x_np]))
            opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
            loss_value = train_flow_net(net, torch.from_numpy(x_np), x_mirror, y, opt, epochs=s.epochs,
                                        batch_size=s.batch_size, flip_augment=s.flip_augment,
                                        class_weighted=s.class_weighted, gen=gen, progress=progress, batchnorm=True)
        self.net = net
        seconds = time.perf_counter() - t0
        n = len(train)
        return {"n_train": n, "epochs": s.epochs, "final_loss": loss_value, "seconds": seconds,
                "train_samples_per_s": n * s.epochs / seconds}

    def logits(self, clips: list[ClipInputs]) -> np.ndarray:
        import torch

        if self.net is None:
            raise RuntimeError("flow-cnn: predict called before fit/load")
        with _Threads(self.settings.threads), torch.no_grad():
            return self.net(torch.from_numpy(self.inputs(clips))).double().numpy()

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        if not clips:
            return []
        return to_predictions(clips, self.class_set, softmax(self.logits(clips)))

    def save(self, out_dir: Path) -> None:
        if self.net is None:
            raise RuntimeError("flow-cnn: save called before fit")
        save_net(self.net, out_dir, NAME, self.cfg, self.class_set, WEIGHTS,
                 probabilities="softmax of the CNN logits (classes absent from training: 0)")

    @classmethod
    def load(cls, model_dir: Path) -> FlowCnnModel:
        card = read_card(model_dir, NAME)
        model = cls(card.cfg, card.class_set)
        model.net = load_net_weights(build_ststnet(model.settings, len(card.class_set)), model_dir, WEIGHTS)
        return model


@register_model(NAME, "STSTNet-style shallow CNN on u, v, optical strain at 28x28", loader=FlowCnnModel.load)
def create_flow_cnn(cfg: RunConfig, class_set: ClassSet) -> FlowCnnModel:
    return FlowCnnModel(cfg, class_set)
