"""DEFT's training losses: the experts' (stage 1) and the LLM's hybrid objective (stage 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deftmer.model.config import DeftConfig
from deftmer.model.deft_decision import llm_class_logits
from deftmer.model.deft_inputs import ClipTensors, Mixup
from deftmer.model.deft_net import DeftNet, NetOutput
from deftmer.model.fusion import disentanglement_loss
from deftmer.model.language import DeftLanguage


def class_weights(labels: torch.Tensor, n_classes: int, balanced: bool) -> torch.Tensor | None:
    """Inverse-frequency class weights (mean 1 over the training clips), or None when off.

    Macro UF1 counts every class alike, so a rare class must cost as much as a common one.
    Classes absent from training get weight 0 (nothing to learn from them).
    """
    if not balanced:
        return None
    known = labels[labels >= 0]
    counts = torch.bincount(known, minlength=n_classes).float()
    w = torch.where(counts > 0, len(known) / (n_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return w.to(labels.device)


def expert_losses(cfg: DeftConfig, out: NetOutput, batch: ClipTensors, weights: torch.Tensor | None = None,
                  mix: Mixup | None = None) -> dict[str, torch.Tensor]:
    """Class CE of the experts' head, auxiliary AU BCE (AU-annotated clips only), disentanglement;
    with ``mix``, the class and AU targets blended as the inputs were."""
    losses = {"ce": _class_ce(out.class_logits, batch.labels, weights, mix)}
    au_targets, au_mask = batch.au_targets, batch.au_mask
    if mix is not None:
        au_targets, au_mask = mix.blend(au_targets), mix.both(au_mask)
    if out.au_logits is not None and au_mask.sum() > 0:
        bce = F.binary_cross_entropy_with_logits(out.au_logits, au_targets, reduction="none").mean(1)
        losses["au"] = cfg.au_weight * (bce * au_mask).sum() / au_mask.sum()
    if len(out.pooled) > 1 and cfg.disentangle_weight > 0:
        losses["disentangle"] = cfg.disentangle_weight * disentanglement_loss(out.pooled)
    return losses


def _class_ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
              mix: Mixup | None) -> torch.Tensor:
    """Class-weighted cross-entropy over the rows with a known class; with ``mix``, against the
    blend of the two clips' one-hot labels (the same weighted mean as ``F.cross_entropy`` at share 1)."""
    known = labels >= 0
    if mix is None:
        return F.cross_entropy(logits[known], labels[known], weight=weights) if known.any() else logits.sum() * 0
    known = mix.both(known)
    if not known.any():
        return logits.sum() * 0
    one_hot = F.one_hot(labels.clamp_min(0), logits.shape[-1]).float()
    target = mix.blend(one_hot)[known]
    w = torch.ones(logits.shape[-1], device=logits.device) if weights is None else weights
    weighted = target * w
    return -(weighted * F.log_softmax(logits[known].float(), -1)).sum() / weighted.sum()


def llm_losses(cfg: DeftConfig, net: DeftNet, language: DeftLanguage, embeds, batch: ClipTensors,
               answers: list[list[int]] | None, weights: torch.Tensor | None = None,
               teacher: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Stage 2's hybrid objective on the LLM inputs ``embeds``: class CE on the LLM's class logits
    + the LM loss on the complete answers (``answers=None``: the class CE alone) + with
    ``model.distill_weight``, distillation from the experts' head logits ``teacher``."""
    run = language.run(embeds, answers)
    logits = llm_class_logits(net, language, cfg.decision, run.answer_state)
    known = batch.labels >= 0
    losses = {} if run.lm_loss is None else {"lm": cfg.lm_weight * run.lm_loss}
    if known.any():
        losses["llm_ce"] = cfg.ce_weight * F.cross_entropy(logits[known], batch.labels[known], weight=weights,
                                                            label_smoothing=cfg.llm_label_smoothing)
    if cfg.distill_weight > 0 and teacher is not None:
        losses["distill"] = cfg.distill_weight * distillation_loss(logits, teacher, cfg.distill_temperature)
    return losses


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the temperature-softened class distributions, times T^2 so its
    gradients keep their size whatever T (Hinton et al. 2015); the teacher gets no gradient."""
    t = temperature
    return F.kl_div(F.log_softmax(student.float() / t, -1), F.log_softmax(teacher.detach().float() / t, -1),
                    reduction="batchmean", log_target=True) * t * t
