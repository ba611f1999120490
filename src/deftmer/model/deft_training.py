"""How DEFT trains: its preparation and its two phases, run by `deftmer.train.trainer`.

The trainer is generic (Accelerate, checkpoints, resume, progress); this module says what DEFT
trains in each phase, on which parameters, with which losses:

  0. preparation — the clips' stacked inputs (and their mirror images), the experts' input
     statistics (the motion expert's standardisation), and the expert weights from a cross-subject probe on the training
     subjects (``model.expert_gating``, see `deftmer.model.reliability`).
  1. ``stage1`` experts — the three experts with their own linear class head, the AU head and
     the disentanglement loss; ``stage1_epochs`` over the clips but at least
     ``stage1_min_steps`` steps, one-cycle learning rate. Cheap: the backbone is frozen and its
     features cached.
  2. ``stage2`` the LLM — ``stage2_epochs`` epochs over the training clips' complete Uni-MER
     answers (Emotion, Evidence, Reasoning; never cut) under the decision instruction: LoRA, the
     projectors and the LLM class head learn the hybrid objective, class cross-entropy on the
     LLM's class logits plus the language-model loss on every answer token (of a seeded
     ``stage2_answer_share`` of the clips each epoch; the others learn the class alone, in a short
     pass of their own); then ``stage2_decision_epochs`` (none by default) of the class
     cross-entropy alone, more if needed to reach ``stage2_min_steps`` steps on a small set. The
     learning rates decay linearly to zero over these steps (``train.stage2_lr_schedule``). The
     experts stay as stage 1 left them unless ``train.stage2_train_experts``.

With ``train.stage2_heldout`` the two stages train on different subjects: stage 1 on the kept
ones, stage 2 on the held-out ones, whose expert evidence is then as uncertain as a test clip's.
With ``train.stage2_crossfit`` both stages train on every clip, but stage 2 reads each clip's
expert tokens from a copy of the experts trained on the other half of the subjects
(`deftmer.model.deft_crossfit`).

Every cross-entropy is class-balanced (``model.class_balanced``); each clip is seen as itself
or as its mirror image (u negated, left/right regions and AUs swapped; ``model.mirror_augment``),
and in stage 1 with its motion a bit stronger or weaker (``model.intensity_jitter``).
No choice here looks at a test subject: the schedule is fixed. Batch order and augmentation
come from generators seeded by (seed, phase, epoch), so a run is repeatable bit-for-bit on CPU,
and stage 2 marks a resumable point every ``checkpoint_every`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from deftmer.data.subject_split import held_out_subjects
from deftmer.model.api import TrainingContext, TrainingPhase
from deftmer.model.deft_crossfit import CrossFitSummaries, crossfit_summaries
from deftmer.model.deft_inputs import Mixup
from deftmer.model.inputs import mirror_clip
from deftmer.model.reliability import expert_reliability
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.builder import full_answers
from deftmer.utils.console import logger

if TYPE_CHECKING:
    from deftmer.model.deft import DeftModel
    from deftmer.model.deft_inputs import ClipTensors


def training_phases(model: DeftModel, train: list[ClipInputs], dev) -> tuple[list[TrainingPhase], dict]:
    """DEFT's phases on ``train`` (stage 2 only with an LLM) and the preparation's stats."""
    views, gate_stats = _prepare(model, train, dev)
    rows1, rows2 = _stage_rows(model, train)
    views1, views2 = views.select(rows1), views.select(rows2)
    train2 = [train[i] for i in rows2.tolist()]
    crossfit = _crossfits(model)
    init_state = {k: v.detach().clone() for k, v in model.net.state_dict().items()} if crossfit else None

    def stage1(ctx: TrainingContext) -> int:
        return _stage1(model, model.net, views1, ctx)

    def stage2(ctx: TrainingContext) -> int:
        oof = _crossfit(model, init_state, train2, views2, ctx) if crossfit else None
        n_done, answer_stats = _stage2(model, views2, _answers(model, train2, views2), _texts(model, train2, views2),
                                       model.class_weights(views2.plain.labels), ctx, oof)
        ctx.stats.update(answer_stats)
        return n_done

    phases = [TrainingPhase("stage1", stage1)]
    if model.language is not None:
        phases.append(TrainingPhase("stage2", stage2))
    return phases, gate_stats


def _stage_rows(model: DeftModel, train: list[ClipInputs]) -> tuple[torch.Tensor, torch.Tensor]:
    """The training rows of stage 1 and of stage 2: all of them, or (``train.stage2_heldout``)
    the kept subjects' for the experts and the held-out subjects' for the LLM."""
    everything = torch.arange(len(train))
    share = model.cfg.train.stage2_heldout
    if not share or model.language is None or model.cfg.model.llm_input != "experts":
        return everything, everything   # only an LLM that reads the experts' tokens can learn to copy them
    held = held_out_subjects([c.sample for c in train], share, model.cfg.seed)
    is_held = torch.tensor([c.sample.subject in held for c in train], dtype=torch.bool)
    if is_held.all() or not is_held.any():
        logger.info("train.stage2_heldout=%s: too few training subjects to hold some out; both stages "
                    "train on every clip", share)
        return everything, everything
    logger.info("stage 2 trains on %d clips of %d held-out subjects; the experts on the other %d clips",
                int(is_held.sum()), len(held), int((~is_held).sum()))
    return everything[~is_held], everything[is_held]


def _crossfits(model: DeftModel) -> bool:
    """Whether stage 2 reads cross-fitted expert tokens (only an LLM reading expert tokens can)."""
    return bool(model.cfg.train.stage2_crossfit and model.language is not None
                and model.cfg.model.llm_input == "experts")


def _crossfit(model: DeftModel, init_state: dict, train: list[ClipInputs], views: _Views,
              ctx: TrainingContext) -> CrossFitSummaries | None:
    """Stage 2's cross-fitted expert summaries: two half-subject copies of the experts, each
    trained as stage 1 trains (see `deftmer.model.deft_crossfit`)."""
    def fit(net, rows: torch.Tensor, k: int) -> None:
        _stage1(model, net, views.select(rows), ctx, label=f"stage 2: cross-fit experts {k + 1}/2",
                log_phase="crossfit")

    oof = crossfit_summaries(model.net, init_state, [c.sample for c in train], views.plain, views.mirrored,
                             model.cfg.seed, fit)
    if oof is not None:
        ctx.stats["stage2/crossfit_expert_bacc"] = round(oof.balanced_accuracy, 4)
        logger.info("cross-fitted experts: balanced accuracy %.3f on the subjects each never saw",
                    oof.balanced_accuracy)
    return oof


def _gen(seed: int, phase: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + phase * 1009 + epoch)



@dataclass
class _Views:
    """The training clips' tensors as they are and as seen in a mirror, row for row."""

    plain: ClipTensors
    mirrored: ClipTensors | None

    def select(self, rows: torch.Tensor) -> _Views:
        """These rows only (all rows: the views themselves)."""
        if len(rows) == self.plain.labels.shape[0]:
            return self
        rows = rows.to(self.plain.labels.device)
        return _Views(self.plain.select(rows), None if self.mirrored is None else self.mirrored.select(rows))

    def batch(self, idx: torch.Tensor, flip: torch.Tensor | None) -> ClipTensors:
        b = self.plain.select(idx)
        if self.mirrored is None or flip is None or not flip.any():
            return b
        m = self.mirrored.select(idx)
        return type(b)({k: torch.where(flip.view(-1, *[1] * (v.dim() - 1)), m.feats[k], v) for k, v in b.feats.items()},
                       b.labels, torch.where(flip[:, None], m.au_targets, b.au_targets), b.au_mask)


