"""The contract every model (DEFT and the baselines) fulfils, and the registry it joins.

The LOSO runner, `predict`, `explain` and the benchmarks only talk to this interface, so a
new baseline is one file with ``@register_model`` and one import line. Building and loading a
model by name (`create_model`, `load_model`) is `deftmer.models`, above every model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from deftmer.data.labels import ClassSet, get_class_set
from deftmer.errors import CheckpointError
from deftmer.model.config import ModelConfig
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.config import UnimerConfig
from deftmer.utils.io import atomic_write_json


class RunConfig(Protocol):
    """The experiment config as a model sees it: `deftmer.config.ExperimentConfig` (composed
    above every stage), or a `SavedConfig` read back from a model folder."""

    seed: int
    preprocess: PreprocessConfig
    unimer: UnimerConfig
    model: ModelConfig
    train: Any          # deftmer.train.config.TrainConfig (a later stage)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


class SavedSection(BaseModel):
    """A config section that the model layer does not own, kept as it was saved."""

    model_config = ConfigDict(extra="allow")


class SavedConfig(BaseModel):
    """The experiment config in a model folder's card, read back by the model layer: the
    sections a model is rebuilt from are typed and validated, every other one kept as saved,
    so a model saved again writes the same config (``deftmer.config.checkpoint_config``
    validates all of it)."""

    model_config = ConfigDict(extra="allow")

    seed: int = 0
    preprocess: PreprocessConfig = PreprocessConfig()
    unimer: UnimerConfig = UnimerConfig()
    model: ModelConfig = ModelConfig()
    train: SavedSection = SavedSection()


@dataclass
class Prediction:
    """A model's answer for one clip. ``probs`` covers every class of the class set."""

    sample_id: str
    label: str
    probs: dict[str, float]
    text: str = ""                       # generated answer (class, evidence, reasoning)
    aus: list[str] = field(default_factory=list)        # AUs named in the answer, e.g. "LAU12"
    evidence: str = ""                   # the evidence part (AUs and local motion)
    reasoning: str = ""                  # the reasoning part


Progress = Callable[[str, int, int], None]


class TrainingContext(Protocol):
    """What `deftmer.train.trainer` gives a model's training phase: the device, the update step
    (Accelerate: backward, gradient averaging when data-parallel), the share of a batch this
    process takes, progress, the loss log, resumable points, and where to resume."""

    device: Any
    log: list[dict]                   # one row per logged step/epoch: {"phase": name, loss: value, ...}
    stats: dict                       # extra stats a phase reports (merged into what training returns)
    start_step: int                   # the step to resume at (0: from the start)
    optimizer_state: dict | None      # the optimiser's state at ``start_step`` when resuming

    def shard(self, idx: Any) -> Any: ...

    def step(self, loss: Any, optimizer: Any) -> None: ...

    def report(self, label: str, done: int, total: int) -> None: ...

    def checkpoint(self, step: int, optimizer: Any) -> None: ...


@dataclass
class TrainingPhase:
    """One phase of a model's training: ``run(ctx)`` trains and returns the number of training
    examples it processed. The trainer checkpoints after each phase, under ``name``."""

    name: str
    run: Callable[[TrainingContext], int]


class MERModel(Protocol):
    """A trainable micro-expression classifier.

    It trains in one of two ways, both run by `deftmer.train.trainer.fit_model` (what LOSO,
    ``train`` and the benchmarks call): ``fit`` (one call: the baselines), or phases
    (``setup_training``, ``training_phases``, ``trained_state``/``load_trained_state`` and
    ``checkpoint_identity``: DEFT), which the trainer runs, checkpoints and resumes.
    """

    name: str
    class_set: ClassSet

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        """Predict every clip; ``explain`` also generates the evidence/reasoning text."""
        ...

    def save(self, out_dir: Path) -> None:
        """Write a model folder (weights in safetensors + config) that `load_model` reads."""
        ...


class FittedModel(MERModel, Protocol):
    """A model that trains in one call (the baselines)."""

    def fit(self, train: list[ClipInputs], progress: Progress | None = None) -> dict:
        """Train on the given clips (training subjects only). Returns a dict of training stats."""
        ...


