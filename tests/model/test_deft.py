import json

import numpy as np
import pytest
from model_toys import make_clips, tiny_config

from deftmer.data.labels import MEGC3
from deftmer.data.sample import ActionUnit
from deftmer.errors import CheckpointError, UserError
from deftmer.model.deft import DeftModel
from deftmer.model.inputs import mirror_clip
from deftmer.models import create_model, load_model
from deftmer.train.trainer import fit_model
from deftmer.unimer.answer import claim_support, parse_answer
from deftmer.unimer.constraints import au_verdict
from deftmer.unimer.motion import region_stats

TEST_SUBJECTS = ("s00", "s01")


def split(clips):
    return ([c for c in clips if c.sample.subject not in TEST_SUBJECTS],
            [c for c in clips if c.sample.subject in TEST_SUBJECTS])


@pytest.fixture(scope="module")
def data():
    return split(make_clips(n_subjects=8, per_subject=6))


@pytest.fixture(scope="module")
def trained(data):
    model = create_model("deft", tiny_config(decision="hybrid"), MEGC3)
    stats = fit_model(model, data[0])
    return model, stats


def probs(preds):
    return np.array([[p.probs[c] for c in MEGC3.classes] for p in preds])


def test_trained_model_beats_chance_on_held_out_subjects(trained, data):
    model, stats = trained
    preds = model.predict(data[1])
    acc = np.mean([p.label == c.sample.label for p, c in zip(preds, data[1])])
    assert acc >= 0.75                       # chance is 1/3
    assert np.allclose(probs(preds).sum(1), 1.0, atol=1e-5)
    assert all(p.label in MEGC3.classes for p in preds)


def test_every_loss_is_logged(trained):
    _, stats = trained
    for key in ("stage1/ce", "stage1/au", "stage1/disentangle", "stage2/lm", "stage2/llm_ce"):
        assert np.isfinite(stats[key]), key
    assert stats["stage1/ce"] < 0.5         # the experts learned the motion classes


