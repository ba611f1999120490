"""How DEFT trains on a list of clips (training subjects only), under Hugging Face Accelerate.

Stages (each loss is logged separately):
  0. expert weights from a cross-subject probe on the training subjects
     (``model.expert_gating``, see `deftmer.model.reliability`).
  1. experts — the three experts with their own linear class head, the AU head and the
     disentanglement loss; ``stage1_epochs`` over the clips but at least ``stage1_min_steps``
     steps, one-cycle learning rate. Cheap: the backbone is frozen and its features cached.
  2. the LLM — ``stage2_epochs`` epochs over the training clips' complete Uni-MER answers
     (Emotion, Evidence, Reasoning; never cut) under the decision instruction: LoRA, the
     projectors and the LLM class head learn the hybrid objective, class cross-entropy on the
     LLM's class logits plus the language-model loss on every answer token. The experts stay
     as stage 1 left them unless ``train.stage2_train_experts``.

Every cross-entropy is class-balanced (``model.class_balanced``); each clip is seen as itself
or as its mirror image (u negated, left/right regions and AUs swapped; ``model.mirror_augment``),
and in stage 1 with its motion a bit stronger or weaker (``model.intensity_jitter``).
No choice here looks at a test subject: the schedule is fixed. Batch order and augmentation
come from generators seeded by (seed, phase, epoch), so a run is repeatable bit-for-bit on CPU,
and a checkpoint (atomic) after stage 1 and every ``checkpoint_every`` stage-2 steps lets a
killed run resume where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from deftmer.errors import CheckpointError
from deftmer.utils.console import logger
from deftmer.utils.io import atomic_write_with

if TYPE_CHECKING:
    from deftmer.preprocess.records import ClipInputs
    from deftmer.model.deft import ClipTensors, DeftModel

CHECKPOINT = "train_state.pt"
Progress = Callable[[str, int, int], None]
_ORDER = ["", "stage1", "stage2"]


def _gen(seed: int, phase: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + phase * 1009 + epoch)


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


@dataclass
class _Views:
    """The training clips' tensors as they are and as seen in a mirror, row for row."""

    plain: "ClipTensors"
    mirrored: "ClipTensors | None"

    def batch(self, idx: torch.Tensor, flip: torch.Tensor | None) -> "ClipTensors":
        b = self.plain.select(idx)
        if self.mirrored is None or flip is None or not flip.any():
            return b
        m = self.mirrored.select(idx)
        return type(b)({k: torch.where(flip.view(-1, *[1] * (v.dim() - 1)), m.feats[k], v) for k, v in b.feats.items()},
                       b.labels, torch.where(flip[:, None], m.au_targets, b.au_targets), b.au_mask)


def _flips(n: int, gen: torch.Generator, on: bool) -> torch.Tensor | None:
    return torch.rand(n, generator=gen) < 0.5 if on else None


def train_deft(model: "DeftModel", train: list["ClipInputs"], progress: Progress | None = None,
               checkpoint_dir: Path | None = None) -> dict:
    """Run both stages on ``train``; returns per-loss means per phase, timings and throughput."""
    cfg = model.cfg
    acc = _accelerator(cfg)
    dev = acc.device
    t0 = time.perf_counter()
    views, gate_stats = _prepare(model, train, dev)
    weights = model.class_weights(views.plain.labels)
    timings = {"features_s": time.perf_counter() - t0}
    samples: dict[str, int] = {}
    ckpt = _Checkpointer(checkpoint_dir, _config_key(model, len(train)))
    resume = ckpt.load()
    done_phase, done_step, log = "", 0, []
    if resume is not None:
        model.load_trained_state(resume["weights"], str(ckpt.path))
        torch.set_rng_state(resume["rng"])
        done_phase, done_step, log = resume["phase"], resume["step"], resume["log"]
        logger.info("resuming training from %s (phase %s, step %d)", ckpt.path, done_phase, done_step)

    def report(phase: str, i: int, total: int) -> None:
        if progress is not None:
            progress(phase, i, total)

    t1 = time.perf_counter()
    if _ORDER.index(done_phase) < _ORDER.index("stage1"):
        samples["stage1"] = _stage1(model, views, weights, acc, log, report)
        ckpt.save(model, "stage1", 0, None, log)
    timings["stage1_s"] = time.perf_counter() - t1
    if model.language is None:
        return {**_stats(log, timings, t0, samples), **gate_stats}

    t2 = time.perf_counter()
    answers = _answers(model, train, views)
    texts = _texts(model, train, views)
    n_done, answer_stats = _stage2(model, views, answers, texts, weights, acc, log, report, ckpt,
                                   done_step if done_phase == "stage2" else 0,
                                   resume["optimizer"] if resume is not None and done_phase == "stage2" else None)
    samples["stage2"] = n_done
    timings["stage2_s"] = time.perf_counter() - t2
    return {**_stats(log, timings, t0, samples), **answer_stats, **gate_stats}


