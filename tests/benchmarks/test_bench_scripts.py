"""The benchmark scripts run end to end at a tiny size and print complete tables.

No timing is asserted (timings belong in `benchmarks/`, not in tests); what is checked is that
each script still drives the package's own stages, writes a row per model with real numbers,
and reports a model that cannot run instead of dying.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from deftmer.model.config import DeftConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from me_trees import make_flowpack  # noqa: E402

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
FAST = ["--set", "preprocess.flow=dis", "--set", "preprocess.size=96", "--set", "eval.generate_explanations=false"]


def run_script(name: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def table_rows(markdown: str, title_start: str) -> dict[str, list[str]]:
    """Rows (first cell -> other cells) of the Markdown table whose heading starts with ``title_start``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"### {title_start}"))
    rows = {}
    for line in lines[start + 4:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def number(cell: str) -> float:
    return float(cell) if cell not in ("-", "") else math.nan


def casme2_pack(root: Path) -> Path:
    """A flow pack of 3 CASME II subjects x 3 clips, classes mixed within each subject."""
    root.mkdir()
    make_flowpack(root, [("casme2", f"sub0{i}", f"EP0{i}_0{k}", (i + k) % 3, f"sub0{i}_EP0{i}_0{k}.jpg")
                         for i in range(1, 4) for k in range(1, 4)])
    return root


def deftmer_cli(*args: str) -> None:
    """Run a `deftmer` command; it must succeed."""
    proc = subprocess.run([sys.executable, "-m", "deftmer.cli", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_accuracy_benchmark_scores_every_model_on_the_same_folds(tmp_path):
    md = tmp_path / "acc.md"
    run_script("bench_accuracy.py", "--work", str(tmp_path), "--subjects", "3", "--clips-per-subject", "2",
               "--models", "mdmo-svm,flow-cnn,no-such-model", "--workers", "1", "--markdown", str(md), "--figure", str(tmp_path / "acc.png"), *FAST)
    rows = table_rows(md.read_text(), "LOSO accuracy on SynthME 3 subj x 2 clips")
    assert (tmp_path / "acc.png").read_bytes()[:4] == b"\x89PNG"
    assert set(rows) == {"mdmo-svm", "flow-cnn", "no-such-model"}
    for m in ("mdmo-svm", "flow-cnn"):
        uf1, uar, acc, au_f1, clips, folds = (number(c) for c in rows[m][:6])
        assert 0.0 <= uf1 <= 1.0 and 0.0 <= uar <= 1.0 and 0.0 <= acc <= 1.0
        assert math.isnan(au_f1)                                    # baselines name no AUs
        assert (clips, folds) == (6, 3)
    assert rows["no-such-model"][0] == "-" and "no-such-model" in rows["no-such-model"][-1]

    # --resume keeps the finished folds: the same scores, and the table says the time is partial
    md2 = tmp_path / "acc2.md"
    run_script("bench_accuracy.py", "--work", str(tmp_path), "--subjects", "3", "--clips-per-subject", "2",
               "--models", "mdmo-svm", "--workers", "1", "--resume", "--markdown", str(md2), *FAST)
    again = table_rows(md2.read_text(), "LOSO accuracy on SynthME")
    assert again["mdmo-svm"][:6] == rows["mdmo-svm"][:6] and again["mdmo-svm"][6].endswith("(resumed)")


def test_speed_and_scaling_benchmarks_fill_their_tables(tmp_path):
    md = tmp_path / "speed.md"
    run_script("bench_speed.py", "--work", str(tmp_path), "--subjects", "2", "--clips-per-subject", "2",
               "--flows", "dis", "--preprocess-clips", "2", "--models", "flow-cnn,mdmo-svm", "--repeats", "1",
               "--workers", "1", "--markdown", str(md), *FAST)
    text = md.read_text()
    prep = table_rows(text, "Preprocessing speed")
    assert list(prep) == ["dis"] and number(prep["dis"][0]) == 2 and number(prep["dis"][2]) > 0
    speed = table_rows(text, "Training and inference speed")
    assert set(speed) == {"flow-cnn", "mdmo-svm"}
    assert number(speed["flow-cnn"][-3]) == pytest.approx(1.0)          # the reference's own ratio
    assert number(speed["mdmo-svm"][0]) == 2 and number(speed["mdmo-svm"][3]) > 0   # train clips, p50
    stages = table_rows(text, "Training throughput per stage")
    assert number(stages["flow-cnn"][1]) > 0                            # flow-cnn's samples/s

    md = tmp_path / "scaling.md"
    run_script("bench_scaling.py", "--work", str(tmp_path), "--subjects", "2", "--clips-per-subject", "2",
               "--scales", "1,2", "--models", "mdmo-svm", "--workers", "1", "--markdown", str(md), *FAST)
    rows = table_rows(md.read_text(), "LOSO wall time vs clips")
    assert [rows["1x"][:2], rows["2x"][:2]] == [["2", "4"], ["4", "8"]]   # subjects, clips
    assert number(rows["2x"][3]) > 0 and not math.isnan(number(rows["exponent k"][3]))


def test_accuracy_benchmark_runs_on_a_flow_pack_and_reports_what_cannot_run(tmp_path):
    rows = [("casme2", "sub01", "EP02_01f", 1, "sub01_EP02_01f.jpg"), ("casme2", "sub02", "EP03_02", 2, "sub02_EP03_02.jpg"),
            ("smic", "s01", "s01_ne_01", 0, "s01_s1_ne_01.jpg"), ("samm", "006", "006_1_2", 2, "006_006_1_2.jpg")]
    (tmp_path / "pack").mkdir()
    make_flowpack(tmp_path / "pack", rows)
    md = tmp_path / "fp.md"
    run_script("bench_accuracy.py", "--work", str(tmp_path / "work"), "--no-synthme", "--dataset", "flowpack",
               "--root", str(tmp_path / "pack"), "--models", "flow-cnn,deft-dynamic-only", "--workers", "1",
               "--markdown", str(md))
    table = table_rows(md.read_text(), "LOSO accuracy on flowpack")
    assert [number(c) for c in table["flow-cnn"][4:6]] == [4, 4]          # clips, folds (one per subject)
    assert "no onset frames" in table["deft-dynamic-only"][-1]            # a flow pack has no onset frame


def test_answer_share_benchmark_times_stage2_once_per_share_on_a_flow_pack(tmp_path):
    casme2_pack(tmp_path / "pack")
    md = tmp_path / "share.md"
    run_script("bench_answer_share.py", str(tmp_path / "pack"), "--work", str(tmp_path / "work"), "--shares", "1,0.5",
               "--set", "model.llm=tiny", "--set", "model.image_size=32", "--markdown", str(md))
    table = table_rows(md.read_text(), "Stage 2 against the answer share")
    assert list(table) == ["1", "0.5"]
    assert [number(table[s][0]) for s in table] == [6, 3]     # answered rows of the 6 training clips
    assert number(table["1"][2]) == 1.0 and number(table["0.5"][1]) > 0


def test_real_benchmark_runs_both_protocols_and_its_run_folders_name_the_pack(tmp_path):
    rows = ([("casme2", f"sub0{i}", f"EP0{i}_0{k}", (i + k) % 3, f"sub0{i}_EP0{i}_0{k}.jpg")
             for i in range(1, 4) for k in range(1, 3)]
            + [("smic", f"s0{i}", f"s0{i}_ne_0{k}", (i + k + 1) % 3, f"s0{i}_s0{i}_ne_0{k}.jpg")
               for i in range(1, 4) for k in range(1, 3)])
    (tmp_path / "pack").mkdir()
    make_flowpack(tmp_path / "pack", rows)
    md = tmp_path / "real.md"
    run_script("bench_real.py", str(tmp_path / "pack"), "--work", str(tmp_path / "work"), "--models", "flow-cnn",
               "--protocols", "loso,lodo", "--markdown", str(md))
    text = md.read_text()
    loso, lodo = table_rows(text, "Real data, LOSO"), table_rows(text, "Real data, LODO")
    for table in (loso, lodo):
        uf1, uar = number(table["flow-cnn"][0]), number(table["flow-cnn"][1])
        assert 0 <= uf1 <= 1 and 0 <= uar <= 1 and table["flow-cnn"][-1] == ""     # no error
    from deftmer.config import load_config

    for protocol, folds in (("loso", 6), ("lodo", 2)):
        run = tmp_path / "work" / "runs" / protocol / "flow-cnn"
        assert len(list((run / "folds").glob("*/done.json"))) == folds
        data = load_config(run / "config.yaml").data       # what tools that reopen the run read
        assert (data.dataset, data.root) == ("flowpack", str(tmp_path / "pack"))


def test_a_wrong_root_is_one_clear_line_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "bench_accuracy.py"), "--work", str(tmp_path), "--no-synthme",
                           "--dataset", "casme2", "--root", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_decisions_benchmark_rescores_a_finished_deft_run_and_reproduces_its_predictions(tmp_path):
    casme2_pack(tmp_path / "pack")
    tiny = ["--set", "model.llm=tiny", "--set", "model.image_size=32", "--set", "train.stage1_min_steps=5",
            "--set", "eval.generate_explanations=false", "--set", "eval.workers=1"]
    for cmd in (["prepare", "-d", "flowpack", "-r", str(tmp_path / "pack"), "--cache", str(tmp_path / "cache")],
                ["loso", "-d", "flowpack", "-r", str(tmp_path / "pack"), "--cache", str(tmp_path / "cache"),
                 "-o", str(tmp_path / "run"), *tiny]):
        deftmer_cli(*cmd)
    md = tmp_path / "decisions.md"
    run_script("bench_decisions.py", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"), "--markdown", str(md))
    lines = md.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### DEFT's decisions")) + 4
    table = {cells[1]: cells[2:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                              for line in lines[start:] if line.startswith("|"))}
    assert list(table) == ["llm", "options", "hybrid", "head", "joint"]
    own = DeftConfig().decision                     # the run's decision: the default
    assert number(table[own][-2]) == 1.0 and number(table[own][-1]) < 1e-5       # the run's own predictions
    assert all(cells[-1] == "" for d, cells in table.items() if d != own)
    for cells in table.values():
        uf1, uar = (float(x) for x in cells[0].split(" / "))
        assert 0 <= uf1 <= 1 and 0 <= uar <= 1


def test_decisions_benchmark_on_a_folder_that_is_no_run_is_one_clear_line(tmp_path):
    for folder in (tmp_path / "missing", tmp_path):
        proc = subprocess.run([sys.executable, str(BENCH / "bench_decisions.py"), str(folder), "--cache", str(tmp_path)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2
        assert "is not a run folder of `deftmer loso` (no config.yaml)" in proc.stderr and "Traceback" not in proc.stderr


def test_decisions_benchmark_tells_apart_runs_that_share_a_folder_name():
    sys.path.insert(0, str(BENCH))
    from bench_decisions import run_labels

    assert run_labels([Path("/w/s0"), Path("/w/s1")]) == ["s0", "s1"]
    assert run_labels([Path("/w/lodo_s1/runs/lodo/deft"), Path("/w/lodo_s2/runs/lodo/deft")]) == [
        "lodo_s1/runs/lodo/deft", "lodo_s2/runs/lodo/deft"]


def test_seeds_benchmark_averages_finished_runs_and_pairs_settings_by_seed(tmp_path):
    casme2_pack(tmp_path / "pack")
    data = ["-d", "flowpack", "-r", str(tmp_path / "pack"), "--cache", str(tmp_path / "cache")]
    runs = {("flow-cnn", 0): None, ("flow-cnn", 1): None, ("mdmo-svm", 1): None}
    commands = [["prepare", *data]]
    for model, seed in runs:
        runs[model, seed] = tmp_path / f"{model}-{seed}"
        commands.append(["loso", *data, "-o", str(runs[model, seed]), "--model", model, "--set", f"seed={seed}"])
    for cmd in commands:
        deftmer_cli(*cmd)
    md = tmp_path / "seeds.md"
    run_script("bench_seeds.py", "--group", f"cnn={runs['flow-cnn', 0]},{runs['flow-cnn', 1]}",
               "--group", f"svm={runs['mdmo-svm', 1]}", "--markdown", str(md))
    import json

    uf1 = {k: json.loads((p / "metrics.json").read_text())["uf1"] for k, p in runs.items()}
    table = {(cells[0], cells[1]): cells[2:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                                           for line in md.read_text().splitlines()
                                                           if line.startswith("| ") and "setting" not in line)}
    assert number(table["cnn", "0"][0].split(" / ")[0]) == pytest.approx(uf1["flow-cnn", 0], abs=5e-4)
    mean = (uf1["flow-cnn", 0] + uf1["flow-cnn", 1]) / 2
    assert number(table["**cnn**", "mean of 2"][0].split(" ")[0]) == pytest.approx(mean, abs=5e-4)
    # the svm ran seed 1 only: paired with the cnn's seed 1
    assert f"svm - cnn, UF1 at seeds 1: {uf1['mdmo-svm', 1] - uf1['flow-cnn', 1]:+.3f}" in md.read_text()

    for group, message in ((f"x={tmp_path / 'pack'}", "is not a finished run folder"),
                           (f"x={runs['flow-cnn', 1]},{runs['mdmo-svm', 1]}", "two runs have the same seed (1, 1)")):
        proc = subprocess.run([sys.executable, str(BENCH / "bench_seeds.py"), "--group", group],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_seeds_benchmark_shows_each_part_of_a_deft_decision_beside_it(tmp_path):
    import json

    for seed, (uf1, llm, head) in enumerate([(0.78, 0.76, 0.77), (0.80, 0.75, 0.79)]):
        run = tmp_path / f"deft-{seed}"
        run.mkdir()
        parts = {"llm": {"uf1": llm, "uar": llm}, "experts_head": {"uf1": head, "uar": head}}
        (run / "metrics.json").write_text(json.dumps({"uf1": uf1, "uar": uf1, "per_source": {}, "parts": parts}))
        (run / "run.json").write_text(json.dumps({"config": {"seed": seed}, "samples_digest": "d"}))
    md = tmp_path / "seeds.md"
    run_script("bench_seeds.py", "--group", f"deft={tmp_path / 'deft-0'},{tmp_path / 'deft-1'}", "--markdown", str(md))
    text = md.read_text()
    assert "LLM's class head of the same models" in text and "experts' own head (no LLM) of the same models" in text
    mean_row = next(line for line in text.splitlines() if line.startswith("| **deft**"))
    assert "0.755 / 0.755 (+0.035)" in mean_row and "0.780 / 0.780 (+0.010)" in mean_row
