"""Long videos: `spot` (where are the micro-expressions?), `spot-eval` (MEGC scores on a
spotting dataset) and the spot-then-recognise path of `predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from deftmer.cli.app import app
from deftmer.cli.options import (
    ClassSetOpt,
    ConfigOption,
    JsonOpt,
    LoaderOpt,
    SetOption,
    config_for_checkpoint,
    parse_options,
    resolve_config,
)
from deftmer.cli.render import (
    csv_text,
    interval_table,
    print_analysis,
    rejected_table,
    spot_eval_table,
    summary_line,
    write_output,
)
from deftmer.data.frames import list_frames
from deftmer.data.longvideo import load_long_videos
from deftmer.errors import UserError
from deftmer.eval.figures import figure_to_png
from deftmer.models import load_model
from deftmer.predict.long_video import interval_json, label_recogniser, recognise_intervals
from deftmer.spot.evaluate import evaluate_spotting
from deftmer.spot.figure import spot_figure
from deftmer.spot.source import open_source
from deftmer.spot.spotter import spot_video
from deftmer.utils.console import console, err_console
from deftmer.utils.io import atomic_write_bytes

#: An input longer than this is spotted first: a clip cut around one micro-expression
#: (at most 0.5 s, plus a little lead-in and tail) stays a single clip.
LONG_INPUT_S = 1.0
#: Frame folders carry no frame rate; ME clip folders (CASME II, SAMM) are 200 fps recordings.
FOLDER_CLIP_FPS = 200.0


def is_long_input(path: Path, fps: float | None) -> bool:
    """Whether ``predict`` should spot first: the input lasts longer than ``LONG_INPUT_S``.

    Probes the container or counts files; a bad path is left for the normal checks to report.
    """

    try:
        if path.is_dir():
            n = len(list_frames(path))
            return n / (fps or FOLDER_CLIP_FPS) > LONG_INPUT_S
        return open_source(path, fps).duration_s > LONG_INPUT_S
    except (UserError, OSError):
        return False


def _save(path: Path, data: bytes) -> None:
    """Write atomically; an unwritable place is one line, as for every command's outputs."""

    write_output(path, data, atomic_write_bytes)


@app.command("spot")
def spot_cmd(
    input: Annotated[Path, typer.Argument(help="A video file or a folder of numbered frames (give --fps).")],
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate (needed for a frame folder; "
                                                                "overrides a video's own).")] = None,
    as_json: JsonOpt = False,
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Also write every candidate to this CSV.")] = None,
    figure: Annotated[Optional[Path], typer.Option("--figure", help="Write a PNG: score over time, every "
                                                                      "interval, onset/apex frames.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Find the micro-expressions of a long video: onset, apex, offset, score, moving regions,
    and why each other moving interval was rejected (blink, head motion, speech, too long...)."""

    if figure is not None and figure.suffix.lower() != ".png":
        raise UserError(f"--figure {figure} must end in .png")
    cfg = resolve_config(config, sets)
    source = open_source(input, fps)
    result = spot_video(source, cfg.spot, progress=not as_json)
    if csv_out is not None:
        _save(csv_out, csv_text(result).encode())
    if figure is not None:
        _save(figure, figure_to_png(spot_figure(source, result)))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    console.print(interval_table(result))
    if result.rejected:
        console.print(rejected_table(result))
    console.print(summary_line(result), soft_wrap=True, highlight=False)
    for what, path in (("csv", csv_out), ("figure", figure)):
        if path is not None:
            err_console.print(f"{what}: {path}", highlight=False, soft_wrap=True)


def predict_long(input: Path, checkpoint: Path, fps: float | None, as_json: bool, config: Path | None,
                 sets: list[str] | None) -> None:
    """`predict` on a long input: spot, then recognise each micro-expression interval.

    Finding none is an answer (exit 0), not an error; the model is loaded only when there is
    something to recognise.
    """

    cfg = config_for_checkpoint(checkpoint, config, sets)
    source = open_source(input, fps)
    result = spot_video(source, cfg.spot, progress=not as_json)
    if not result.intervals:
        err_console.print(f"no micro-expression found in {input}: {summary_line(result)}", highlight=False,
                          soft_wrap=True)
        if as_json:
            typer.echo("[]")
        return
    results = recognise_intervals(source, result.intervals, load_model(checkpoint), cfg)
    if as_json:
        typer.echo(json.dumps([interval_json(a, i) for i, a in results], indent=2))
        return
    for n, (interval, analysis) in enumerate(results, start=1):
        console.print(f"[bold]micro-expression {n} of {len(results)}[/]: frames {interval.onset}-{interval.offset} "
                      f"({interval.onset_s:.2f}-{interval.offset_s:.2f} s), spot score {interval.score:.1f}")
        print_analysis(analysis)
    console.print(summary_line(result), soft_wrap=True, highlight=False)


@app.command("spot-eval")
def spot_eval_cmd(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Long-video dataset: casme_sq, samm_long, "
                                                                 "synthme_long.")],
    root: Annotated[Path, typer.Option("--root", "-r", help="Folder holding the dataset.")],
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="Model folder: also score "
                                                       "spot-then-recognise (MEGC 2023 STR).")] = None,
    videos: Annotated[Optional[int], typer.Option("--videos", help="Only the first N videos.")] = None,
    class_set: ClassSetOpt = None,
    option: LoaderOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every interval and count as JSON.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Spot every video of a long-video dataset and score it: precision, recall and F1 of the
    micro-expression intervals (IoU >= 0.5, each ground truth matched once), and with
    --checkpoint the F1 of intervals both spotted and correctly classified."""

    if videos is not None and videos < 1:
        raise UserError("--videos must be at least 1")
    options: dict = parse_options(option)
    if class_set:
        options["class_set"] = class_set
    data = load_long_videos(dataset, root, **options)
    if not any(len(v.frames) >= 3 for v in data.videos):
        raise UserError(f"{dataset} under {root} has no video with frames; check --root")
    cfg = resolve_config(config, sets)
    recognise = None
    if checkpoint is not None:
        model_cfg = config_for_checkpoint(checkpoint, config, sets)
        recognise = label_recogniser(load_model(checkpoint), model_cfg)
    ev = evaluate_spotting(data, cfg.spot, recognise, limit=videos)
    if out is not None:
        _save(out, json.dumps(ev.to_json(), indent=2).encode())
    console.print(spot_eval_table(ev))
    s = ev.spotting
    line = f"spotting: precision {s.precision:.3f}, recall {s.recall:.3f}, F1 {s.f1:.3f}"
    if ev.str_:
        line += f"; spot-then-recognise F1 {ev.str_.f1:.3f}"
    console.print(line + f"; {ev.frames / max(ev.seconds, 1e-9):.0f} frames/s", highlight=False)
