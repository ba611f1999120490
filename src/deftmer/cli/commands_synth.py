"""`deftmer synth`: render the SynthME benchmark (CASME II layout, known ground truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.errors import UserError
from deftmer.synth.generate import SYNTHME_CLASSES, SynthOptions, generate_synthme
from deftmer.synth.long import LongSynthOptions, generate_long_synthme
from deftmer.utils.console import console


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder (created; an existing SynthME folder is resumed).")],
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of synthetic subjects.")] = 8,
    clips_per_subject: Annotated[int, typer.Option("--clips-per-subject", "-m", help="Clips per subject.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives identical files.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Frame side in px.")] = 256,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate; default 200 (CASME II's) for clips, "
                                                             "30 (CAS(ME)^2's) for --long.")] = None,
    classes: Annotated[Optional[str], typer.Option(
        "--classes", help="Comma-separated subset of happiness,disgust,repression,surprise,others.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a SynthME folder made with other settings.")] = False,
    long: Annotated[bool, typer.Option("--long", help="Long videos for spotting instead of clips: micro-expressions "
                                                      "among blinks, speech, head turns and macro-expressions.")] = False,
    videos: Annotated[int, typer.Option("--videos", help="--long: number of videos (one subject each).")] = 4,
    minutes: Annotated[float, typer.Option("--minutes", help="--long: length of each video.")] = 1.0,
) -> None:
    """Render synthetic micro-expression clips with known AUs, apex and displacement.

    Writes OUT/CASME2-coding-synthme.xlsx, OUT/subNN/EPxx_01/img*.jpg and OUT/synthme_truth.json;
    read it back with `--dataset synthme --root OUT`. With --long: CAS(ME)^2-layout long videos
    at 30 fps (unless --fps) plus OUT/synthme_long_truth.json; spot them with `deftmer spot-eval
    --dataset synthme_long --root OUT`.
    """

    if long:
        _synth_long(out, videos, minutes, seed, size, fps, overwrite)
        return
    if subjects < 1 or clips_per_subject < 1:
        raise UserError("--subjects and --clips-per-subject must be at least 1")
    chosen = SYNTHME_CLASSES
    if classes:
        chosen = tuple(c.strip().lower() for c in classes.split(",") if c.strip())
    opts = SynthOptions(size=size, fps=fps or 200.0, classes=chosen)
    summary = generate_synthme(out, subjects=subjects, clips_per_subject=clips_per_subject, seed=seed,
                               options=opts, overwrite=overwrite)
    counts = ", ".join(f"{k} {v}" for k, v in summary.class_counts.items())
    console.print(f"SynthME: {summary.clips} clips ({summary.frames} frames) of {summary.subjects} subjects "
                  f"in {summary.root} ({counts}); rendered {summary.rendered_clips} in {summary.seconds:.1f} s")
    console.print(f"annotation {summary.annotation.name}, ground truth {summary.truth.name}; "
                  f"read it with --dataset synthme --root {summary.root}")


def _synth_long(out: Path, videos: int, minutes: float, seed: int, size: int, fps: float | None,
                overwrite: bool) -> None:
    rate = fps or 30.0
    summary = generate_long_synthme(out, videos=videos, seed=seed, overwrite=overwrite,
                                    options=LongSynthOptions(size=size, fps=rate, minutes=minutes))
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    console.print(f"long SynthME: {summary.videos} video(s), {summary.frames} frames at {rate:g} fps in "
                  f"{summary.root} ({counts}); rendered {summary.rendered} in {summary.seconds:.1f} s")
    console.print(f"spot them with: deftmer spot-eval --dataset synthme_long --root {summary.root}")
