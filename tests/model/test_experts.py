import numpy as np
import pytest
import torch
from model_toys import tiny_config

from deftmer.errors import UserError
from deftmer.facs import MODEL_AUS, REGION_NAMES
from deftmer.model.backbones import FrozenBackbone, image_to_unit
from deftmer.model.experts import DynamicTextureExpert, FlowFieldEncoder, MotionSemanticsExpert, StructureExpert
from deftmer.model.inputs import REGION_FEATURES, flow_field, region_motion_features
from deftmer.model.intensity import scale_by_max_region_magnitude
from deftmer.model.reliability import expert_reliability


def test_region_features_pool_flow_inside_each_mask():
    flow = np.zeros((2, 8, 8), np.float32)
    flow[0, :4] = 2.0          # u = 2 in the top half
    flow[1, 4:] = -1.0         # v = -1 in the bottom half
    strain = np.full((8, 8), 0.5, np.float32)
    masks = np.zeros((3, 8, 8), bool)
    masks[0, :4] = True
    masks[1, 4:] = True        # masks[2] empty: a region not visible
    f = region_motion_features(flow, strain, masks)
    i = {n: k for k, n in enumerate(REGION_FEATURES)}
    assert f.shape == (3, len(REGION_FEATURES))
    assert f[0, i["mean_u"]] == 2.0 and f[0, i["mean_v"]] == 0.0 and f[0, i["mean_mag"]] == 2.0
    assert f[1, i["mean_v"]] == -1.0 and f[1, i["mean_strain"]] == 0.5
    assert np.all(f[2] == 0) and np.isfinite(f).all()


def test_image_to_unit_ranges():
    assert image_to_unit(np.full((2, 2, 3), 255, np.uint8), "face").max() == 1.0
    d = image_to_unit(np.array([[[-1.0, 0.0, 1.0]]], np.float32), "diff")
    assert np.allclose(d, [[[0.0, 0.5, 1.0]]])
    y = image_to_unit(np.array([[[-5.0, 0.0, 5.0]]], np.float32), "dynamic")
    assert y.min() == 0.0 and y.max() == 1.0


def test_backbone_features_are_cached_by_content(monkeypatch):
    bb = FrozenBackbone("efficientnet-lite0", image_size=32, tokens=4)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    first = bb.features(imgs, "face")
    assert first.shape == (3, 4, 1280)
    calls = []
    orig = bb._encode
    monkeypatch.setattr(bb, "_encode", lambda b: calls.append(len(b)) or orig(b))
    again = bb.features([imgs[2].copy(), imgs[0]], "face")           # same pixels: no recompute
    assert calls == [] and torch.equal(again[0], first[2])
    bb.features([imgs[0]], "diff")                                     # other kind: computed
    assert calls == [1]


def test_expert_shapes_and_au_head():
    s = StructureExpert(1280, 16)({"face": torch.randn(2, 4, 1280)}).tokens
    d = DynamicTextureExpert(1280, 16)({"diff": torch.randn(2, 4, 1280), "dynamic": torch.randn(2, 4, 1280)}).tokens
    motion = MotionSemanticsExpert(16, field_size=28)
    out = motion({"motion": torch.randn(2, len(REGION_NAMES), len(REGION_FEATURES)), "field": torch.randn(2, 3, 28, 28)})
    tokens, summary, au = out.tokens, out.summary, out.au_logits
    assert s.shape == (2, 4, 16) and d.shape == (2, 8, 16)
    assert tokens.shape == (2, len(REGION_NAMES) + 25, 16)          # region tokens + a 5x5 grid of field tokens
    assert summary.shape == (2, 16) and au.shape == (2, len(MODEL_AUS))
    regions_only = MotionSemanticsExpert(16, field_size=None)
    out = regions_only({"motion": torch.randn(2, len(REGION_NAMES), len(REGION_FEATURES))})
    tokens, summary = out.tokens, out.summary
    assert tokens.shape == (2, len(REGION_NAMES), 16) and summary.shape == (2, 16)


def test_field_only_summary_reads_no_region_statistics():
    torch.manual_seed(0)
    field_only = MotionSemanticsExpert(16, field_size=28, field_only_summary=True).eval()
    assert not any(name.startswith(("encode", "mix", "readout", "region_embed")) for name, _ in field_only.named_parameters())
    field = torch.randn(2, 3, 28, 28)
    a = field_only({"motion": torch.randn(2, len(REGION_NAMES), len(REGION_FEATURES)), "field": field})
    b = field_only({"motion": torch.randn(2, len(REGION_NAMES), len(REGION_FEATURES)), "field": field})
    assert a.tokens.shape == (2, 25, 16) and a.au_logits.shape == (2, len(MODEL_AUS))
    assert torch.equal(a.summary, b.summary)                          # the region statistics do not matter
    with pytest.raises(UserError, match="motion_field_size"):
        MotionSemanticsExpert(16, field_size=None, field_only_summary=True)


