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


FLOWPACK_CODES = {"negative": 0, "positive": 1, "surprise": 2}


def _write_flowpack_from_cache(root: Path, cache: Path, synth_root: Path, sets: list[str]) -> None:
    """A flow pack in the STSTNet/HTNet release layout made from prepared SynthME clips: the
    aligned apex face as the apex JPEG and the flow at 28x28 as the u/v/strain PNG, made the
    way public packs were: each channel min-max scaled to 0..255 on its own, (strain, v, u)
    written with cv2.imwrite (read back as RGB = u, v, strain)."""
    import cv2
    import numpy as np

    from deftmer.config import load_config
    from deftmer.data import load_dataset
    from deftmer.data.labels import MEGC3
    from deftmer.preprocess.cache import PreparedCache

    cfg = load_config(None, [s for s in sets if s != "--set"])
    pc = PreparedCache(cache, cfg.preprocess)
    lines = ["dataset,sub,filename_o,label,apex,imagename,sub_filename"]
    for s in load_dataset("synthme", synth_root).labelled():
        p = pc.load(s)
        size = p.flow.shape[-1]
        uv = np.stack([cv2.resize(c, (28, 28), interpolation=cv2.INTER_AREA) * 28 / size for c in p.flow], -1)
        strain = np.hypot(uv[..., 0], uv[..., 1])
        bgr = np.stack([cv2.normalize(c, None, 0, 255, cv2.NORM_MINMAX) for c in (strain, uv[..., 1], uv[..., 0])], -1)
        img = f"{s.subject}_{s.clip}.jpg"
        (root / "datasets" / "STSNet_whole_norm_u_v_os").mkdir(parents=True, exist_ok=True)
        (root / "datasets" / "combined_datasets_whole").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "datasets" / "STSNet_whole_norm_u_v_os" / f"{s.subject}_{s.clip} .png"),
                    np.round(bgr).astype(np.uint8))
        face = cv2.resize(p.apex_face, (224, 224), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(root / "datasets" / "combined_datasets_whole" / img), face[..., ::-1])
        lines.append(f"casme2,{s.subject},{s.clip},{FLOWPACK_CODES[MEGC3.map(s.emotion)]},,{img},")
    (root / "combined_3_class2_for_optical_flow.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_flowpack_loso_runs_unchanged(tmp_path: Path, capsys):
    """The same `deftmer loso` command on a flow pack (apex image + flow only, no onset frame)."""
    synth, cache, pack, pack_cache, run = (tmp_path / n for n in ("synth", "cache", "pack", "pack_cache", "run"))
    sets = ["--set", "preprocess.flow=dis", "--set", "preprocess.size=128"]
    _run(["synth", str(synth), "--subjects", "4", "--clips-per-subject", "3", "--size", "128", "--seed", "1",
          "--classes", "happiness,disgust,surprise"])
    _run(["prepare", "--dataset", "synthme", "--root", str(synth), "--cache", str(cache), "--workers", "1", *sets])
    _write_flowpack_from_cache(pack, cache, synth, sets)
    _run(["prepare", "--dataset", "flowpack", "--root", str(pack), "--cache", str(pack_cache), "--workers", "1", *sets])
    _run(["loso", "--dataset", "flowpack", "--root", str(pack), "--cache", str(pack_cache), "--out", str(run),
          "--model", "mdmo-svm", *sets])
    m = json.loads((run / "metrics.json").read_text())
    assert m["dataset"] == "flowpack" and m["class_set"] == "megc3"
    assert m["complete"] and m["n_folds"] == 4 and m["n_samples"] == 12
    assert m["uf1"] > 0.4     # 3 classes: chance about 0.33