class PhasedModel(MERModel, Protocol):
    """A model that declares its training phases; the trainer runs, checkpoints and resumes them."""

    stats: dict                       # what the last training returned (saved in the model card)

    def setup_training(self, train: list[ClipInputs]) -> None:
        """Build the trainable modules for these clips (before any timing starts)."""
        ...

    def training_phases(self, train: list[ClipInputs], device: Any) -> tuple[list[TrainingPhase], dict]:
        """The phases in order, after the preparation they share; and the preparation's stats."""
        ...

    def checkpoint_identity(self) -> list:
        """What a checkpoint must have been written with (config, architecture) to be resumed."""
        ...

    def trained_state(self) -> dict: ...

    def load_trained_state(self, state: dict, where: str) -> None: ...


ModelFactory = Callable[[RunConfig, ClassSet], MERModel]
ModelLoader = Callable[[Path], MERModel]
_MODELS: dict[str, tuple[ModelFactory, str]] = {}
_LOADERS: dict[str, ModelLoader] = {}
MODEL_CARD = "model.json"
_MODULES: dict[str, str] = {}   # model name -> the module that registered it


def registering_module(name: str) -> str | None:
    """The module whose import registers ``name``: what a fresh (spawned) process must import
    to build a model registered outside deftmer, e.g. by a user's script or a plugin."""
    return _MODULES.get(name)


def register_model(name: str, description: str, loader: ModelLoader | None = None) -> Callable[[ModelFactory], ModelFactory]:
    """Register a factory under ``name``; ``loader(dir)`` rebuilds a saved model of that kind."""

    def deco(fn: ModelFactory) -> ModelFactory:
        _MODELS[name] = (fn, description)
        _MODULES[name] = fn.__module__
        if loader is not None:
            _LOADERS[name] = loader
        return fn

    return deco


def registered_models() -> dict[str, tuple[ModelFactory, str]]:
    """Every registered model: name -> (factory, description)."""
    return dict(_MODELS)


def model_loader(name: str) -> ModelLoader | None:
    """What rebuilds a saved model called ``name`` (None: no loader registered)."""
    return _LOADERS.get(name)


@dataclass
class ModelCard:
    """A model folder's ``model.json`` read back: which model, its class set and config, and the
    model's own extras (``experts``, ``weights``, ``stats``, ...)."""

    model: str
    class_set: ClassSet
    cfg: Any
    extra: dict[str, Any]


def read_model_card(model_dir: str | Path, expected_model: str | None = None,
                    config_type: type[BaseModel] = SavedConfig) -> ModelCard:
    """Read and check ``model.json`` (the one reader, for DEFT and the baselines); ``cfg`` is its
    config validated as ``config_type``. Any problem is a one-line `CheckpointError`."""
    d = Path(model_dir)
    path = d / MODEL_CARD
    if not path.is_file():
        raise CheckpointError(f"{d} is not a deftmer model folder (no {MODEL_CARD}); pass the folder that `deftmer train` wrote")
    try:
        card = json.loads(path.read_text())
        name = card["model"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} cannot be read or has no 'model' key ({e.__class__.__name__}); re-run training") from None
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"{path} holds model '{name}', not '{expected_model}'; load it with load_model()")
    try:
        cfg = config_type.model_validate(card["config"])
        class_set = get_class_set(card["class_set"])
    except Exception as e:  # noqa: BLE001 - any malformed card is the same user-facing problem
        raise CheckpointError(f"{path} has an invalid config or class set ({str(e).splitlines()[0]}); re-run training") from None
    if list(class_set.classes) != list(card.get("classes", [])):
        raise CheckpointError(f"{path}: saved classes {card.get('classes')} differ from class set '{class_set.name}' {list(class_set.classes)}")
    extra = {k: v for k, v in card.items() if k not in {"model", "class_set", "classes", "config"}}
    return ModelCard(name, class_set, cfg, extra)


def write_model_card(out_dir: Path, name: str, cfg: RunConfig, class_set: ClassSet, **extra: object) -> None:
    """Write ``model.json`` (which model, class set, full config): what `load_model` dispatches on."""
    card = {"model": name, "class_set": class_set.name, "classes": list(class_set.classes),
            "config": cfg.model_dump(mode="json"), **extra}
    atomic_write_json(Path(out_dir) / MODEL_CARD, card)
