"""Ablations of the DEFT model, selectable by name like any baseline (``deftmer loso --model deft-no-llm``).

Each is a preset of the DEFT settings an ablation changes: the expert list
(``model.experts``), whether there is an LLM (``model.use_llm``), what it reads
(``model.llm_input``) and how the class is decided (``model.decision``). A preset leaves a
setting it does not name as the run's config has it, and everything else too, so an ablation
trains and predicts through exactly the same code as ``deft``. ``deft`` itself is registered by
`deftmer.model.deft`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deftmer.data.labels import ClassSet
from deftmer.model.api import MERModel, RunConfig, register_model
from deftmer.model.card import read_model_card
from deftmer.model.deft import DeftModel


@dataclass(frozen=True)
class Ablation:
    """A named DEFT preset; a setting left None keeps the run config's value."""

    name: str
    description: str
    experts: tuple[str, ...] | None = None
    use_llm: bool | None = None
    llm_input: Literal["experts", "motion_text"] | None = None
    decision: str | None = None

    def settings(self) -> dict[str, object]:
        """The ``model`` settings this preset fixes."""
        named = {"experts": None if self.experts is None else list(self.experts), "use_llm": self.use_llm,
                 "llm_input": self.llm_input, "decision": self.decision}
        return {k: v for k, v in named.items() if v is not None}


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("deft-no-llm", "DEFT experts + linear head, no LLM", use_llm=False),
    Ablation("deft-structure-only", "DEFT with the structure expert only", experts=("structure",)),
    Ablation("deft-dynamic-only", "DEFT with the dynamic-texture expert only (needs onset frames)",
             experts=("dynamic",)),
    Ablation("deft-motion-only", "DEFT with the motion-semantics expert only", experts=("motion",)),
    Ablation("deft-no-motion", "DEFT without the motion-semantics expert", experts=("structure", "dynamic")),
    Ablation("deft-motion-text", "the same LLM given the per-region motion statistics as text instead of "
             "expert tokens (MELLM's design); its class head decides alone, same training",
             llm_input="motion_text", decision="llm"),
)


def ablation_config(cfg: RunConfig, ablation: Ablation) -> RunConfig:
    """A copy of ``cfg`` with the ablation's settings (the caller's config is untouched)."""
    tree = cfg.model_dump()
    tree["model"].update(ablation.settings())
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
