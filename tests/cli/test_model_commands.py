"""`deftmer loso / train / evaluate` end to end on the toy dataset of tests/train/toy_mer.py."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deftmer.cli import main

TOY_DIR = Path(__file__).resolve().parents[1] / "train"


def _toy():
    if "toy_mer" in sys.modules:
        return sys.modules["toy_mer"]
    sys.path.insert(0, str(TOY_DIR))   # spawned fold processes import it again by name
    spec = importlib.util.spec_from_file_location("toy_mer", TOY_DIR / "toy_mer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["toy_mer"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def toy_root(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    _toy().write_toy_dataset(root, n_subjects=4, clips_per_subject=3)
    return root


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_loso_then_evaluate_prints_and_writes_metrics(toy_root, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["loso", "--dataset", "toy_loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"),
            "--out", str(out), "--model", "toy-centroid"]
    assert _run(base + ["--folds", "s01,s03"]) == 0
    text = capsys.readouterr().out
    assert "UF1" in text and "incomplete" in text and "2 of 4 folds" in text
    assert json.loads((out / "metrics.json").read_text())["n_folds"] == 2

    assert _run(base) == 0                                  # resumes: runs s02, s04 only
    text = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_folds"] == 4 and m["complete"] and f"{m['uf1']:.4f}" in text and "incomplete" not in text
    assert sorted(json.loads((out / "run.json").read_text())["folds"]) == ["s01", "s02", "s03", "s04"]

    assert _run(["evaluate", str(out)]) == 0
    assert f"{m['uf1']:.4f}" in capsys.readouterr().out


def test_user_errors_are_one_line(toy_root, tmp_path, capsys):
    common = ["--dataset", "toy_loso", "--out", str(tmp_path / "run")]
    cases = [
        (["loso", "--root", str(tmp_path / "nope"), "--cache", str(toy_root / "cache"), *common], "does not exist"),
        (["loso", "--root", str(toy_root), "--cache", str(tmp_path / "nocache"), *common], "run `deftmer prepare"),
        (["loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"), "--model", "nosuch", *common],
         "unknown model 'nosuch'"),
        (["loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"), "--model", "toy-centroid",
          "--folds", "s77", *common], "unknown fold(s) s77"),
        (["loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"), "--model", "toy-centroid",
          "--protocol", "lodo", *common], "lodo needs a composite"),
        (["evaluate", str(tmp_path / "missing_run")], "does not exist"),
    ]
    for args, message in cases:
        assert _run(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert len([ln for ln in err.strip().splitlines() if ln.startswith("error")]) == 1


def test_train_writes_a_model_folder_and_resume_keeps_it(toy_root, tmp_path, capsys):
    out = tmp_path / "model"
    args = ["train", "--dataset", "toy_loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"),
            "--out", str(out), "--model", "toy-centroid"]
    assert _run(args) == 0
    assert "trained toy-centroid on 12 clips of 4 subjects" in capsys.readouterr().out
    card = json.loads((out / "model.json").read_text())
    assert card["model"] == "toy-centroid" and card["classes"] == ["negative", "positive", "surprise"]
    assert json.loads((out / "training.json").read_text())["subjects"] == ["s01", "s02", "s03", "s04"]
    assert _run(args) == 2
    assert "already holds a trained model" in capsys.readouterr().err
    assert _run(args + ["--resume"]) == 0


LAUNCHER = """import sys
sys.path.insert(0, {toy_dir!r})
import toy_mer  # registers the toy dataset and model in each process
from deftmer.cli import main
if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_loso_under_accelerate_launch_two_processes(toy_root, tmp_path):
    """Two processes share the folds; the main one merges a complete metrics.json that equals
    a single-process run of the same config."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    assert accelerate, "accelerate's launcher is installed with the package"
    launcher = tmp_path / "launch_toy.py"
    launcher.write_text(LAUNCHER.format(toy_dir=str(TOY_DIR)))
    args = ["loso", "--dataset", "toy_loso", "--root", str(toy_root), "--cache", str(toy_root / "cache"),
            "--model", "toy-centroid"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # `--cpu` makes accelerate's launcher start ONE process; `--multi_gpu` starts N through torchrun,
    # and the runner forms a CPU (gloo) process group when there is no CUDA
    proc = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", str(launcher), *args,
                           "--out", str(tmp_path / "multi")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    multi = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    assert multi["complete"] and multi["n_folds"] == 4 and multi["n_samples"] == 12
    processes = {json.loads(p.read_text())["process"] for p in (tmp_path / "multi").glob("folds/*/done.json")}
    assert processes == {0, 1}
    assert proc.stdout.count("per class") == 1             # only the main process prints the table

    single = subprocess.run([sys.executable, str(launcher), *args, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads((tmp_path / "single" / "metrics.json").read_text())
    for m in (multi, one):
        m.pop("timing")
    assert multi == one
