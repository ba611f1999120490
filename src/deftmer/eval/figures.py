"""Figures a person reads faster than numbers: flow as colour and arrows, AU regions shaded by
motion, confusion matrices and bar charts.

Array helpers (`flow_to_rgb`, `flow_arrows`, `region_strength_map`, `overlay_heat`) are pure
numpy and unit-tested numerically; plotting helpers return matplotlib `Figure`s built on the
non-interactive Agg canvas, so they work headless and never touch pyplot's global state.
Flow is in image coordinates (u to the image right, v down), as in `PreparedSample.flow`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # matplotlib is slow to import and the CLI imports this module: loaded on first use
    from matplotlib.figure import Figure


# --- pure array helpers ------------------------------------------------------------------------

def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel image of a flow field: hue = direction, value = magnitude, full saturation.

    Direction follows the image-coordinate angle ``atan2(v, u)``: rightward is red (hue 0),
    downward chartreuse/green (90), leftward cyan (180), upward violet (270).
    ``max_magnitude`` fixes the brightness scale (default: the field's own maximum), so two
    clips can be drawn on one scale. Returns uint8 RGB (H, W, 3).
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W), got {flow.shape}")
    u, v = flow[0], flow[1]
    mag = np.hypot(u, v)
    ang = (np.degrees(np.arctan2(v, u)) + 360.0) % 360.0
    scale = float(max_magnitude) if max_magnitude else float(mag.max())
    value = np.clip(mag / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(mag)
    hsv = np.stack([ang, np.ones_like(mag), value], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def color_wheel(size: int = 64) -> np.ndarray:
    """The legend for `flow_to_rgb`: a disc whose colour at each point is the flow pointing there."""
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = (xx - c) / c, (yy - c) / c
    inside = np.hypot(u, v) <= 1.0
    rgb = flow_to_rgb(np.stack([u * inside, v * inside]), max_magnitude=1.0)
    rgb[~inside] = 255
    return rgb


@dataclass(frozen=True)
class ArrowField:
    """Flow subsampled on a grid for a quiver plot: arrow tails (x, y) and vectors (u, v), px."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


def flow_arrows(flow: np.ndarray, step: int = 16) -> ArrowField:
    """Average the flow over ``step`` x ``step`` cells; one arrow per cell, tail at the cell centre.

    Averaging (not point sampling) keeps a noisy field's arrows honest about the local motion.
    """
    flow = np.asarray(flow, dtype=np.float32)
    _, h, w = flow.shape
    step = max(1, min(step, h, w))
    ny, nx = h // step, w // step
    mean = flow[:, : ny * step, : nx * step].reshape(2, ny, step, nx, step).mean(axis=(2, 4))
    gx, gy = np.meshgrid((np.arange(nx) + 0.5) * step, (np.arange(ny) + 0.5) * step)
    return ArrowField(gx - 0.5, gy - 0.5, mean[0], mean[1])


def face_area_mask(shape: tuple[int, int], landmarks: np.ndarray | None, roi_masks: np.ndarray | None = None) -> np.ndarray:
    """Where the face is: the convex hull of the landmarks, else of the AU regions (bool, ``shape``).

    Flow outside the face (hair, background, the crop border) is residual alignment error, not
    expression; figures draw arrows only inside this area so they point at the face's own motion.
    """
    import cv2

    h, w = shape
    pts = None
    if landmarks is not None and len(landmarks) >= 3:
        pts = np.asarray(landmarks, np.float32)
    elif roi_masks is not None and roi_masks.any():
        ys, xs = np.nonzero(roi_masks.any(axis=0))
        pts = np.stack([xs, ys], axis=1).astype(np.float32)
    if pts is None:
        return np.ones((h, w), bool)
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def region_strength_map(roi_masks: np.ndarray, strengths: Sequence[float]) -> np.ndarray:
    """Paint each region's strength into its mask; overlapping regions keep the larger value.

    ``roi_masks`` bool (R, H, W), ``strengths`` length R (e.g. mean flow magnitude per region).
    Pixels outside every region are NaN so a colormap leaves them transparent.
    """
    masks = np.asarray(roi_masks, dtype=bool)
    s = np.asarray(strengths, dtype=np.float32)
    if masks.ndim != 3 or masks.shape[0] != s.shape[0]:
        raise ValueError(f"{masks.shape[0] if masks.ndim == 3 else '?'} masks but {s.shape[0]} strengths")
    painted = np.where(masks, s[:, None, None], -np.inf).max(axis=0)
    return np.where(np.isfinite(painted), painted, np.nan).astype(np.float32)


