"""Kernel baseline: the motion expert's flow field -> PCA -> RBF SVM, trained and read in a mirror.

The issue that brought real data named an RBF SVM on PCA-64 of the raw 28x28 maps as the floor
to beat. Given what DEFT's motion expert is given (the field scaled by each clip's own motion,
`deftmer.model.inputs.flow_field`) and DEFT's one exact augmentation (the mirrored face, trained
on and averaged at prediction), the same kernel machine is a much stronger peer, and one with
nothing to tune per fold: sklearn's defaults (C = 1, gamma = "scale") and the floor's 64
components, class-balanced. It tells a user what the field alone supports.

Stored as plain arrays (safetensors), not a pickle: the standardisation, the PCA basis and the
SVM's support vectors, dual coefficients and intercepts. Prediction computes the one-vs-one
margins from them (`pairwise_margins`) and the class scores scikit-learn's ``SVC`` gives
(`vote_scores`: pairwise wins, ties broken by the margins); the probabilities are the softmax of
those scores averaged over the clip and its mirror image (uncalibrated, like ``mdmo-svm``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np

from deftmer.baselines.common import inverse_frequency_weights, read_card, softmax, to_predictions, training_labels
from deftmer.baselines.config import FieldSvmConfig
from deftmer.data.labels import ClassSet
from deftmer.errors import CheckpointError
from deftmer.model.api import Prediction, RunConfig, register_model
from deftmer.model.card import save_model_folder, weights_file
from deftmer.model.inputs import flow_field, mirror_field
from deftmer.preprocess.records import ClipInputs

NAME = "field-svm"
WEIGHTS = "svm.safetensors"
#: the arrays a saved model holds (safetensors keys)
ARRAYS = ("mean", "scale", "pca_mean", "components", "support", "dual_coef", "intercept", "n_support",
          "classes", "gamma")


def pairwise_margins(z: np.ndarray, a: dict[str, np.ndarray]) -> np.ndarray:
    """One-vs-one RBF-SVM margins (N, pairs) of PCA coordinates ``z``, in libsvm's pair order
    ((0, 1), (0, 2), ... over ``a["classes"]``): what ``SVC.decision_function`` computes with
    ``decision_function_shape="ovo"``, from the stored arrays alone."""
    sq = (z ** 2).sum(1)[:, None] + (a["support"] ** 2).sum(1)[None, :] - 2.0 * z @ a["support"].T
    kernel = np.exp(-float(a["gamma"][0]) * np.maximum(sq, 0.0))
    start = np.concatenate([[0], np.cumsum(a["n_support"])])
    out = []
    for p, (i, j) in enumerate(combinations(range(len(a["n_support"])), 2)):
        si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
        out.append(kernel[:, si] @ a["dual_coef"][j - 1, si] + kernel[:, sj] @ a["dual_coef"][i, sj]
                   + a["intercept"][p])
    return np.stack(out, 1)


def vote_scores(margins: np.ndarray, n_classes: int) -> np.ndarray:
    """One-vs-one margins (N, pairs) -> class scores (N, classes) as ``SVC.decision_function``
    gives them (its default ``"ovr"`` shape): each class's pairwise wins, plus its summed margins
    squashed into (-1/3, 1/3) so that they only break ties between vote counts."""
    votes = np.zeros((len(margins), n_classes))
    confidence = np.zeros((len(margins), n_classes))
    for p, (i, j) in enumerate(combinations(range(n_classes), 2)):
        votes[:, i] += margins[:, p] > 0
        votes[:, j] += margins[:, p] <= 0
        confidence[:, i] += margins[:, p]
        confidence[:, j] -= margins[:, p]
    return votes + confidence / (3 * (np.abs(confidence) + 1))


class FieldSvmModel:
    """`MERModel`: standardised field -> PCA -> RBF ``SVC``, mirror-augmented, mirror-averaged."""

    name = NAME

    def __init__(self, cfg: RunConfig, class_set: ClassSet) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.settings: FieldSvmConfig = cfg.baselines.field_svm
        self.arrays: dict[str, np.ndarray] | None = None

    def fields(self, clips: list[ClipInputs]) -> np.ndarray:
        """(N, 3, S, S) float64: each clip's u, v, strain field as the motion expert reads it."""
        return np.stack([flow_field(c.prepared, self.settings.input_size, self.cfg.model.motion_field_scale)
                         for c in clips]).astype(np.float64)

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        if not train:
            raise ValueError("field-svm: no training clips")
        t0 = time.perf_counter()
        f = self.fields(train)
        y = training_labels(train, self.class_set)
        if self.settings.flip_augment:
            f, y = np.concatenate([f, mirror_field(f)]), np.concatenate([y, y])
        x = f.reshape(len(f), -1)
        scaler = StandardScaler()
        pca = PCA(min(self.settings.pca_components, *x.shape), svd_solver="full")
        z = pca.fit_transform(scaler.fit_transform(x))
        self.arrays = {"mean": scaler.mean_, "scale": scaler.scale_, "pca_mean": pca.mean_,
                       "components": pca.components_, **self._fit_svm(z, y)}
        n = len(train)
        train_acc = float((self._scores(f[:n]).argmax(1) == y[:n]).mean())
        if progress is not None:
            progress("fit", 1, 1)
        return {"n_train": n, "n_features": int(z.shape[1]), "classes_seen": int(len(self.arrays["classes"])),
                "n_support_vectors": int(len(self.arrays["support"])), "train_accuracy": train_acc,
                "seconds": time.perf_counter() - t0}

    def _fit_svm(self, z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """The RBF SVM on principal coordinates ``z`` as plain arrays (see `pairwise_margins`); with
        one class seen there is nothing to separate and no support vector."""
        from sklearn.svm import SVC

        seen = np.unique(y)
        gamma = 1.0 / (z.shape[1] * z.var())            # scikit-learn's "scale" rule, kept with the model
        if len(seen) < 2:
            return {"support": np.zeros((0, z.shape[1])), "dual_coef": np.zeros((0, 0)), "intercept": np.zeros(0),
                    "n_support": np.zeros(1, np.int64), "classes": seen.astype(np.int64), "gamma": np.array([gamma])}
        weight = None
        if self.settings.class_weighted:
            w = inverse_frequency_weights(y, len(self.class_set))
            weight = {int(c): float(w[c]) for c in seen}
        svm = SVC(C=self.settings.C, kernel="rbf", gamma=gamma, class_weight=weight).fit(z, y)
        return {"support": svm.support_vectors_, "dual_coef": svm.dual_coef_, "intercept": svm.intercept_,
                "n_support": svm.n_support_.astype(np.int64), "classes": seen.astype(np.int64),
                "gamma": np.array([gamma])}

    def _scores(self, fields: np.ndarray) -> np.ndarray:
        """Class scores (N, classes), `vote_scores` of the one-vs-one margins; ``-inf`` for classes
        absent from training. With ``mirror_tta`` the clip's and its mirror image's are averaged."""
        if self.arrays is None:
            raise RuntimeError("field-svm: predict called before fit/load")
        views = [fields] + ([mirror_field(fields)] if self.settings.mirror_tta else [])
        return sum(self._view_scores(v) for v in views) / len(views)

    def _view_scores(self, fields: np.ndarray) -> np.ndarray:
        a = self.arrays
        scores = np.full((len(fields), len(self.class_set)), -np.inf)
        classes = a["classes"]
        if len(classes) == 1:
            scores[:, classes[0]] = 0.0
            return scores
        z = ((fields.reshape(len(fields), -1) - a["mean"]) / a["scale"] - a["pca_mean"]) @ a["components"].T
        scores[:, classes] = vote_scores(pairwise_margins(z, a), len(classes))
        return scores

    def decision_scores(self, clips: list[ClipInputs]) -> np.ndarray:
        """The class scores (`vote_scores`; ``-inf`` for classes absent from training)."""
        return self._scores(self.fields(clips))

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        if not clips:
            return []
        return to_predictions(clips, self.class_set, softmax(self.decision_scores(clips)))

    def save(self, out_dir: Path) -> None:
        from safetensors.numpy import save_file

        if self.arrays is None:
            raise RuntimeError("field-svm: save called before fit")
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays.items()}
        save_model_folder(out_dir, NAME, self.cfg, self.class_set, WEIGHTS, lambda p: save_file(arrays, str(p)),
                          feature_dim=int(arrays["components"].shape[0]),
                          probabilities="softmax of the SVM's one-vs-rest scores (votes + squashed margins; uncalibrated)")

    @classmethod
    def load(cls, model_dir: Path) -> FieldSvmModel:
        from safetensors.numpy import load_file

        card = read_card(model_dir, NAME)
        path = weights_file(model_dir, WEIGHTS)
        arrays = load_file(str(path))
        model = cls(card.cfg, card.class_set)
        side = model.settings.input_size
        if set(arrays) != set(ARRAYS) or arrays["mean"].shape != (3 * side * side,) \
                or int(arrays["classes"].max(initial=0)) >= len(card.class_set):
            raise CheckpointError(f"{path} does not hold a field-svm of the saved config ({3 * side * side} field "
                                  f"values, {len(card.class_set)} classes); re-run training")
        model.arrays = arrays
        return model


@register_model(NAME, "flow field as the motion expert reads it -> PCA-64 -> RBF SVM, mirror-augmented (scikit-learn)",
                loader=FieldSvmModel.load)
def create_field_svm(cfg: RunConfig, class_set: ClassSet) -> FieldSvmModel:
    return FieldSvmModel(cfg, class_set)
