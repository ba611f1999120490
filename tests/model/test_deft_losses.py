"""DEFT's stage-2 losses: the distillation term from the experts' head to the LLM's decision."""

import math

import torch
import torch.nn.functional as F

from deftmer.model.config import DeftConfig
from deftmer.model.deft_inputs import ClipTensors, Mixup
from deftmer.model.deft_losses import distillation_loss, expert_losses
from deftmer.model.deft_net import NetOutput


def test_distillation_is_zero_when_the_llm_matches_the_experts_and_positive_otherwise():
    teacher = torch.tensor([[4.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    assert distillation_loss(teacher.clone(), teacher, 2.0).item() < 1e-6
    assert distillation_loss(teacher + 3.0, teacher, 2.0).item() < 1e-6     # a shift changes no probability
    assert distillation_loss(torch.zeros(2, 3), teacher, 2.0).item() > 0.1


def test_distillation_is_the_softened_kl_times_t_squared_and_teaches_the_llm_only():
    teacher = torch.tensor([[3.0, 1.0, 0.0]], requires_grad=True)
    student = torch.tensor([[0.0, 1.0, 2.0]], requires_grad=True)
    t = 4.0
    p, q = F.softmax(teacher / t, -1), F.softmax(student / t, -1)
    expected = (p * (p.log() - q.log())).sum() * t * t
    loss = distillation_loss(student, teacher, t)
    assert math.isclose(loss.item(), expected.item(), rel_tol=1e-5)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    # the gradient pulls the student towards the teacher's ranking: class 0 up, class 2 down
    assert student.grad[0, 0] < 0 < student.grad[0, 2]


def test_the_softened_teacher_keeps_the_order_of_classes_a_hard_label_loses():
    confident = torch.tensor([[6.0, 1.0, -2.0]])   # ~99% on class 0, but class 1 ranked above class 2
    soft = F.softmax(confident / 2.0, -1)[0]
    assert F.softmax(confident, -1)[0, 1] < 0.01 and soft[1] > 0.07 and soft[1] > 4 * soft[2]


def _batch(n=4):
    feats = {"motion": torch.arange(n * 6, dtype=torch.float32).view(n, 2, 3), "face": torch.ones(n, 1, 5)}
    au = torch.zeros(n, 3)
    au[0, 0] = au[1, 2] = 1.0
    return ClipTensors(feats, torch.tensor([0, 1, 2, 0][:n]), au, torch.tensor([1.0, 1.0, 0.0, 1.0][:n]))


def test_mixup_blends_each_input_row_with_its_partner_by_its_share():
    batch = _batch()
    mix = Mixup(torch.tensor([1, 0, 3, 2]), torch.tensor([0.25, 1.0, 0.5, 0.0]))
    mixed = mix.inputs(batch)
    m = batch.feats["motion"]
    assert torch.allclose(mixed.feats["motion"][0], 0.25 * m[0] + 0.75 * m[1])
    assert torch.equal(mixed.feats["motion"][1], m[1])                       # share 1: itself
    assert torch.allclose(mixed.feats["motion"][2], 0.5 * (m[2] + m[3]))
    assert torch.equal(mixed.feats["motion"][3], m[2])                       # share 0: its partner
    assert torch.equal(mixed.labels, batch.labels)                           # targets are blended by the losses


def test_mixup_off_draws_nothing_and_on_draws_shares_in_the_unit_interval():
    gen = torch.Generator().manual_seed(3)
    assert Mixup.draw(8, gen, 0.0) is None
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=torch.Generator().manual_seed(3)))
    mix = Mixup.draw(500, gen, 0.4)
    assert sorted(mix.partner.tolist()) == list(range(500))
    assert 0 <= mix.share.min() and mix.share.max() <= 1
    # Beta(0.4, 0.4) is U-shaped: most shares near 0 or 1, mean 1/2
    assert abs(mix.share.mean().item() - 0.5) < 0.05 and ((mix.share < 0.1) | (mix.share > 0.9)).float().mean() > 0.4


def test_mixed_class_loss_is_the_weighted_soft_cross_entropy_and_the_plain_one_at_share_one():
    batch = _batch()
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5], [1.0, -1.0, 3.0]])
    au_logits = torch.zeros(4, 3)
    out = NetOutput({}, [], logits, au_logits)
    w = torch.tensor([1.0, 2.0, 4.0])
    cfg = DeftConfig()
    whole = Mixup(torch.arange(4), torch.ones(4))
    assert math.isclose(expert_losses(cfg, out, batch, w, whole)["ce"].item(),
                        expert_losses(cfg, out, batch, w)["ce"].item(), rel_tol=1e-6)
    mix = Mixup(torch.tensor([1, 0, 3, 2]), torch.tensor([0.25, 1.0, 0.5, 0.0]))
    logp = F.log_softmax(logits, -1)
    targets = torch.tensor([[0.25, 0.75, 0], [0, 1, 0], [0.5, 0, 0.5], [0, 0, 1.0]])   # rows' blended one-hots
    expected = -(targets * w * logp).sum() / (targets * w).sum()
    losses = expert_losses(cfg, out, batch, w, mix)
    assert math.isclose(losses["ce"].item(), expected.item(), rel_tol=1e-5)
    # AU loss only on rows whose two clips are both annotated (rows 0 and 1), against blended targets
    au_t = torch.tensor([[0.25, 0, 0.75], [0, 0, 1.0]])
    bce = F.binary_cross_entropy_with_logits(torch.zeros(2, 3), au_t)
    assert math.isclose(losses["au"].item(), cfg.au_weight * bce.item(), rel_tol=1e-5)
