"""DEFT ablations are the DEFT model under a copied config with a preset of experts/LLM settings."""

from __future__ import annotations

from deftmer.baselines.ablations import ABLATIONS, ablation_config
from deftmer.config import load_config

FLAGS = ("experts", "use_llm", "llm_input", "decision")
ALL = ["structure", "dynamic", "motion"]


def test_each_ablation_switches_exactly_its_flags_on_a_copy():
    cfg = load_config(None, ["model.expert_dim=64", "seed=7", "model.decision=hybrid"])
    expected = {
        "deft-no-llm": (ALL, False, "experts", "hybrid"),
        "deft-structure-only": (["structure"], True, "experts", "hybrid"),
        "deft-dynamic-only": (["dynamic"], True, "experts", "hybrid"),
        "deft-motion-only": (["motion"], True, "experts", "hybrid"),
        "deft-no-motion": (["structure", "dynamic"], True, "experts", "hybrid"),
        "deft-motion-text": (ALL, True, "motion_text", "llm"),   # MELLM's design: the LLM alone decides
    }
    assert {a.name for a in ABLATIONS} == set(expected)
    for ab in ABLATIONS:
        out = ablation_config(cfg, ab)
        assert tuple(getattr(out.model, f) for f in FLAGS) == expected[ab.name], ab.name
        assert out.model.expert_dim == 64 and out.seed == 7          # everything else carried over
    assert cfg.model.experts == ALL and cfg.model.use_llm and cfg.model.llm_input == "experts"  # caller's untouched


def test_ablation_builds_a_deft_model_with_its_flags():
    from deftmer.data.labels import MEGC3
    from deftmer.model import deft
    from deftmer.models import create_model

    model = create_model("deft-motion-only", load_config(None, ["model.llm=tiny"]), MEGC3)
    assert isinstance(model, deft.DeftModel)
    assert model.name == "deft-motion-only"
    assert model.cfg.model.experts == ["motion"]


def test_saved_ablation_loads_back_under_its_own_name(tmp_path):
    from deftmer.data.labels import MEGC3
    from deftmer.model import deft
    from deftmer.models import create_model, load_model

    model = create_model("deft-no-llm", load_config(None, ["model.llm=tiny"]), MEGC3)
    model.build(["motion"])           # untrained weights are enough to check the folder round trip
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, deft.DeftModel)
    assert loaded.name == "deft-no-llm" and loaded.cfg.model.use_llm is False
