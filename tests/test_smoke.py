"""The package imports, the CLI answers, and config overrides validate."""

import subprocess
import sys

import pytest

from deftmer.config import ExperimentConfig, load_config
from deftmer.errors import ConfigError


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "deftmer.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "datasets" in out.stdout


def test_unknown_command_is_one_line_not_traceback():
    out = subprocess.run([sys.executable, "-m", "deftmer.cli", "no-such-command"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr


def test_config_overrides_parse_and_validate(tmp_path):
    cfg = load_config(None, ["model.lora_rank=16", "preprocess.flow=dis", "seed=3"])
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.lora_rank == 16 and cfg.preprocess.flow == "dis" and cfg.seed == 3
    with pytest.raises(ConfigError, match="preprocess.flow"):
        load_config(None, ["preprocess.flow=magic"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_models_command_lists_deft_and_baselines():
    out = subprocess.run([sys.executable, "-m", "deftmer.cli", "models"], capture_output=True, text=True,
                         env={**__import__("os").environ, "COLUMNS": "200"})
    assert out.returncode == 0
    for name in ("deft", "deft-no-llm", "mdmo-svm", "flow-cnn"):
        assert name in out.stdout
