"""How the CLI shows results: tables and lines on the console, and output files written."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from deftmer.errors import UserError
from deftmer.utils.console import console
from deftmer.utils.io import is_environment_error, os_error_message


def print_analysis(a) -> None:
    """A `ClipAnalysis` as a class table, the frames used, the AUs and the measured motion."""
    t = Table(title=f"{Path(a.input).name}: {a.label}", show_header=True)
    t.add_column("class")
    t.add_column("probability", justify="right")
    for k, v in sorted(a.probs.items(), key=lambda kv: -kv[1]):
        t.add_row(f"[bold]{k}[/]" if k == a.label else k, f"{v:.3f}")
    console.print(t)
    spotted = " (spotted)" if a.apex_spotted else ""
    console.print(f"frames: {a.n_frames}, onset {a.onset_index}, apex {a.apex_index}{spotted}; "
                  f"head motion removed: ({a.head_motion_px[0]:+.2f}, {a.head_motion_px[1]:+.2f}) px")
    if a.note:
        console.print(f"[yellow]note[/]: {a.note}", highlight=False)
    console.print(f"AUs named by the model: {', '.join(a.aus) if a.aus else 'none'}; consistent with the measured "
                  f"motion: {', '.join(a.motion_aus) if a.motion_aus else 'none'}  (L/R = the subject's left/right)",
                  soft_wrap=True)
    console.print(f"description: {a.description}", soft_wrap=True)
    if a.moving_regions:
        r = Table(title="measured motion (strongest regions)")
        for col in ("region", "direction", "mean |flow| px", "SNR"):
            r.add_column(col)
        for m in a.moving_regions:
            r.add_row(m.region, m.direction, f"{m.magnitude_px:.3f}", f"{m.snr:.1f}")
        console.print(r)


def write_output(path: Path, data, writer) -> None:
    """``writer(path, data)``; a full or read-only disk is a one-line user error."""
    try:
        writer(path, data)
    except OSError as e:
        if not is_environment_error(e):
            raise
        raise UserError(os_error_message(e)) from None
