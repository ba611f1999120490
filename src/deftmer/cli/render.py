"""How the CLI shows results, in one place: tables and lines on the console (a clip's prediction,
LOSO metrics, spotted intervals, spotting scores), the CSV of a spotting run, and output files
written (a full or read-only disk is one line)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from rich.table import Table

from deftmer.errors import UserError
from deftmer.eval.metrics import part_label
from deftmer.utils.console import console
from deftmer.utils.io import is_environment_error, os_error_message


def print_analysis(a) -> None:
    """A `ClipPrediction` as a class table, the frames used, the AUs and the measured motion."""
    t = Table(title=f"{Path(a.input).name}: {a.label}", show_header=True)
    t.add_column("class")
    t.add_column("probability", justify="right")
    for k, v in sorted(a.probs.items(), key=lambda kv: -kv[1]):
        t.add_row(f"[bold]{k}[/]" if k == a.label else k, f"{v:.3f}")
    console.print(t)
    for part, probs in a.parts.items():
        top = max(probs, key=probs.get)
        console.print(f"{part_label(part)}: {top} ({probs[top]:.3f}; "
                      + ", ".join(f"{k} {v:.3f}" for k, v in probs.items()) + ")", highlight=False)
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


def print_metrics(m) -> None:
    """The results table: headline metrics, per class, and per source for composites."""
    head = Table(title=f"{m.model} on {m.dataset} ({m.protocol.upper()}, {m.class_set})")
    for col in ("UF1", "UAR", "accuracy", "samples", "folds"):
        head.add_column(col, justify="right")
    head.add_row(f"{m.uf1:.4f}", f"{m.uar:.4f}", f"{m.accuracy:.4f}", str(m.n_samples),
                 f"{m.n_folds}/{m.folds_expected}" if m.folds_expected else str(m.n_folds))
    console.print(head)
    per = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        per.add_column(col, justify="right" if col != "class" else "left")
    for name, c in m.per_class.items():
        per.add_row(name, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.support))
    console.print(per)
    if len(m.per_source) > 1:
        src = Table(title="per source dataset")
        for col in ("source", "UF1", "UAR", "accuracy", "samples"):
            src.add_column(col, justify="right" if col != "source" else "left")
        for name, g in m.per_source.items():
            src.add_row(name, f"{g.uf1:.4f}", f"{g.uar:.4f}", f"{g.accuracy:.4f}", str(g.n))
        console.print(src)
    extra = []
    if m.au_f1 is not None:
        extra.append(f"AU F1 of generated answers {m.au_f1:.3f} (side-strict {m.au.f1_side:.3f}, {m.au.n_samples} clips)")
    if m.claim_support is not None:
        extra.append(f"motion claims supported by the flow {m.claim_support:.3f} ({m.claim_support_n} answers)")
    for part, g in m.parts.items():
        extra.append(f"{part_label(part)} alone, same trained models: UF1 {g.uf1:.4f} / UAR {g.uar:.4f} "
                     f"(agrees with the decision on {g.agreement:.1%} of clips)")
    for line in extra:
        console.print(line)
    if m.missing_folds:
        console.print(f"[yellow]incomplete[/]: {len(m.missing_folds)} of {m.folds_expected} folds not run yet "
                      f"({', '.join(m.missing_folds[:10])}{'...' if len(m.missing_folds) > 10 else ''}); "
                      "metrics cover the done folds only")


# --- long videos (spot, spot-eval, predict on a long video) ------------------------------------

CSV_COLUMNS = ("status", "onset", "apex", "offset", "onset_s", "apex_s", "offset_s", "score", "regions", "reason")


def interval_table(result) -> Table:
    t = Table(title=f"{Path(result.input).name}: {len(result.intervals)} micro-expression interval(s)")
    for col in ("#", "onset", "apex", "offset", "onset s", "apex s", "offset s", "score", "moving regions"):
        t.add_column(col, justify="left" if col == "moving regions" else "right")
    for n, i in enumerate(result.intervals, start=1):
        t.add_row(str(n), str(i.onset), str(i.apex), str(i.offset), f"{i.onset_s:.2f}", f"{i.apex_s:.2f}",
                  f"{i.offset_s:.2f}", f"{i.score:.1f}", ", ".join(i.regions))
    return t


def rejected_table(result) -> Table:
    t = Table(title=f"{len(result.rejected)} candidate(s) rejected")
    for col in ("onset", "offset", "onset s", "offset s", "score", "moving regions", "reason"):
        t.add_column(col, justify="left" if col in ("moving regions", "reason") else "right")
    for i in result.rejected:
        t.add_row(str(i.onset), str(i.offset), f"{i.onset_s:.2f}", f"{i.offset_s:.2f}", f"{i.score:.1f}",
                  ", ".join(i.regions[:2]), i.reason or "")
    return t


def summary_line(result) -> str:
    reasons = Counter(i.reason for i in result.rejected)
    why = "; ".join(f"{n} {r}" for r, n in reasons.most_common())
    rate = len(result.intervals) / result.minutes if result.minutes > 0 else 0.0
    return (f"{len(result.intervals)} micro-expression(s) in {result.n_frames / result.fps:.1f} s "
            f"({rate:.1f} per minute); {len(result.rejected)} rejected{': ' + why if why else ''}; "
            f"{result.frames_per_second:.0f} frames/s processed")


def csv_text(result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for status, items in (("micro-expression", result.intervals), ("rejected", result.rejected)):
        for i in items:
            w.writerow([status, i.onset, i.apex, i.offset, f"{i.onset_s:.3f}", f"{i.apex_s:.3f}", f"{i.offset_s:.3f}",
                        f"{i.score:.2f}", "+".join(i.regions), i.reason or ""])
    return buf.getvalue()


def spot_eval_table(ev) -> Table:
    t = Table(title=f"spotting on {ev.dataset}: {len(ev.videos)} video(s), MEGC rules (IoU >= 0.5)")
    cols = ["video", "true MEs", "spotted", "TP", "FP", "FN", "F1"] + (["STR TP"] if ev.str_ else [])
    for c in cols:
        t.add_column(c, justify="left" if c == "video" else "right")
    for v in ev.videos:
        s = v.spotting
        t.add_row(v.video, str(s.n_true), str(s.n_pred), str(s.tp), str(s.fp), str(s.fn), f"{s.f1:.3f}",
                  *([str(v.str_.tp)] if ev.str_ and v.str_ else []))
    s = ev.spotting
    t.add_row("[bold]all[/]", str(s.n_true), str(s.n_pred), str(s.tp), str(s.fp), str(s.fn), f"[bold]{s.f1:.3f}[/]",
              *([str(ev.str_.tp)] if ev.str_ else []))
    return t
