"""DEFT's parts are registered by name; an unknown name is one error that lists the known ones."""

import numpy as np
import pytest
import torch
from model_toys import tiny_config

from deftmer.config import load_config
from deftmer.data.labels import MEGC3
from deftmer.errors import ConfigError
from deftmer.model.backbones import EfficientNetLite0, FrozenBackbone, vision_encoder
from deftmer.model.deft import DeftModel
from deftmer.model.experts import Expert, ExpertOutput, expert_class
from deftmer.model.llm import load_llm
from deftmer.model.registry import EXPERTS, LLMS, VISION_BACKBONES, Registry
from deftmer.train.trainer import fit_model


def test_a_registry_returns_what_was_registered_and_names_the_rest_on_a_miss():
    reg = Registry("widget", "model.widget")
    reg.register("a", "the first")(dict)
    assert reg.get("a") is dict and "a" in reg and reg.names() == ["a"] and reg.descriptions() == {"a": "the first"}
    with pytest.raises(ConfigError, match="model.widget: 'b' is not a registered widget; registered: a"):
        reg.get("b")


def test_backbones_and_llms_resolve_by_name_or_local_folder(tmp_path):
    assert VISION_BACKBONES.names() == ["efficientnet-lite0"] and set(LLMS.names()) == {"smollm2-135m", "tiny"}
    assert isinstance(vision_encoder("efficientnet-lite0"), EfficientNetLite0)
    with pytest.raises(ConfigError, match=r"neither a registered vision backbone \(efficientnet-lite0\) nor a local"):
        FrozenBackbone(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"neither a registered LLM \(smollm2-135m, tiny\) nor a local"):
        load_llm(str(tmp_path / "nope"))


def test_every_registered_expert_builds_its_inputs_and_forwards_through_one_interface(clips):
    cfg = tiny_config().model
    backbone = FrozenBackbone(cfg.vision, cfg.image_size, cfg.vision_tokens)
    preps = [c.prepared for c in clips[:3]]
    assert EXPERTS.names() == ["structure", "dynamic", "motion"]
    for name in EXPERTS.names():
        expert = expert_class(name).from_config(cfg, backbone).eval()
        inputs = expert.build_inputs(preps)
        out = expert(inputs)
        assert isinstance(out, ExpertOutput) and out.summary.shape == (3, cfg.expert_dim), name
        assert out.tokens.shape[0] == 3 and out.tokens.shape[2] == cfg.expert_dim, name
        assert expert.probe_input(inputs).shape[0] == 3, name
        assert (out.au_logits is not None) == (name == "motion"), name     # only motion has an AU head


class MeanFlowExpert(Expert):
    """A toy expert: the clip's mean flow vector."""

    title = "mean-flow"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2, dim)

    @classmethod
    def from_config(cls, cfg, backbone):
        return cls(cfg.expert_dim)

    @staticmethod
    def probe_input(inputs):
        return inputs["mean_flow"]

    def build_inputs(self, preps):
        return {"mean_flow": torch.from_numpy(np.stack([p.flow.mean((1, 2)) for p in preps]))}

    def forward(self, inputs):
        s = self.proj(inputs["mean_flow"])
        return ExpertOutput(s[:, None], s)


def test_a_newly_registered_expert_joins_deft_by_name(monkeypatch, clips):
    """An expert is one registered class: config, DeftNet, training and prediction take it by name."""
    monkeypatch.setitem(EXPERTS._parts, "mean-flow", (MeanFlowExpert, "mean flow of the clip (test)"))
    assert load_config(None, ["model.experts=[mean-flow, motion]"]).model.experts == ["mean-flow", "motion"]
    model = DeftModel(tiny_config(experts=["mean-flow", "motion"], use_llm=False), MEGC3)
    fit_model(model, clips)
    assert model.experts == ["mean-flow", "motion"] and list(model.net.expert_modules) == ["mean-flow", "motion"]
    assert all(p.label in MEGC3.classes for p in model.predict(clips[:4]))
