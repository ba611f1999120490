"""DEFT's model folder: only what training changed (the `DeftNet` modules and the LoRA adapters)
in one safetensors file, beside the model card (`deftmer.model.card`) that records the full
config, the experts and the LLM reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from deftmer.errors import CheckpointError
from deftmer.model.card import MODEL_CARD, read_model_card, save_model_folder, weights_file
from deftmer.model.deft_net import DeftNet
from deftmer.model.language import DeftLanguage

if TYPE_CHECKING:
    from deftmer.model.deft import DeftModel

WEIGHTS = "deft.safetensors"


def trained_state(net: DeftNet, language: DeftLanguage | None) -> dict[str, torch.Tensor]:
    """``net.*``: the DeftNet modules; ``lora.*``: the LoRA adapters (with an LLM)."""
    state = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if language is not None:
        from peft import get_peft_model_state_dict

        for k, v in get_peft_model_state_dict(language.llm.model).items():
            state[f"lora.{k}"] = v.detach().cpu().contiguous()
    return state


def load_trained_state(net: DeftNet, language: DeftLanguage | None, state: dict[str, torch.Tensor], where: str) -> None:
    """Put a `trained_state` back; a state of another architecture is one `CheckpointError`."""
    net_state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    try:
        net.load_state_dict(net_state)
    except RuntimeError as e:
        raise CheckpointError(f"{where} does not match this model's config ({str(e).splitlines()[0]}); "
                              "load it with the config it was trained with") from None
    if language is not None:
        from peft import set_peft_model_state_dict

        lora = {k[5:]: v for k, v in state.items() if k.startswith("lora.")}
        if not lora:
            raise CheckpointError(f"{where} has no LoRA weights but model.use_llm is on")
        set_peft_model_state_dict(language.llm.model, lora)


def save_deft(model: DeftModel, out_dir: Path) -> None:
    from safetensors.torch import save_file

    state = model.trained_state()
    save_model_folder(out_dir, model.name, model.cfg, model.class_set, WEIGHTS, lambda p: save_file(state, str(p)),
                      experts=model.experts, llm=model.llm.source if model.llm is not None else None,
                      stats={k: v for k, v in model.stats.items() if isinstance(v, (int, float, str))})


def load_deft(model_cls: type[DeftModel], model_dir: Path) -> DeftModel:
    from safetensors.torch import load_file

    d = Path(model_dir)
    card = read_model_card(d)
    if "experts" not in card.extra:
        raise CheckpointError(f"{d / MODEL_CARD} is not a deft model card (no 'experts'); re-run training")
    path = weights_file(d, WEIGHTS)
    model = model_cls(card.cfg, card.class_set)
    model.build(card.extra["experts"])
    model.load_trained_state(load_file(str(path)), str(d))
    return model
