"""Build or load any model by name: DEFT, its ablations and the baselines.

The one entry point above every model (timm's ``create_model``): models register themselves
with `deftmer.model.api.register_model` when their module is imported, and the modules that
ship with deftmer are imported here on first use (torch and transformers are heavy, so not at
start-up).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from deftmer.data.labels import ClassSet
from deftmer.errors import CheckpointError, UserError
from deftmer.model.api import MERModel, RunConfig, model_loader, registered_models, registering_module
from deftmer.model.card import MODEL_CARD, read_model_card

__all__ = ["create_model", "list_models", "load_model", "registering_module"]

#: the modules whose import registers deftmer's own models
MODEL_MODULES: tuple[str, ...] = ("deftmer.model.deft", "deftmer.baselines.ablations", "deftmer.baselines.flow_cnn",
                                  "deftmer.baselines.htnet", "deftmer.baselines.mdmo_svm",
                                  "deftmer.baselines.field_svm")


def load_model(model_dir: str | Path) -> MERModel:
    """Load any saved model folder (DEFT or a baseline) by the name in its ``model.json``."""
    d = Path(model_dir)
    name = read_model_card(d).model
    _import_all()
    loader = model_loader(name)
    if loader is None:
        raise CheckpointError(f"{d / MODEL_CARD} names model '{name}', which this deftmer version cannot load")
    return loader(d)


def list_models() -> dict[str, str]:
    _import_all()
    return {k: v[1] for k, v in sorted(registered_models().items())}


def create_model(name: str, cfg: RunConfig, class_set: ClassSet) -> MERModel:
    _import_all()
    models = registered_models()
    if name not in models:
        raise UserError(f"unknown model '{name}'; known models: {', '.join(sorted(models))}")
    return models[name][0](cfg, class_set)


def _import_all() -> None:
    """Import the modules that register models (kept lazy: torch/transformers are heavy)."""
    for mod in MODEL_MODULES:
        importlib.import_module(mod)
