"""One validated config tree for a whole experiment (YAML on disk, dotted CLI overrides).

Each stage owns its section in ``<stage>/config.py``; this module only composes them, loads
YAML, applies ``section.key=value`` overrides and saves the resolved config beside outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from deftmer.baselines.config import BaselinesConfig
from deftmer.data.config import DataConfig
from deftmer.errors import ConfigError
from deftmer.eval.config import EvalConfig
from deftmer.model.config import ModelConfig
from deftmer.preprocess.config import PreprocessConfig
from deftmer.spot.config import SpotConfig
from deftmer.train.config import TrainConfig
from deftmer.unimer.config import UnimerConfig
from deftmer.utils.io import atomic_write_text


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    data: DataConfig = DataConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    unimer: UnimerConfig = UnimerConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    spot: SpotConfig = SpotConfig()


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{p}' is not a section")
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Read YAML (optional; else ``base`` or the defaults) and apply ``key.sub=value`` overrides
    (values parsed as YAML)."""
    tree: dict[str, Any] = base.model_dump(mode="json") if base is not None else {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found; pass an existing YAML file to --config")
        try:
            tree = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {p} must hold a mapping at the top level")
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"override '{ov}' must look like section.key=value (e.g. model.lora_rank=16)")
        k, v = ov.split("=", 1)
        _set_dotted(tree, k.strip().lstrip("-"), yaml.safe_load(v))
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        src = f" in {path}" if path else ""
        raise ConfigError(f"config{src}: '{loc}': {err['msg']}") from None


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
