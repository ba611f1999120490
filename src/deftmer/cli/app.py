"""The Typer app every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="deftmer",
    help="Micro-expression recognition with disentangled experts and a LoRA-tuned LLM (DEFT-LLM).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """deftmer: micro-expression recognition with disentangled experts and a LoRA-tuned LLM."""
