"""Metrics against numbers worked out by hand on small tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from deftmer.eval.metrics import au_key, au_scores, compute_metrics, group_scores, split_aus

CLASSES = ("negative", "positive", "surprise")


def _table(rows: list[tuple[str, str, int]], **cols) -> pd.DataFrame:
    true, pred = [], []
    for t, p, n in rows:
        true += [t] * n
        pred += [p] * n
    return pd.DataFrame({"true": true, "pred": pred, **cols})


# Confusion table (rows true, columns predicted):
#             neg  pos  sur
#   negative   3    1    1     (5)
#   positive   1    2    0     (3)
#   surprise   0    0    2     (2)
# F1 = 2TP / (2TP + FP + FN):
#   negative: TP 3, FP 1, FN 2 -> 6/9 = 0.6667; recall 3/5 = 0.6
#   positive: TP 2, FP 1, FN 1 -> 4/6 = 0.6667; recall 2/3
#   surprise: TP 2, FP 1, FN 0 -> 4/5 = 0.8;    recall 2/2 = 1
# UF1 = (2/3 + 2/3 + 0.8) / 3 = 0.711111;  UAR = (0.6 + 2/3 + 1) / 3 = 0.755556;  acc = 7/10
ROWS = [("negative", "negative", 3), ("negative", "positive", 1), ("negative", "surprise", 1),
        ("positive", "negative", 1), ("positive", "positive", 2), ("surprise", "surprise", 2)]


def test_uf1_uar_accuracy_match_hand_computation():
    df = _table(ROWS)
    m = compute_metrics(df, CLASSES)
    assert m.uf1 == pytest.approx((2 / 3 + 2 / 3 + 0.8) / 3)
    assert m.uf1 == pytest.approx(0.711111, abs=1e-6)
    assert m.uar == pytest.approx((0.6 + 2 / 3 + 1.0) / 3)
    assert m.accuracy == pytest.approx(0.7)
    assert m.confusion.matrix == [[3, 1, 1], [1, 2, 0], [0, 0, 2]]
    assert m.per_class["negative"].precision == pytest.approx(3 / 4)
    assert m.per_class["surprise"].precision == pytest.approx(2 / 3)
    assert m.per_class["positive"].support == 3
    assert m.n_samples == 10


def test_pooled_uf1_differs_from_mean_of_per_subject_uf1():
    # subject a only shows negatives, subject b only positives: pooling is the field's rule
    df = _table(ROWS, subject=["a"] * 5 + ["b"] * 5)
    m = compute_metrics(df, CLASSES)
    assert set(m.per_subject) == {"a", "b"}
    assert m.per_subject["a"].n == 5
    # subject a: only class negative present; 3 of 5 right -> F1 = 6/(6+0+2) = 0.75, recall 0.6
    assert m.per_subject["a"].uf1 == pytest.approx(0.75)
    assert m.per_subject["a"].uar == pytest.approx(0.6)
    mean_of_folds = (m.per_subject["a"].uf1 + m.per_subject["b"].uf1) / 2
    assert m.uf1 != pytest.approx(mean_of_folds)


def test_class_absent_from_truth_is_left_out_of_uf1_but_errors_count():
    # truth has no surprise; one negative predicted as surprise
    df = _table([("negative", "negative", 2), ("negative", "surprise", 1), ("positive", "positive", 1)])
    g = group_scores(df["true"].tolist(), df["pred"].tolist(), CLASSES)
    # negative: TP2 FP0 FN1 -> 4/5 = 0.8 ; positive: TP1 -> 1.0 ; UF1 = 0.9 ; UAR = (2/3 + 1)/2
    assert g.uf1 == pytest.approx(0.9)
    assert g.uar == pytest.approx((2 / 3 + 1) / 2)


def test_per_source_scores_for_composites():
    df = _table(ROWS, source=["casme2"] * 4 + ["smic"] * 6)
    m = compute_metrics(df, CLASSES)
    assert set(m.per_source) == {"casme2", "smic"}
    # casme2 rows: neg->neg x3, neg->pos x1 : accuracy 3/4
    assert m.per_source["casme2"].accuracy == pytest.approx(0.75)
    assert m.per_source["smic"].n == 6


def test_au_keys_and_alternatives():
    assert au_key("LAU12", True) == "L12"
    assert au_key("au 4", True) == "4"
    assert au_key("R AU14", False) == "14"
    assert au_key("happiness", False) is None
    assert split_aus("LAU12+AU6+AU14?") == (["LAU12", "AU6"], ["AU14"])
    assert split_aus(float("nan")) == ([], [])


def test_au_scores_hand_computed():
    # clip 1: named {L12, 6, 4}, true {12 (any side), 6}: side-free TP 2 FP 1 FN 0
    # clip 2: named {1}, true {1, 2}, alternative {4}:     TP 1 FP 0 FN 1
    # totals TP 3 FP 1 FN 1 -> P 0.75, R 0.75, F1 0.75
    # side-strict: clip 1 "L12" vs "12" no longer matches -> TP 2 FP 2 FN 2 -> F1 0.5
    pairs = [(["LAU12", "AU6", "AU4"], ["AU12", "AU6"], []), (["AU1"], ["AU1", "AU2"], ["AU4"])]
    s = au_scores(pairs)
    assert (s.precision, s.recall, s.f1) == pytest.approx((0.75, 0.75, 0.75))
    assert s.f1_side == pytest.approx(0.5)
    assert s.n_samples == 2
    assert au_scores([]) is None


def test_au_f1_and_claim_support_from_prediction_table_and_json():
    df = _table([("positive", "positive", 1), ("negative", "negative", 1), ("surprise", "negative", 1)])
    df["text"] = ["Emotion: positive", "", "Emotion: negative"]
    df["pred_aus"] = ["AU12+AU6", "", "AU4"]
    df["true_aus"] = ["AU12", "AU4", ""]      # third clip has no AU labels: not scored
    df["claim_support"] = [1.0, None, 0.5]
    m = compute_metrics(df, CLASSES, model="x", dataset="d", n_folds=3, folds_expected=4, missing_folds=["s9"])
    # only clip 1 scores (clip 2 has no text): TP 1 FP 1 FN 0 -> P .5 R 1 F1 2/3
    assert m.au_f1 == pytest.approx(2 / 3)
    assert m.au.n_samples == 1
    assert m.claim_support == pytest.approx(0.75) and m.claim_support_n == 2
    d = json.loads(m.dumps())
    assert d["complete"] is False and d["missing_folds"] == ["s9"]
    for key in ("uf1", "uar", "accuracy", "per_class", "per_source", "per_subject", "confusion", "n_samples",
                "n_folds", "au_f1", "claim_support", "model", "dataset", "protocol", "class_set", "timing"):
        assert key in d
    assert d["confusion"]["labels"] == list(CLASSES)


def _one_hot_part(df: pd.DataFrame, name: str, picks: list[str]) -> pd.DataFrame:
    return df.assign(**{f"{name}_prob_{c}": [0.8 if p == c else 0.1 for p in picks] for c in CLASSES})


def test_a_part_of_the_model_is_scored_alone_on_the_same_clips():
    df = _table(ROWS)   # the decision scores UF1 0.711 (above)
    # the part is right on every clip but one negative it calls surprise, where the decision said positive
    picks = list(df["true"])
    picks[3] = "surprise"
    m = compute_metrics(_one_hot_part(df, "experts_head", picks), CLASSES)
    part = m.parts["experts_head"]
    # its own table: negative recall 4/5 (F1 8/9), positive 3/3 (F1 1), surprise 2/2 with 1 FP (F1 0.8)
    assert part.uf1 == pytest.approx((8 / 9 + 1 + 0.8) / 3)
    assert part.uar == pytest.approx((0.8 + 1 + 1) / 3)
    assert part.accuracy == pytest.approx(0.9) and part.n == 10
    # it agrees with the decision where the decision was right (7 clips) and nowhere else
    assert part.agreement == pytest.approx(0.7)
    assert m.uf1 == pytest.approx(0.711111, abs=1e-6)              # the decision's scores are unchanged
    assert json.loads(m.dumps())["parts"]["experts_head"]["agreement"] == pytest.approx(0.7)


def test_a_part_missing_on_some_clips_or_some_classes_is_not_scored():
    df = _one_hot_part(_table(ROWS), "experts_head", list(_table(ROWS)["true"]))
    gap = df.copy()
    gap.loc[2, "experts_head_prob_positive"] = float("nan")       # a fold from an older version
    assert compute_metrics(gap, CLASSES).parts == {}
    assert compute_metrics(df.drop(columns=["experts_head_prob_surprise"]), CLASSES).parts == {}
    plain = _table(ROWS).assign(**{f"prob_{c}": 1 / 3 for c in CLASSES})
    assert compute_metrics(plain, CLASSES).parts == {}             # the decision's own prob_<class> are no part
