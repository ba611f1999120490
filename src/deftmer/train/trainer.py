"""Training any model under Hugging Face Accelerate: one call for every model (`fit_model`).

A model either trains in one call (``fit``: the baselines) or declares its phases
(`deftmer.model.api.PhasedModel`: DEFT, see `deftmer.model.deft_training`). Phases are run here,
generically: the accelerator and its update step, progress, the loss log and per-phase timings
and throughput, and an atomic checkpoint after each phase and at every resumable point the
phase marks, so a killed run resumes where it stopped (same config and clips only).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deftmer.errors import CheckpointError, UserError
from deftmer.model.api import MERModel, PhasedModel, Progress
from deftmer.preprocess.records import ClipInputs
from deftmer.train.config import TrainConfig
from deftmer.utils.console import logger
from deftmer.utils.io import atomic_write_with

if TYPE_CHECKING:
    import torch

CHECKPOINT = "train_state.pt"


def _config_key(model: PhasedModel, n_clips: int) -> str:
    blob = json.dumps([*model.checkpoint_identity(), n_clips], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Checkpointer:
    """Atomic resumable training state: phase, step, trained weights, optimiser, RNG."""

    def __init__(self, directory: Path | None, key: str) -> None:
        self.path = Path(directory) / CHECKPOINT if directory else None
        self.key = key

    def load(self) -> dict | None:
        if self.path is None or not self.path.is_file():
            return None
        import torch  # lazy, like every heavy library on the CLI's import path

        state = torch.load(self.path, weights_only=False)
        if state.get("key") != self.key:
            raise CheckpointError(f"{self.path} was written by a different config or training set; "
                                  "delete it or use a fresh output folder")
        return state

    def save(self, model: PhasedModel, phase: str, step: int, opt: torch.optim.Optimizer | None, log: list) -> None:
        """``step`` 0: ``phase`` is complete; else ``step`` steps of ``phase`` are done."""
        if self.path is None:
            return
        import torch

        state = {"key": self.key, "phase": phase, "step": step, "weights": model.trained_state(),
                 "optimizer": opt.state_dict() if opt is not None else None,
                 "rng": torch.get_rng_state(), "log": log}
        atomic_write_with(self.path, lambda p: torch.save(state, p))


def _accelerator(tc):
    import torch
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=tc.mixed_precision,
                       gradient_accumulation_steps=tc.grad_accum)


def _data_parallel(acc, tc) -> bool:
    return bool(tc.data_parallel) and acc.num_processes > 1


def _shard(idx: torch.Tensor, acc, tc) -> torch.Tensor:
    """Under `accelerate launch` with data parallelism, each process takes its share of a batch."""
    return idx[acc.process_index::acc.num_processes] if _data_parallel(acc, tc) else idx


def _step(loss: torch.Tensor, opt: torch.optim.Optimizer, acc, tc) -> None:
    """Backward, average gradients across processes when data-parallel (what DDP does), update."""
    opt.zero_grad(set_to_none=True)
    acc.backward(loss)
    if _data_parallel(acc, tc):
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = acc.reduce(p.grad, reduction="mean")
    opt.step()


@dataclass
class _Context:
    """The `deftmer.model.api.TrainingContext` of one phase."""

    acc: Any
    tc: TrainConfig
    model: PhasedModel
    phase: str
    ckpt: _Checkpointer
    log: list
    stats: dict
    progress: Progress | None
    start_step: int = 0
    optimizer_state: dict | None = None
    device: Any = field(init=False)

    def __post_init__(self) -> None:
        self.device = self.acc.device

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        return _shard(idx, self.acc, self.tc)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        _step(loss, optimizer, self.acc, self.tc)

    def report(self, label: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(label, done, total)

    def checkpoint(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        self.ckpt.save(self.model, self.phase, step, optimizer, self.log)


def fit_model(model: MERModel, train: list[ClipInputs], progress: Progress | None = None,
              checkpoint_dir: Path | None = None, train_cfg: TrainConfig | None = None) -> dict:
    """Train ``model`` on ``train`` (training subjects only); returns its training stats.

    Phased models are run here (``checkpoint_dir`` keeps their resumable state; ``train_cfg``,
    by default the model config's ``train`` section, sets Accelerate's precision, gradient
    accumulation and data parallelism); one-call models get ``fit(train, progress)``.
    """
    if not hasattr(model, "training_phases"):
        return model.fit(train, progress=progress) or {}
    if not train:
        raise UserError("no training clips: the training split is empty")
    model.setup_training(train)
    model.stats = train_phases(model, train, train_cfg or model.cfg.train, progress, checkpoint_dir)
    return model.stats


def train_phases(model: PhasedModel, train: list[ClipInputs], tc: TrainConfig, progress: Progress | None = None,
                 checkpoint_dir: Path | None = None) -> dict:
    """Run the model's phases in order, resuming from ``checkpoint_dir``; returns per-loss means
    per phase, timings and throughput, and the stats the model's preparation and phases report."""
    acc = _accelerator(tc)
    t0 = time.perf_counter()
    phases, prep_stats = model.training_phases(train, acc.device)
    timings = {"features_s": time.perf_counter() - t0}
    samples: dict[str, int] = {}
    ckpt = _Checkpointer(checkpoint_dir, _config_key(model, len(train)))
    resume = ckpt.load()
    done_phase, done_step, log = "", 0, []
    if resume is not None:
        model.load_trained_state(resume["weights"], str(ckpt.path))
        import torch

        torch.set_rng_state(resume["rng"])
        done_phase, done_step, log = resume["phase"], resume["step"], resume["log"]
        logger.info("resuming training from %s (phase %s, step %d)", ckpt.path, done_phase, done_step)
    names = [p.name for p in phases]
    # the last phase complete (step 0) or partly done (step > 0)
    done = names.index(done_phase) + (1 if done_step == 0 else 0) if done_phase in names else 0
    extra: dict = {}
    for i, phase in enumerate(phases):
        t = time.perf_counter()
        if i >= done:
            partial = i == done and done_phase == phase.name and done_step > 0
            ctx = _Context(acc, tc, model, phase.name, ckpt, log, extra, progress,
                           start_step=done_step if partial else 0,
                           optimizer_state=resume["optimizer"] if partial else None)
            samples[phase.name] = phase.run(ctx)
            if i < len(phases) - 1 or len(phases) == 1:
                ckpt.save(model, phase.name, 0, None, log)
        timings[f"{phase.name}_s"] = time.perf_counter() - t
    return {**_stats(log, timings, t0, samples), **extra, **prep_stats}


def _stats(log: list, timings: dict, t0: float, samples: dict[str, int]) -> dict:
    """Mean of each logged loss per phase, timings, and each phase's training examples per second
    (what `fit` returns; a phase resumed from a checkpoint counts only the steps run now)."""
    out: dict = {}
    for phase in ("stage1", "stage2"):
        rows = [r for r in log if r["phase"] == phase]
        if phase == "stage1" and rows:
            rows = [rows[-1]]  # last epoch: what the experts ended at
        for key in {k for r in rows for k in r} - {"phase", "step", "epoch"}:
            vals = [r[key] for r in rows if key in r]
            out[f"{phase}/{key}"] = sum(vals) / len(vals)
    out.update({k: round(v, 3) for k, v in timings.items()})
    for phase, n in samples.items():
        seconds = timings.get(f"{phase}_s", 0.0)
        out[f"{phase}/samples"] = n
        if seconds > 0:
            out[f"{phase}/samples_per_s"] = round(n / seconds, 2)
    out["fit_s"] = round(time.perf_counter() - t0, 3)
    out["log"] = log
    return out