def _flips(n: int, gen: torch.Generator, on: bool) -> torch.Tensor | None:
    return torch.rand(n, generator=gen) < 0.5 if on else None


def _prepare(model: DeftModel, train: list[ClipInputs], dev) -> tuple[_Views, dict]:
    """Stacked inputs (and mirrored inputs), the experts' input statistics and the expert gates."""
    net = model.net
    plain = model.tensors(train)
    mirrored = model.tensors([mirror_clip(c) for c in train]) if model.cfg.model.mirror_augment else None
    net.fit_statistics([plain.feats] + ([] if mirrored is None else [mirrored.feats]))
    gate_stats: dict = {}
    if model.cfg.model.expert_gating and len(model.experts) > 1:
        rel = expert_reliability(plain.feats, model.experts, plain.labels, [c.sample.subject for c in train])
        net.expert_gate.copy_(torch.tensor([r.weight for r in rel]))
        logger.info("expert weights (cross-subject probe on training subjects): %s",
                    ", ".join(f"{r.expert} {r.weight:.2f} (bacc {r.balanced_accuracy:.2f})" for r in rel))
        gate_stats = {f"gate/{r.expert}": round(r.weight, 4) for r in rel}
    net.to(dev)
    if model.language is not None:
        model.language.llm.model.to(dev)
    return _Views(plain.to(dev), None if mirrored is None else mirrored.to(dev)), gate_stats


