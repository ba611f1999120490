"""The report page of a LOSO run: figures, tables, published numbers, and a real browser render."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from deftmer.errors import UserError
from deftmer.eval.published import PUBLISHED, SELECTION_NOTE, published_for
from deftmer.eval.report import load_run, write_report

CLASSES = ["negative", "positive", "surprise"]


def make_run(run_dir: Path, dataset: str = "megc2019", class_set: str = "megc3") -> dict:
    """A run folder as the LOSO runner writes it, with metrics that follow from a confusion table."""
    rng = np.random.default_rng(0)
    subjects = [f"s{i:02d}" for i in range(1, 7)]
    rows = []
    for k in range(60):
        subj = subjects[k % 6]
        true = CLASSES[k % 3]
        pred = true if rng.random() < 0.7 else CLASSES[(k + 1) % 3]
        p = rng.dirichlet(np.ones(3))
        rows.append({"sample_id": f"{dataset}/{subj}/c{k}", "subject": subj, "source": "casme2", "true": true,
                     "pred": pred, **{f"prob_{c}": f"{p[i]:.3f}" for i, c in enumerate(CLASSES)},
                     "text": f"Emotion: {pred}\nEvidence: AU12 <b>left</b>" if k < 3 else ""})
    m = np.zeros((3, 3), int)
    for r in rows:
        m[CLASSES.index(r["true"]), CLASSES.index(r["pred"])] += 1
    recall = m.diagonal() / m.sum(1)
    precision = m.diagonal() / m.sum(0)
    f1 = 2 * precision * recall / (precision + recall)
    per_subject = {}
    for s in subjects:
        rs = [r for r in rows if r["subject"] == s]
        per_subject[s] = {"accuracy": sum(r["true"] == r["pred"] for r in rs) / len(rs), "n": len(rs)}
    metrics = {
        "uf1": float(f1.mean()), "uar": float(recall.mean()), "accuracy": float(m.trace() / m.sum()),
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(m[i].sum())} for i, c in enumerate(CLASSES)},
        "per_source": {"casme2": {"uf1": float(f1.mean()), "uar": float(recall.mean()),
                                  "accuracy": float(m.trace() / m.sum()), "n": 60}},
        "per_subject": per_subject, "confusion": {"labels": CLASSES, "matrix": m.tolist()},
        "n_samples": 60, "n_folds": 6, "au_f1": 0.41, "claim_support": 0.77, "model": "deft",
        "dataset": dataset, "protocol": "loso", "class_set": class_set, "timing": {"total_s": 12.5},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with open(run_dir / "predictions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"seed": 7, "model": {"lora_rank": 8}}))
    return metrics


def test_report_tables_figures_and_published(tmp_path):
    metrics = make_run(tmp_path / "run")
    files = write_report(tmp_path / "run")
    html = files.html.read_text()
    md = files.markdown.read_text()
    assert files.html.parent == tmp_path / "run" / "report"
    # the three figures, embedded and written beside, as real PNGs
    assert set(files.figures) == {"confusion", "per_subject", "per_class"}
    for p in files.figures.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    for name in files.figures:
        assert f"(figures/{name}.png)" in md
    # numbers shown are the run's numbers
    assert f"{metrics['uf1']:.3f}" in html and f"{metrics['uar']:.3f}" in md
    assert f"{metrics['per_class']['positive']['f1']:.3f}" in html
    # published rows for the same setting, with source and the selection caveat
    for p in published_for("megc2019", "megc3"):
        assert p.method in html and p.method in md
    assert "HTNet" in html and "0.860" in html
    assert SELECTION_NOTE.split(".")[0] in html
    # config, and generated text escaped (no raw markup from a model answer)
    assert "lora_rank: 8" in html and "lora_rank: 8" in md
    assert "&lt;b&gt;left&lt;/b&gt;" in html and "<b>left</b>" not in html


def test_report_without_published_numbers_and_without_config(tmp_path):
    make_run(tmp_path / "run", dataset="synthme", class_set="casme2_5")
    (tmp_path / "run" / "config.yaml").unlink()
    files = write_report(tmp_path / "run", tmp_path / "out")
    html = files.html.read_text()
    assert files.html == tmp_path / "out" / "report.html"
    assert "No published results are recorded for synthme" in html
    assert "No config.yaml" in html


def test_load_run_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="deftmer loso"):
        load_run(tmp_path / "empty")
    (tmp_path / "empty" / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_run(tmp_path / "empty")
    (tmp_path / "empty" / "metrics.json").write_text(json.dumps({"uf1": 0.5}))
    with pytest.raises(UserError, match="uar, accuracy"):
        load_run(tmp_path / "empty")


def test_published_table_has_sources_and_no_invented_numbers():
    assert all(p.source for p in PUBLISHED)
    for p in PUBLISHED:
        # a missing number must say why
        if p.uf1 is None or p.uar is None:
            assert p.note
        else:
            assert 0.0 < p.uf1 < 1.0 and 0.0 < p.uar < 1.0
    assert {p.method for p in published_for("MEGC2019")} >= {"HTNet", "SRMCL", "LTR3O", "D-FACE"}
    assert published_for("casme2", "casme2_5") == []


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    """Screenshot the page: the figures must paint (blue confusion cells, coloured bars), not be blank."""
    import cv2

    make_run(tmp_path / "run")
    files = write_report(tmp_path / "run")
    shot = tmp_path / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2400",
           files.html.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB).astype(int)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1100
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    # saturated blue from the confusion matrix (Blues colormap) and the bar charts (#4C72B0)
    blue = (b > 120) & (b - r > 50)
    # orange / green bars of the per-class chart (matplotlib's default cycle)
    orange = (r > 200) & (g > 100) & (g < 160) & (b < 60)
    assert blue.mean() > 0.005, f"too few blue pixels: {blue.mean():.4f}"
    assert orange.sum() > 200, f"per-class bars missing: {orange.sum()} orange pixels"
    # the page is not one flat colour
    assert img.std() > 20


def test_report_reads_the_metrics_module_output_and_flags_missing_folds(tmp_path):
    """The metrics.json the runner writes (via eval.metrics) is what the report reads."""
    import pandas as pd

    from deftmer.eval.metrics import compute_metrics

    df = pd.DataFrame({"true": ["negative", "negative", "positive", "surprise"] * 3,
                       "pred": ["negative", "positive", "positive", "surprise"] * 3,
                       "subject": ["a", "a", "b", "b", "c", "c"] * 2, "source": ["casme2"] * 12})
    report = compute_metrics(df, CLASSES, model="mdmo-svm", dataset="megc2019", protocol="loso",
                             class_set="megc3", n_folds=3, folds_expected=4, missing_folds=["d"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(report.dumps())
    loaded = load_run(run)
    assert loaded.uf1 == pytest.approx(report.uf1) and loaded.accuracy == pytest.approx(0.75)
    assert [g.name for g in loaded.per_subject] == ["a", "b", "c"]
    # subject a = rows 0, 1, 6, 7: neg/neg, neg/pos, pos/pos, sur/sur -> 3 of 4 right
    assert loaded.per_subject[0].accuracy == pytest.approx(0.75) and loaded.per_subject[0].n == 4
    # "positive" predicted 6 times (3 true negatives, 3 true positives) -> precision 0.5
    assert loaded.per_class["positive"].precision == pytest.approx(0.5)
    assert loaded.missing_folds == ["d"]
    html = write_report(run).html.read_text()
    assert 'id="incomplete"' in html and "1 fold(s) not done (d)" in html


def test_report_shows_a_part_of_the_model_scored_alone(tmp_path):
    import pandas as pd

    from deftmer.eval.metrics import compute_metrics

    df = pd.DataFrame({"true": ["negative", "positive", "surprise", "negative"],
                       "pred": ["negative", "positive", "negative", "negative"],
                       "subject": ["a", "a", "b", "b"], "source": ["casme2"] * 4,
                       # the experts' head alone gets all four right, and disagrees with the decision once
                       **{f"experts_head_prob_{c}": [float(c == t) for t in ["negative", "positive", "surprise",
                                                                             "negative"]] for c in CLASSES}})
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(compute_metrics(df, CLASSES, model="deft").dumps())
    assert load_run(run).parts["experts_head"]["agreement"] == pytest.approx(0.75)
    files = write_report(run)
    row = "| experts' own head (no LLM) alone, same models: UF1 / UAR (agrees with the decision) | 1.000 / 1.000 (0.750) |"
    assert row in files.markdown.read_text()
    assert "experts&#39; own head (no LLM) alone" in files.html.read_text()
