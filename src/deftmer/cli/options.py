"""Options every command shares: ``--config FILE.yaml`` and repeated ``--set section.key=value``.

Explicit flags of a command (``--dataset``, ``--flow``...) are applied as overrides on top of
the file, so one resolved `ExperimentConfig` describes the run and is saved beside its output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
import yaml
from pydantic import BaseModel

from deftmer.config import ExperimentConfig, checkpoint_config, load_config, override_config
from deftmer.data.dataset import load_configured_dataset
from deftmer.errors import UserError
from deftmer.eval.config import EvalConfig
from deftmer.preprocess.cache import choose_preparation
from deftmer.preprocess.config import PreprocessConfig
from deftmer.unimer.config import UnimerConfig
from deftmer.utils.console import logger

if TYPE_CHECKING:
    from deftmer.data.dataset import MEDataset

def config_choices(section: type[BaseModel], key: str) -> Any:
    """The ``Literal`` of a config key, for an option that offers the same choices (the config is
    the one place they are listed; Typer turns a Literal into a choice)."""
    return section.model_fields[key].annotation


FlowName = config_choices(PreprocessConfig, "flow")
PolicyName = config_choices(UnimerConfig, "policy")
ProtocolName = config_choices(EvalConfig, "protocol")

# Options several commands share, declared once.
DatasetOpt = Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset name (see `deftmer datasets`).")]
RootOpt = Annotated[Optional[Path], typer.Option("--root", "-r", help="Folder holding the dataset.")]
CacheOpt = Annotated[Path, typer.Option("--cache", help="Preprocessing cache folder (one sub-folder per preprocessing config).")]
ClassSetOpt = Annotated[Optional[str], typer.Option("--class-set", help="Target class set (default: the dataset's own).")]
LoaderOpt = Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Loader option KEY=VALUE, e.g. annotation=PATH (repeatable).")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Model name (deft, or a baseline such as mdmo-svm; see `deftmer models`).")]
CheckpointOpt = Annotated[Path, typer.Option("--checkpoint", help="Model folder written by `deftmer train`.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]

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
    cfg = load_config(config, list(sets or []))
    updates = {k.replace("__", "."): v for k, v in explicit.items() if v is not None}
    return override_config(cfg, updates, source="option for") if updates else cfg


def stage_dataset(cfg: ExperimentConfig) -> MEDataset:
    """The configured dataset for a stage (prepare, unimer, loso, train), saying once which clips
    every stage leaves out and why (annotation rules, no frames on disk)."""

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

    if not cache.is_dir():
        raise UserError(f"cache folder {cache} does not exist; run `deftmer prepare` with --cache pointing there first")
    chosen = choose_preparation(cache, cfg.preprocess, explicit_preprocess_keys(config, sets))
    return cfg.model_copy(update={"preprocess": chosen}, deep=True)


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``--option key=value`` pairs into a dict; a pair without ``=`` is a user error."""

    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option '{pair}' is not KEY=VALUE (e.g. --option annotation=/data/CASME2-coding.xlsx)")
        out[key.strip()] = value.strip()
    return out


def config_for_checkpoint(checkpoint: Path, config: Path | None, sets: list[str] | None):
    """The config a model folder was trained with (a --config/--set may change the rest).

    Preprocessing and model settings are the checkpoint's own: the weights were trained on
    clips prepared one way, and ``model.*`` comes with the weights. A --config or --set that
    changes them is refused in one line saying what it changes, instead of quietly giving
    another answer (or being ignored).
    """

    if not checkpoint.exists():
        raise UserError(f"checkpoint {checkpoint} does not exist; pass the --out folder of `deftmer train`")
    trained = checkpoint_config(checkpoint)
    cfg = load_config(config, sets, base=None if config is not None else trained) if (config or sets) else trained
    changed = _fixed_by_training(trained, cfg)
    if changed:
        given = f"--config {config}" if config is not None else "--set"
        raise UserError(f"{given} changes settings the model in {checkpoint} was trained with: {'; '.join(changed[:4])}"
                        f"{'; ...' if len(changed) > 4 else ''}. Preprocessing and model settings come with the "
                        "trained weights: drop the option, or train a model with these settings")
    assert isinstance(cfg, ExperimentConfig)
    return cfg


def _fixed_by_training(trained, cfg) -> list[str]:
    """``section.key (trained -> given)`` for each preprocessing or model setting that differs."""
    out = []
    for section in ("preprocess", "model"):
        a = getattr(trained, section).model_dump(mode="json")
        b = getattr(cfg, section).model_dump(mode="json")
        out += [f"{section}.{k} ({a[k]} -> {b[k]})" for k in a if a[k] != b[k]]
    return out
