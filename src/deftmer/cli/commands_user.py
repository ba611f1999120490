"""What a new user runs first: `demo`, `predict`, `explain` and `report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from deftmer.cli.app import app
from deftmer.cli.commands_spot import is_long_input, predict_long
from deftmer.cli.options import CheckpointOpt, ConfigOption, JsonOpt, SetOption, config_for_checkpoint, resolve_config
from deftmer.cli.render import print_analysis, write_output
from deftmer.demo import DemoSettings, run_demo
from deftmer.errors import UserError
from deftmer.eval.figures import explain_figure, figure_to_png
from deftmer.eval.report import write_report
from deftmer.models import load_model
from deftmer.predict.clip import explain_content, face_segment, predict_clip, read_user_clip
from deftmer.utils.console import console, err_console
from deftmer.utils.io import atomic_write_bytes


def _checked_inputs(input: Path, checkpoint: Path, config: Path | None, sets: list[str] | None,
                    onset: int | None, apex: int | None):
    """Check the cheap things first (checkpoint card, config, the clip's frames and faces),
    then load the model: a bad input is reported in seconds, not after the model has loaded."""

    cfg = config_for_checkpoint(checkpoint, config, sets)
    clip = read_user_clip(input)
    face_segment(clip, input.name, onset, apex)
    return clip, load_model(checkpoint), cfg


@app.command("predict")
def predict_cmd(
    input: Annotated[Path, typer.Argument(help="A video file (mp4/avi/mov...) or a folder of numbered frames.")],
    checkpoint: CheckpointOpt,
    onset: Annotated[Optional[int], typer.Option(help="Onset frame index (0-based); default: first frame.")] = None,
    apex: Annotated[Optional[int], typer.Option(help="Apex frame index (0-based); default: spotted.")] = None,
    as_json: JsonOpt = False,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate of a frame folder; an input longer "
                                                               "than 1 s is spotted first.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Predict the emotion of one clip, with class probabilities, AUs and the measured motion.

    An input longer than a micro-expression (> 1 s) without --onset/--apex is spotted first and
    each micro-expression interval is recognised (with --json: a list, one object per interval).
    """

    if onset is None and apex is None and is_long_input(input, fps):
        predict_long(input, checkpoint, fps, as_json, config, sets)
        return

    clip, model, cfg = _checked_inputs(input, checkpoint, config, sets, onset, apex)
    analysis, _ = predict_clip(input, model, cfg, onset=onset, apex=apex, explain=True, clip=clip)
    if as_json:
        typer.echo(json.dumps(analysis.to_json(), indent=2))
    else:
        print_analysis(analysis)


@app.command("explain")
def explain_cmd(
    input: Annotated[Path, typer.Argument(help="A video file or a folder of numbered frames.")],
    checkpoint: CheckpointOpt,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("explain.png"),
    onset: Annotated[Optional[int], typer.Option(help="Onset frame index (0-based).")] = None,
    apex: Annotated[Optional[int], typer.Option(help="Apex frame index (0-based); default: spotted.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """One figure of a clip: faces, flow colour wheel and arrows, AU regions by motion, prediction."""

    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    clip, model, cfg = _checked_inputs(input, checkpoint, config, sets, onset, apex)
    analysis, prepared = predict_clip(input, model, cfg, onset=onset, apex=apex, explain=True, clip=clip)
    png = figure_to_png(explain_figure(explain_content(analysis, prepared)))
    write_output(out, png, atomic_write_bytes)
    console.print(f"{analysis.label} ({analysis.probs.get(analysis.label, 0):.0%}); figure: {out}")


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A LOSO run folder (the --out of `deftmer loso`).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Report folder (default RUN_DIR/report).")] = None,
) -> None:
    """Write an HTML page and Markdown for a LOSO run: metrics, figures, config, published numbers."""

    # permission denied, disk full: atomic writes leave no partial file, and main() says it in one line
    files = write_report(run_dir, out)
    err_console.print(f"figures: {', '.join(str(p) for p in files.figures.values())}", highlight=False,
                      soft_wrap=True)
    console.print(f"report: {files.html}\nmarkdown: {files.markdown}", highlight=False, soft_wrap=True)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the demo writes (rerun resumes).")] = Path("deftmer-demo"),
    subjects: Annotated[int, typer.Option("--subjects", help="SynthME subjects to generate.")] = 8,
    clips_per_subject: Annotated[int, typer.Option("--clips-per-subject", help="Clips per subject.")] = 6,
    folds: Annotated[Optional[int], typer.Option("--folds", help="LOSO folds to run (test subjects), first N; default: all.")] = None,
    model: Annotated[str, typer.Option("--model", help="Model to evaluate (see `deftmer models`), e.g. deft, mdmo-svm.")] = "deft",
    workers: Annotated[int, typer.Option("--workers", help="Preprocessing processes.")] = 2,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny in-code LLM, DIS flow, fewer epochs: a smoke run.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """End to end on SynthME: synth, check, prepare, Uni-MER, LOSO, metrics, report, explain one clip."""

    base = resolve_config(config, sets) if (config or sets) else None
    settings = DemoSettings(subjects=subjects, clips_per_subject=clips_per_subject, folds=folds, model=model,
                            workers=workers, seed=seed, quick=quick)
    res = run_demo(out, settings, base)
    m = res.metrics
    t = Table(title=f"demo: {model} on SynthME, LOSO over {len(m.get('per_subject', {}))} test subject(s)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k in ("uf1", "uar", "accuracy"):
        t.add_row(k.upper() if k != "accuracy" else k, f"{m[k]:.3f}")
    t.add_row("clips tested", str(m.get("n_samples")))
    console.print(t)
    pc = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        pc.add_column(col, justify="right" if col != "class" else "left")
    for c, s in m.get("per_class", {}).items():
        pc.add_row(c, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"]))
    console.print(pc)
    console.print("time per step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res.seconds.items()), soft_wrap=True)
    console.print(f"report: {res.report_html}", soft_wrap=True, highlight=False)
    if res.explain_png:
        console.print(f"explained {res.explained_clip}: {res.explain_png}", soft_wrap=True, highlight=False)
