"""Settings of the DEFT model: which experts, which LLM, LoRA and fusion."""

from __future__ import annotations

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
