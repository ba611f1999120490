"""The LOSO/LODO runner on a toy dataset and a nearest-centroid model (tests/train/toy_mer.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import toy_mer

from deftmer.config import ExperimentConfig, load_config
from deftmer.errors import CheckpointError, UserError
from deftmer.eval.metrics import compute_metrics
from deftmer.train.folds import Fold, check_no_leak, fold_seed, make_folds
from deftmer.train.loso import run_loso

MODEL = "toy-centroid"


def _cfg(**kw) -> ExperimentConfig:
    """Folds in this process: the toy model is registered here, and its fits are recorded here."""
    cfg = ExperimentConfig(**kw)
    cfg.eval.workers = 1
    return cfg


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "toy"
    toy_mer.write_toy_dataset(root, n_subjects=4, clips_per_subject=3)
    monkeypatch.setattr(toy_mer.CentroidModel, "fits", [])
    monkeypatch.setattr(toy_mer.CentroidModel, "interrupt_at_fit", None)
    return toy_mer.load_toy(root), root / "cache"


def _metrics_without_timing(run_dir: Path) -> dict:
    m = json.loads((run_dir / "metrics.json").read_text())
    m.pop("timing")
    return m


def test_full_loso_writes_folds_predictions_and_metrics(toy, tmp_path):
    ds, cache = toy
    run = tmp_path / "run"
    res = run_loso(_cfg(), ds, cache, run, model_name=MODEL, progress=False)

    assert sorted(res.folds_run) == ["s01", "s02", "s03", "s04"] and res.missing_folds == []
    for s in ds.subjects:
        fold = run / "folds" / s
        assert {"done.json", "predictions.csv", "model.json", "centroids.npz"} <= {p.name for p in fold.iterdir()}
        fold_preds = pd.read_csv(fold / "predictions.csv")
        assert set(fold_preds["subject"]) == {s}
    # no fold trained on its own test subject, and each trained on all the others
    for seen in toy_mer.CentroidModel.fits:
        assert len(seen) == 3
    assert sorted(set(ds.subjects) - seen for seen in toy_mer.CentroidModel.fits) == [{s} for s in ds.subjects]

    preds = pd.read_csv(run / "predictions.csv")
    assert list(preds.columns[:5]) == ["sample_id", "subject", "source", "true", "pred"]
    assert [c for c in preds.columns if c.startswith("prob_")] == ["prob_negative", "prob_positive", "prob_surprise"]
    assert len(preds) == 12 and preds["sample_id"].is_monotonic_increasing
    assert preds[["prob_negative", "prob_positive", "prob_surprise"]].sum(axis=1).round(6).eq(1).all()

    m = json.loads((run / "metrics.json").read_text())
    for key in ("uf1", "uar", "accuracy", "per_class", "per_source", "per_subject", "confusion", "n_samples",
                "n_folds", "au_f1", "claim_support", "model", "dataset", "protocol", "class_set", "timing"):
        assert key in m
    assert m["n_samples"] == 12 and m["n_folds"] == 4 and m["complete"] is True
    assert m["model"] == MODEL and m["dataset"] == "toy_loso" and m["class_set"] == "megc3"
    # the centroid model reads the moving region: one clip was made confusing, so 11/12 at best
    assert 0.75 <= m["accuracy"] <= 11 / 12
    assert m["uf1"] > 0.6 and m["uar"] > 0.6
    assert sum(map(sum, m["confusion"]["matrix"])) == 12
    # the file's numbers are the pooled metrics of predictions.csv
    again = compute_metrics(preds, ("negative", "positive", "surprise"))
    assert again.uf1 == pytest.approx(m["uf1"]) and again.uar == pytest.approx(m["uar"])
    # explanations: AUs named by the toy answers are read back and scored against labels
    # toy answers name the AUs of the predicted class: count matches by hand from the table
    tp = fp = fn = 0
    for t, pr in zip(preds["true"], preds["pred"]):
        named, true = set(toy_mer.CLASS_AUS[pr]), set(toy_mer.CLASS_AUS[t])
        tp, fp, fn = tp + len(named & true), fp + len(named - true), fn + len(true - named)
    assert fp > 0 and m["au_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert len((run / "descriptions.jsonl").read_text().splitlines()) == 12
    assert set(m["timing"]["per_fold"]) == set(ds.subjects)
    assert load_config(run / "config.yaml") == _cfg()


def test_a_part_the_model_reports_is_kept_per_clip_and_scored_alone(toy, tmp_path, monkeypatch):
    from deftmer.train.loso import evaluate_run

    monkeypatch.setattr(toy_mer.CentroidModel, "with_part", True)   # the class farthest away
    ds, cache = toy
    run = tmp_path / "run"
    res = run_loso(_cfg(), ds, cache, run, model_name=MODEL, progress=False)
    preds = pd.read_csv(run / "predictions.csv")
    part_cols = [f"farthest_prob_{c}" for c in ("negative", "positive", "surprise")]
    assert list(preds.columns[-3:]) == part_cols
    assert pd.read_csv(run / "folds" / "s01" / "predictions.csv").columns[-3:].tolist() == part_cols
    far = preds[part_cols].to_numpy().argmax(1)
    near = preds[["prob_negative", "prob_positive", "prob_surprise"]].to_numpy().argmax(1)
    assert (far != near).all()
    scores = json.loads((run / "metrics.json").read_text())["parts"]["farthest"]
    assert scores["agreement"] == 0.0 and scores["n"] == 12
    assert scores["uf1"] < res.metrics.uf1          # the farthest class is the wrong one on most clips
    assert evaluate_run(run).parts["farthest"].uf1 == pytest.approx(scores["uf1"])   # read back from the table


def test_interrupted_run_resumes_to_the_same_metrics(toy, tmp_path):
    ds, cache = toy
    clean = tmp_path / "clean"
    run_loso(_cfg(seed=3), ds, cache, clean, model_name=MODEL, progress=False)

    killed = tmp_path / "killed"
    toy_mer.CentroidModel.interrupt_at_fit = len(toy_mer.CentroidModel.fits) + 3   # Ctrl-C in the 3rd fold
    with pytest.raises(KeyboardInterrupt):
        run_loso(_cfg(seed=3), ds, cache, killed, model_name=MODEL, progress=False)
    assert sorted(p.parent.name for p in killed.glob("folds/*/done.json")) == ["s01", "s02"]
    assert (killed / "folds" / "s03").is_dir() and not (killed / "folds" / "s03" / "done.json").exists()

    toy_mer.CentroidModel.interrupt_at_fit = None
    res = run_loso(_cfg(seed=3), ds, cache, killed, model_name=MODEL, progress=False)
    assert res.folds_skipped == ["s01", "s02"] and res.folds_run == ["s03", "s04"]
    assert _metrics_without_timing(killed) == _metrics_without_timing(clean)
    assert (killed / "predictions.csv").read_text() == (clean / "predictions.csv").read_text()


def test_fold_subsets_are_independent_jobs(toy, tmp_path):
    ds, cache = toy
    run = tmp_path / "run"
    part = run_loso(_cfg(), ds, cache, run, model_name=MODEL, folds=["s02"], progress=False)
    assert part.folds_run == ["s02"]
    assert part.metrics.n_folds == 1 and part.metrics.n_samples == 3
    assert part.missing_folds == ["s01", "s03", "s04"]
    assert json.loads((run / "metrics.json").read_text())["complete"] is False

    run_loso(_cfg(), ds, cache, run, model_name=MODEL, folds=["s04", "s01", "s03"], progress=False)
    whole = tmp_path / "whole"
    run_loso(_cfg(), ds, cache, whole, model_name=MODEL, progress=False)
    assert _metrics_without_timing(run) == _metrics_without_timing(whole)


def test_seed_changes_results_reproducibly(toy, tmp_path):
    ds, cache = toy
    a = run_loso(_cfg(seed=1), ds, cache, tmp_path / "a", model_name=MODEL, progress=False)
    b = run_loso(_cfg(seed=1), ds, cache, tmp_path / "b", model_name=MODEL, progress=False)
    c = run_loso(_cfg(seed=2), ds, cache, tmp_path / "c", model_name=MODEL, progress=False)
    pa, pb, pc = (pd.read_csv(r / "predictions.csv") for r in (a.run_dir, b.run_dir, c.run_dir))
    pd.testing.assert_frame_equal(pa, pb)
    assert not pa["prob_negative"].equals(pc["prob_negative"])
    seeds = {json.loads((a.run_dir / "folds" / s / "done.json").read_text())["seed"] for s in ds.subjects}
    assert len(seeds) == 4 and fold_seed(1, "s01") in seeds and fold_seed(1, "s01") != fold_seed(2, "s01")


def test_run_folder_refuses_a_different_run(toy, tmp_path):
    ds, cache = toy
    run = tmp_path / "run"
    run_loso(_cfg(), ds, cache, run, model_name=MODEL, folds=["s01"], progress=False)
    with pytest.raises(CheckpointError, match="different config"):
        run_loso(_cfg(seed=5), ds, cache, run, model_name=MODEL, progress=False)
    with pytest.raises(UserError, match="unknown fold"):
        run_loso(_cfg(), ds, cache, run, model_name=MODEL, folds=["s99"], progress=False)


def test_run_card_written_with_older_config_keys_still_resumes(toy, tmp_path):
    """A run folder from before ``model.experts`` (it said ``model.use_*``) is the same run."""
    ds, cache = toy
    run = tmp_path / "run"
    run_loso(_cfg(), ds, cache, run, model_name=MODEL, folds=["s01"], progress=False)
    card = json.loads((run / "run.json").read_text())
    card["config"]["model"].pop("experts")
    card["config"]["model"].update(use_structure=True, use_dynamic=True, use_motion=True)
    (run / "run.json").write_text(json.dumps(card))
    run_loso(_cfg(), ds, cache, run, model_name=MODEL, progress=False)
    card["config"]["model"]["use_motion"] = False          # another expert list: another run
    (run / "run.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="different config"):
        run_loso(_cfg(), ds, cache, run, model_name=MODEL, progress=False)


def test_lodo_holds_out_each_source(tmp_path, monkeypatch):
    root = tmp_path / "toy"
    toy_mer.write_toy_dataset(root, n_subjects=6, clips_per_subject=3, sources=("casme2", "samm", "smic"))
    monkeypatch.setattr(toy_mer.CentroidModel, "fits", [])
    ds = toy_mer.load_toy(root)
    res = run_loso(_cfg(), ds, root / "cache", tmp_path / "run", model_name=MODEL, protocol="lodo",
                   progress=False)
    assert sorted(res.folds_run) == ["casme2", "samm", "smic"]
    # each fit saw the 4 subjects of the two other sources
    assert sorted(len(s) for s in toy_mer.CentroidModel.fits) == [4, 4, 4]
    m = res.metrics
    assert m.protocol == "lodo" and m.n_samples == 18 and set(m.per_source) == {"casme2", "samm", "smic"}
    assert sum(g.n for g in m.per_source.values()) == 18


def test_lodo_needs_several_sources_and_leaks_are_caught(toy):
    ds, _ = toy
    with pytest.raises(UserError, match="lodo needs a composite"):
        make_folds(ds.labelled(), "lodo")
    s = ds.labelled()
    fold = Fold(name="s01", protocol="loso", train_ids=(), test_ids=())
    with pytest.raises(RuntimeError, match="appear in the training set"):
        check_no_leak(fold, [x for x in s if x.subject in ("s01", "s02")], [x for x in s if x.subject == "s01"])


def test_folds_spread_over_processes_give_the_same_predictions(toy, tmp_path):
    """--workers 2 runs folds in two spawned processes (one thread each): same rows as one process."""
    ds, cache = toy
    one = run_loso(_cfg(), ds, cache, tmp_path / "one", model_name="mdmo-svm", progress=False)
    cfg = _cfg()
    cfg.eval.workers = 2
    two = run_loso(cfg, ds, cache, tmp_path / "two", model_name="mdmo-svm", progress=False)
    assert sorted(two.folds_run) == sorted(one.folds_run)
    rows = [pd.read_csv(d / "predictions.csv").sort_values("sample_id").reset_index(drop=True) for d in
            (tmp_path / "one", tmp_path / "two")]
    pd.testing.assert_frame_equal(rows[0], rows[1])
