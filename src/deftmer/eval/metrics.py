"""Metrics of the MER field computed from a run's pooled predictions.

UF1 and UAR are computed ONCE over the predictions of all LOSO folds pooled together (the
MEGC convention), not averaged over folds: one subject's fold often holds a single class, so
per-fold F1 is ill-defined. Classes are those of the class set that occur in the ground truth
(a class nobody showed cannot be recalled); a prediction of any other class still counts as
an error for the true class. Per-source (composite datasets) and per-subject tables use the
same rule on their subset.

Interpretability is measured as well: the AUs a model names in its generated answer against
the annotated AUs (`au_scores`), and the share of motion claims the clip's own flow supports
(`deftmer.unimer.answer.claim_support`, averaged here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_AU_RE = re.compile(r"^\s*([LRlr])?\s*AU\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ClassScores:
    """Precision/recall/F1 of one class over the pooled predictions; support = true count."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class GroupScores:
    """UF1/UAR/accuracy of a subset (one source dataset, one subject); ``n`` = samples."""

    uf1: float
    uar: float
    accuracy: float
    n: int


@dataclass(frozen=True)
class ConfusionTable:
    """Rows = true class, columns = predicted class, both in ``labels`` order."""

    labels: list[str]
    matrix: list[list[int]]


@dataclass(frozen=True)
class AUScores:
    """AUs named in generated answers vs annotated AUs, micro-averaged over clips.

    ``match_side=False`` (the headline ``f1``): an AU counts when its number matches, since
    many annotations give no side and a side error still names the right muscle action.
    ``f1_side`` is the strict score where the side must match as well (``LAU12`` != ``AU12``).
    Annotated alternatives (``12 or 14``) are neither required nor penalised.
    """

    precision: float
    recall: float
    f1: float
    f1_side: float
    n_samples: int


@dataclass(frozen=True)
class PartScores:
    """UF1/UAR/accuracy of a part of the model scored alone on the same clips (a predictions
    table's ``<part>_prob_<class>`` columns, e.g. DEFT's LLM class head and experts' own head beside
    their joint decision), and ``agreement``: the share of clips where that part picks the class the
    model decided."""

    uf1: float
    uar: float
    accuracy: float
    agreement: float
    n: int


#: how tables name a part of the model scored alone
PART_LABELS = {"experts_head": "experts' own head (no LLM)", "llm": "LLM's class head",
               "options": "LLM's answer likelihood"}


def part_label(part: str) -> str:
    return PART_LABELS.get(part, part)


def part_names(columns: Iterable[str], classes: Sequence[str]) -> list[str]:
    """Parts with a ``<part>_prob_<class>`` column for every class, in column order."""
    cols = set(columns)
    found = [c[: -len(f"_prob_{classes[0]}")] for c in columns if c.endswith(f"_prob_{classes[0]}")] if classes else []
    return [p for p in found if p and all(f"{p}_prob_{c}" in cols for c in classes)]


def part_scores(df: pd.DataFrame, classes: Sequence[str]) -> dict[str, PartScores]:
    """`PartScores` of each part in ``df`` (see `part_names`), from the argmax of its probabilities;
    a part missing on some clips (a run resumed across versions) is left out, not scored on fewer."""
    out = {}
    for part in part_names(df.columns, classes):
        probs = df[[f"{part}_prob_{c}" for c in classes]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        if np.isnan(probs).any():
            continue
        picked = [classes[i] for i in probs.argmax(1)] if len(df) else []
        g = group_scores(df["true"].astype(str).tolist(), picked, classes)
        agree = float(np.mean(np.array(picked) == df["pred"].astype(str).to_numpy())) if len(df) else 0.0
        out[part] = PartScores(g.uf1, g.uar, g.accuracy, agree, g.n)
    return out


@dataclass
class MetricsReport:
    """Everything `metrics.json` holds; ``to_json`` is the file's content."""

    uf1: float
    uar: float
    accuracy: float
    per_class: dict[str, ClassScores]
    per_source: dict[str, GroupScores]
    per_subject: dict[str, GroupScores]
    confusion: ConfusionTable
    n_samples: int
    n_folds: int = 0
    folds_expected: int = 0
    missing_folds: list[str] = field(default_factory=list)
    au_f1: float | None = None
    au: AUScores | None = None
    claim_support: float | None = None
    claim_support_n: int = 0
    model: str = ""
    dataset: str = ""
    protocol: str = "loso"
    class_set: str = ""
    timing: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, PartScores] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing_folds

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["complete"] = self.complete
        return d

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


def _uf1_uar(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> tuple[float, float]:
    from sklearn.metrics import precision_recall_fscore_support  # lazy: heavy, and the CLI imports this module

    present = [c for c in classes if c in set(y_true)]
    if not present:
        return 0.0, 0.0
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average=None, zero_division=0)
    return float(np.mean(f)), float(np.mean(r))