def test_checkpoint_round_trip_gives_identical_predictions(trained, data, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m")
    saved = set(__import__("safetensors.torch", fromlist=["load_file"]).load_file(str(tmp_path / "m/deft.safetensors")))
    assert any(k.startswith("lora.") for k in saved) and any(k.startswith("net.fusion") for k in saved)
    assert not any("embed_tokens" in k or "backbone" in k for k in saved)   # only trained params
    again = load_model(tmp_path / "m")
    assert np.array_equal(probs(model.predict(data[1])), probs(again.predict(data[1])))


def test_checkpoint_from_other_config_is_a_checkpoint_error(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m")
    card_path = tmp_path / "m/model.json"
    card = json.loads(card_path.read_text())
    card["config"]["model"]["expert_dim"] = 48
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="does not match"):
        DeftModel.load(tmp_path / "m")


def test_training_is_repeatable(trained, data):
    model, _ = trained
    again = create_model("deft", tiny_config(decision="hybrid"), MEGC3)
    fit_model(again, data[0])
    assert np.array_equal(probs(model.predict(data[1])), probs(again.predict(data[1])))


def test_explain_generates_and_parses_text(trained, data):
    model, _ = trained
    preds = model.predict(data[1][:1], explain=True)
    assert preds[0].label in MEGC3.classes
    assert preds[0].text.startswith(f"Emotion: {preds[0].label}\nEvidence:")   # explains the decided class
    assert "\nReasoning:" in preds[0].text                                   # the LLM's part
    assert isinstance(preds[0].aus, list)


def test_explain_names_only_aus_the_clip_flow_supports(trained, data):
    """Evidence AUs come from the AU head, checked against each clip's own flow (dual constraint)."""
    model, _ = trained
    test = data[1]
    preds = model.predict(test, explain=True)
    cfg = model.cfg.unimer
    named = 0
    hits = 0
    for p, c in zip(preds, test):
        parsed = parse_answer(p.text, MEGC3)
        assert parsed.aus == p.aus
        stats = region_stats(c.prepared)
        for au in p.aus:       # every named AU is supported by this clip's flow
            side = au[0] if au[0] in "LR" else None
            assert au_verdict(ActionUnit(int(au.lstrip("LR")[2:]), side), stats, cfg).verdict == "supported", p.text
        if p.aus:
            assert claim_support(p.text, stats, cfg) == 1.0
            named += 1
            hits += any(int(a.lstrip("LR")[2:]) == c.sample.aus[0].number for a in p.aus)
    assert named >= len(test) * 0.75        # most answers name an AU ...
    assert hits >= named * 0.75             # ... and it is mostly the clip's labelled AU


def test_without_llm_explain_gives_class_and_grounded_evidence(data):
    model = DeftModel(tiny_config(use_llm=False, experts=["motion"]), MEGC3)
    fit_model(model, data[0])
    preds = model.predict(data[1], explain=True)
    assert all(p.text.startswith(f"Emotion: {p.label}\nEvidence: ") and "Reasoning" not in p.text for p in preds)
    assert sum(bool(p.aus) for p in preds) >= len(preds) * 0.75


def test_flowpack_clips_drop_the_dynamic_expert(caplog):
    train, test = split(make_clips(n_subjects=6, per_subject=6, with_onset=False))
    model = DeftModel(tiny_config(use_llm=False), MEGC3)
    fit_model(model, train)
    assert model.experts == ["structure", "motion"]
    acc = np.mean([p.label == c.sample.label for p, c in zip(model.predict(test), test)])
    assert acc >= 0.75


def test_no_llm_ablation_and_option_decision(data):
    model = DeftModel(tiny_config(use_llm=False, experts=["motion"]), MEGC3)
    stats = fit_model(model, data[0])
    assert model.llm is None and "stage2/lm" not in stats and "stage1/disentangle" not in stats
    preds = model.predict(data[1])
    acc = np.mean([p.label == c.sample.label for p, c in zip(preds, data[1])])
    assert acc >= 0.75
    assert all(p.parts == {} for p in preds)   # the experts' head decides: no other part to report


def test_an_llm_decision_reports_the_experts_head_of_the_same_model_beside_it(trained, data):
    import torch

    model, _ = trained
    preds = model.predict(data[1])
    with torch.no_grad():   # the experts' head on the clip and on its mirror image, averaged
        plain = torch.softmax(model.net(model.tensors(data[1]).feats).class_logits, -1)
        mirror = torch.softmax(model.net(model.tensors([mirror_clip(c) for c in data[1]]).feats).class_logits, -1)
    head = ((plain + mirror) / 2).numpy()
    got = np.array([[p.parts["experts_head"][c] for c in MEGC3.classes] for p in preds])
    assert np.allclose(got, head, atol=1e-6)
    assert not np.allclose(got, probs(preds), atol=1e-3)   # the decision is the LLM's, not this part


def _deciding(model: DeftModel, **settings) -> DeftModel:
    """The same trained model under other ``model`` settings (training does not read the decision)."""
    import copy

    other = copy.copy(model)
    other.cfg = model.cfg.model_copy(update={"model": model.cfg.model.model_copy(update=settings)})
    return other


def test_joint_decision_is_the_product_of_the_llms_and_the_experts_heads(trained, data):
    model, _ = trained
    llm = _deciding(model, decision="llm", mirror_tta=False).predict(data[1])
    joint = _deciding(model, decision="joint", mirror_tta=False).predict(data[1])
    llm_part = np.array([[p.parts["llm"][c] for c in MEGC3.classes] for p in joint])
    head_part = np.array([[p.parts["experts_head"][c] for c in MEGC3.classes] for p in joint])
    assert np.allclose(llm_part, probs(llm), atol=1e-6)        # each part is that decision alone
    assert np.allclose(head_part, probs(_deciding(model, decision="head", mirror_tta=False).predict(data[1])), atol=1e-6)
    product = llm_part * head_part
    assert np.allclose(probs(joint), product / product.sum(1, keepdims=True), atol=1e-5)
    assert not np.allclose(probs(joint), llm_part, atol=1e-3) and not np.allclose(probs(joint), head_part, atol=1e-3)
    assert set(llm[0].parts) == {"experts_head"}                # beside the LLM alone: its experts' head


def test_batched_explanations_match_one_clip_at_a_time(trained, data):
    """Generation runs all clips in one left-padded call; padding must not change any answer."""
    model, _ = trained
    test = data[1][:4]
    together = [p.text for p in model.predict(test, explain=True)]
    alone = [model.predict([c], explain=True)[0].text for c in test]
    assert together == alone
    assert all("Reasoning:" in t for t in together)


def test_experts_without_their_inputs_are_left_out_or_refused_with_the_reason():
    from dataclasses import replace

    from deftmer.errors import UserError
    from deftmer.model.deft import active_experts
    from deftmer.preprocess.records import ClipInputs

    clips = make_clips(n_subjects=2, per_subject=2, size=64)
    no_onset = [ClipInputs(c.sample, replace(c.prepared, onset_face=None, diff=None, dynamic=None)) for c in clips]
    m = tiny_config().model
    assert active_experts(m, clips) == ["structure", "dynamic", "motion"]
    assert active_experts(m, no_onset) == ["structure", "motion"]          # flowpack-like: dynamic dropped
    only_dynamic = m.model_copy(update={"experts": ["dynamic"]})
    assert active_experts(only_dynamic, clips) == ["dynamic"]
    with pytest.raises(UserError, match="no onset frames.*only one switched on"):
        active_experts(only_dynamic, no_onset)
    with pytest.raises(UserError, match="every expert is switched off"):
        active_experts(m.model_copy(update={"experts": []}), clips)


def test_words_decision_is_the_llms_next_word_among_the_class_words(data):
    import torch

    from deftmer.model.language import DeftLanguage

    model = create_model("deft", tiny_config(decision="words"), MEGC3)
    fit_model(model, data[0])
    lang = model.language
    assert lang.prompts.answer_prefix == "Emotion:"
    clips = data[1][:3]
    with torch.no_grad():   # the LLM's full next-token distribution at the answer position, class words kept
        out = model.net(model.tensors(clips).feats)
        state = lang.run(model.llm_inputs(out)).answer_state
        vocab = torch.log_softmax(lang.base.lm_head(state).float(), -1)[:, lang.class_word_ids]
        expected = torch.log_softmax(vocab, -1)
        got = model.class_logprobs(out)
    assert lang.llm.tokenizer.decode(lang.class_word_ids).split() == list(MEGC3.classes)
    assert torch.allclose(got, expected, atol=1e-5)
    preds = model.predict(clips, explain=True)
    assert all(p.text.startswith(f"Emotion: {p.label}") and "Reasoning:" in p.text for p in preds)
    with pytest.raises(UserError, match="start with the same LLM token"):
        _ = DeftLanguage(lang.llm, ("surprise", "surprise-like"), answer_prefix="Emotion:").class_word_ids


def test_weight_decay_reaches_the_experts_training(data):
    """``train.weight_decay`` is AdamW's decoupled decay in stage 1: a strong one ends with smaller
    expert weights than none, from the same seed and the same clips."""
    def expert_norm(decay: float) -> float:
        cfg = tiny_config(use_llm=False, experts=["motion"])
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"weight_decay": decay})})
        model = DeftModel(cfg, MEGC3)
        fit_model(model, data[0])
        return float(sum(p.detach().norm() ** 2 for p in model.net.expert_modules.parameters()) ** 0.5)
    assert expert_norm(1.0) < 0.9 * expert_norm(0.0)          # measured: 18.6 against 22.0
