"""`deftmer prepare`: preprocess a dataset into the cache every later stage reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.cli.options import ConfigOption, FlowName, SetOption, resolve_config, stage_dataset
from deftmer.config import config_yaml
from deftmer.preprocess import prepare_dataset
from deftmer.preprocess.cache import PreparedCache
from deftmer.utils.console import print_user_error
from deftmer.utils.io import write_text_if_changed


@app.command("prepare")
def prepare(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (see `deftmer datasets`).")],
    root: Annotated[Path, typer.Option("--root", "-r", help="The dataset's folder.")],
    cache: Annotated[Path, typer.Option("--cache", help="Cache folder (one sub-folder per preprocessing config).")],
    flow: Annotated[Optional[FlowName], typer.Option("--flow", help="Optical flow: tvl1 (default), dis, farneback.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 2,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Retry samples that failed before.")] = False,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Align faces, spot missing apexes, compute flow/strain, AU regions and dynamic images; cache them.

    Resumable: samples already cached are skipped, so re-run the same command after an
    interruption. Clips an annotation problem makes unusable, and clips without frames on
    disk, are left out and counted (see `deftmer check-data`). A clip that failed before is
    tried again when its input files changed (or with --retry-failed). A report (counts,
    failures with reasons, time per stage) is printed and saved as report.json in the cache
    folder. Exits 1 when a clip whose frames exist failed.
    """

    cfg = resolve_config(config, sets, data__dataset=dataset, data__root=str(root), preprocess__flow=flow)
    ds = stage_dataset(cfg)
    left_out = {reason: len(samples) for reason, samples in ds.excluded().items()}
    report = prepare_dataset(ds.usable(), cache, cfg.preprocess, workers=workers, retry_failed=retry_failed,
                             left_out=left_out)
    if report.computed or report.failed > report.failed_before:   # this run wrote into the cache
        write_text_if_changed(PreparedCache(cache, cfg.preprocess).dir / "config.yaml", config_yaml(cfg))
    report.print()
    if report.failed:
        again = (f"{report.failed_before} of them failed before and their inputs did not change (fix or replace "
                 "their frames: changed clips are retried automatically; or pass --retry-failed)"
                 if report.failed_before else "fix or replace their frames, then run the same command again")
        print_user_error(f"{report.failed} of {report.total} clips with frames on disk failed (reasons in the table "
                         f"above); {again}")
        raise typer.Exit(1)

