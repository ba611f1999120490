"""What every baseline shares: turning class scores into `Prediction`s and its model folder
(through `deftmer.model.card`, the one card reader/writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deftmer.baselines.config import BaselinesConfig
from deftmer.data.labels import ClassSet
from deftmer.errors import CheckpointError
from deftmer.model.api import Prediction
from deftmer.model.card import ModelCard, SavedConfig, read_model_card, save_model_folder, weights_file
from deftmer.preprocess.records import ClipInputs


class BaselineConfig(SavedConfig):
    """A baseline's saved experiment config: the model layer's sections and ``baselines`` typed."""

    baselines: BaselinesConfig = BaselinesConfig()


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax that tolerates ``-inf`` (classes a model never saw get probability 0)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def to_predictions(clips: list[ClipInputs], class_set: ClassSet, probs: np.ndarray) -> list[Prediction]:
    """One `Prediction` per clip; the label is the arg-max class, probs cover every class."""
    out = []
    for clip, p in zip(clips, probs):
        k = int(np.argmax(p))
        out.append(Prediction(sample_id=clip.id, label=class_set.classes[k],
                              probs={c: float(p[i]) for i, c in enumerate(class_set.classes)}))
    return out


def training_labels(train: list[ClipInputs], class_set: ClassSet) -> np.ndarray:
    """Class indices of the training clips; an unlabelled or foreign label is a caller bug."""
    ys = []
    for c in train:
        lab = c.sample.label
        if lab is None or lab not in class_set.classes:
            raise ValueError(f"{c.id}: label {lab!r} is not a class of {class_set.name}; fit only labelled clips")
        ys.append(class_set.index(lab))
    return np.asarray(ys, dtype=np.int64)


def inverse_frequency_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights n / (k * count) over the classes present (absent classes get 0)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


def read_card(model_dir: Path, expected_model: str) -> ModelCard:
    """A baseline's ``model.json`` (`deftmer.model.card.read_model_card`, config as `BaselineConfig`)."""
    return read_model_card(model_dir, expected_model, BaselineConfig)


def save_net(net, out_dir: Path, name: str, cfg, class_set: ClassSet, weights: str, probabilities: str) -> None:
    """A torch baseline's model folder: its weights (safetensors, written atomically) and model card."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_model_folder(out_dir, name, cfg, class_set, weights, lambda p: save_file(state, str(p)),
                      probabilities=probabilities)


def load_net_weights(net, model_dir: Path, weights: str):
    """``net`` (built from the saved config) with the folder's weights, in eval mode; a missing or
    mismatched file is one `CheckpointError` line that says to re-run training."""
    from safetensors.torch import load_file

    path = weights_file(model_dir, weights)
    try:
        net.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match the saved config ({str(e).splitlines()[0]}); "
                              "re-run training") from None
    return net.eval()


def train_flow_net(net, x, x_mirror, y: np.ndarray, opt, *, epochs: int, batch_size: int, flip_augment: bool,
                   class_weighted: bool, gen, progress=None, batchnorm: bool = False) -> float:
    """Train a torch flow-map classifier the way every such baseline here does; returns the last
    epoch's mean loss.

    The net's ``input_scale`` buffer gets the training maps' per-channel std and its ``present``
    buffer the classes seen in training (absent ones are masked out of the loss). Each epoch
    shuffles with ``gen`` and shows each clip or its mirror image (``x_mirror``) at random;
    the loss is class-weighted cross-entropy when ``class_weighted``. ``batchnorm``: skip a
    trailing one-clip batch (BatchNorm needs two; that clip is seen in another epoch).
    """
    import torch
    import torch.nn.functional as F

    k = int(net.present.numel())
    scale = x.numpy().transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1)
    net.input_scale.copy_(torch.from_numpy(np.where(scale > 1e-8, scale, 1.0).astype(np.float32)))
    net.present.copy_(torch.from_numpy(np.bincount(y, minlength=k) > 0))
    yt = torch.from_numpy(y)
    weight = torch.from_numpy(inverse_frequency_weights(y, k).astype(np.float32)) if class_weighted else None
    n, loss_value = len(y), float("nan")
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        flips = torch.rand(n, generator=gen) < 0.5 if flip_augment else torch.zeros(n, dtype=torch.bool)
        total, seen = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if batchnorm and len(idx) < 2 and seen > 0:
                continue
            xb = torch.where(flips[idx].view(-1, 1, 1, 1), x_mirror[idx], x[idx])
            logits = net(xb).masked_fill(~net.present, -1e4)   # -inf would make CE nan
            loss = F.cross_entropy(logits, yt[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        loss_value = total / max(seen, 1)
        if progress is not None:
            progress("epoch", epoch + 1, epochs)
    net.eval()
    return loss_value
