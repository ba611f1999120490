"""`deftmer prepare`: preprocess a dataset into the cache every later stage reads."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.cli.options import ConfigOption, SetOption, resolve_config


class FlowChoice(str, Enum):
    tvl1 = "tvl1"
    dis = "dis"
    farneback = "farneback"


@app.command("prepare")
def prepare(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (see `deftmer datasets`).")],
    root: Annotated[Path, typer.Option("--root", "-r", help="The dataset's folder.")],
    cache: Annotated[Path, typer.Option("--cache", help="Cache folder (one sub-folder per preprocessing config).")],
    flow: Annotated[Optional[FlowChoice], typer.Option("--flow", help="Optical flow: tvl1 (default), dis, farneback.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 2,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Retry samples that failed before.")] = False,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Align faces, spot missing apexes, compute flow/strain, AU regions and dynamic images; cache them.

    Resumable: samples already cached are skipped, so re-run the same command after an
    interruption. A report (counts, failures with reasons, time per stage) is printed and saved
    as report.json in the cache folder.
    """
    from deftmer.data.dataset import load_configured_dataset
    from deftmer.preprocess import prepare_dataset
    from deftmer.preprocess.cache import PreparedCache
    from deftmer.config import save_config

    cfg = resolve_config(config, sets, data__dataset=dataset, data__root=str(root), preprocess__flow=flow)
    ds = load_configured_dataset(cfg.data)
    report = prepare_dataset(ds.samples, cache, cfg.preprocess, workers=workers, retry_failed=retry_failed)
    save_config(cfg, PreparedCache(cache, cfg.preprocess).dir / "config.yaml")
    report.print()
    if report.failed == report.total and report.total > 0:
        raise typer.Exit(1)
