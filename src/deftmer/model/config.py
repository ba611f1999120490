"""Settings of the DEFT model: which experts, which LLM, LoRA, fusion and how the class is decided."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    # the motion expert also reads the u/v/strain field at this size (None: region statistics only);
    # 28 is the size of the public flow packs. Parallel conv branches of these widths read it.
    motion_field_size: int | None = Field(28, ge=8, le=224)
    motion_field_channels: tuple[int, ...] = (6, 10, 16)
    motion_field_dropout: float = 0.5
    # LLM tokens each expert's summary is projected to (motion carries the class: more tokens)
    motion_llm_tokens: int = Field(4, ge=1)
    # what the LLM reads: the experts' projected tokens (DEFT), or the per-region motion
    # statistics written as text (MELLM's design; the `deft-motion-text` peer)
    llm_input: Literal["experts", "motion_text"] = "experts"
    # weight experts by a cross-subject linear probe on training subjects
    expert_gating: bool = True
    # keep only the first N decoder layers of the LLM (None = all); a CPU speed knob
    llm_layers: int | None = None
    lora_targets: list[str] = ["q_proj", "v_proj"]
    # class decision, all from the LLM unless use_llm is off:
    #   "llm"     a class head on the LLM's final hidden state at the answer position
    #   "options" the likelihood of each "Emotion: <class>" answer under the decision instruction
    #   "hybrid"  both (sum of their log-probabilities)
    #   "head"    the experts' own linear head (what deft-no-llm uses; kept for analysis)
    decision: Literal["llm", "options", "hybrid", "head"] = "llm"
    explain_max_tokens: int = 32       # LLM-written Reasoning length for explain=True (0: no reasoning)
    # explain=True Evidence (see model.evidence): AU-head candidates at or above this probability,
    # at most this many, each kept only where the clip's own flow supports it
    evidence_au_threshold: float = 0.5
    evidence_max_aus: int = 3
    au_weight: float = 0.5             # auxiliary AU head loss weight
    lm_weight: float = 1.0             # answer-token language-model loss weight (stage 2)
    ce_weight: float = 1.0             # class cross-entropy weight on the LLM's class logits (stage 2)
    # training recipe for real data (macro UF1 is the metric)
    class_balanced: bool = True        # inverse-frequency class weights in every cross-entropy
    mirror_augment: bool = True        # mirror the face: u negated, left/right regions swapped
    # at prediction, average the class probabilities of the clip and of its mirror image
    mirror_tta: bool = True
    intensity_jitter: float = 0.2      # log-normal scale of the region flow statistics (0: off)