def region_mean_magnitude(flow: np.ndarray, roi_masks: np.ndarray) -> np.ndarray:
    """Mean flow magnitude inside each region (0 for an empty mask): the default shading strength."""
    mag = np.hypot(flow[0], flow[1])
    masks = np.asarray(roi_masks, dtype=bool)
    counts = masks.reshape(masks.shape[0], -1).sum(axis=1)
    sums = (masks * mag[None]).reshape(masks.shape[0], -1).sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).astype(np.float32)


# --- figures -----------------------------------------------------------------------------------

def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (thread-safe, no pyplot, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render to an RGB uint8 array (for tests and for composing images)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def confusion_figure(labels: Sequence[str], matrix: Sequence[Sequence[float]], normalize: bool = True,
                     title: str = "Confusion matrix") -> Figure:
    """Confusion matrix (rows = true, columns = predicted), cells annotated with counts.

    Colour is the row-normalised rate when ``normalize`` so rare classes are readable.
    """
    m = np.asarray(matrix, dtype=float)
    rates = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    n = len(labels)
    fig = new_figure(1.2 + 0.9 * n, 1.0 + 0.8 * n)
    ax = fig.add_subplot(111)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1 if normalize else max(m.max(), 1))
    ax.set_xticks(range(n), labels=list(labels), rotation=35, ha="right")
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 * (im.norm.vmax or 1) else "black", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row rate" if normalize else "count")
    fig.tight_layout()
    return fig