def _prepare(model: "DeftModel", train: list["ClipInputs"], dev) -> tuple[_Views, dict]:
    """Stacked inputs (and mirrored inputs), motion standardisation and the expert gates."""
    from deftmer.model.inputs import mirror_clip

    net = model.net
    plain = model.tensors(train)
    mirrored = model.tensors([mirror_clip(c) for c in train]) if model.cfg.model.mirror_augment else None
    if "motion" in plain.feats:
        both = plain.feats["motion"] if mirrored is None else torch.cat([plain.feats["motion"],
                                                                       mirrored.feats["motion"]])
        net.expert_modules["motion"].set_normalisation(both)
    gate_stats: dict = {}
    if model.cfg.model.expert_gating and len(model.experts) > 1:
        from deftmer.model.reliability import expert_reliability

        rel = expert_reliability(plain.feats, model.experts, plain.labels, [c.sample.subject for c in train])
        net.expert_gate.copy_(torch.tensor([r.weight for r in rel]))
        logger.info("expert weights (cross-subject probe on training subjects): %s",
                    ", ".join(f"{r.expert} {r.weight:.2f} (bacc {r.balanced_accuracy:.2f})" for r in rel))
        gate_stats = {f"gate/{r.expert}": round(r.weight, 4) for r in rel}
    net.to(dev)
    if model.language is not None:
        model.language.llm.model.to(dev)
    return _Views(plain.to(dev), None if mirrored is None else mirrored.to(dev)), gate_stats


