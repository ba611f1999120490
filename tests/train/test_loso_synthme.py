"""End to end through the CLI on SynthME: synth -> prepare -> loso -> evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from deftmer.cli import main
from deftmer.data.labels import CASME2_5


def _run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as e:
        assert not e.code, f"deftmer {' '.join(args)} exited {e.code}"


@pytest.mark.slow
def test_synthme_loso_end_to_end(tmp_path: Path, capsys):
    root, cache, run = tmp_path / "synth", tmp_path / "cache", tmp_path / "run"
    sets = ["--set", "preprocess.flow=dis", "--set", "preprocess.size=128"]
    _run(["synth", str(root), "--subjects", "4", "--clips-per-subject", "3", "--size", "128", "--seed", "0"])
    _run(["prepare", "--dataset", "synthme", "--root", str(root), "--cache", str(cache), "--workers", "1", *sets])
    _run(["loso", "--dataset", "synthme", "--root", str(root), "--cache", str(cache), "--out", str(run),
          "--model", "mdmo-svm", *sets])

    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and m["n_folds"] == 4 and m["n_samples"] == 12
    assert m["class_set"] == "casme2_5" and list(m["per_class"]) == list(CASME2_5.classes)
    assert sum(c["support"] for c in m["per_class"].values()) == 12
    # 5 classes: chance UF1 is about 0.2; SynthME motion is clear enough for region flow + SVM
    assert m["uf1"] > 0.4 and m["uar"] > 0.4
    preds = pd.read_csv(run / "predictions.csv")
    assert sorted(preds["subject"].unique()) == ["sub01", "sub02", "sub03", "sub04"]
    assert set(preds["pred"]) <= set(CASME2_5.classes)
    assert all((run / "folds" / s / "model.json").is_file() for s in preds["subject"].unique())
    # evaluate reads the same numbers back from predictions.csv
    capsys.readouterr()
    _run(["evaluate", str(run)])
    assert f"{m['uf1']:.4f}" in capsys.readouterr().out
