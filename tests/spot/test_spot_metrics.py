"""MEGC spotting and spot-then-recognise scores on hand-made intervals (exact values)."""

from __future__ import annotations

import pytest

from deftmer.spot.metrics import SpotCounts, interval_iou, match_intervals, spot_counts, str_counts


def test_iou_counts_frames_inclusively():
    assert interval_iou((0, 9), (0, 9)) == 1.0
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert interval_iou((0, 9), (10, 19)) == 0.0
    assert interval_iou((3, 3), (3, 3)) == 1.0


def test_each_truth_is_matched_once_and_iou_below_half_is_a_miss():
    truth = [(10, 20), (50, 60), (100, 110)]
    pred = [(11, 20), (12, 21), (50, 59), (104, 118)]
    # (11,20) and (12,21) both overlap (10,20): only the better one counts; (104,118) has IoU 7/19
    assert match_intervals(pred, truth) == [(0, 0), (2, 1)]
    c = spot_counts(pred, truth)
    assert (c.tp, c.fp, c.fn) == (2, 2, 1)
    assert c.precision == pytest.approx(0.5) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(4 / 7)


def test_counts_pool_over_videos_before_f1():
    a = spot_counts([(0, 9)], [(0, 9)])                      # perfect on one video
    b = spot_counts([(0, 9), (20, 29), (40, 49)], [(60, 69)])  # all wrong on the other
    total = a.add(b)
    assert (total.tp, total.fp, total.fn) == (1, 3, 1)
    assert total.f1 == pytest.approx(2 / 6)
    assert SpotCounts().f1 == 0.0


def test_spot_then_recognise_needs_the_right_class():
    truth, truth_labels = [(10, 20), (50, 60), (80, 90)], ["happiness", "surprise", None]
    pred, labels = [(10, 20), (50, 60), (80, 90), (200, 210)], ["happiness", "disgust", "others", "surprise"]
    c = str_counts(pred, labels, truth, truth_labels)
    assert (c.tp, c.fp, c.fn) == (1, 3, 2)                # a truth with no class in the set is never right
    assert c.f1 == pytest.approx(2 / 7)
    assert spot_counts(pred, truth).f1 == pytest.approx(6 / 7)
