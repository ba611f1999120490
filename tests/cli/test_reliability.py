"""Broken inputs, damaged files, a second process and a shared machine, on a real SynthME tree.

Each case runs the real CLI (in this process, so failures show where they happen) and checks
the exit code, the one line it prints, and that nothing wrong reached a metric. The model is
the fast `mdmo-svm` baseline; the stages around it are the same for every model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from deftmer.cli import main
from deftmer.preprocess.config import PreprocessConfig

pytestmark = pytest.mark.slow

DIS = PreprocessConfig(flow="dis")
ENV = {**os.environ, "COLUMNS": "300", "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Logs and tables on one line each, as in a wide terminal (in-process runs see 80 columns)."""
    from deftmer.utils.console import console, err_console

    for c in (console, err_console):
        monkeypatch.setattr(c, "_width", 1000)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(err: str) -> str:
    """The one ``error:`` line of a failed command (warnings before it are fine, tracebacks are not)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def words(text: str) -> str:
    """Log text with Rich's line wrapping undone."""
    return " ".join(text.split())


def prepare_args(root: Path, cache: Path) -> list[str]:
    return ["prepare", "-d", "synthme", "-r", str(root), "--cache", str(cache), "--flow", "dis", "-w", "1"]


def loso_args(root: Path, cache: Path, out: Path) -> list[str]:
    return ["loso", "-d", "synthme", "-r", str(root), "--cache", str(cache), "--out", str(out), "-m", "mdmo-svm"]


