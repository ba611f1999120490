"""Data commands: list the datasets deftmer reads, and check one (``check-data``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from deftmer.cli.app import app
from deftmer.cli.options import (
    ClassSetOpt,
    ConfigOption,
    DatasetOpt,
    LoaderOpt,
    RootOpt,
    SetOption,
    parse_options,
    resolve_config,
)
from deftmer.data import list_datasets
from deftmer.data.check import render_report, summarise
from deftmer.data.dataset import load_configured_dataset
from deftmer.errors import UserError
from deftmer.models import list_models
from deftmer.utils.console import console, err_console


@app.command("datasets")
def datasets_cmd() -> None:
    """List the datasets deftmer can read."""

    t = Table(title="datasets")
    t.add_column("name")
    t.add_column("description")
    for info in list_datasets():
        t.add_row(info.name, info.description)
    console.print(t)


@app.command("check-data")
def check_data_cmd(
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    class_set: ClassSetOpt = None,
    option: LoaderOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any annotation problem is found (excluded or absent clips included).")] = False,
    brief: Annotated[bool, typer.Option("--brief", help="Count problems by kind without listing each one.")] = False,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Read a dataset, print per-class and per-subject counts and every annotation problem.

    The closing line counts the labelled clips every later stage will use, and those it leaves
    out: excluded by an annotation rule (onset after offset, duplicate id, annotated frame or
    frames inside the clip not on disk) or absent (no frames on disk).

    Exits 2 when the layout cannot be read (the message names the file it expected), 1 when it was read but no labelled clip is usable, 0 otherwise (1 with --strict if there are problems).
    """

    cfg = resolve_config(config, sets, data__dataset=dataset, data__root=str(root) if root else None,
                         data__class_set=class_set)
    if not cfg.data.root:
        raise UserError("--root is required: the folder holding the dataset")
    ds = load_configured_dataset(cfg.data, **parse_options(option))
    report = summarise(ds)
    render_report(report, console, show_problems=not brief)
    if not report.usable:
        err_console.print(f"[bold red]unusable:[/] {report.unusable_reason}", highlight=False, soft_wrap=True)
        sys.exit(1)  # not typer.Exit: main() runs the app with standalone_mode=False, which swallows it
    verdict = "[green]ok[/]" if not report.excluded else "[yellow]usable in part[/]"
    console.print(f"{verdict}: {report.ready_line()}", highlight=False, soft_wrap=True)
    if strict and report.problems:
        err_console.print(f"[yellow]{len(report.problems)} problem(s) found (--strict)[/]", highlight=False)
        sys.exit(1)


@app.command("models")
def models_cmd() -> None:
    """List the models `loso`, `train` and `demo` can run (DEFT, its ablations, baselines)."""

    t = Table(title="models")
    t.add_column("name")
    t.add_column("description")
    for name, desc in list_models().items():
        t.add_row(name, desc)
    console.print(t)
