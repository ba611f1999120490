"""What a new user runs first: `demo`, `predict`, `explain` and `report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from deftmer.cli.app import app
from deftmer.cli.options import ConfigOption, SetOption
from deftmer.errors import UserError
from deftmer.utils.console import console, err_console
from deftmer.utils.io import is_environment_error, os_error_message


def _checked_inputs(input: Path, checkpoint: Path, config: Path | None, sets: list[str] | None,
                    onset: int | None, apex: int | None):
    """Check the cheap things first (checkpoint card, config, the clip's frames and faces),
    then load the model: a bad input is reported in seconds, not after the model has loaded."""
    from deftmer.eval.analyse import face_segment, read_user_clip
    from deftmer.models import load_model

    cfg = _config_for(checkpoint, config, sets)
    clip = read_user_clip(input)
    face_segment(clip, input.name, onset, apex)
    return clip, load_model(checkpoint), cfg


def _config_for(checkpoint: Path, config: Path | None, sets: list[str] | None):
    """The config a model folder was trained with (a --config/--set may change the rest).

    Preprocessing and model settings are the checkpoint's own: the weights were trained on
    clips prepared one way, and ``model.*`` comes with the weights. A --config or --set that
    changes them is refused in one line saying what it changes, instead of quietly giving
    another answer (or being ignored).
    """
    from deftmer.config import ExperimentConfig, load_config
    from deftmer.config import checkpoint_config

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


def _print_analysis(a) -> None:
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


@app.command("predict")
def predict_cmd(
    input: Annotated[Path, typer.Argument(help="A video file (mp4/avi/mov...) or a folder of numbered frames.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Model folder written by `deftmer train`.")],
    onset: Annotated[Optional[int], typer.Option(help="Onset frame index (0-based); default: first frame.")] = None,
    apex: Annotated[Optional[int], typer.Option(help="Apex frame index (0-based); default: spotted.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate of a frame folder; an input longer "
                                                               "than 1 s is spotted first.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Predict the emotion of one clip, with class probabilities, AUs and the measured motion.

    An input longer than a micro-expression (> 1 s) without --onset/--apex is spotted first and
    each micro-expression interval is recognised (with --json: a list, one object per interval).
    """
    from deftmer.cli.commands_spot import is_long_input, predict_long
    from deftmer.eval.analyse import analyse_clip

    if onset is None and apex is None and is_long_input(input, fps):
        predict_long(input, checkpoint, fps, as_json, config, sets)
        return

    clip, model, cfg = _checked_inputs(input, checkpoint, config, sets, onset, apex)
    analysis, _ = analyse_clip(input, model, cfg, onset=onset, apex=apex, explain=True, clip=clip)
    if as_json:
        typer.echo(json.dumps(analysis.to_json(), indent=2))
    else:
        _print_analysis(analysis)


@app.command("explain")
def explain_cmd(
    input: Annotated[Path, typer.Argument(help="A video file or a folder of numbered frames.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Model folder written by `deftmer train`.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("explain.png"),
    onset: Annotated[Optional[int], typer.Option(help="Onset frame index (0-based).")] = None,
    apex: Annotated[Optional[int], typer.Option(help="Apex frame index (0-based); default: spotted.")] = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """One figure of a clip: faces, flow colour wheel and arrows, AU regions by motion, prediction."""
    from deftmer.eval.analyse import analyse_clip, explain_content
    from deftmer.eval.figures import explain_figure, figure_to_png
    from deftmer.utils.io import atomic_write_bytes

    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    clip, model, cfg = _checked_inputs(input, checkpoint, config, sets, onset, apex)
    analysis, prepared = analyse_clip(input, model, cfg, onset=onset, apex=apex, explain=True, clip=clip)
    png = figure_to_png(explain_figure(explain_content(analysis, prepared)))
    _write(out, png, atomic_write_bytes)
    console.print(f"{analysis.label} ({analysis.probs.get(analysis.label, 0):.0%}); figure: {out}")


def _write(path: Path, data, writer) -> None:
    try:
        writer(path, data)
    except OSError as e:
        if not is_environment_error(e):
            raise
        raise UserError(os_error_message(e)) from None


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A LOSO run folder (the --out of `deftmer loso`).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Report folder (default RUN_DIR/report).")] = None,
) -> None:
    """Write an HTML page and Markdown for a LOSO run: metrics, figures, config, published numbers."""
    from deftmer.eval.report import write_report

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
    from deftmer.cli.options import resolve_config
    from deftmer.demo import DemoSettings, run_demo

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