def npz_files(cache: Path) -> dict[str, bytes]:
    return {p.relative_to(cache).as_posix(): p.read_bytes() for p in sorted(cache.rglob("*.npz"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """SynthME (3 subjects x 3 clips) prepared with DIS flow, and a finished mdmo-svm LOSO run."""
    from deftmer.synth.generate import generate_synthme

    base = tmp_path_factory.mktemp("reliability")
    generate_synthme(base / "synthme", subjects=3, clips_per_subject=3, seed=0, progress=False)
    for argv in (prepare_args(base / "synthme", base / "cache"),
                 loso_args(base / "synthme", base / "cache", base / "run")):
        assert subprocess.run([sys.executable, "-m", "deftmer.cli", *argv], env=ENV, capture_output=True,
                              timeout=600).returncode == 0
    return base


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_sheet(root: Path, edit) -> None:
    """Apply ``edit(rows, header)`` to the SynthME coding sheet (rows as lists, header names -> index)."""
    path = root / "CASME2-coding-synthme.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = {name: i for i, name in enumerate(rows[0])}
    body = edit(rows[1:], header)
    ws.delete_rows(1, ws.max_row)
    for r in [rows[0], *body]:
        ws.append(r)
    wb.save(path)


# --- bad annotations ---------------------------------------------------------------------------

def break_annotations(root: Path) -> set[str]:
    """One clip per excluding rule; returns the ids that must reach no stage."""
    def edit(rows, h):
        on, off, _name = h["OnsetFrame"], h["OffsetFrame"], h["Filename"]
        rows[0][on], rows[0][off] = rows[0][off], rows[0][on]          # sub01 EP01: onset after offset
        rows.append(list(rows[3]))                                       # sub02 EP01 twice
        return rows

    edit_sheet(root, edit)
    from deftmer.data import load_dataset

    by_id = load_dataset("synthme", root).by_id()
    gap = by_id["synthme/sub02/EP02_01"]
    gap.frames[gap.frame_index(gap.onset) + 1].unlink()                 # a frame inside the clip
    apex = by_id["synthme/sub03/EP01_01"]
    apex.frames[apex.frame_index(apex.apex)].unlink()                    # the apex frame
    return {"synthme/sub01/EP01_01", "synthme/sub02/EP01_01_dup2", "synthme/sub02/EP02_01", "synthme/sub03/EP01_01"}


def test_bad_annotations_never_reach_a_metric(world, tmp_path, capsys):
    root = copy(world / "synthme", tmp_path / "synthme")
    bad = break_annotations(root)
    cache = tmp_path / "cache"
    code, out, err = run(prepare_args(root, cache), capsys)
    assert code == 0, err
    report = json.loads((cache / DIS.cache_hash() / "report.json").read_text())
    assert report["left_out"] == {"interval_invalid": 1, "duplicate_id": 1, "frame_gap": 1, "frame_not_on_disk": 1}
    assert (report["total"], report["computed"], report["failed"]) == (6, 6, 0)
    assert "excluded by rule frame_gap" in words(err) and "is after offset" in words(err)

    code, out, err = run(["unimer", "-d", "synthme", "-r", str(root), "--cache", str(cache),
                          "--out", str(tmp_path / "u.jsonl")], capsys)
    assert code == 0, err
    assert "from 6/6 clips" in out
    ids = {json.loads(line)["sample_id"] for line in (tmp_path / "u.jsonl").read_text().splitlines()}
    assert len(ids) == 6 and not ids & bad

    code, out, err = run(loso_args(root, cache, tmp_path / "run"), capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_samples"] == 6 and metrics["n_folds"] == 3
    predicted = (tmp_path / "run" / "predictions.csv").read_text()
    assert not any(b + "," in predicted for b in bad)

    code, out, err = run(["train", "-d", "synthme", "-r", str(root), "--cache", str(cache), "-m", "mdmo-svm",
                          "--out", str(tmp_path / "model")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "model" / "training.json").read_text())["n_train"] == 6


# --- prepare: failures, retries, damaged cache entries ----------------------------------------

def test_prepare_fails_loudly_and_retries_a_clip_whose_frame_was_fixed(world, tmp_path, capsys):
    root = copy(world / "synthme", tmp_path / "synthme")
    frame = sorted((root / "sub01" / "EP01_01").iterdir(), key=lambda p: int(p.stem[3:]))[0]   # its onset
    good = frame.read_bytes()
    frame.write_bytes(b"not a jpeg")
    cache = tmp_path / "cache"
    code, out, err = run(prepare_args(root, cache), capsys)
    assert code == 1
    line = error_line(err)
    assert "1 of 9 clips with frames on disk failed" in line
    assert "synthme/sub01/EP01_01" in out and f"frame {frame} cannot be decoded" in out   # the table, whole
    report = json.loads((cache / DIS.cache_hash() / "report.json").read_text())
    assert [f["sample_id"] for f in report["failures"]] == ["synthme/sub01/EP01_01"] and report["computed"] == 8

    code, out, err = run(prepare_args(root, cache), capsys)          # unchanged: still failed, says why
    assert code == 1 and "failed before and their inputs did not change" in error_line(err)
    assert "--retry-failed" in error_line(err)

    frame.write_bytes(good)                                           # fixed: retried without a flag
    code, out, err = run(prepare_args(root, cache), capsys)
    assert code == 0, err
    report = json.loads((cache / DIS.cache_hash() / "report.json").read_text())
    assert (report["retried_changed"], report["computed"], report["failed"]) == (1, 1, 0)
    assert npz_files(cache) == npz_files(world / "cache")             # the same bytes as a clean run


def test_truncated_cache_entry_is_recomputed_and_stale_temp_files_removed(world, tmp_path, capsys):
    root, cache = world / "synthme", copy(world / "cache", tmp_path / "cache")
    victim = sorted(cache.rglob("*.npz"))[4]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    stale = [victim.parent / f".{victim.name}.x1y2.tmp", cache / DIS.cache_hash() / ".report.json.abc.tmp"]
    for p in stale:
        p.write_bytes(b"half")

    code, out, err = run(loso_args(root, cache, tmp_path / "run"), capsys)   # before: one clear line
    assert code == 2
    assert "1 of 9 samples are not in the preprocessing cache" in error_line(err)
    assert "1 unreadable" in error_line(err) and not (tmp_path / "run" / "metrics.json").exists()

    code, out, err = run(prepare_args(root, cache), capsys)
    assert code == 0, err
    report = json.loads((cache / DIS.cache_hash() / "report.json").read_text())
    assert (report["unreadable"], report["computed"], report["cached"]) == (1, 1, 8)
    assert npz_files(cache) == npz_files(world / "cache")
    assert not list(cache.rglob("*.tmp"))

    code, out, err = run(loso_args(root, cache, tmp_path / "run"), capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_samples"] == 9


def test_a_cache_is_used_as_it_is_and_several_preparations_are_named(world, tmp_path, capsys):
    import yaml

    root, cache = world / "synthme", copy(world / "cache", tmp_path / "cache")
    unimer = ["unimer", "-d", "synthme", "-r", str(root), "--cache", str(cache), "--out", str(tmp_path / "u.jsonl")]
    code, out, err = run(unimer, capsys)                              # no preprocessing flags repeated
    assert code == 0, err
    assert "from 9/9 clips" in out
    assert f"using the preparation {DIS.cache_hash()}" in words(err)

    small = PreprocessConfig(flow="dis", size=96)                     # a second preparation beside it
    second = copy(cache / DIS.cache_hash(), cache / small.cache_hash())
    (second / "preprocess.yaml").write_text(yaml.safe_dump(small.model_dump(mode="json")))
    code, out, err = run(unimer, capsys)
    line = error_line(err)
    assert code == 2 and f"{cache} holds 2 preparations" in line
    assert f"{DIS.cache_hash()}: --set preprocess.flow=dis" in line
    assert f"{small.cache_hash()}: --set preprocess.flow=dis --set preprocess.size=96" in line
    code, out, err = run([*unimer, "--set", "preprocess.size=96"], capsys)   # one flag selects it
    assert code == 0, err
    assert f"using the preparation {small.cache_hash()}" in words(err)
    code, out, err = run([*unimer, "--set", "preprocess.flow=tvl1"], capsys)
    assert code == 2 and "holds no preparation made with the settings given (preprocess.flow)" in error_line(err)


# --- run folders -------------------------------------------------------------------------------

def test_a_loso_that_failed_early_does_not_refuse_the_corrected_command(world, tmp_path, capsys):
    root, broken = world / "synthme", copy(world / "cache", tmp_path / "broken")
    sorted(broken.rglob("*.npz"))[0].unlink()
    out = tmp_path / "run"
    code, _, err = run([*loso_args(root, broken, out), "--set", "seed=1"], capsys)
    assert code == 2 and "1 of 9 samples are not in the preprocessing cache" in error_line(err)
    assert (out / "run.json").is_file() and not list(out.glob("folds/*/done.json"))
    code, _, err = run(loso_args(root, world / "cache", out), capsys)        # another config: accepted
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 9
    code, _, err = run([*loso_args(root, world / "cache", out), "--set", "seed=1"], capsys)
    assert code == 2 and "holds a run with a different config" in error_line(err)   # done folds stay guarded


DAMAGE = {
    "cut mid-row": ("predictions.csv", lambda b: b[: len(b) - 40], "predictions.csv is cut short"),
    "empty": ("predictions.csv", lambda b: b"", "predictions.csv is empty"),
    "binary": ("predictions.csv", lambda b: bytes(range(256)) * 8, "predictions.csv is not text"),
    "unknown class": ("predictions.csv", lambda b: b.replace(b",happiness,", b",joy,", 1),
                      "class 'joy' is not one of the run's classes"),
    "a row removed": ("predictions.csv", lambda b: b"".join(b.splitlines(keepends=True)[:-1]),
                      "prediction(s) of fold sub03, its"),
    "run.json": ("run.json", lambda b: b[:50], "run.json is not valid JSON"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_evaluate_on_a_damaged_run_file_is_one_line_and_touches_no_metric(world, tmp_path, capsys, case):
    name, damage, message = DAMAGE[case]
    run_dir = copy(world / "run", tmp_path / "run")
    (run_dir / name).write_bytes(damage((run_dir / name).read_bytes()))
    metrics_before = (run_dir / "metrics.json").read_bytes()
    code, out, err = run(["evaluate", str(run_dir), "--write"], capsys)
    assert code == 2
    line = error_line(err)
    assert message in line and ("deftmer loso" in line)               # which file, and how to rebuild it
    assert (run_dir / "metrics.json").read_bytes() == metrics_before and "UF1" not in out


def test_evaluate_rebuilds_a_corrupt_metrics_json_that_report_refuses(world, tmp_path, capsys):
    run_dir = copy(world / "run", tmp_path / "run")
    original = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text('{"uf1": 0.5, "ua')
    code, out, err = run(["report", str(run_dir)], capsys)
    assert code == 2 and f"`deftmer evaluate {run_dir}`" in error_line(err)
    code, out, err = run(["evaluate", str(run_dir)], capsys)
    assert code == 0, err
    assert "was missing or unreadable: rebuilt from" in words(err)
    rebuilt = json.loads((run_dir / "metrics.json").read_text())
    for key in ("uf1", "uar", "accuracy", "n_samples", "per_class", "confusion", "missing_folds"):
        assert rebuilt[key] == original[key], key
    code, out, err = run(["report", str(run_dir)], capsys)
    assert code == 0, err


def test_damaged_fold_files_are_run_again_on_resume(world, tmp_path, capsys):
    run_dir = copy(world / "run", tmp_path / "run")
    done = run_dir / "folds" / "sub02" / "done.json"
    done.write_text(done.read_text()[:20])
    code, out, err = run(["evaluate", str(run_dir)], capsys)          # the pooled table alone is intact:
    assert code == 0, err                                             # evaluate needs no done.json
    code, out, err = run(loso_args(world / "synthme", world / "cache", run_dir), capsys)
    assert code == 0, err
    assert "done.json is not valid JSON" in words(err) and "the fold is run again" in words(err)
    assert json.loads(done.read_text())["n_test"] == 3
    before, after = (json.loads((d / "metrics.json").read_text()) for d in (world / "run", run_dir))
    assert {k: v for k, v in after.items() if k != "timing"} == {k: v for k, v in before.items() if k != "timing"}


# --- two processes -----------------------------------------------------------------------------

def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deftmer.cli", *argv], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_until(proc: subprocess.Popen, text: str) -> str:
    """stderr lines of ``proc`` up to the first holding ``text`` (it blocks until then: no timing)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return "".join(seen)
    proc.wait()
    pytest.fail(f"process ended (rc {proc.returncode}) without saying '{text}': {''.join(seen)[-2000:]}")


def test_a_second_prepare_on_one_cache_waits_and_says_who_holds_it(world, tmp_path):
    from deftmer.utils.locks import LOCK_NAME, release, wait_lock

    cache = tmp_path / "cache"
    lock = wait_lock(cache / DIS.cache_hash() / LOCK_NAME, "test")
    proc = start(prepare_args(world / "synthme", cache))
    try:
        read_until(proc, f"is in use by process {os.getpid()}")
        assert not list(cache.rglob("*.npz"))                         # it waits: computes nothing meanwhile
    finally:
        release(lock)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert npz_files(cache) == npz_files(world / "cache")


def test_a_second_loso_on_one_run_folder_never_runs_a_fold_twice(world, tmp_path):
    from deftmer.train.runfiles import fold_lock_path
    from deftmer.utils.locks import release, wait_lock

    run_dir = tmp_path / "run"
    lock = wait_lock(fold_lock_path(run_dir, "sub01"), "test")       # "another process" runs sub01
    # one process: with two, the other could still be running sub02/sub03 when this one waits
    proc = start(loso_args(world / "synthme", world / "cache", run_dir) + ["--set", "eval.workers=1"])
    try:
        read_until(proc, f"fold sub01 of {run_dir} is in use by process {os.getpid()}")
        # it ran the other folds first, and waits for sub01 only now
        assert [p.parent.name for p in sorted(run_dir.glob("folds/*/done.json"))] == ["sub02", "sub03"]
    finally:
        release(lock)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert json.loads((run_dir / "metrics.json").read_text())["n_folds"] == 3
    assert sorted(p.name for p in (run_dir / "folds").iterdir()) == ["sub01", "sub02", "sub03"]


# --- the shared machine ------------------------------------------------------------------------

def test_files_get_the_users_umask(world, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        cache, out = tmp_path / "cache", tmp_path / "run"
        assert run(prepare_args(world / "synthme", cache), capsys)[0] == 0
        assert run(loso_args(world / "synthme", cache, out), capsys)[0] == 0
        assert run(["report", str(out)], capsys)[0] == 0
    finally:
        os.umask(old)
    files = [p for p in (*cache.rglob("*"), *out.rglob("*")) if p.is_file()]
    assert len(files) > 20 and (out / "report" / "report.html") in files
    modes = {oct(p.stat().st_mode & 0o777) for p in files}
    assert modes == {"0o644"}, {p: oct(p.stat().st_mode & 0o777) for p in files if p.stat().st_mode & 0o777 != 0o644}


def test_permission_errors_are_one_line_and_a_read_only_cache_serves(world, tmp_path, capsys, read_only):
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        code, _, err = run(prepare_args(world / "synthme", locked / "cache"), capsys)
        assert code == 2 and f"cannot use {locked / 'cache'}" in error_line(err)
        assert "choose a writable location" in error_line(err)
        code, _, err = run(loso_args(world / "synthme", world / "cache", locked / "run"), capsys)
        assert code == 2 and f"cannot use {locked / 'run'}" in error_line(err)

    cache = copy(world / "cache", tmp_path / "ro-cache")
    with read_only(cache):                                            # fully cached, read-only: serves
        code, out, err = run(prepare_args(world / "synthme", cache), capsys)
        assert code == 0, err
        assert "from cache" in out and " 9 " in out
        code, _, err = run(loso_args(world / "synthme", cache, tmp_path / "run"), capsys)
        assert code == 0, err
