"""Options every command shares: ``--config FILE.yaml`` and repeated ``--set section.key=value``.

Explicit flags of a command (``--dataset``, ``--flow``...) are applied as overrides on top of
the file, so one resolved `ExperimentConfig` describes the run and is saved beside its output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pydantic import ValidationError

from deftmer.config import ExperimentConfig, load_config
from deftmer.errors import ConfigError

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
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ConfigError(f"option for '{loc}': {err['msg']}") from None
    return cfg
