"""Scoring spotting and spot-then-recognise by the MEGC rules.

MEGC 2019-2023 spotting: a spotted interval is a true positive when it overlaps a
ground-truth interval with IoU >= 0.5 (frames counted inclusively); each ground-truth
interval is matched at most once, so a second interval on the same expression is a false
positive. Counts are pooled over all videos before precision, recall and F1 are taken.
Spot-then-recognise (MEGC 2023 STR): a true positive must also carry the right class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IOU_THRESHOLD = 0.5


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset)."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(pred: Sequence[tuple[int, int]], truth: Sequence[tuple[int, int]],
                    threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """(pred index, truth index) pairs: greedily by IoU, each side used at most once."""
    pairs = sorted(((interval_iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)),
                   reverse=True)
    used_p: set[int] = set()
    used_t: set[int] = set()
    out = []
    for iou, i, j in pairs:
        if iou < threshold:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        out.append((i, j))
    return sorted(out)


@dataclass
class SpotCounts:
    """True positives, spotted intervals and ground-truth intervals, pooled over videos."""

    tp: int = 0
    n_pred: int = 0
    n_true: int = 0

    @property
    def fp(self) -> int:
        return self.n_pred - self.tp

    @property
    def fn(self) -> int:
        return self.n_true - self.tp

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_true if self.n_true else 0.0

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else 0.0

    def add(self, other: SpotCounts) -> SpotCounts:
        return SpotCounts(self.tp + other.tp, self.n_pred + other.n_pred, self.n_true + other.n_true)

    def to_json(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def spot_counts(pred: Sequence[tuple[int, int]], truth: Sequence[tuple[int, int]]) -> SpotCounts:
    """Spotting counts of one video."""
    return SpotCounts(len(match_intervals(pred, truth)), len(pred), len(truth))


def str_counts(pred: Sequence[tuple[int, int]], pred_labels: Sequence[str | None],
               truth: Sequence[tuple[int, int]], truth_labels: Sequence[str | None]) -> SpotCounts:
    """Spot-then-recognise counts of one video: a match counts only with the true class.

    Ground truth without a class in the target set (``None``, e.g. "others" in 3 classes)
    stays in the spotting ground truth but can never be recognised correctly.
    """
    tp = sum(1 for i, j in match_intervals(pred, truth)
             if truth_labels[j] is not None and pred_labels[i] == truth_labels[j])
    return SpotCounts(tp, len(pred), len(truth))
