"""DEFT's parts are registered by name; an unknown name is one error that lists the known ones."""

import pytest

from deftmer.errors import ConfigError
from deftmer.model.backbones import EfficientNetLite0, FrozenBackbone, vision_encoder
from deftmer.model.llm import load_llm
from deftmer.model.registry import LLMS, VISION_BACKBONES, Registry


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
