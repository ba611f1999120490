"""The figure a user checks spotting with: the motion score over the whole video, every
reported interval marked on it, and the onset and apex frames of each one side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deftmer.preprocess.face import get_landmarker
from deftmer.spot.rules import BLINK, HEAD, NO_RETURN, SPEECH, TOO_LONG, TOO_SHORT
from deftmer.spot.source import VideoSource
from deftmer.spot.spotter import SpotResult, SpottedInterval

MAX_THUMBNAILS = 16
_COLUMNS = 4


def face_box(rgb: np.ndarray, margin: float = 0.25) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the face's landmarks (the whole frame without a face)."""

    h, w = rgb.shape[:2]
    pts = get_landmarker().detect(rgb)
    if pts is None:
        return 0, 0, w, h
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (max(int(cx - side / 2), 0), max(int(cy - side / 2), 0), min(int(cx + side / 2), w),
            min(int(cy + side / 2), h))


#: Short tags of rejection reasons drawn above the grey spans.
TAGS = {BLINK: "blink", HEAD: "head", SPEECH: "speech", TOO_LONG: "long", NO_RETURN: "no return",
        TOO_SHORT: "brief"}


def shown_intervals(result: SpotResult) -> list[SpottedInterval]:
    """The intervals whose frames the figure shows: every reported one (up to 16), or, when
    none was reported, the strongest rejected ones, so a user can check the rejections too."""
    if result.intervals:
        return result.intervals[:MAX_THUMBNAILS]
    return sorted(result.rejected, key=lambda i: -i.score)[:_COLUMNS]


def _thumbnails(source: VideoSource, shown: list[SpottedInterval]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(onset crop, apex crop) of each interval, the same face box for both."""
    frames = source.segments([(i.onset, i.onset) for i in shown] + [(i.apex, i.apex) for i in shown])
    pairs = []
    for k in range(len(shown)):
        onset, apex = frames[k][0], frames[len(shown) + k][0]
        x0, y0, x1, y1 = face_box(onset)
        pairs.append((onset[y0:y1, x0:x1], apex[y0:y1, x0:x1]))
    return pairs


def _signal_axes(ax, result: SpotResult) -> None:
    t = result.signal_frames / result.fps
    ax.plot(t, result.signal, lw=0.7, color="0.25", label="motion score (robust z, top-2 regions)")
    ax.axhline(result.threshold, color="tab:orange", ls="--", lw=0.8, label="threshold (median + k MAD)")
    top = float(np.max(result.signal, initial=result.threshold)) * 1.15
    ax.set_ylim(min(float(np.min(result.signal, initial=0.0)), 0.0), top)
    for r in result.rejected:
        ax.axvspan(r.onset_s, r.offset_s + 1 / result.fps, color="0.8", alpha=0.6, lw=0)
        ax.annotate(TAGS.get(r.reason or "", "?"), (r.apex_s, top), ha="center", va="top", fontsize=6,
                    color="0.4", rotation=90)
    for n, i in enumerate(result.intervals, start=1):
        ax.axvspan(i.onset_s, i.offset_s + 1 / result.fps, color="tab:green", alpha=0.35, lw=0)
        ax.annotate(str(n), (i.apex_s, top), ha="center", va="top", fontsize=8, color="tab:green",
                    fontweight="bold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_xlim(0, result.n_frames / result.fps)
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(f"{Path(result.input).name}: {len(result.intervals)} micro-expression interval(s) (green, "
                 f"numbered), {len(result.rejected)} rejected (grey)", fontsize=9)


def spot_figure(source: VideoSource, result: SpotResult):
    """A matplotlib figure: the score with intervals, then onset/apex thumbnails per interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = shown_intervals(result)
    pairs = _thumbnails(source, shown)
    rows = (len(pairs) + _COLUMNS - 1) // _COLUMNS
    fig = plt.figure(figsize=(12, 2.6 + 1.7 * rows))
    grid = fig.add_gridspec(1 + rows, 2 * _COLUMNS, height_ratios=[1.6] + [1.0] * rows)
    _signal_axes(fig.add_subplot(grid[0, :]), result)
    for k, (onset, apex) in enumerate(pairs):
        iv = shown[k]
        name = f"#{k + 1}" if iv.reason is None else f"rejected ({TAGS.get(iv.reason, '?')})"
        for j, (img, what) in enumerate(((onset, "onset"), (apex, "apex"))):
            ax = fig.add_subplot(grid[1 + k // _COLUMNS, 2 * (k % _COLUMNS) + j])
            ax.imshow(img)
            ax.set_axis_off()
            frame = iv.onset if j == 0 else iv.apex
            ax.set_title(f"{name} {what}\nframe {frame} ({frame / result.fps:.2f} s)", fontsize=7)
    if len(result.intervals) > len(pairs) or (not result.intervals and pairs):
        what = (f"the first {len(pairs)} of {len(result.intervals)} intervals" if result.intervals else
                f"no interval was reported; the {len(pairs)} strongest rejected candidates")
        fig.text(0.5, 0.005, f"frames shown: {what}", ha="center", fontsize=8)
    fig.tight_layout()
    return fig
