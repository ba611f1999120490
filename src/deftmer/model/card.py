"""A model folder's card (``model.json``): the one reader and writer for DEFT and every baseline.

A saved model is a folder with ``model.json`` (which registered model, its class set, the full
experiment config, and the model's own extras such as ``experts``, ``weights`` or ``stats``)
beside one weights file. `deftmer.models.load_model` reads the card to know which loader to
call; each loader reads it again (`read_model_card`) with the config typed as it needs it.
`save_model_folder` writes both pieces (the weights atomically) for every model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from deftmer.data.labels import ClassSet, get_class_set
from deftmer.errors import CheckpointError
from deftmer.model.config import DeftConfig
from deftmer.preprocess.config import PreprocessConfig
from deftmer.unimer.config import UnimerConfig
from deftmer.utils.io import atomic_write_json, atomic_write_with

MODEL_CARD = "model.json"
_CARD_KEYS = {"model", "class_set", "classes", "config"}


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
    model: DeftConfig = DeftConfig()
    train: SavedSection = SavedSection()


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
    """Read and check ``model.json``; ``cfg`` is its config validated as ``config_type``.
    Any problem is a one-line `CheckpointError`."""
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
    return ModelCard(name, class_set, cfg, {k: v for k, v in card.items() if k not in _CARD_KEYS})


def write_model_card(out_dir: str | Path, name: str, cfg: Any, class_set: ClassSet, **extra: object) -> None:
    """Write ``model.json`` (which model, class set, full config, extras): what `load_model` dispatches on."""
    card = {"model": name, "class_set": class_set.name, "classes": list(class_set.classes),
            "config": cfg.model_dump(mode="json"), **extra}
    atomic_write_json(Path(out_dir) / MODEL_CARD, card)


def save_model_folder(out_dir: str | Path, name: str, cfg: Any, class_set: ClassSet, weights: str,
                      write_weights: Callable[[Path], None], **extra: object) -> Path:
    """A model folder: ``write_weights(path)`` fills the weights file ``weights`` (atomically),
    then the card records it (``"weights": weights``) with ``extra``. Returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_with(out / weights, write_weights)
    write_model_card(out, name, cfg, class_set, weights=weights, **extra)
    return out


def weights_file(model_dir: str | Path, weights: str) -> Path:
    """The folder's weights file, or a one-line `CheckpointError` when it is missing."""
    path = Path(model_dir) / weights
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the model folder is incomplete (did its training finish?), "
                              "re-run training")
    return path
