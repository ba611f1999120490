"""Data commands: list datasets (synth and check-data join here)."""

from __future__ import annotations

from rich.table import Table

from deftmer.cli.app import app
from deftmer.utils.console import console


@app.command("datasets")
def datasets_cmd() -> None:
    """List the datasets deftmer can read."""
    from deftmer.data import list_datasets

    t = Table(title="datasets")
    t.add_column("name")
    t.add_column("description")
    for info in list_datasets():
        t.add_row(info.name, info.description)
    console.print(t)
