"""Settings of training: stages, epochs, optimiser; no choice here may look at a test subject."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage1_epochs: int = 10
    # small training sets give few steps per epoch: stage 1 runs at least this many steps
    # (extra epochs), so 40 clips train as long as 400 do; cheap since it never touches the LLM
    stage1_min_steps: int = 150
    stage2_epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-3
    lora_lr: float = 2e-4
    weight_decay: float = 0.01
    grad_accum: int = 1
    mixed_precision: str = "no"
    # False: train inside this one process even under `accelerate launch` (no DDP wrapping, no
    # data sharding). The LOSO runner sets it when it spreads whole folds over processes.
    data_parallel: bool = True
    # stage 1b: projectors aligned on answer tokens with the LLM frozen (steps, not epochs)
    stage1_llm_steps: int = 1
    # stage 2 (LoRA + projectors on Uni-MER records) runs stage2_epochs, capped at this many steps
    stage2_max_steps: int = 6
    llm_batch_size: int = 8            # records per LLM step (each costs a pass through the LLM)
    checkpoint_every: int = 4          # stage-2 steps between resumable checkpoints
