"""A toy MER world for runner tests: a dataset whose class shows as upward flow in one AU
region, a nearest-centroid model on per-region mean flow, and a cache of their inputs.

Only tests import this (it registers "toy-centroid" and "toy_loso" in the test process, and
in subprocesses through a launcher script); nothing here is part of the package.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import MEGC3, ClassSet
from deftmer.data.sample import ActionUnit, Sample
from deftmer.facs import REGIONS
from deftmer.model.api import Prediction, register_model
from deftmer.model.card import write_model_card
from deftmer.preprocess.cache import PreparedCache
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.records import ClipInputs, PreparedSample
from deftmer.utils.io import atomic_save_npz, atomic_write_json

SIZE = 20
CLASS_REGION = {"negative": 1, "positive": 9, "surprise": 4}   # region index that moves per class
CLASS_AUS = {"negative": (4,), "positive": (12,), "surprise": (1, 2)}


def _masks() -> np.ndarray:
    m = np.zeros((len(REGIONS), SIZE, SIZE), bool)
    for k in range(len(REGIONS)):
        m[k, k + 1, 2:SIZE - 2] = True       # region k = one row of the face
    return m


def make_prepared(sample: Sample, moving_class: str, rng: np.random.Generator) -> PreparedSample:
    flow = rng.normal(0, 0.05, (2, SIZE, SIZE)).astype(np.float32)
    row = CLASS_REGION[moving_class] + 1
    flow[1, row, 2:SIZE - 2] -= 1.0 + rng.uniform(0, 0.5)          # upward (image -y) motion
    return PreparedSample(sample_id=sample.id, dataset=sample.dataset, subject=sample.subject, label=sample.label,
                          apex_face=np.zeros((SIZE, SIZE, 3), np.uint8), flow=flow,
                          strain=np.zeros((SIZE, SIZE), np.float32), roi_masks=_masks())


def write_toy_dataset(root: Path, n_subjects: int = 4, clips_per_subject: int = 3, seed: int = 0,
                      sources: tuple[str, ...] | None = None, confusing: int = 1) -> None:
    """Samples (JSON) under ``root``, their prepared inputs in the real preprocessing cache
    (`PreparedCache`, default config) under ``root/cache``.

    The first ``confusing`` clips move the region of another class, so a good model still
    makes errors and the metrics are not trivially 1.0.
    """
    rng = np.random.default_rng(seed)
    classes = MEGC3.classes
    records, k = [], 0
    for si in range(n_subjects):
        subject = f"s{si + 1:02d}"
        for ci in range(clips_per_subject):
            label = classes[(si + ci) % 3]
            source = sources[si % len(sources)] if sources else None
            s = Sample(dataset="toy", subject=subject, clip=f"c{ci}", emotion=label, label=label, source=source,
                       aus=tuple(ActionUnit(n) for n in CLASS_AUS[label]))
            moving = classes[(classes.index(label) + 1) % 3] if k < confusing else label
            prep = make_prepared(s, moving, rng)
            PreparedCache(root / "cache", PreprocessConfig()).save(s, prep)
            records.append({"subject": subject, "clip": s.clip, "label": label, "source": source})
            k += 1
    atomic_write_json(root / "samples.json", records)


@register_dataset("toy_loso", "toy dataset of the LOSO runner tests")
def load_toy(root: Path, class_set: str | None = None) -> MEDataset:
    samples = [Sample(dataset="toy", subject=r["subject"], clip=r["clip"], emotion=r["label"], label=r["label"],
                      source=r["source"], aus=tuple(ActionUnit(n) for n in CLASS_AUS[r["label"]]))
               for r in json.loads((Path(root) / "samples.json").read_text())]
    return MEDataset(name="toy_loso", root=Path(root), class_set=MEGC3, samples=samples)


class CentroidModel:
    """Nearest centroid on per-region mean flow; the seed jitters centroids, so a fold's
    result depends on its seed (which lets tests see that seeds are handled)."""

    name = "toy-centroid"
    fits: ClassVar[list[set[str]]] = []           # training subjects of every fit, for leak checks
    interrupt_at_fit: ClassVar[int | None] = None  # raise KeyboardInterrupt on this fit number
    with_part: ClassVar[bool] = False              # also report a part: the class farthest away

    def __init__(self, cfg, class_set: ClassSet) -> None:
        self.cfg, self.class_set = cfg, class_set
        self.centroids = np.zeros((len(class_set), 2 * len(REGIONS)), np.float32)

    @staticmethod
    def features(clip: ClipInputs) -> np.ndarray:
        p = clip.prepared
        return np.concatenate([[p.flow[0][m].mean(), p.flow[1][m].mean()] for m in p.roi_masks]).astype(np.float32)

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None) -> dict:
        CentroidModel.fits.append({c.sample.subject for c in train})
        if CentroidModel.interrupt_at_fit is not None and len(CentroidModel.fits) == CentroidModel.interrupt_at_fit:
            raise KeyboardInterrupt
        x = np.stack([self.features(c) for c in train])
        y = np.array([self.class_set.index(c.sample.label) for c in train])
        rng = np.random.default_rng(self.cfg.seed)
        for k in range(len(self.class_set)):
            self.centroids[k] = x[y == k].mean(0) if (y == k).any() else 0.0
        self.centroids += rng.normal(0, 0.05, self.centroids.shape).astype(np.float32)
        if progress:
            progress("centroids", 1, 1)
        return {"n": len(train), "mean_norm": np.float32(np.linalg.norm(self.centroids, axis=1).mean())}

    def predict(self, clips: list[ClipInputs], explain: bool = False) -> list[Prediction]:
        out = []
        for c in clips:
            d = np.linalg.norm(self.centroids - self.features(c), axis=1)
            p = np.exp(-d) / np.exp(-d).sum()
            label = self.class_set.classes[int(np.argmin(d))]
            text = ""
            if explain:
                aus = "; ".join(f"AU{n} — motion" for n in CLASS_AUS[label])
                text = f"Emotion: {label}\nEvidence: {aus}\nReasoning: nearest centroid"
            far = np.exp(d) / np.exp(d).sum()
            parts = {"farthest": {k: float(v) for k, v in zip(self.class_set.classes, far)}} if self.with_part else {}
            out.append(Prediction(sample_id=c.id, label=label,
                                  probs={k: float(v) for k, v in zip(self.class_set.classes, p)}, text=text,
                                  parts=parts))
        return out

    def save(self, out_dir: Path) -> None:
        write_model_card(out_dir, self.name, self.cfg, self.class_set)
        atomic_save_npz(Path(out_dir) / "centroids.npz", centroids=self.centroids)


register_model("toy-centroid", "test-only nearest centroid")(CentroidModel)
