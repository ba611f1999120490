"""The contract every model (DEFT and the baselines) fulfils, and the registry that builds them.

The LOSO runner, `predict`, `explain` and the benchmarks only talk to this interface, so a
new baseline is one file with ``@register_model`` and one import line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from deftmer.data.labels import ClassSet
from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess.records import PreparedSample

if TYPE_CHECKING:
    from deftmer.config import ExperimentConfig


@dataclass
class ClipInputs:
    """What a model sees of one clip: the annotation record and its cached inputs."""

    sample: Sample
    prepared: PreparedSample

    @property
    def id(self) -> str:
        return self.sample.id


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


class MERModel(Protocol):
    """A trainable micro-expression classifier."""

    name: str
    class_set: ClassSet

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        """Train on the given clips (training subjects only). Returns a dict of training stats."""
        ...

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        """Predict every clip; ``explain`` also generates the evidence/reasoning text."""
        ...

    def save(self, out_dir: Path) -> None:
        """Write a model folder (weights in safetensors + config) that `load_model` reads."""
        ...


ModelFactory = Callable[["ExperimentConfig", ClassSet], MERModel]
_MODELS: dict[str, tuple[ModelFactory, str]] = {}


def register_model(name: str, description: str) -> Callable[[ModelFactory], ModelFactory]:
    def deco(fn: ModelFactory) -> ModelFactory:
        _MODELS[name] = (fn, description)
        return fn

    return deco


def list_models() -> dict[str, str]:
    _import_all()
    return {k: v[1] for k, v in sorted(_MODELS.items())}


def create_model(name: str, cfg: "ExperimentConfig", class_set: ClassSet) -> MERModel:
    _import_all()
    if name not in _MODELS:
        raise UserError(f"unknown model '{name}'; known models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name][0](cfg, class_set)


def _import_all() -> None:
    """Import the modules that register models (kept lazy: torch/transformers are heavy)."""
    import importlib

    for mod in ("deftmer.model.deft", "deftmer.baselines"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a module not written yet must not hide the others
            if e.name != mod:
                raise