def _stage1(model: DeftModel, net, views: _Views, ctx: TrainingContext, label: str = "stage 1: experts",
            log_phase: str = "stage1") -> int:
    """``net``'s experts + their heads, no LLM; returns the number of training examples processed."""
    cfg, tc = model.cfg, model.cfg.train
    weights = model.class_weights(views.plain.labels)
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
            idx = ctx.shard(perm[k * bs:(k + 1) * bs])
            batch = model.jitter(views.batch(idx.to(views.plain.labels.device), None if flips is None else flips[idx]),
                                 gen)
            mix = Mixup.draw(len(idx), gen, cfg.model.mixup_alpha)
            if mix is not None:
                batch = mix.inputs(batch)
            losses = model.expert_losses(net(batch.feats), batch, weights, mix)
            ctx.step(sum(losses.values()), opt)
            sched.step()
            for name, v in losses.items():
                sums[name] = sums.get(name, 0.0) + v.item()
            ctx.report(label, ep * per_epoch + k + 1, total)
        ctx.log.append({"phase": log_phase, "epoch": ep, **{k: v / per_epoch for k, v in sums.items()}})
    net.eval()
    return total * bs


def _answers(model: DeftModel, train: list[ClipInputs], views: _Views) -> tuple[list, list | None]:
    """Token ids of each training clip's complete Uni-MER answer (and of its mirror's)."""
    prompts = model.language.prompts

    def ids(clips):
        texts = full_answers(clips, model.class_set, model.cfg.unimer)
        return [prompts.answer_ids(t) for t in texts]

    plain = ids(train)
    mirrored = ids([mirror_clip(c) for c in train]) if views.mirrored is not None else None
    return plain, mirrored


