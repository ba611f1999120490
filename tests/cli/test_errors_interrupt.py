"""Ctrl-C during long work: exit 130 with one line, finished work kept, a rerun resumes.

The real `python -m deftmer.cli ...` subprocess interrupts itself at a known point of its work
through the test-only hook `deftmer.utils.testhooks` (``DEFTMER_TEST_INTERRUPT=<point>:<n>``):
exactly what Ctrl-C at that moment does, and the same on an idle or a fully loaded machine (a
test that sends SIGINT from outside once a file appears races the run, and lost on a busy
2-core box when the run had already finished).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from deftmer.utils.testhooks import ENV as INTERRUPT

pytestmark = pytest.mark.slow

ENV = {**os.environ, "COLUMNS": "300", "OMP_NUM_THREADS": "1"}


def _as_in_a_terminal() -> None:
    """SIGINT handled as in a terminal: a job started in the background (nohup, `cmd &` in a
    script, some CI runners) inherits SIGINT ignored, and then Ctrl-C does nothing at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def deftmer(args: list[str], interrupt_at: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI; with ``interrupt_at`` (``point:n``) it is interrupted there, as by Ctrl-C."""
    env = {**ENV, INTERRUPT: interrupt_at} if interrupt_at else ENV
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900, preexec_fn=_as_in_a_terminal)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from deftmer.config import ExperimentConfig
    from deftmer.data import load_dataset
    from deftmer.preprocess import prepare_dataset
    from deftmer.synth.generate import generate_synthme

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
            "--set", "model.llm=tiny", "--set", "model.experts=[motion]",
            "--set", "eval.workers=1"]   # one fold at a time: with two processes sub02 may finish first
    first_done = run / "folds" / "sub01" / "done.json"
    r = deftmer(args, interrupt_at="loso.fold_done:1")             # Ctrl-C right after the first fold
    assert r.returncode == 130, r.stderr[-1500:]
    assert "Traceback" not in r.stderr and "interrupted" in r.stderr and "resume" in r.stderr
    assert first_done.is_file() and not (run / "folds" / "sub02" / "done.json").is_file()
    assert not list(run.rglob("*.tmp"))                              # nothing half-written
    kept = first_done.stat().st_mtime_ns

    r = deftmer(args)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "resuming: 1 fold(s) already done, 2 to run" in r.stderr
    assert first_done.stat().st_mtime_ns == kept                    # the done fold was not redone
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_folds"] == 3 and metrics["missing_folds"] == [] and metrics["n_samples"] == 9


def test_ctrl_c_during_prepare_keeps_finished_clips_and_rerun_resumes(prepared, tmp_path):
    cache = tmp_path / "cache"
    args = ["prepare", "--dataset", "synthme", "--root", str(prepared / "synthme"), "--cache", str(cache),
            "--workers", "1", "--flow", "dis"]

    def cached() -> dict[str, bytes]:
        return {p.relative_to(cache).as_posix(): p.read_bytes() for p in cache.rglob("*.npz")}

    r = deftmer(args, interrupt_at="prepare.clip_done:2")          # Ctrl-C right after the second clip
    assert r.returncode == 130, r.stderr[-1500:]
    assert "Traceback" not in r.stderr and "interrupted" in r.stderr
    assert not list(cache.rglob("*.tmp"))                            # nothing half-written
    first = cached()
    assert len(first) == 2
    r = deftmer(args)
    assert r.returncode == 0, r.stderr[-1500:]
    after = cached()
    assert len(after) == 9
    assert all(after[k] == v for k, v in first.items())              # kept, not recomputed differently
    reference = prepared / "cache"                                   # the same config, never interrupted
    assert after == {p.relative_to(reference).as_posix(): p.read_bytes() for p in reference.rglob("*.npz")}