def group_scores(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> GroupScores:
    """UF1 (macro F1), UAR (mean recall) and accuracy of one set of predictions."""
    uf1, uar = _uf1_uar(y_true, y_pred, classes)
    n = len(y_true)
    acc = float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if n else 0.0
    return GroupScores(uf1=uf1, uar=uar, accuracy=acc, n=n)


def class_scores(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict[str, ClassScores]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), average=None, zero_division=0)
    return {c: ClassScores(float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, c in enumerate(classes)}


def au_key(au: str, with_side: bool) -> str | None:
    """Normalise ``"LAU12"``/``"au 12"``/``"R AU4"`` to ``"L12"``/``"12"``; None if not an AU."""
    m = _AU_RE.match(str(au))
    if not m:
        return None
    side = (m.group(1) or "").upper()
    return f"{side if with_side else ''}{int(m.group(2))}"


def split_aus(field_text: str | float | None) -> tuple[list[str], list[str]]:
    """Parse a ``"LAU12+AU6+AU14?"`` cell into (certain AUs, alternative AUs marked ``?``)."""
    if field_text is None or (isinstance(field_text, float) and np.isnan(field_text)):
        return [], []
    certain, alternative = [], []
    for tok in str(field_text).split("+"):
        tok = tok.strip()
        if not tok:
            continue
        (alternative if tok.endswith("?") else certain).append(tok.rstrip("?"))
    return certain, alternative


def _au_counts(pairs: Iterable[tuple[list[str], list[str], list[str]]], with_side: bool) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for named, true, alternative in pairs:
        t = {k for k in (au_key(a, with_side) for a in true) if k}
        alt = {k for k in (au_key(a, with_side) for a in alternative) if k} - t
        n = {k for k in (au_key(a, with_side) for a in named) if k}
        tp += len(n & t)
        fp += len(n - t - alt)
        fn += len(t - n)
    return tp, fp, fn


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def au_scores(pairs: Sequence[tuple[list[str], list[str], list[str]]]) -> AUScores | None:
    """Score ``(named AUs, annotated AUs, annotated alternatives)`` per clip.

    Only clips that have annotated AUs and a generated answer should be passed; None when
    there are none (datasets without AU labels, or runs without explanations).
    """
    pairs = list(pairs)
    if not pairs:
        return None
    p, r, f = _prf(*_au_counts(pairs, with_side=False))
    _, _, f_side = _prf(*_au_counts(pairs, with_side=True))
    return AUScores(precision=p, recall=r, f1=f, f1_side=f_side, n_samples=len(pairs))


def compute_metrics(predictions: pd.DataFrame, classes: Sequence[str], **info: Any) -> MetricsReport:
    """Metrics of a predictions table (columns ``true``, ``pred``, ``subject``, ``source``, and
    optionally ``text``, ``pred_aus``, ``true_aus``, ``claim_support``).

    ``info`` fills the descriptive fields (model, dataset, protocol, class_set, n_folds, ...).
    """
    from sklearn.metrics import confusion_matrix

    df = predictions
    y_true = df["true"].astype(str).tolist()
    y_pred = df["pred"].astype(str).tolist()
    overall = group_scores(y_true, y_pred, classes)
    cm = confusion_matrix(y_true, y_pred, labels=list(classes)) if len(df) else np.zeros((len(classes),) * 2, int)

    def per(col: str) -> dict[str, GroupScores]:
        if col not in df.columns or not len(df):
            return {}
        return {str(k): group_scores(g["true"].astype(str).tolist(), g["pred"].astype(str).tolist(), classes)
                for k, g in df.groupby(col, sort=True)}

    au = None
    if {"text", "pred_aus", "true_aus"} <= set(df.columns):
        pairs = []
        for text, named, true in zip(df["text"], df["pred_aus"], df["true_aus"]):
            certain, alternative = split_aus(true)
            has_text = isinstance(text, str) and text.strip() != ""
            if has_text and (certain or alternative):
                pairs.append((split_aus(named)[0], certain, alternative))
        au = au_scores(pairs)
    cs_mean, cs_n = None, 0
    if "claim_support" in df.columns:
        cs = pd.to_numeric(df["claim_support"], errors="coerce").dropna()
        if len(cs):
            cs_mean, cs_n = float(cs.mean()), int(len(cs))

    return MetricsReport(
        uf1=overall.uf1, uar=overall.uar, accuracy=overall.accuracy,
        per_class=class_scores(y_true, y_pred, classes),
        per_source=per("source"), per_subject=per("subject"),
        confusion=ConfusionTable(labels=list(classes), matrix=cm.astype(int).tolist()),
        n_samples=len(df), au_f1=None if au is None else au.f1, au=au,
        claim_support=cs_mean, claim_support_n=cs_n, parts=part_scores(df, list(classes)), **info,
    )
