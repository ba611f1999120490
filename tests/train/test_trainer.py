"""Resumable, repeatable training of the DEFT model."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from model_toys import make_clips, tiny_config  # noqa: E402

from deftmer.data.labels import MEGC3  # noqa: E402
from deftmer.errors import CheckpointError  # noqa: E402
from deftmer.model.deft import DeftModel  # noqa: E402
from deftmer.train.trainer import CHECKPOINT, fit_model  # noqa: E402


def _cfg():
    cfg = tiny_config()
    cfg.train.stage1_epochs = 3
    cfg.train.stage1_min_steps = 3
    cfg.train.stage2_epochs = 1           # with answers
    cfg.train.stage2_decision_epochs = 1  # class cross-entropy alone
    cfg.train.llm_batch_size = 6          # 16 clips: 3 stage-2 steps per epoch, 6 in all
    cfg.train.checkpoint_every = 1
    cfg.train.stage2_min_steps = 0        # exactly the epochs above
    cfg.train.stage2_answer_share = 1.0   # every answer in the answer epoch
    return cfg


def _probs(model, clips):
    return np.array([[p.probs[c] for c in MEGC3.classes] for p in model.predict(clips)])


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_model(tmp_path):
    clips = make_clips(n_subjects=4, per_subject=4)
    reference = DeftModel(_cfg(), MEGC3)
    fit_model(reference, clips)

    def crash(phase, i, total):
        if phase.startswith("stage 2") and i == 2:
            raise Interrupt   # like Ctrl-C after stage-2 step 2 (checkpoint after step 2 written)

    first = DeftModel(_cfg(), MEGC3)
    with pytest.raises(Interrupt):
        fit_model(first, clips, progress=crash, checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = DeftModel(_cfg(), MEGC3)
    seen = []
    stats = fit_model(resumed, clips, progress=lambda phase, i, total: seen.append((phase, i)), checkpoint_dir=tmp_path)
    assert seen == [("stage 2: LLM", i) for i in range(3, 7)]    # stage 1 and steps 1-2 were not redone
    stage2 = [r for r in stats["log"] if r["phase"] == "stage2"]
    assert [r["step"] for r in stage2] == list(range(6))
    assert ["lm" in r for r in stage2] == [True] * 3 + [False] * 3   # answers first, then the decision alone
    assert all("llm_ce" in r for r in stage2)
    assert np.array_equal(_probs(reference, clips), _probs(resumed, clips))
    # throughput counts the examples each phase really processed in this call
    tc = _cfg().train
    bs = min(tc.batch_size, len(clips))
    epochs = sum(r["phase"] == "stage1" for r in reference.stats["log"])
    assert reference.stats["stage1/samples"] == epochs * (len(clips) // bs) * bs
    assert reference.stats["stage2/samples"] == 2 * len(clips)    # two epochs of 6 + 6 + 4 clips
    assert reference.stats["stage2/samples_per_s"] == pytest.approx(2 * len(clips) / reference.stats["stage2_s"], rel=0.05)
    # resumed: the last step of epoch 1 (6 or 4 clips: batch order is shuffled) and all of epoch 2
    assert stats["stage2/samples"] in (16 + 4, 16 + 6) and "stage1/samples" not in stats


def test_checkpoint_of_another_config_is_refused(tmp_path):
    clips = make_clips(n_subjects=2, per_subject=3)
    cfg = _cfg()
    fit_model(DeftModel(cfg, MEGC3), clips, checkpoint_dir=tmp_path)
    other = _cfg()
    other.model.lora_rank = 2
    with pytest.raises(CheckpointError, match="different config"):
        fit_model(DeftModel(other, MEGC3), clips, checkpoint_dir=tmp_path)


def test_stage2_can_train_on_subjects_the_experts_never_saw():
    clips = make_clips(n_subjects=4, per_subject=4)
    cfg = _cfg()
    cfg.train.stage2_heldout = 0.5
    model = DeftModel(cfg, MEGC3)
    stats = fit_model(model, clips)
    assert stats["stage2/samples"] == 2 * 8   # two epochs over the 8 clips of the 2 held-out subjects
    bs = min(cfg.train.batch_size, 8)
    epochs = sum(r["phase"] == "stage1" for r in stats["log"])
    assert stats["stage1/samples"] == epochs * (8 // bs) * bs   # the experts: the other 8 clips
    reference = DeftModel(_cfg(), MEGC3)
    fit_model(reference, clips)
    assert not np.array_equal(_probs(model, clips), _probs(reference, clips))


def _crossfit_cfg():
    cfg = _cfg()
    cfg.train.stage2_crossfit = True
    return cfg


def test_crossfit_stage2_trains_on_every_clip_with_experts_that_never_saw_it():
    clips = make_clips(n_subjects=4, per_subject=4)
    model = DeftModel(_crossfit_cfg(), MEGC3)
    labels = []
    stats = fit_model(model, clips, progress=lambda phase, i, total: labels.append(phase))
    assert stats["stage2/samples"] == 2 * 16                  # every clip, unlike stage2_heldout
    assert 0.0 <= stats["stage2/crossfit_expert_bacc"] <= 1.0
    assert {"stage 2: cross-fit experts 1/2", "stage 2: cross-fit experts 2/2"} <= set(labels)
    assert any(r["phase"] == "crossfit" for r in stats["log"])
    reference = DeftModel(_cfg(), MEGC3)
    fit_model(reference, clips)
    # the stage-1 experts are the same (the copies train under their own random state) ...
    assert [r for r in stats["log"] if r["phase"] == "stage1"] == \
        [r for r in reference.stats["log"] if r["phase"] == "stage1"]
    # ... but the LLM learned from other expert tokens
    assert not np.array_equal(_probs(model, clips), _probs(reference, clips))


def test_interrupted_crossfit_run_resumes_to_the_same_model(tmp_path):
    clips = make_clips(n_subjects=4, per_subject=4)
    reference = DeftModel(_crossfit_cfg(), MEGC3)
    fit_model(reference, clips)

    def crash(phase, i, total):
        if phase == "stage 2: LLM" and i == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit_model(DeftModel(_crossfit_cfg(), MEGC3), clips, progress=crash, checkpoint_dir=tmp_path)
    resumed = DeftModel(_crossfit_cfg(), MEGC3)
    fit_model(resumed, clips, checkpoint_dir=tmp_path)     # the copies are trained again, identically
    assert np.array_equal(_probs(reference, clips), _probs(resumed, clips))


def test_crossfit_and_heldout_cannot_both_be_set():
    from pydantic import ValidationError

    from deftmer.train.config import TrainConfig

    with pytest.raises(ValidationError, match="set one"):
        TrainConfig(stage2_crossfit=True, stage2_heldout=0.5)
    with pytest.raises(ValidationError, match="stage2_train_experts"):
        TrainConfig(stage2_crossfit=True, stage2_train_experts=True)


def test_answer_share_trains_a_seeded_share_of_the_answers_each_hybrid_epoch():
    from deftmer.model.deft_training import _Stage2Plan

    half = _Stage2Plan(n=16, bs=6, hybrid=2, decision=1, answer_share=0.5)
    first, second = half.answered(0, seed=7), half.answered(1, seed=7)
    assert first.sum() == 8 and second.sum() == 8
    assert not torch.equal(first, second)                      # another draw each epoch
    assert torch.equal(first, half.answered(0, seed=7))        # the same draw on a rerun
    assert not half.answered(2, seed=7).any()                  # a decision epoch trains no answer
    assert _Stage2Plan(n=16, bs=6, hybrid=1, decision=0).answered(0, seed=7).all()
    # the batches of an epoch cover every row once, and carry each row's own flag
    rows, flags = [], []
    for step in range(half.per_epoch):
        idx, _, answered = half.batch(step, 7, list(range(1, 17)), flip_on=False)
        rows += idx.tolist()
        flags += answered.tolist()
    assert sorted(rows) == list(range(16))
    assert [first[i].item() for i in rows] == flags


def test_a_half_answer_share_run_is_repeatable_and_skips_answers_on_some_steps():
    clips = make_clips(n_subjects=4, per_subject=4)
    cfg = _cfg()
    cfg.train.stage2_answer_share = 0.5
    runs = []
    for _ in range(2):
        model = DeftModel(cfg, MEGC3)
        stats = fit_model(model, clips)
        runs.append(_probs(model, clips))
    hybrid = [r for r in stats["log"] if r["phase"] == "stage2"][:3]
    assert 0 < sum("lm" in r for r in hybrid) < 3   # 8 answers of 16 rows: unanswered rows batch together
    assert all("llm_ce" in r for r in hybrid)
    assert np.array_equal(runs[0], runs[1])


def test_a_small_training_set_gets_decision_epochs_up_to_the_stage2_step_floor():
    from deftmer.model.deft_training import _stage2_plan

    tc = tiny_config().train          # one answer epoch, no decision epochs, floor 16 steps
    assert tc.stage2_decision_epochs == 0 and tc.stage2_min_steps == 16
    small = _stage2_plan(36, tc)      # 5 steps per epoch of 8 clips
    assert (small.hybrid, small.decision, small.steps) == (1, 3, 20)
    large = _stage2_plan(300, tc)     # 38 steps: one epoch is enough
    assert (large.hybrid, large.decision) == (1, 0)
    off = _stage2_plan(36, tc.model_copy(update={"stage2_epochs": 0}))   # no stage 2 asked: none added
    assert off.steps == 0


def test_linear_stage2_schedule_decays_every_group_to_zero_from_its_own_rate():
    from deftmer.model.deft_training import _schedule_lr

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [w], "lr": 1e-3, "base_lr": 1e-3},
                             {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 5e-4, "base_lr": 5e-4}])
    seen = []
    for step in range(4):
        _schedule_lr(opt, step, 4, "linear")
        seen += [g["lr"] for g in opt.param_groups]
    assert seen == pytest.approx([1e-3, 5e-4, 7.5e-4, 3.75e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4])
    _schedule_lr(opt, 3, 4, "constant")
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 5e-4]


def test_an_interrupted_linear_schedule_run_resumes_to_the_same_model(tmp_path):
    clips = make_clips(n_subjects=4, per_subject=4)
    cfg = _cfg()
    cfg.train.stage2_lr_schedule = "linear"
    reference = DeftModel(cfg, MEGC3)
    fit_model(reference, clips)
    constant_cfg = _cfg()
    constant_cfg.train.stage2_lr_schedule = "constant"
    constant = DeftModel(constant_cfg, MEGC3)
    fit_model(constant, clips)
    assert not np.allclose(_probs(reference, clips), _probs(constant, clips))   # the schedule is used

    def crash(phase, i, total):
        if phase.startswith("stage 2") and i == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit_model(DeftModel(cfg, MEGC3), clips, progress=crash, checkpoint_dir=tmp_path)
    resumed = DeftModel(cfg, MEGC3)
    fit_model(resumed, clips, checkpoint_dir=tmp_path)   # steps 5-6 at the rates of steps 5-6
    assert np.array_equal(_probs(reference, clips), _probs(resumed, clips))


def _fit_with(clips, **model_settings):
    """A tiny DEFT fitted with ``model_settings`` on top of the test config: its stage-2 log rows,
    and its LLM's and experts' head's class log-probabilities on the training clips."""
    cfg = _cfg()
    cfg.model.decision = "llm"          # class_logprobs below: the LLM's class head alone
    for key, value in model_settings.items():
        setattr(cfg.model, key, value)
    model = DeftModel(cfg, MEGC3)
    log = [r for r in fit_model(model, clips)["log"] if r["phase"] == "stage2"]
    with torch.no_grad():
        out = model.net(model.tensors(clips).feats)
        return log, model.class_logprobs(out), torch.log_softmax(out.class_logits.float(), -1)


