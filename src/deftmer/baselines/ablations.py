"""Ablations of the DEFT model, selectable by name like any baseline (``deftmer loso --model deft-no-llm``).

Each is the DEFT model built from a copy of the run's config with some ``model.use_*`` flags
changed, so it trains and predicts through exactly the same code as ``deft``; only the
experts (or the LLM) it is given differ. ``deft`` itself is registered by `deftmer.model.deft`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deftmer.data.labels import ClassSet
from deftmer.model.api import MERModel, RunConfig, register_model
from deftmer.model.card import read_model_card
from deftmer.model.deft import DeftModel


@dataclass(frozen=True)
class Ablation:
    name: str
    description: str
    flags: dict[str, object]


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("deft-no-llm", "DEFT experts + linear head, no LLM", {"use_llm": False}),
    Ablation("deft-structure-only", "DEFT with the structure expert only",
             {"use_structure": True, "use_dynamic": False, "use_motion": False}),
    Ablation("deft-dynamic-only", "DEFT with the dynamic-texture expert only (needs onset frames)",
             {"use_structure": False, "use_dynamic": True, "use_motion": False}),
    Ablation("deft-motion-only", "DEFT with the motion-semantics expert only",
             {"use_structure": False, "use_dynamic": False, "use_motion": True}),
    Ablation("deft-no-motion", "DEFT without the motion-semantics expert",
             {"use_structure": True, "use_dynamic": True, "use_motion": False}),
    Ablation("deft-motion-text", "the same LLM given the per-region motion statistics as text instead of "
             "expert tokens (MELLM's design), same decision head and training", {"llm_input": "motion_text"}),
)


def ablation_config(cfg: RunConfig, ablation: Ablation) -> RunConfig:
    """A copy of ``cfg`` with the ablation's model flags set (the caller's config is untouched)."""
    tree = cfg.model_dump()
    tree["model"].update(ablation.flags)
    return type(cfg).model_validate(tree)


def _factory(ablation: Ablation):
    def make(cfg: RunConfig, class_set: ClassSet) -> MERModel:
        model = DeftModel(ablation_config(cfg, ablation), class_set)
        model.name = ablation.name
        return model

    make.__name__ = f"create_{ablation.name.replace('-', '_')}"
    make.__doc__ = ablation.description
    return make


def _load_ablation(model_dir: Path) -> MERModel:
    """Load a saved ablation: a DEFT model folder whose card names the ablation."""
    model = DeftModel.load(model_dir)
    model.name = read_model_card(model_dir).model
    return model


for _ab in ABLATIONS:
    register_model(_ab.name, _ab.description, loader=_load_ablation)(_factory(_ab))