def _stage1(model: "DeftModel", views: _Views, weights, acc, log: list, report: Callable) -> int:
    """Experts + their heads, no LLM; returns the number of training examples processed."""
    cfg, tc, net = model.cfg, model.cfg.train, model.net
    n = views.plain.labels.shape[0]
    bs = min(tc.batch_size, n)
    per_epoch = max(1, n // bs)
    epochs = max(tc.stage1_epochs, -(-tc.stage1_min_steps // per_epoch))
    total = epochs * per_epoch
    params = [p for name, p in net.named_parameters() if not name.startswith(("fusion.", "decision_head."))]
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, tc.lr, total_steps=total)
    net.train()
    for ep in range(epochs):
        gen = _gen(cfg.seed, 1, ep)
        perm = torch.randperm(n, generator=gen)
        flips = _flips(n, gen, views.mirrored is not None)
        sums: dict[str, float] = {}
        for k in range(per_epoch):
            idx = _shard(perm[k * bs:(k + 1) * bs], acc, cfg)
            batch = model.jitter(views.batch(idx.to(views.plain.labels.device), None if flips is None else flips[idx]),
                                 gen)
            losses = model.expert_losses(net(batch.feats), batch, weights)
            _step(sum(losses.values()), opt, acc, cfg)
            sched.step()
            for name, v in losses.items():
                sums[name] = sums.get(name, 0.0) + v.item()
            report("stage 1: experts", ep * per_epoch + k + 1, total)
        log.append({"phase": "stage1", "epoch": ep, **{k: v / per_epoch for k, v in sums.items()}})
    net.eval()
    return total * bs


def _answers(model: "DeftModel", train: list["ClipInputs"], views: _Views) -> tuple[list, list | None]:
    """Token ids of each training clip's complete Uni-MER answer (and of its mirror's)."""
    from deftmer.model.inputs import mirror_clip
    from deftmer.unimer.builder import full_answers

    prompts = model.language.prompts

    def ids(clips):
        texts = full_answers(clips, model.class_set, model.cfg.unimer)
        return [prompts.answer_ids(t) for t in texts]

    plain = ids(train)
    mirrored = ids([mirror_clip(c) for c in train]) if views.mirrored is not None else None
    return plain, mirrored


def _texts(model: "DeftModel", train: list["ClipInputs"], views: _Views) -> tuple[list, list | None] | None:
    """Motion text ids of each training clip (and its mirror) when the LLM reads text, else None."""
    from deftmer.model.inputs import mirror_clip

    plain = model.text_inputs(train)
    if plain is None:
        return None
    return plain, model.text_inputs([mirror_clip(c) for c in train]) if views.mirrored is not None else None


def _epoch_batches(n: int, bs: int, gen: torch.Generator, lengths: list[int] | None) -> list[torch.Tensor]:
    """One epoch's batches of row indices, in a seeded random order.

    With ``lengths`` (answer tokens per row), rows are sorted by length inside windows of eight
    batches, so a batch pads to a length close to its rows' own: on CPU every padding token
    costs a pass through the LLM. The order of the batches is shuffled again.
    """
    perm = torch.randperm(n, generator=gen)
    if lengths is not None:
        window = bs * 8
        perm = torch.cat([w[torch.argsort(torch.tensor([lengths[i] for i in w.tolist()]), stable=True)]
                          for w in perm.split(window)])
    batches = list(perm.split(bs))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


@dataclass
class _Stage2Plan:
    """Stage 2's steps: ``hybrid`` epochs with answers, then ``decision`` epochs without."""

    n: int
    bs: int
    hybrid: int
    decision: int

    @property
    def per_epoch(self) -> int:
        return -(-self.n // self.bs)

    @property
    def steps(self) -> int:
        return (self.hybrid + self.decision) * self.per_epoch

    def batch(self, step: int, seed: int, lengths: list[int], flip_on: bool) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """Row indices, the epoch's mirror flag of every row, and whether answers are trained."""
        ep, k = divmod(step, self.per_epoch)
        gen = _gen(seed, 2, ep)
        flips = _flips(self.n, gen, flip_on)
        with_answers = ep < self.hybrid
        return _epoch_batches(self.n, self.bs, gen, lengths if with_answers else None)[k], flips, with_answers


def _stage2_optimiser(model: "DeftModel", tc) -> torch.optim.Optimizer:
    net = model.net
    lora = [p for name, p in model.llm.model.named_parameters() if "lora_" in name]
    for p in lora:
        p.requires_grad_(True)
    heads = ([] if net.fusion is None else list(net.fusion.parameters())) + list(net.decision_head.parameters())
    groups = [{"params": heads, "lr": tc.stage2_lr}, {"params": lora, "lr": tc.lora_lr}]
    if tc.stage2_train_experts:
        groups.append({"params": list(net.expert_modules.parameters()) + list(net.class_head.parameters()),
                       "lr": tc.lr * 0.1})
    return torch.optim.AdamW(groups, weight_decay=tc.weight_decay)


def _stage2(model: "DeftModel", views: _Views, answers: tuple[list, list | None], texts, weights, acc, log: list,
            report: Callable, ckpt: _Checkpointer, start: int, opt_state: dict | None) -> tuple[int, dict]:
    """Epochs of the hybrid objective, then of the decision alone (see module docstring)."""
    cfg, tc, net = model.cfg, model.cfg.train, model.net
    n = views.plain.labels.shape[0]
    plan = _Stage2Plan(n, min(tc.llm_batch_size, n), tc.stage2_epochs, tc.stage2_decision_epochs)
    lengths = [len(a) for a in answers[0] + (answers[1] or [])]
    stats = {"stage2/answer_tokens_max": max(lengths), "stage2/answer_tokens_mean": round(sum(lengths) / len(lengths), 1)}
    if plan.steps == 0:
        return 0, stats
    opt = _stage2_optimiser(model, tc)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    model.llm.model.train()
    done = 0
    for step in range(start, plan.steps):
        idx, flips, with_answers = plan.batch(step, cfg.seed, [len(a) for a in answers[0]], views.mirrored is not None)
        idx = _shard(idx, acc, cfg)
        flip = None if flips is None else flips[idx]
        batch = views.batch(idx.to(views.plain.labels.device), flip)
        pick = [(1 if flip is not None and flip[j] else 0, i) for j, i in enumerate(idx.tolist())]
        ans = [answers[v][i] for v, i in pick] if with_answers else None
        text = None if texts is None else [texts[v][i] for v, i in pick]
        net.train(tc.stage2_train_experts)
        if net.fusion is not None:
            net.fusion.train()
        net.decision_head.train()
        with torch.set_grad_enabled(tc.stage2_train_experts):
            out = net(batch.feats)
        losses = model.llm_losses(out, batch, ans, weights, text)
        if tc.stage2_train_experts:
            losses.update(model.expert_losses(out, batch, weights))
        _step(sum(losses.values()), opt, acc, cfg)
        done += len(idx)
        log.append({"phase": "stage2", "step": step, **{k_: v.item() for k_, v in losses.items()}})
        if (step + 1) % tc.checkpoint_every == 0 and step + 1 < plan.steps:
            ckpt.save(model, "stage2", step + 1, opt, log)
        report("stage 2: LLM", step + 1, plan.steps)
    net.eval()
    model.llm.model.eval()
    return done, stats


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
