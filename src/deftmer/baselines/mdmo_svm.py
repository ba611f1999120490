"""Hand-crafted baseline: MDMO-style region flow features + a linear SVM.

The classic pre-deep-learning recipe (Liu et al., TAFFC 2016): read the optical flow region by
region, keep each region's main-direction mean motion, and classify with a linear SVM. Here the
regions are deftmer's 17 AU regions (``PreparedSample.roi_masks``), so the comparison with the
DEFT motion expert is on exactly the same regions and flow.

Probabilities: a softmax over the SVM's per-class margins (one-vs-rest decision function). They
order classes like the SVM does (arg-max = the SVM's decision) but are not calibrated; Platt /
`CalibratedClassifierCV` needs several clips of every class in every inner fold, which small LOSO
training sets do not guarantee.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deftmer.baselines.common import inverse_frequency_weights, read_card, softmax, to_predictions, training_labels
from deftmer.baselines.config import MdmoSvmConfig
from deftmer.baselines.features import mdmo_feature_dim, mdmo_features
from deftmer.data.labels import ClassSet
from deftmer.errors import CheckpointError
from deftmer.facs import REGION_NAMES
from deftmer.model.api import Prediction, RunConfig, register_model
from deftmer.model.card import save_model_folder, weights_file
from deftmer.preprocess.records import ClipInputs

NAME = "mdmo-svm"
WEIGHTS = "svm.safetensors"


class MdmoSvmModel:
    """`MERModel`: standardised MDMO features -> ``LinearSVC``; stored as plain arrays (safetensors)."""

    name = NAME

    def __init__(self, cfg: RunConfig, class_set: ClassSet) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.settings: MdmoSvmConfig = cfg.baselines.mdmo_svm
        # the fitted linear map, in the class set's order: scores = ((x - mean) / scale) @ weight.T + bias
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.weight: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.present: np.ndarray | None = None   # classes seen in training; others score -inf

    def features(self, clips: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
        rows = []
        for i, c in enumerate(clips):
            rows.append(mdmo_features(c.prepared, self.settings))
            if progress is not None:
                progress("features", i + 1, len(clips))
        return np.stack(rows).astype(np.float64)

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        if not train:
            raise ValueError("mdmo-svm: no training clips")
        t0 = time.perf_counter()
        x = self.features(train, progress)
        y = training_labels(train, self.class_set)
        k, d = len(self.class_set), x.shape[1]
        scaler = StandardScaler().fit(x)
        xs = scaler.transform(x)
        weight = np.zeros((k, d))
        bias = np.zeros(k)
        present = np.bincount(y, minlength=k) > 0
        seen = np.flatnonzero(present)
        if len(seen) >= 2:
            cw = None
            if self.settings.class_weighted:
                w = inverse_frequency_weights(y, k)
                cw = {int(c): float(w[c]) for c in seen}
            svm = LinearSVC(C=self.settings.C, class_weight=cw, max_iter=self.settings.max_iter,
                            random_state=self.cfg.seed).fit(xs, y)
            if len(svm.classes_) == 2:       # sklearn keeps one hyperplane: f > 0 -> classes_[1]
                weight[svm.classes_[1]], bias[svm.classes_[1]] = svm.coef_[0], svm.intercept_[0]
                weight[svm.classes_[0]], bias[svm.classes_[0]] = -svm.coef_[0], -svm.intercept_[0]
            else:
                weight[svm.classes_], bias[svm.classes_] = svm.coef_, svm.intercept_
        self.mean, self.scale = scaler.mean_.copy(), scaler.scale_.copy()
        self.weight, self.bias, self.present = weight, bias, present
        train_acc = float((self._scores(x).argmax(1) == y).mean())
        if progress is not None:
            progress("fit", 1, 1)
        return {"n_train": len(train), "n_features": d, "classes_seen": int(present.sum()),
                "train_accuracy": train_acc, "seconds": time.perf_counter() - t0}

    def _scores(self, x: np.ndarray) -> np.ndarray:
        if self.weight is None:
            raise RuntimeError("mdmo-svm: predict called before fit/load")
        s = ((x - self.mean) / self.scale) @ self.weight.T + self.bias
        s[:, ~self.present] = -np.inf
        return s

    def decision_scores(self, clips: list[ClipInputs]) -> np.ndarray:
        """The SVM margins per class (``-inf`` for classes absent from training)."""
        return self._scores(self.features(clips))

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        if not clips:
            return []
        return to_predictions(clips, self.class_set, softmax(self.decision_scores(clips)))

    def save(self, out_dir: Path) -> None:
        from safetensors.numpy import save_file

        if self.weight is None:
            raise RuntimeError("mdmo-svm: save called before fit")
        arrays = {"mean": self.mean, "scale": self.scale, "weight": self.weight, "bias": self.bias,
                  "present": self.present.astype(np.uint8)}
        save_model_folder(out_dir, NAME, self.cfg, self.class_set, WEIGHTS,
                          lambda p: save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(p)),
                          feature_dim=int(self.weight.shape[1]),
                          probabilities="softmax of LinearSVC one-vs-rest margins (uncalibrated)")

    @classmethod
    def load(cls, model_dir: Path) -> MdmoSvmModel:
        from safetensors.numpy import load_file


        card = read_card(model_dir, NAME)
        path = weights_file(model_dir, WEIGHTS)
        arrays = load_file(str(path))
        model = cls(card.cfg, card.class_set)
        model.mean, model.scale = arrays["mean"], arrays["scale"]
        model.weight, model.bias = arrays["weight"], arrays["bias"]
        model.present = arrays["present"].astype(bool)
        expected = mdmo_feature_dim(len(REGION_NAMES), model.settings)
        if model.weight.shape != (len(card.class_set), expected):
            raise CheckpointError(f"{path}: weights of shape {model.weight.shape} do not fit {len(card.class_set)} classes "
                                  f"x {expected} features of the saved config; re-run training")
        return model


@register_model(NAME, "MDMO-style main-direction region flow + linear SVM (scikit-learn)", loader=MdmoSvmModel.load)
def create_mdmo_svm(cfg: RunConfig, class_set: ClassSet) -> MdmoSvmModel:
    return MdmoSvmModel(cfg, class_set)
