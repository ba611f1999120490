"""The contract every model (DEFT and the baselines) fulfils, and the registry it joins.

The LOSO runner, `predict`, `explain` and the benchmarks only talk to this interface, so a
new baseline is one file with ``@register_model`` and one import line. Building and loading a
model by name (`create_model`, `load_model`) is `deftmer.models`, above every model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deftmer.data.labels import ClassSet
from deftmer.model.config import DeftConfig
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.config import UnimerConfig


class RunConfig(Protocol):
    """The experiment config as a model sees it: `deftmer.config.ExperimentConfig` (composed
    above every stage), or a `deftmer.model.card.SavedConfig` read back from a model folder."""

    seed: int
    preprocess: PreprocessConfig
    unimer: UnimerConfig
    model: DeftConfig
    train: Any          # deftmer.train.config.TrainConfig (a later stage)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


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
    # class distributions of the parts of the decision, each alone, by part name (DEFT: "llm", the
    # LLM's class head, and "experts_head", the experts' own linear head): the same trained model
    # scored by each part, so a run shows what each adds to the decision, clip for clip
    parts: dict[str, dict[str, float]] = field(default_factory=dict)


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
