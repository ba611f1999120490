"""How far each expert's INPUT carries the class across subjects, measured on training subjects only.

Frozen image features identify a person, so on a few hundred clips a class head can fit the
training labels through the structure/dynamic experts by memorising who is who, and then
guess on a new subject. Before training, a cheap linear probe per expert (logistic regression
on that expert's raw input, cross-validated with whole training subjects held out) measures
how well that input predicts the class on people it has not seen; its chance-corrected
balanced accuracy becomes the expert's weight in the class head (``DeftNet.expert_gate``).
The test subject is never involved: this is an inner split of the training subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deftmer.model.experts import expert_class


@dataclass
class ExpertReliability:
    """Per-expert cross-subject probe result and the class-head weight derived from it."""

    expert: str
    balanced_accuracy: float
    chance: float
    weight: float


def expert_inputs(feats: dict[str, torch.Tensor], expert: str) -> np.ndarray:
    """The raw (frozen / pooled) input of one expert as a flat (N, D) array (`Expert.probe_input`)."""
    return expert_class(expert).probe_input(feats).detach().cpu().double().numpy()


def expert_reliability(feats: dict[str, torch.Tensor], experts: list[str], labels: torch.Tensor,
                       subjects: list[str], n_splits: int = 3) -> list[ExpertReliability]:
    """Cross-subject probe per expert; weights are 1 for all when there are too few subjects."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = labels.cpu().numpy()
    known = y >= 0
    groups = np.asarray(subjects)[known]
    y = y[known]
    n_groups = len(set(groups.tolist()))
    n_classes = len(set(y.tolist()))
    if n_groups < 2 or n_classes < 2:
        return [ExpertReliability(e, float("nan"), float("nan"), 1.0) for e in experts]
    chance = 1.0 / n_classes
    out = []
    for e in experts:
        x = expert_inputs(feats, e)[known]
        pred = np.empty_like(y)
        for tr, te in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, y, groups):
            if len(set(y[tr].tolist())) < 2:
                pred[te] = y[tr][0]
                continue
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=300,
                                                                       class_weight="balanced"))
            pred[te] = probe.fit(x[tr], y[tr]).predict(x[te])
        bacc = float(balanced_accuracy_score(y, pred))
        out.append(ExpertReliability(e, bacc, chance, max(0.0, (bacc - chance) / (1.0 - chance))))
    best = max(r.weight for r in out)
    for r in out:
        r.weight = r.weight / best if best > 0 else 1.0
    return out
