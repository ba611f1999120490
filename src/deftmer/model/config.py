"""Settings of the DEFT model: which experts, which LLM, LoRA and fusion."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "deft"
    llm: str = "smollm2-135m"   # "smollm2-135m", "tiny" (built in code), or a local HF folder
    vision: str = "efficientnet-lite0"  # or a local HF vision checkpoint folder
    use_structure: bool = True
    use_dynamic: bool = True
    use_motion: bool = True
    use_llm: bool = True
    expert_dim: int = 256
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    disentangle_weight: float = 0.1
    # vision backbone: input size and how many pooled tokens per image (1, 4, 9, ...)
    image_size: int = 224
    vision_tokens: int = 1
    dropout: float = 0.1
    # weight experts in the class head by a cross-subject linear probe on training subjects
    expert_gating: bool = True
    # keep only the first N decoder layers of the LLM (None = all); a CPU speed knob
    llm_layers: int | None = None
    lora_targets: list[str] = ["q_proj", "v_proj"]
    # class decision: the classification head, LLM option likelihoods, or both (mean log-prob)
    decision: Literal["head", "options", "hybrid"] = "head"
    max_answer_tokens: int = 32        # training answers are cut to this many tokens
    explain_max_tokens: int = 24       # LLM-written Reasoning length for explain=True (0: no reasoning)
    # explain=True Evidence (see model.evidence): AU-head candidates at or above this probability,
    # at most this many, each kept only where the clip's own flow supports it
    evidence_au_threshold: float = 0.5
    evidence_max_aus: int = 3
    au_weight: float = 0.5             # auxiliary AU head loss weight
    lm_weight: float = 1.0             # answer-token language-model loss weight