def _texts(model: DeftModel, train: list[ClipInputs], views: _Views) -> tuple[list, list | None] | None:
    """Motion text ids of each training clip (and its mirror) when the LLM reads text, else None."""
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
    answer_share: float = 1.0    # of the rows in a hybrid epoch that train their answer

    @property
    def per_epoch(self) -> int:
        return -(-self.n // self.bs)

    @property
    def steps(self) -> int:
        return (self.hybrid + self.decision) * self.per_epoch

    def answered(self, epoch: int, seed: int) -> torch.Tensor:
        """Which rows train their answer in ``epoch``: all in a hybrid epoch at share 1, a seeded
        ``answer_share`` of them otherwise, none in a decision epoch."""
        if epoch >= self.hybrid:
            return torch.zeros(self.n, dtype=torch.bool)
        if self.answer_share >= 1.0:
            return torch.ones(self.n, dtype=torch.bool)
        k = max(1, round(self.answer_share * self.n))
        rows = torch.randperm(self.n, generator=_gen(seed, 3, epoch))[:k]
        return torch.zeros(self.n, dtype=torch.bool).index_fill_(0, rows, True)

    def batch(self, step: int, seed: int, lengths: list[int],
              flip_on: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Row indices, the epoch's mirror flag of every row, and which of the rows train their answer."""
        ep, k = divmod(step, self.per_epoch)
        gen = _gen(seed, 2, ep)
        flips = _flips(self.n, gen, flip_on)
        answered = self.answered(ep, seed)
        grouped = [n if a else 0 for n, a in zip(lengths, answered.tolist())] if ep < self.hybrid else None
        idx = _epoch_batches(self.n, self.bs, gen, grouped)[k]
        return idx, flips, answered[idx]


def _stage2_plan(n: int, tc) -> _Stage2Plan:
    """The configured epochs, with decision epochs added up to ``stage2_min_steps`` steps."""
    plan = _Stage2Plan(n, min(tc.llm_batch_size, n), tc.stage2_epochs, tc.stage2_decision_epochs,
                       tc.stage2_answer_share)
    if plan.steps == 0 or plan.steps >= tc.stage2_min_steps:
        return plan
    missing = -(-(tc.stage2_min_steps - plan.steps) // plan.per_epoch)
    logger.info("stage 2: %d steps per epoch over %d clips; %d decision epoch(s) added to reach "
                "train.stage2_min_steps=%d", plan.per_epoch, n, missing, tc.stage2_min_steps)
    return replace(plan, decision=plan.decision + missing)


def _stage2_optimiser(model: DeftModel, tc) -> torch.optim.Optimizer:
    net = model.net
    lora = [p for name, p in model.llm.model.named_parameters() if "lora_" in name]
    for p in lora:
        p.requires_grad_(True)
    heads = ([] if net.fusion is None else list(net.fusion.parameters())) + list(net.decision_head.parameters())
    groups = [{"params": heads, "lr": tc.stage2_lr}, {"params": lora, "lr": tc.lora_lr}]
    if tc.stage2_train_experts:
        groups.append({"params": list(net.expert_modules.parameters()) + list(net.class_head.parameters()),
                       "lr": tc.lr * 0.1})
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.AdamW(groups, weight_decay=tc.weight_decay)


def _schedule_lr(opt: torch.optim.Optimizer, step: int, steps: int, schedule: str) -> None:
    """Set each group's rate for ``step`` of ``steps`` from its ``base_lr``: a function of the
    step index alone, so a run resumed mid-stage continues the same schedule."""
    factor = 1.0 if schedule == "constant" else 1.0 - step / steps
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * factor


def _stage2(model: DeftModel, views: _Views, answers: tuple[list, list | None], texts, weights,
            ctx: TrainingContext, oof: CrossFitSummaries | None = None) -> tuple[int, dict]:
    """Epochs of the hybrid objective, then of the decision alone (see module docstring)."""
    tc, net, opt_state = model.cfg.train, model.net, ctx.optimizer_state
    n = views.plain.labels.shape[0]
    plan = _stage2_plan(n, tc)
    lengths = [len(a) for a in answers[0] + (answers[1] or [])]
    stats = {"stage2/answer_tokens_max": max(lengths), "stage2/answer_tokens_mean": round(sum(lengths) / len(lengths), 1),
             "stage2/answered_rows": int(plan.answered(0, model.cfg.seed).sum())}
    if plan.steps == 0:
        return 0, stats
    opt = _stage2_optimiser(model, tc)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    model.llm.model.train()
    with model.language.frozen_weights_cast_once():
        done = _stage2_steps(model, views, answers, texts, weights, ctx, plan, opt, oof)
    net.eval()
    model.llm.model.eval()
    return done, stats


def _stage2_steps(model: DeftModel, views: _Views, answers: tuple[list, list | None], texts, weights,
                  ctx: TrainingContext, plan: _Stage2Plan, opt: torch.optim.Optimizer,
                  oof: CrossFitSummaries | None = None) -> int:
    """Stage 2's optimiser steps from ``ctx.start_step`` on (the LLM reads ``oof``'s cross-fitted
    expert summaries when given); returns the number of rows trained."""
    cfg, tc, net = model.cfg, model.cfg.train, model.net
    done = 0
    for step in range(ctx.start_step, plan.steps):
        idx, flips, answered = plan.batch(step, cfg.seed, [len(a) for a in answers[0]], views.mirrored is not None)
        idx, answered = ctx.shard(idx), ctx.shard(answered)
        flip = None if flips is None else flips[idx]
        batch = views.batch(idx.to(views.plain.labels.device), flip)
        pick = [(1 if flip is not None and flip[j] else 0, i) for j, i in enumerate(idx.tolist())]
        ans = [answers[v][i] if a else [] for (v, i), a in zip(pick, answered.tolist())] if answered.any() else None
        text = None if texts is None else [texts[v][i] for v, i in pick]
        net.train(tc.stage2_train_experts)
        if net.fusion is not None:
            net.fusion.train()
        net.decision_head.train()
        with torch.set_grad_enabled(tc.stage2_train_experts):
            out = net(batch.feats)
        if oof is not None:
            out = replace(out, summaries=oof.batch(idx.to(views.plain.labels.device), flip))
        losses = model.llm_losses(out, batch, ans, weights, text)
        if tc.stage2_train_experts:
            losses.update(model.expert_losses(out, batch, weights))
        _schedule_lr(opt, step, plan.steps, tc.stage2_lr_schedule)
        ctx.step(sum(losses.values()), opt)
        done += len(idx)
        ctx.log.append({"phase": "stage2", "step": step, **{k_: v.item() for k_, v in losses.items()}})
        if (step + 1) % tc.checkpoint_every == 0 and step + 1 < plan.steps:
            ctx.checkpoint(step + 1, opt)
        ctx.report("stage 2: LLM", step + 1, plan.steps)
    return done
