"""The baselines run under the LOSO runner exactly like DEFT (``deftmer loso --model NAME``)."""

from __future__ import annotations

import json

import pytest
from baseline_toy_data import make_clips

from deftmer.config import load_config
from deftmer.data.dataset import MEDataset
from deftmer.data.labels import MEGC3


@pytest.mark.parametrize("name", ["mdmo-svm", "flow-cnn"])
def test_loso_over_cached_clips_beats_chance(name, tmp_path):
    from deftmer.preprocess import cache as cache_mod
    from deftmer.train import loso
    cfg = load_config(None, ["eval.generate_explanations=false", "baselines.flow_cnn.epochs=40"])
    clips = make_clips(n_subjects=4, per_class=3, seed=11)
    cache = cache_mod.PreparedCache(tmp_path / "cache", cfg.preprocess)
    for c in clips:
        cache.save(c.sample, c.prepared)
    ds = MEDataset(name="toy", root=tmp_path, class_set=MEGC3, samples=[c.sample for c in clips])
    res = loso.run_loso(cfg, ds, tmp_path / "cache", tmp_path / "run", model_name=name, progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == name and metrics["n_folds"] == 4 and metrics["n_samples"] == len(clips)
    assert res.metrics.uf1 > 0.6, f"{name}: LOSO UF1 {res.metrics.uf1:.3f} (chance 0.33)"
    # every fold folder holds a loadable model of this kind
    from deftmer.models import load_model

    fold_dirs = sorted((tmp_path / "run" / "folds").iterdir())
    assert len(fold_dirs) == 4 and load_model(fold_dirs[0]).name == name
