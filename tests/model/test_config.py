"""DEFT's configuration: every field documented, experts named and checked, old keys still read."""

import pytest

from deftmer.config import load_config
from deftmer.errors import ConfigError
from deftmer.model.config import DEFAULT_EXPERTS, DeftConfig


def test_every_field_is_documented():
    undocumented = [name for name, f in DeftConfig.model_fields.items() if not (f.description or "").strip()]
    assert undocumented == []


def test_experts_are_a_list_checked_against_the_known_experts():
    assert load_config(None, []).model.experts == list(DEFAULT_EXPERTS)
    assert load_config(None, ["model.experts=[motion, structure]"]).model.experts == ["motion", "structure"]
    for bad, why in (("[motoin]", "unknown expert 'motoin'; known experts: structure, dynamic, motion"),
                     ("[]", "every expert is switched off"), ("[motion, motion]", "named twice")):
        with pytest.raises(ConfigError, match=why):
            load_config(None, [f"model.experts={bad}"])


def test_old_use_flags_switch_experts_and_are_not_saved():
    """Configs and model cards written before ``experts`` keep their meaning."""
    cfg = load_config(None, ["model.use_structure=false", "model.use_dynamic=false"])
    assert cfg.model.experts == ["motion"]
    assert "use_motion" not in cfg.model.model_dump() and cfg.model.model_dump()["experts"] == ["motion"]
    old_card = {"use_structure": True, "use_dynamic": False, "use_motion": True, "use_llm": False}
    assert DeftConfig.model_validate(old_card).experts == ["structure", "motion"]
    again = load_config(None, ["model.use_dynamic=true"], base=cfg)        # switched back on, in its place
    assert again.model.experts == ["dynamic", "motion"]
    with pytest.raises(ConfigError, match="use_motion must be true or false"):
        load_config(None, ["model.use_motion=maybe"])


def test_a_field_only_motion_summary_without_a_field_fails_at_config_load():
    with pytest.raises(ConfigError, match="motion_field_only_summary needs motion_field_size"):
        load_config(None, ["model.motion_field_only_summary=true", "model.motion_field_size=null"])
    assert load_config(None, ["model.motion_field_only_summary=true"]).model.motion_field_size == 28
