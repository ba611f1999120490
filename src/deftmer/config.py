"""One validated config tree for a whole experiment (YAML on disk, dotted CLI overrides).

Each stage owns its section in ``<stage>/config.py``; this module only composes them, loads
YAML, applies ``section.key=value`` overrides and saves the resolved config beside outputs.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from deftmer.baselines.config import BaselinesConfig
from deftmer.data.config import DataConfig
from deftmer.errors import CheckpointError, ConfigError
from deftmer.eval.config import EvalConfig
from deftmer.model.card import MODEL_CARD
from deftmer.model.config import DeftConfig
from deftmer.preprocess.config import PreprocessConfig
from deftmer.spot.config import SpotConfig
from deftmer.train.config import TrainConfig
from deftmer.unimer.config import UnimerConfig
from deftmer.utils.io import save_settings, settings_yaml


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    data: DataConfig = DataConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    unimer: UnimerConfig = UnimerConfig()
    model: DeftConfig = DeftConfig()
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
        tree = _read_yaml(Path(path))
    for ov in overrides or []:
        key, value = parse_override(ov)
        _set_dotted(tree, key, value)
    return _validate(tree, f" in {path}" if path else "")


def parse_override(ov: str) -> tuple[str, Any]:
    """``section.key=value`` (``--set``) -> (dotted key, value parsed as YAML)."""
    if "=" not in ov:
        raise ConfigError(f"override '{ov}' must look like section.key=value (e.g. model.lora_rank=16)")
    k, v = ov.split("=", 1)
    try:
        value = yaml.safe_load(v)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {ov}: the value is not valid YAML{_yaml_where(e)}; quote it") from None
    return k.strip().lstrip("-"), value


def override_config(cfg: ExperimentConfig, values: dict[str, Any], source: str = "config:") -> ExperimentConfig:
    """A copy of ``cfg`` with ``{"section.key": value}`` set (values as given, not parsed), validated;
    an invalid value is a one-line `ConfigError` that starts with ``source`` (e.g. "option for")."""
    tree = cfg.model_dump()
    for key, value in values.items():
        _set_dotted(tree, key, value)
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(validation_message(e).replace("config: ", f"{source} ", 1)) from None


def _read_yaml(p: Path) -> dict[str, Any]:
    if not p.is_file():
        raise ConfigError(f"config file {p} not found; pass an existing YAML file to --config")
    try:
        tree = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {p} is not valid YAML{_yaml_where(e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not a text file; pass a YAML file to --config") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    return tree


def _validate(tree: dict[str, Any], where: str) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(validation_message(e, where)) from None


def _yaml_where(e: yaml.YAMLError) -> str:
    """`` at line L, column C: <problem>`` from PyYAML's error marks (1-based, as editors count)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if mark is None:
        return f": {problem}"
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config section (pydantic model) that ``loc``'s last key sits in."""
    node: type[BaseModel] = ExperimentConfig
    for part in loc[:-1]:
        field = node.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        node = ann
    return node


def validation_message(e: ValidationError, where: str = "") -> str:
    """The first validation error as one line; an unknown key comes with the keys that exist there."""
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    section = _model_at(tuple(err["loc"])) if err["type"] == "extra_forbidden" else None
    if section is None:
        return f"config{where}: '{loc}': {err['msg']}"
    prefix = ".".join(str(x) for x in err["loc"][:-1])
    keys = [f"{prefix}.{k}" if prefix else k for k in section.model_fields]
    close = difflib.get_close_matches(loc, keys, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"config{where}: unknown key '{loc}'{hint}; valid keys: {', '.join(keys)}"


def config_yaml(cfg: ExperimentConfig) -> str:
    """The resolved config as the YAML saved beside outputs."""
    return settings_yaml(cfg)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    save_settings(cfg, path)


def checkpoint_config(checkpoint: str | Path) -> ExperimentConfig:
    """The experiment config a model folder was trained with (from its ``model.json``)."""
    card_path = Path(checkpoint) / MODEL_CARD
    if not card_path.is_file():
        raise CheckpointError(f"{checkpoint} is not a deftmer model folder (no {MODEL_CARD}); "
                              f"pass the folder that `deftmer train` wrote")
    try:
        card = json.loads(card_path.read_text())
        return ExperimentConfig.model_validate(card.get("config") or {})
    except ValueError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{card_path} holds a config this deftmer version cannot read ({first}); "
                              f"retrain the model with this version") from None
