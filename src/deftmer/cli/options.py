"""Options every command shares: ``--config FILE.yaml`` and repeated ``--set section.key=value``.

Explicit flags of a command (``--dataset``, ``--flow``...) are applied as overrides on top of
the file, so one resolved `ExperimentConfig` describes the run and is saved beside its output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
import yaml
from pydantic import ValidationError

from deftmer.config import ExperimentConfig, load_config, validation_message
from deftmer.errors import ConfigError, UserError
from deftmer.utils.console import logger

if TYPE_CHECKING:
    from deftmer.data.dataset import MEDataset

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="Experiment config (YAML). Flags below override it.")
]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override any config key, e.g. --set model.lora_rank=16 (repeatable)."),
]


def resolve_config(config: Path | None, sets: list[str] | None, **explicit: Any) -> ExperimentConfig:
    """Load ``config``, apply ``--set`` overrides, then explicit flags given as ``section__key=value``.

    Flags left at None are not applied, so the file's value stands.
    """
    overrides = list(sets or [])
    cfg = load_config(config, overrides)
    updates = {k: v for k, v in explicit.items() if v is not None}
    if updates:
        tree = cfg.model_dump()
        for key, value in updates.items():
            node = tree
            parts = key.split("__")
            for p in parts[:-1]:
                node = node[p]
            node[parts[-1]] = value.value if hasattr(value, "value") else value
        try:
            cfg = ExperimentConfig.model_validate(tree)
        except ValidationError as e:
            raise ConfigError(validation_message(e).replace("config: ", "option for ", 1)) from None
    return cfg


def stage_dataset(cfg: ExperimentConfig) -> "MEDataset":
    """The configured dataset for a stage (prepare, unimer, loso, train), saying once which clips
    every stage leaves out and why (annotation rules, no frames on disk)."""
    from deftmer.data.dataset import load_configured_dataset

    ds = load_configured_dataset(cfg.data)
    for note in ds.exclusion_notes():
        logger.warning(note)
    return ds


def explicit_preprocess_keys(config: Path | None, sets: list[str] | None) -> set[str]:
    """The preprocess keys the user set (``--set preprocess.K=V`` or a ``preprocess`` section in --config)."""
    keys = {s.split("=", 1)[0].strip().lstrip("-").split(".", 1)[1].split(".")[0]
            for s in sets or [] if s.strip().lstrip("-").startswith("preprocess.")}
    if config is not None:
        try:
            section = (yaml.safe_load(Path(config).read_text()) or {}).get("preprocess") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            section = {}             # load_config has already checked the file
        keys |= set(section) if isinstance(section, dict) else set()
    return keys


def with_cache_preparation(cfg: ExperimentConfig, cache: Path, config: Path | None,
                           sets: list[str] | None) -> ExperimentConfig:
    """``cfg`` with the preprocessing of the preparation in ``cache`` that it selects: a cache
    holding one preparation is used as it is, without repeating its flags (see
    `deftmer.preprocess.cache.choose_preparation`)."""
    from deftmer.preprocess.cache import choose_preparation

    if not cache.is_dir():
        raise UserError(f"cache folder {cache} does not exist; run `deftmer prepare` with --cache pointing there first")
    chosen = choose_preparation(cache, cfg.preprocess, explicit_preprocess_keys(config, sets))
    return cfg.model_copy(update={"preprocess": chosen}, deep=True)