def test_distillation_pulls_the_llm_decision_towards_the_experts_head():
    clips = make_clips(n_subjects=4, per_subject=4)
    gaps, logs = [], []
    for weight in (0.0, 5.0):
        log, llm, head = _fit_with(clips, distill_weight=weight)
        logs.append(log)
        gaps.append(torch.nn.functional.kl_div(llm, head, reduction="batchmean", log_target=True).item())
    assert not any("distill" in r for r in logs[0])
    assert all(r["distill"] > 0 for r in logs[1])    # every stage-2 step, with and without answers
    assert gaps[1] < 0.5 * gaps[0]                    # the LLM's decision follows the experts' ranking


def test_llm_label_smoothing_softens_the_llm_decision_and_leaves_the_experts_alone():
    clips = make_clips(n_subjects=4, per_subject=4)
    (_, sharp, head0), (_, smooth, head1) = (_fit_with(clips, llm_label_smoothing=x) for x in (0.0, 0.5))
    # the LLM's answers on its training clips are less sure; stage 1 and the experts' head are untouched
    assert smooth.exp().max(-1).values.mean() < sharp.exp().max(-1).values.mean() - 0.05
    assert torch.equal(head0, head1)


def test_mixup_makes_the_experts_less_sure_of_their_own_training_clips():
    clips = make_clips(n_subjects=4, per_subject=4)
    sure = []
    for alpha in (0.0, 1.0):
        cfg = tiny_config()
        cfg.model.use_llm = False
        cfg.train.stage1_epochs, cfg.train.stage1_min_steps = 30, 0
        cfg.model.mixup_alpha = alpha
        model = DeftModel(cfg, MEGC3)
        fit_model(model, clips)
        with torch.no_grad():
            out = model.net(model.tensors(clips).feats)
        sure.append(out.class_logits.softmax(-1).max(-1).values.mean().item())
    # without mixup the experts fit their 16 training clips; with it they stay less confident
    assert sure[1] < sure[0] - 0.05, sure
