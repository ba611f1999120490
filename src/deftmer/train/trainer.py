"""How DEFT trains on a list of clips (training subjects only), under Hugging Face Accelerate.

Stages (each loss is logged separately):
  0. expert weights in the class head from a cross-subject probe on the training subjects
     (``model.expert_gating``, see `deftmer.model.reliability`).
  1. expert alignment — experts + class head + AU head + disentanglement, ``stage1_epochs``
     over the clips but at least ``stage1_min_steps`` steps (cheap: the backbone is frozen and
     its features cached); then
     ``stage1_llm_steps`` steps aligning the projectors on answer tokens with the LLM frozen.
  2. instruction tuning on Uni-MER records of the training clips — LoRA + projectors +
     experts; loss = answer tokens + class CE (hybrid discriminative-generative) + AU +
     disentanglement; ``stage2_epochs`` capped at ``stage2_max_steps`` steps, because on CPU
     every LLM step is the expensive part of a LOSO fold.

No choice here looks at a test subject: the schedule is fixed. Batch order comes from
generators seeded by (seed, phase, epoch), so a run is repeatable bit-for-bit on CPU, and a
checkpoint (atomic) after each phase and every ``checkpoint_every`` stage-2 steps lets a killed
run resume where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from deftmer.errors import CheckpointError
from deftmer.utils.console import logger
from deftmer.utils.io import atomic_write_with

if TYPE_CHECKING:
    from deftmer.model.api import ClipInputs
    from deftmer.model.deft import DeftModel

CHECKPOINT = "train_state.pt"
Progress = Callable[[str, int, int], None]


def _perm(n: int, seed: int, phase: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + phase * 1009 + epoch)
    return torch.randperm(n, generator=g)


def _config_key(model: "DeftModel", n_clips: int) -> str:
    blob = json.dumps([model.cfg.model_dump(mode="json"), model.experts, n_clips], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Checkpointer:
    """Atomic resumable training state: phase, step, trained weights, optimiser, RNG."""

    def __init__(self, directory: Path | None, key: str) -> None:
        self.path = Path(directory) / CHECKPOINT if directory else None
        self.key = key

    def load(self) -> dict | None:
        if self.path is None or not self.path.is_file():
            return None
        state = torch.load(self.path, weights_only=False)
        if state.get("key") != self.key:
            raise CheckpointError(f"{self.path} was written by a different config or training set; "
                                  "delete it or use a fresh output folder")
        return state

    def save(self, model: "DeftModel", phase: str, step: int, opt: torch.optim.Optimizer | None, log: list) -> None:
        if self.path is None:
            return
        state = {"key": self.key, "phase": phase, "step": step, "weights": model.trained_state(),
                 "optimizer": opt.state_dict() if opt is not None else None,
                 "rng": torch.get_rng_state(), "log": log}
        atomic_write_with(self.path, lambda p: torch.save(state, p))


def _accelerator(cfg):
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=cfg.train.mixed_precision,
                       gradient_accumulation_steps=cfg.train.grad_accum)


def _data_parallel(acc, cfg) -> bool:
    return bool(cfg.train.data_parallel) and acc.num_processes > 1


def _shard(idx: torch.Tensor, acc, cfg) -> torch.Tensor:
    """Under `accelerate launch` with data parallelism, each process takes its share of a batch."""
    return idx[acc.process_index::acc.num_processes] if _data_parallel(acc, cfg) else idx


def _step(loss: torch.Tensor, opt: torch.optim.Optimizer, acc, cfg) -> None:
    """Backward, average gradients across processes when data-parallel (what DDP does), update."""
    opt.zero_grad(set_to_none=True)
    acc.backward(loss)
    if _data_parallel(acc, cfg):
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = acc.reduce(p.grad, reduction="mean")
    opt.step()


def _training_records(model: "DeftModel", train: list["ClipInputs"]):
    """Uni-MER instruction records of the training clips (flow-grounded, dual-constrained)."""
    from deftmer.unimer.builder import build_records

    return build_records(train, model.class_set, model.cfg.unimer, model.cfg.seed)


def train_deft(model: "DeftModel", train: list["ClipInputs"], progress: Progress | None = None,
               checkpoint_dir: Path | None = None) -> dict:
    """Run both stages on ``train``; returns per-loss means per phase and timings."""
    cfg, tc = model.cfg, model.cfg.train
    acc = _accelerator(cfg)
    dev = acc.device
    net = model.net
    assert net is not None
    t0 = time.perf_counter()
    data = model.tensors(train)
    if "motion" in data.feats:
        net.expert_modules["motion"].set_normalisation(data.feats["motion"])
    reliability = []
    if cfg.model.expert_gating and len(model.experts) > 1:
        from deftmer.model.reliability import expert_reliability

        reliability = expert_reliability(data.feats, model.experts, data.labels,
                                         [c.sample.subject for c in train])
        net.expert_gate.copy_(torch.tensor([r.weight for r in reliability]))
        logger.info("expert weights in the class head (cross-subject probe on training subjects): %s",
                    ", ".join(f"{r.expert} {r.weight:.2f} (bacc {r.balanced_accuracy:.2f})" for r in reliability))
    data = data.to(dev)
    net.to(dev)
    if model.llm is not None:
        model.llm.model.to(dev)
    timings = {"features_s": time.perf_counter() - t0}
    samples: dict[str, int] = {}   # training examples each phase processed (this run, for throughput)
    gate_stats = {f"gate/{r.expert}": round(r.weight, 4) for r in reliability}
    ckpt = _Checkpointer(checkpoint_dir, _config_key(model, len(train)))
    resume = ckpt.load()
    done_phase, done_step, log = "", 0, []
    if resume is not None:
        model.load_trained_state(resume["weights"], str(ckpt.path))
        torch.set_rng_state(resume["rng"])
        done_phase, done_step, log = resume["phase"], resume["step"], resume["log"]
        logger.info("resuming training from %s (phase %s, step %d)", ckpt.path, done_phase, done_step)
    order = ["", "stage1", "stage1_llm", "stage2"]
    n = len(train)
    bs = min(tc.batch_size, n)
    steps_per_epoch = max(1, n // bs)

    def report(phase: str, i: int, total: int) -> None:
        if progress is not None:
            progress(phase, i, total)

    # --- stage 1: experts + heads, no LLM ------------------------------------------------
    t1 = time.perf_counter()
    if order.index(done_phase) < order.index("stage1"):
        params = [p for p in net.parameters() if p.requires_grad and not _is_fusion(net, p)]
        opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
        net.train()
        epochs = max(tc.stage1_epochs, -(-tc.stage1_min_steps // steps_per_epoch))
        total = epochs * steps_per_epoch
        for ep in range(epochs):
            perm = _perm(n, cfg.seed, 1, ep)
            sums: dict[str, float] = {}
            for k in range(steps_per_epoch):
                batch = data.select(_shard(perm[k * bs:(k + 1) * bs], acc, cfg).to(dev))
                out = net(batch.feats)
                losses = model.expert_losses(out, batch)
                _step(sum(losses.values()), opt, acc, cfg)
                for name, v in losses.items():
                    sums[name] = sums.get(name, 0.0) + v.item()
                report("stage 1: experts", ep * steps_per_epoch + k + 1, total)
            log.append({"phase": "stage1", "epoch": ep, **{k: v / steps_per_epoch for k, v in sums.items()}})
        ckpt.save(model, "stage1", 0, None, log)
        samples["stage1"] = total * bs
    timings["stage1_s"] = time.perf_counter() - t1

    if model.llm is None:
        return {**_stats(log, timings, t0, samples), **gate_stats}
    # --- stage 1b: projectors on answer tokens, LLM frozen --------------------------------
    records = _training_records(model, train)
    index = {c.id: i for i, c in enumerate(train)}
    records = [r for r in records if r.sample_id in index]
    prompts = model.prompts
    rec_q = [prompts.query_ids(r.instruction) for r in records]
    rec_a = [prompts.answer_ids(r.answer, cfg.model.max_answer_tokens) for r in records]
    rec_clip = torch.tensor([index[r.sample_id] for r in records], dtype=torch.long)
    t2 = time.perf_counter()
    lora = [p for n_, p in model.llm.model.named_parameters() if "lora_" in n_]
    for p in lora:  # LLM fully frozen in stage 1b
        p.requires_grad_(False)
    if order.index(done_phase) < order.index("stage1_llm") and tc.stage1_llm_steps > 0 and records:
        opt = torch.optim.AdamW(list(net.fusion.parameters()), lr=tc.lr, weight_decay=tc.weight_decay)
        _llm_phase(model, data, rec_q, rec_a, rec_clip, opt, acc, "stage1_llm", 2, tc.stage1_llm_steps,
                   with_experts=False, log=log, report=report)
        samples["stage1_llm"] = tc.stage1_llm_steps * min(tc.llm_batch_size, len(records))
        ckpt.save(model, "stage1_llm", 0, None, log)
    timings["stage1_llm_s"] = time.perf_counter() - t2

    # --- stage 2: LoRA + projectors + experts on Uni-MER records -------------------------
    t3 = time.perf_counter()
    if order.index(done_phase) <= order.index("stage2") and records:
        for p in lora:
            p.requires_grad_(True)
        opt = torch.optim.AdamW([{"params": list(net.parameters()), "lr": tc.lr * 0.3},
                                 {"params": lora, "lr": tc.lora_lr}], weight_decay=tc.weight_decay)
        start = done_step if done_phase == "stage2" else 0
        if done_phase == "stage2" and resume is not None and resume["optimizer"] is not None:
            opt.load_state_dict(resume["optimizer"])
        steps = min(tc.stage2_max_steps, max(1, tc.stage2_epochs * max(1, len(records) // tc.llm_batch_size)))
        if start < steps:
            _llm_phase(model, data, rec_q, rec_a, rec_clip, opt, acc, "stage2", 3, steps, with_experts=True,
                       log=log, report=report, start=start, ckpt=ckpt)
            samples["stage2"] = (steps - start) * min(tc.llm_batch_size, len(records))
    timings["stage2_s"] = time.perf_counter() - t3
    stats = _stats(log, timings, t0, samples)
    stats["n_records"] = len(records)
    return {**stats, **gate_stats}


def _is_fusion(net, p: torch.nn.Parameter) -> bool:
    return net.fusion is not None and any(p is q for q in net.fusion.parameters())


def _llm_phase(model: "DeftModel", data, rec_q, rec_a, rec_clip, opt, acc, phase: str, phase_id: int, steps: int,
               with_experts: bool, log: list, report: Callable, start: int = 0, ckpt: _Checkpointer | None = None) -> None:
    """Steps over shuffled instruction records: answer-token loss (+ expert losses in stage 2)."""
    cfg = model.cfg
    net = model.net
    bs = min(cfg.train.llm_batch_size, len(rec_q))
    per_epoch = max(1, len(rec_q) // bs)
    net.train()
    model.llm.model.train()
    dev = acc.device
    for step in range(start, steps):
        ep, k = divmod(step, per_epoch)
        perm = _perm(len(rec_q), cfg.seed, phase_id, ep)
        idx = _shard(perm[k * bs:(k + 1) * bs], acc, cfg)
        batch = data.select(rec_clip[idx].to(dev))
        if with_experts:
            out = net(batch.feats)
            losses = model.expert_losses(out, batch)
        else:
            with torch.no_grad():
                out = net(batch.feats)
            losses = {}
        emb = model.expert_embeddings(out)
        with acc.autocast():
            losses["lm"] = cfg.model.lm_weight * model.answer_loss(emb, [rec_q[i] for i in idx.tolist()],
                                                                   [rec_a[i] for i in idx.tolist()])
        _step(sum(losses.values()), opt, acc, cfg)
        log.append({"phase": phase, "step": step, **{k_: v.item() for k_, v in losses.items()}})
        logger.debug("%s step %d: %s", phase, step, {k_: round(v.item(), 4) for k_, v in losses.items()})
        if ckpt is not None and (step + 1) % cfg.train.checkpoint_every == 0 and step + 1 < steps:
            ckpt.save(model, phase, step + 1, opt, log)
        report(phase, step + 1, steps)
    net.eval()
    model.llm.model.eval()


def _stats(log: list, timings: dict, t0: float, samples: dict[str, int]) -> dict:
    """Mean of each logged loss per phase, timings, and each phase's training examples per second
    (what `fit` returns; a phase resumed from a checkpoint counts only the steps run now)."""
    out: dict = {}
    for phase in ("stage1", "stage1_llm", "stage2"):
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
