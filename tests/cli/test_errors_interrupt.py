"""Ctrl-C during long work: exit 130 with one line, finished work kept, a rerun resumes.

SIGINT is sent to a real `python -m deftmer.cli ...` subprocess once it has written part of
its output, as a user pressing Ctrl-C would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "COLUMNS": "300", "OMP_NUM_THREADS": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deftmer.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def interrupt_when(proc: subprocess.Popen, ready, timeout: float = 300) -> tuple[int, str]:
    """Send SIGINT as soon as ``ready()`` holds; returns (exit code, stderr)."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"process ended (rc={proc.returncode}) before it could be interrupted: {err[-1500:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from deftmer.config import ExperimentConfig
    from deftmer.data import load_dataset
    from deftmer.data.synth import generate_synthme
    from deftmer.preprocess import prepare_dataset

    base = tmp_path_factory.mktemp("interrupt")
    generate_synthme(base / "synthme", subjects=3, clips_per_subject=3, seed=0, progress=False)
    cfg = ExperimentConfig.model_validate({"preprocess": {"flow": "dis"}})
    ds = load_dataset("synthme", base / "synthme")
    prepare_dataset(ds.labelled(), base / "cache", cfg.preprocess, workers=1, progress=False)
    return base


def test_ctrl_c_during_loso_keeps_done_folds_and_rerun_resumes(prepared, tmp_path):
    run = tmp_path / "run"
    args = ["loso", "--dataset", "synthme", "--root", str(prepared / "synthme"), "--cache", str(prepared / "cache"),
            "--out", str(run), "--model", "deft", "--no-explain", "--set", "preprocess.flow=dis",
            "--set", "model.llm=tiny", "--set", "model.use_structure=false", "--set", "model.use_dynamic=false"]
    first_done = run / "folds" / "sub01" / "done.json"
    rc, err = interrupt_when(start(*args), first_done.is_file)
    assert rc == 130, err[-1500:]
    assert "Traceback" not in err and "interrupted" in err and "resume" in err
    assert first_done.is_file() and not (run / "folds" / "sub03" / "done.json").is_file()
    kept = first_done.stat().st_mtime

    r = subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True, env=ENV,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    assert first_done.stat().st_mtime == kept                       # the done fold was not redone
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_folds"] == 3 and metrics["missing_folds"] == [] and metrics["n_samples"] == 9


def test_ctrl_c_during_prepare_keeps_finished_clips_and_rerun_resumes(prepared, tmp_path):
    """Through `deftmer prepare` when it is registered, else the same call it makes."""
    from deftmer.cli.app import app

    cache = tmp_path / "cache"
    names = {c.name for c in app.registered_commands}
    if "prepare" in names:
        args = ["-m", "deftmer.cli", "prepare", "--dataset", "synthme", "--root", str(prepared / "synthme"),
                "--cache", str(cache), "--workers", "1", "--flow", "dis"]
    else:
        code = ("import sys; from deftmer.cli import main; from deftmer.config import ExperimentConfig; "
                "from deftmer.data import load_dataset; from deftmer.preprocess import prepare_dataset\n"
                "def go():\n"
                f"    ds = load_dataset('synthme', {str(prepared / 'synthme')!r})\n"
                "    cfg = ExperimentConfig.model_validate({'preprocess': {'flow': 'dis'}})\n"
                f"    prepare_dataset(ds.labelled(), {str(cache)!r}, cfg.preprocess, workers=1)\n"
                "try:\n    go()\nexcept KeyboardInterrupt:\n    print('interrupted: resume', file=sys.stderr); sys.exit(130)\n")
        args = ["-c", code]
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)

    def cached() -> list[Path]:
        return [p for p in cache.rglob("*.npz")] if cache.exists() else []

    rc, err = interrupt_when(proc, lambda: len(cached()) >= 2)
    assert rc == 130, err[-1500:]
    assert "Traceback" not in err
    assert not [p for p in cache.rglob("*.tmp")]                     # nothing half-written
    first = {p.relative_to(cache).as_posix(): p.read_bytes() for p in cached()}
    assert 2 <= len(first) < 9
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    after = {p.relative_to(cache).as_posix(): p.read_bytes() for p in cached()}
    assert len(after) == 9
    assert all(after[k] == v for k, v in first.items())              # kept, not recomputed differently
