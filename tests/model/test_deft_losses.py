"""DEFT's stage-2 losses: the distillation term from the experts' head to the LLM's decision."""

import math

import torch
import torch.nn.functional as F

from deftmer.model.deft_losses import distillation_loss


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
