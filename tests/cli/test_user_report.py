"""`deftmer report` on a run folder, through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from test_report import make_run  # noqa: E402  (the run-folder maker of the report tests)


def deftmer(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_report_command_writes_html_markdown_and_figures(tmp_path):
    metrics = make_run(tmp_path / "run")
    r = deftmer("report", str(tmp_path / "run"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    assert f"report: {tmp_path / 'rep' / 'report.html'}" in r.stdout
    html = (tmp_path / "rep" / "report.html").read_text()
    assert f"{metrics['uf1']:.3f}" in html
    assert sorted(p.name for p in (tmp_path / "rep" / "figures").iterdir()) == \
        ["confusion.png", "per_class.png", "per_subject.png"]


def test_report_help_names_the_run_folder():
    r = deftmer("report", "--help")
    assert r.returncode == 0 and "RUN_DIR" in r.stdout and "--out" in r.stdout
