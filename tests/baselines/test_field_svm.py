"""field-svm computes the SVM's margins from its stored arrays exactly as scikit-learn does, reads a
clip and its mirror image alike, and sees the field the motion expert sees."""

from __future__ import annotations

import numpy as np
import pytest
from baseline_toy_data import split_by_subject

from deftmer.baselines.field_svm import pairwise_margins, vote_scores
from deftmer.config import load_config
from deftmer.data.labels import MEGC3
from deftmer.model.inputs import flow_field, mirror_clip
from deftmer.models import create_model


def test_stored_arrays_give_sklearns_margins_and_class_scores():
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, size=(4, 5))
    y = np.repeat(np.arange(4), 15)
    z = centres[y] + rng.normal(0, 1, size=(60, 5))
    gamma = 1.0 / (5 * z.var())                     # scikit-learn's "scale" rule, as field-svm stores it
    svm = SVC(kernel="rbf", gamma=gamma, decision_function_shape="ovo").fit(z, y)
    arrays = {"support": svm.support_vectors_, "dual_coef": svm.dual_coef_, "intercept": svm.intercept_,
              "n_support": svm.n_support_, "gamma": np.array([gamma])}
    probe = rng.normal(0, 2, size=(7, 5))
    margins = pairwise_margins(probe, arrays)
    np.testing.assert_allclose(margins, svm.decision_function(probe), rtol=1e-9, atol=1e-9)
    svm.decision_function_shape = "ovr"
    np.testing.assert_allclose(vote_scores(margins, 4), svm.decision_function(probe), rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def fitted(toy_clips):
    train, test = split_by_subject(toy_clips, {"s04", "s05"})
    model = create_model("field-svm", load_config(None), MEGC3)
    stats = model.fit(train)
    return model, stats, test


def test_a_clip_and_its_mirror_image_get_the_same_probabilities(fitted):
    model, _, test = fitted
    p = model.decision_scores(test)
    np.testing.assert_allclose(model.decision_scores([mirror_clip(c) for c in test]), p, atol=1e-6)  # float32 fields
    assert np.ptp(p, axis=0).min() > 0.1   # and the scores do depend on the clip


def test_without_mirror_tta_the_mirror_image_reads_differently(toy_clips):
    train, test = split_by_subject(toy_clips, {"s04", "s05"})
    model = create_model("field-svm", load_config(None, ["baselines.field_svm.mirror_tta=false"]), MEGC3)
    model.fit(train)
    assert not np.allclose(model.decision_scores([mirror_clip(c) for c in test]), model.decision_scores(test))


def test_reads_the_motion_experts_field_and_reports_its_fit(fitted):
    model, stats, test = fitted
    np.testing.assert_array_equal(model.fields(test[:1])[0], flow_field(test[0].prepared, 28))
    assert stats["n_features"] == 64 and stats["classes_seen"] == 3
    assert 0 < stats["n_support_vectors"] <= 2 * stats["n_train"]   # mirrored clips are training points too
    assert stats["train_accuracy"] > 0.9


def test_reads_the_field_at_the_motion_experts_scale(toy_clips):
    model = create_model("field-svm", load_config(None, ["model.motion_field_scale=rms"]), MEGC3)
    np.testing.assert_array_equal(model.fields(toy_clips[:1])[0], flow_field(toy_clips[0].prepared, 28, "rms"))
