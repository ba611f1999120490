"""Options every command shares: ``--config FILE.yaml`` and repeated ``--set section.key=value``.

Explicit flags of a command (``--dataset``, ``--flow``...) are applied as overrides on top of
the file, so one resolved `ExperimentConfig` describes the run and is saved beside its output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from deftmer.config import ExperimentConfig, load_config

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
        cfg = load_config(None, [])  # validate through the same path
        cfg = ExperimentConfig.model_validate(tree)
    return cfg