def test_field_encoder_keeps_where_the_face_moved():
    """The same motion at the brows or at the lip corners gives different summaries, and the
    grid tokens respond where the motion is."""
    enc = FlowFieldEncoder(8, size=28).eval()
    top, bottom = torch.zeros(1, 3, 28, 28), torch.zeros(1, 3, 28, 28)
    top[:, 1, 2:8] = -1.0
    bottom[:, 1, 20:26] = -1.0
    (t_tok, t_sum), (b_tok, b_sum) = enc(top), enc(bottom)
    assert not torch.allclose(t_sum, b_sum, atol=1e-3)
    base, _ = enc(torch.zeros(1, 3, 28, 28))
    t_change = (t_tok - base).norm(dim=-1)[0].view(5, 5)
    b_change = (b_tok - base).norm(dim=-1)[0].view(5, 5)
    assert t_change[0].sum() > t_change[-1].sum() and b_change[-1].sum() > b_change[0].sum()


def test_motion_normalisation_is_fit_on_training_features():
    m = MotionSemanticsExpert(8)
    feats = torch.randn(50, len(REGION_NAMES), len(REGION_FEATURES)) * 3 + 7
    m.set_normalisation(feats)
    z = (feats - m.feat_mean) / m.feat_std
    assert torch.allclose(z.mean(0), torch.zeros_like(z.mean(0)), atol=1e-4)
    assert "feat_mean" in m.state_dict()   # saved with the weights


def test_clip_normalised_features_ignore_the_subjects_intensity():
    feats = torch.rand(3, len(REGION_NAMES), len(REGION_FEATURES), generator=torch.Generator().manual_seed(0)) + 0.1
    weak = feats * 0.25                       # the same pattern, a quarter the motion and strain
    z, zw = scale_by_max_region_magnitude(feats), scale_by_max_region_magnitude(weak)
    assert torch.allclose(z, zw, atol=1e-6)
    i = REGION_FEATURES.index("mean_mag")
    assert torch.allclose(z[..., i].amax(1), torch.ones(3))   # strongest region reads 1
    assert torch.all(scale_by_max_region_magnitude(torch.zeros(1, len(REGION_NAMES), len(REGION_FEATURES))) == 0)


def test_reliability_probe_downweights_identity_features():
    """An input that names the subject but not the class gets ~0 weight; class-bearing motion 1."""
    rng = np.random.default_rng(0)
    n_sub, per = 8, 9
    subjects = [f"s{s}" for s in range(n_sub) for _ in range(per)]
    labels = torch.tensor([i % 3 for s in range(n_sub) for i in range(per)])
    ident = rng.normal(0, 1, (n_sub, 64))
    face = torch.tensor(np.stack([ident[int(s[1:])] + rng.normal(0, 0.05, 64) for s in subjects]),
                        dtype=torch.float32)[:, None]
    motion = torch.tensor(rng.normal(0, 0.3, (len(subjects), len(REGION_NAMES), len(REGION_FEATURES))),
                          dtype=torch.float32)
    motion[torch.arange(len(subjects)), labels * 4, 1] += 2.0          # the class moves one region
    rel = {r.expert: r for r in expert_reliability({"face": face, "motion": motion}, ["structure", "motion"],
                                                   labels, subjects)}
    assert rel["motion"].weight == 1.0 and rel["motion"].balanced_accuracy > 0.7
    assert rel["structure"].weight < 0.3 and rel["structure"].balanced_accuracy < 0.55
    one = expert_reliability({"face": face}, ["structure"], labels, ["s0"] * len(subjects))
    assert one[0].weight == 1.0          # one subject: nothing to hold out, nothing down-weighted


def test_the_motion_expert_reads_its_field_at_the_configured_scale(clips):
    """``model.motion_field_scale`` reaches the field the motion expert builds (and so its checkpoint)."""
    preps = [c.prepared for c in clips[:2]]
    cfg = tiny_config().model
    for scale in ("p99", "rms_sqrt"):
        expert = MotionSemanticsExpert.from_config(cfg.model_copy(update={"motion_field_scale": scale}), None)
        field = expert.build_inputs(preps)["field"].numpy()
        assert field.shape == (2, 3, cfg.motion_field_size, cfg.motion_field_size)
        np.testing.assert_array_equal(field, np.stack([flow_field(p, cfg.motion_field_size, scale) for p in preps]))