def bar_figure(names: Sequence[str], values: Sequence[float], title: str, ylabel: str,
               ylim: tuple[float, float] | None = (0.0, 1.0), reference: float | None = None,
               reference_label: str = "") -> Figure:
    """One bar per name (e.g. accuracy per test subject), optional dashed reference line."""
    fig = new_figure(max(4.0, 0.45 * len(names) + 1.5), 3.2)
    ax = fig.add_subplot(111)
    x = np.arange(len(names))
    ax.bar(x, list(values), color="#4C72B0")
    ax.set_xticks(x, labels=list(names), rotation=45 if len(names) > 6 else 0,
                  ha="right" if len(names) > 6 else "center")
    if ylim:
        ax.set_ylim(*ylim)
    if reference is not None:
        ax.axhline(reference, color="#C44E52", linestyle="--", linewidth=1, label=reference_label or None)
        if reference_label:
            ax.legend(loc="upper right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def grouped_bar_figure(groups: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
                       ylabel: str = "score") -> Figure:
    """Bars for several series per group (e.g. precision / recall / F1 per class)."""
    fig = new_figure(max(4.5, 1.1 * len(groups) + 1.5), 3.4)
    ax = fig.add_subplot(111)
    x = np.arange(len(groups))
    k = max(len(series), 1)
    width = 0.8 / k
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + (i - (k - 1) / 2) * width, list(vals), width, label=name)
    ax.set_xticks(x, labels=list(groups), rotation=25 if len(groups) > 4 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    # beside the axes: never on a bar or on the (rotated) group names, however many groups
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def draw_flow_arrows(ax, flow: np.ndarray, background: np.ndarray | None = None, step: int = 16,
                     color: str = "yellow", mask: np.ndarray | None = None) -> float:
    """Quiver plot of the flow over an optional background image, arrows to scale and lengthened
    so sub-pixel micro-motion is visible; returns the gain (the caller may write it in a title).

    With ``mask`` (bool, H x W), only cells at least half inside it get an arrow, and the gain
    is set from those arrows alone.
    """
    a = flow_arrows(flow, step)
    if mask is not None:
        inside = flow_arrows(np.stack([mask, mask]).astype(np.float32), step).u >= 0.5
        a = ArrowField(a.x[inside], a.y[inside], a.u[inside], a.v[inside])
    if background is not None:
        ax.imshow(background)
    else:
        ax.imshow(np.full(flow.shape[1:] + (3,), 30, np.uint8))
    # scale by a high percentile, not the maximum: one fast pixel at the face border must not
    # shrink every arrow on the face to a dot
    lengths = np.hypot(a.u, a.v)
    peak = float(np.percentile(lengths, 95)) if lengths.size else 0.0
    gain = (0.9 * step / peak) if peak > 0 else 1.0
    if lengths.size:
        ax.quiver(a.x, a.y, a.u * gain, a.v * gain, angles="xy", scale_units="xy", scale=1.0,
                  color=color, width=0.006)
    ax.set_xlim(-0.5, flow.shape[2] - 0.5)
    ax.set_ylim(flow.shape[1] - 0.5, -0.5)
    return gain


def overlay_heat(ax, image: np.ndarray, heat: np.ndarray, cmap: str = "inferno", alpha: float = 0.6):
    """Image with a NaN-transparent heat map on top (AU regions shaded by motion strength)."""
    ax.imshow(image)
    vmax = float(np.nanmax(heat)) if np.isfinite(heat).any() else 1.0
    return ax.imshow(np.ma.masked_invalid(heat), cmap=cmap, alpha=alpha, vmin=0.0, vmax=vmax or 1.0)


@dataclass
class ExplainContent:
    """Everything the explain figure shows for one clip (arrays from `PreparedSample`)."""

    onset_face: np.ndarray | None
    apex_face: np.ndarray
    flow: np.ndarray
    roi_masks: np.ndarray
    label: str
    probs: Mapping[str, float]
    aus: Sequence[str] = ()
    description: str = ""
    region_names: Sequence[str] = ()
    region_strength: Sequence[float] | None = None
    title: str = ""
    face_mask: np.ndarray | None = None   # bool (S, S): arrows and the colour scale use only this area


def explain_figure(c: ExplainContent) -> Figure:
    """One page for one clip: faces, flow (colour wheel + arrows), AU regions shaded by motion,
    and the prediction with probabilities, AUs and the motion description."""
    import textwrap

    fig = new_figure(13.0, 7.6)
    gs = fig.add_gridspec(2, 4, height_ratios=[1.0, 0.85], hspace=0.28, wspace=0.12)
    faces = [(c.onset_face, "onset"), (c.apex_face, "apex")]
    for k, (img, name) in enumerate(faces):
        ax = fig.add_subplot(gs[0, k])
        if img is None:
            ax.text(0.5, 0.5, f"no {name} frame", ha="center", va="center")
        else:
            ax.imshow(img)
        ax.set_title(f"{name} face")
        ax.axis("off")

    mag = np.hypot(c.flow[0], c.flow[1])
    on_face = mag[c.face_mask] if c.face_mask is not None and c.face_mask.any() else mag
    peak = float(np.percentile(on_face, 99))   # robust brightness scale (see draw_flow_arrows)
    ax = fig.add_subplot(gs[0, 2])
    ax.imshow(flow_to_rgb(c.flow, max_magnitude=peak or None))
    wheel = color_wheel(48)
    h, w = c.flow.shape[1:]
    ax.imshow(wheel, extent=(w - 0.22 * w, w - 0.02 * w, 0.22 * h, 0.02 * h))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_title(f"flow colour ({peak:.2f} px = full)")
    ax.axis("off")

    ax = fig.add_subplot(gs[0, 3])
    gain = draw_flow_arrows(ax, c.flow, background=c.apex_face, step=max(8, w // 14), mask=c.face_mask)
    ax.set_title(f"flow arrows{' on the face' if c.face_mask is not None else ''} (x{gain:.0f})")
    ax.axis("off")

    strength = np.asarray(c.region_strength if c.region_strength is not None
                          else region_mean_magnitude(c.flow, c.roi_masks))
    ax = fig.add_subplot(gs[1, 0])
    im = overlay_heat(ax, c.apex_face, region_strength_map(c.roi_masks, strength))
    ax.set_title("AU regions by motion")
    ax.axis("off")
    fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.05, pad=0.03, label="mean |flow| in region, px")

    ax = fig.add_subplot(gs[1, 1])
    ax.set_position(ax.get_position().translated(0.03, 0))   # room for the class names
    classes = list(c.probs)
    vals = [float(c.probs[k]) for k in classes]
    colors = ["#C44E52" if k == c.label else "#8C8C8C" for k in classes]
    ax.barh(range(len(classes)), vals, color=colors)
    ax.set_yticks(range(len(classes)), labels=classes)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(f"prediction: {c.label}")

    ax = fig.add_subplot(gs[1, 2:])
    ax.axis("off")
    lines = [f"Emotion: {c.label} ({float(c.probs.get(c.label, 0.0)):.0%})",
             *textwrap.wrap(f"AUs: {', '.join(c.aus) if c.aus else 'none named'}", 70)]
    if c.region_names and len(strength):
        top = np.argsort(-strength)[:3]
        lines.append("Strongest regions: " + ", ".join(f"{c.region_names[i]} {strength[i]:.2f}px" for i in top))
    wrapped = [w for para in (c.description or "(no description)").splitlines() for w in textwrap.wrap(para, 70)]
    body = "\n".join(lines) + "\n\n" + "\n".join(wrapped[:12])  # paragraphs kept apart
    ax.text(0.08, 1.0, body, va="top", ha="left", family="monospace", fontsize=9.5, transform=ax.transAxes)
    if c.title:
        fig.suptitle(c.title, fontsize=12)
    return fig
