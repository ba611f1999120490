"""DEFT's configuration (the ``model`` section of the experiment config): `DeftConfig`.

Every field is documented below (its docstring is its description, shown by
``DeftConfig.model_json_schema()``). The modelling code that reads it is `deftmer.model.deft`;
which experts, vision backbone and LLM exist is their registries' business
(`deftmer.model.registry`), and the config only names them.

Configs written before ``experts`` existed switched experts with ``use_structure``,
``use_dynamic`` and ``use_motion``; those keys are still read (each switches its expert in
or out of ``experts``), so old YAML files, ``--set model.use_motion=false`` and old model
folders keep working. The config is saved with ``experts`` only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deftmer.model.registry import EXPERTS

#: how a clip's flow field is brought to one scale (see `deftmer.model.inputs.flow_field`)
FieldScale = Literal["p99", "rms", "rms_sqrt"]

#: DEFT's experts in their canonical order (the default of ``model.experts``)
DEFAULT_EXPERTS: tuple[str, ...] = ("structure", "dynamic", "motion")
#: the switches older configs used, and the expert each one switches
LEGACY_EXPERT_FLAGS: dict[str, str] = {"use_structure": "structure", "use_dynamic": "dynamic", "use_motion": "motion"}


class DeftConfig(BaseModel):
    """Settings of the DEFT model: which experts, which LLM, LoRA, fusion and how the class is decided."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = "deft"
    """The registered model a run trains: ``deft``, an ablation (``deft-no-llm``, ...) or a baseline
    (``mdmo-svm``, ...); ``deftmer models`` lists them."""
    llm: str = "smollm2-135m"
    """The LLM: a registered name (``smollm2-135m``: SmolLM2-135M-Instruct; ``tiny``: a 2-layer Llama
    built in code, for tests) or a local Hugging Face model folder."""
    vision: str = "efficientnet-lite0"
    """The frozen vision backbone of the structure and dynamic-texture experts: a registered name
    (``efficientnet-lite0``) or a local Hugging Face vision checkpoint folder."""
    experts: list[str] = Field(default_factory=lambda: list(DEFAULT_EXPERTS))
    """The experts, in the order their tokens reach the LLM: ``structure`` (the onset face),
    ``dynamic`` (difference and dynamic images; left out for clips without an onset frame) and
    ``motion`` (flow and strain per AU region, and the flow field)."""
    use_llm: bool = True
    """Decide with the LLM; off: the experts and their linear head only (``deft-no-llm``)."""
    expert_dim: int = 256
    """Width of every expert's tokens and summary."""
    lora_rank: int = 8
    """Rank of the LoRA adapters on the LLM."""
    lora_alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA adapters' input."""
    disentangle_weight: float = 0.1
    """Weight of the loss that keeps the experts' summaries uncorrelated (0: off)."""
    image_size: int = 224
    """Side of the square images the vision backbone reads."""
    vision_tokens: int = 1
    """Pooled backbone tokens per image (a square number: 1, 4, 9, ...)."""
    dropout: float = 0.1
    """Dropout inside the experts."""
    motion_field_size: int | None = Field(28, ge=8, le=224)
    """Side of the u/v/strain field the motion expert also reads (28: the public flow packs' size);
    None: region statistics only."""
    motion_field_scale: FieldScale = "p99"
    """How each clip's field is brought to one scale (`deftmer.model.inputs.flow_field`): its flow
    magnitude's 99th percentile (``p99``), its root mean square (``rms``), or ``rms`` followed by a
    signed square root (``rms_sqrt``). ``field-svm`` reads the field the same way."""
    motion_field_channels: tuple[int, ...] = (6, 10, 16)
    """Widths of the parallel conv branches that read the flow field."""
    motion_field_dropout: float = 0.5
    """Dropout before the flow field's linear readout."""
    motion_field_only_summary: bool = False
    """True: the motion expert's summary (what its class head, AU head and the LLM projector read)
    comes from the flow field alone; the AU-region tokens are then not computed. Needs
    ``motion_field_size``."""
    motion_llm_tokens: int = Field(4, ge=1)
    """LLM tokens the motion expert's summary is projected to (every other expert: one)."""
    llm_input: Literal["experts", "motion_text"] = "experts"
    """What the LLM reads: the experts' projected tokens (DEFT), or the per-region motion statistics
    written as text (MELLM's design; the ``deft-motion-text`` peer)."""
    expert_gating: bool = True
    """Weight each expert by a cross-subject linear probe on the training subjects (`model.reliability`)."""
    llm_layers: int | None = None
    """Keep only the first N decoder layers of the LLM (None: all); a CPU speed knob."""
    llm_attention: Literal["auto", "eager", "sdpa"] = "auto"
    """How the LLM computes attention: ``eager`` (plain matrix products), ``sdpa`` (PyTorch's fused
    kernel) or ``auto``: eager on a CPU-only machine, where the fused kernel's backward pass is slow
    for DEFT's short rows (stage 2 1.14x faster in `benchmarks/bench_stage2.py`, 1.2x on a dev-pack fit), sdpa with CUDA.
    Both compute the same attention; results differ only by float rounding."""
    lora_targets: list[str] = ["q_proj", "v_proj"]
    """The LLM's linear layers that get LoRA adapters."""
    decision: Literal["llm", "words", "options", "hybrid", "joint", "head"] = "joint"
    """How the class is decided (with ``use_llm``): ``joint`` (the default) the LLM's class head and
    the experts' own head together, the product of their two distributions renormalised (the sum of
    their log-probabilities), so every class the model gives is the LLM's distribution weighed with
    the experts' evidence; ``llm`` the LLM's class head alone (a head on its final hidden state at
    the answer position); ``words`` the LLM's own next-word logits of the class words where its answer
    names the class (the assistant turn opens with ``Emotion:``; no new head, the class cross-entropy
    and the answer's language-model loss train the same word); ``options`` the likelihood of each
    ``Emotion: <class>`` answer under the decision instruction; ``hybrid`` ``llm`` and ``options``;
    ``head`` the experts' own linear head (what ``deft-no-llm`` uses; kept for analysis). Training
    does not depend on the decision but for ``words``. On the dev pack (LOSO, the same trained models
    scored each way, five seeds) ``joint`` is ahead of ``llm`` at every seed and of the experts' head at
    four: mean UF1 0.779 against 0.760 and 0.770 (seed sd 0.008 against 0.017 and 0.005); across
    databases it beats the raw-map SVM both ways at every seed, where ``llm`` alone falls to 0.505
    CASME II -> SMIC at one. ``words``: LOSO seeds 0 / 1 UF1 0.747 / 0.767 against ``llm``'s 0.774 / 0.765."""
    explain_max_tokens: int = 32
    """Length of the LLM-written Reasoning with ``explain=True`` (0: no reasoning)."""
    evidence_au_threshold: float = 0.5
    """Evidence with ``explain=True`` (`model.evidence`): the AU head's candidates at or above this
    probability, each kept only where the clip's own flow supports it."""
    evidence_max_aus: int = 3
    """Evidence with ``explain=True``: at most this many AUs."""
    au_weight: float = 0.5
    """Weight of the auxiliary AU head loss."""
    lm_weight: float = 1.0
    """Weight of the language-model loss on the answer tokens (stage 2)."""
    ce_weight: float = 1.0
    """Weight of the class cross-entropy on the LLM's class logits (stage 2)."""
    llm_label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    """Label smoothing of the class cross-entropy on the LLM's class logits (stage 2 only; the
    experts' head keeps hard labels): a regulariser for the LLM path, which fits its ~300 training
    clips with far more parameters than the experts' linear head. Off: at 0.1, leave-one-database-out on
    the dev pack (seeds 0-2) is worse (pooled UF1 0.720 against 0.738; CASME II -> SMIC 0.643 against 0.662)."""
    distill_weight: float = Field(0.0, ge=0.0)
    """Weight of a distillation term in stage 2: the KL divergence from the experts' own head
    (frozen, the teacher) to the LLM's class distribution, both softened by ``distill_temperature``
    (times its square, Hinton et al. 2015). On training clips the experts' head is ~99% right, so its
    hard labels say nothing the class CE does not; its softened logits carry how it ranks the other
    classes, which the LLM's class head learns to follow (measured with the LLM head deciding alone). Off: on the
    dev pack (LOSO, seeds 0-2, the same experts as the default) UF1 / UAR 0.770 / 0.773 against 0.757 / 0.768, but
    leave-one-database-out worse (seeds 0-2, CASME II -> SMIC UF1 0.605 against 0.662; at weight 0.25, 0.580)."""
    distill_temperature: float = Field(2.0, gt=0.0)
    """Softening temperature of the distillation term (``distill_weight``)."""
    class_balanced: bool = True
    """Inverse-frequency class weights in every cross-entropy (macro UF1 is the metric)."""
    mirror_augment: bool = True
    """Train on mirrored faces too: u negated, left/right regions and AUs swapped."""
    mirror_tta: bool = True
    """At prediction, average the class probabilities of the clip and of its mirror image."""
    intensity_jitter: float = 0.2
    """Log-normal scale of the random strength given to the region flow statistics in stage 1 (0: off)."""
    mixup_alpha: float = Field(0.0, ge=0.0)
    """Stage 1 trains on mixtures of two clips (mixup, Zhang et al. 2018): every expert input and the
    class and AU targets blended with a weight drawn per clip from Beta(alpha, alpha); 0: off. The
    experts fit their ~300 training clips almost perfectly, so stage 2 sees over-confident expert
    tokens; mixup is the standard regulariser for that on small sets. Off: on the dev pack at 0.4 it
    lifts ``deft-no-llm`` (LOSO seeds 0-2 UF1 0.775 / 0.779 / 0.784 against 0.764 / 0.760 / 0.761;
    leave-one-database-out pooled 0.746 against 0.736) but not DEFT's LLM decision (LOSO seeds 0-1 0.741 / 0.759
    against 0.774 / 0.765; 0.022 below its own experts' head at both seeds)."""

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_flags(cls, data: Any) -> Any:
        """``use_structure``/``use_dynamic``/``use_motion`` (older configs) switch experts in ``experts``."""
        if not isinstance(data, dict) or not any(k in data for k in LEGACY_EXPERT_FLAGS):
            return data
        data = dict(data)
        experts = list(data.get("experts", DEFAULT_EXPERTS))
        for key, name in LEGACY_EXPERT_FLAGS.items():
            if key not in data:
                continue
            on = data.pop(key)
            if not isinstance(on, bool):
                raise ValueError(f"{key} must be true or false (it switches the {name} expert; "
                                 f"model.experts lists the experts now)")
            if not on and name in experts:
                experts.remove(name)
            elif on and name not in experts:
                experts = [e for e in DEFAULT_EXPERTS if e in experts or e == name] + \
                          [e for e in experts if e not in DEFAULT_EXPERTS]
        data["experts"] = experts
        return data

    @model_validator(mode="after")
    def _field_only_needs_a_field(self) -> DeftConfig:
        """Caught at config load, not after minutes of feature extraction."""
        if self.motion_field_only_summary and not self.motion_field_size:
            raise ValueError("motion_field_only_summary needs motion_field_size (the field the motion expert reads)")
        return self

    @field_validator("experts")
    @classmethod
    def _known_experts(cls, names: list[str]) -> list[str]:
        known = list(dict.fromkeys([*DEFAULT_EXPERTS, *EXPERTS.names()]))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown expert '{unknown[0]}'; known experts: {', '.join(known)}")
        if len(set(names)) != len(names):
            raise ValueError(f"an expert is named twice in {names}")
        if not names:
            raise ValueError(f"every expert is switched off; name at least one of {', '.join(known)}")
        return names
