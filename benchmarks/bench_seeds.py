"""Seeds side by side: finished LOSO / LODO runs of the same setting, their mean and spread, and
the per-seed difference against another setting run at the same seeds.

    python benchmarks/bench_seeds.py --group deft=runs/deft-s0,runs/deft-s1,runs/deft-s2 \\
        --group deft-no-llm=runs/nollm-s0,runs/nollm-s1,runs/nollm-s2 [--markdown seeds.md]

One run is one draw: on the dev pack DEFT's UF1 moves by ~0.02 between seeds, more than most
changes it is asked to judge. Every multi-seed claim in RESULTS.md is a mean over runs like these;
this script computes it from the runs' own ``metrics.json`` (nothing is retrained), checks that they
scored the same clips, and pairs the settings seed by seed. A DEFT run also carries each part of
its decision alone, the LLM's class head and the experts' own head (``parts`` in ``metrics.json``):
the table shows them beside the decision, the cleanest measure of what the LLM adds, since all come
from the same trained models.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench_setup import run_script, show_table
from deftmer.errors import UserError
from deftmer.eval.metrics import part_label

#: the parts of a DEFT decision a run reports alone (``parts`` in metrics.json), in table order; the
#: names are `deftmer.model.deft_decision`'s LLM_HEAD / EXPERTS_HEAD, spelt out so that this JSON reader
#: does not import the model stack (1.3 s more at start-up)
PARTS = ("llm", "experts_head")


@dataclass
class SeedRun:
    """What one finished run scored, read from its folder."""

    seed: int
    uf1: float
    uar: float
    per_source: dict[str, tuple[float, float]]
    parts: dict[str, tuple[float, float]]  # UF1 / UAR of each part of the decision alone, when reported
    digest: str                           # which clips it scored (run.json)


def read_run(path: Path) -> SeedRun:
    """A run folder's scores; a folder that is not a finished run is one `UserError`."""
    metrics, run = path / "metrics.json", path / "run.json"
    if not (metrics.is_file() and run.is_file()):
        raise UserError(f"{path} is not a finished run folder (no metrics.json / run.json); pass the --out of "
                        f"`deftmer loso` or a run folder of bench_real.py")
    m, r = json.loads(metrics.read_text()), json.loads(run.read_text())
    if not m.get("complete", True):
        raise UserError(f"{path}: the run is not complete (missing folds {m.get('missing_folds')}); finish it "
                        f"(rerun the same command: it resumes) before comparing seeds")
    return SeedRun(int(r["config"]["seed"]), m["uf1"], m["uar"],
                   {s: (v["uf1"], v["uar"]) for s, v in sorted(m.get("per_source", {}).items())},
                   {k: (v["uf1"], v["uar"]) for k, v in m.get("parts", {}).items()}, r.get("samples_digest", ""))


def parse_group(text: str) -> tuple[str, list[Path]]:
    """``NAME=RUN[,RUN...]`` -> (name, run folders)."""
    name, sep, runs = text.partition("=")
    if not sep or not name or not runs:
        raise UserError(f"--group {text!r}: write NAME=RUN[,RUN...], e.g. deft=runs/s0,runs/s1")
    return name, [Path(p) for p in runs.split(",") if p]


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} (sd {sd:.3f})"


def pair(a: float, b: float) -> str:
    return f"{a:.3f} / {b:.3f}"


def group_rows(name: str, runs: list[SeedRun], sources: list[str]) -> list[list]:
    """One row per seed and a mean row; a part's mean only where every run reports that part."""
    rows = []
    for r in sorted(runs, key=lambda r: r.seed):
        cells = ["-" if k not in r.parts else f"{pair(*r.parts[k])} ({r.uf1 - r.parts[k][0]:+.3f})" for k in PARTS]
        rows.append([name, str(r.seed), pair(r.uf1, r.uar), *[pair(*r.per_source.get(s, (float("nan"),) * 2))
                                                              for s in sources], *cells])
    means = []
    for k in PARTS:
        means.append("-" if not all(k in r.parts for r in runs) else (
            f"{pair(statistics.mean(r.parts[k][0] for r in runs), statistics.mean(r.parts[k][1] for r in runs))} "
            f"({statistics.mean(r.uf1 - r.parts[k][0] for r in runs):+.3f})"))
    rows.append([f"**{name}**", f"mean of {len(runs)}", f"{mean_sd([r.uf1 for r in runs])} / "
                 f"{statistics.mean(r.uar for r in runs):.3f}",
                 *[pair(statistics.mean(r.per_source[s][0] for r in runs if s in r.per_source),
                        statistics.mean(r.per_source[s][1] for r in runs if s in r.per_source)) for s in sources],
                 *means])
    return rows


def paired(groups: dict[str, list[SeedRun]]) -> list[str]:
    """Lines: each later group against the first, UF1 difference at the seeds both ran."""
    (base_name, base), *others = groups.items()
    by_seed = {r.seed: r for r in base}
    lines = []
    for name, runs in others:
        common = sorted(r.seed for r in runs if r.seed in by_seed)
        diffs = [next(r for r in runs if r.seed == s).uf1 - by_seed[s].uf1 for s in common]
        if diffs:
            lines.append(f"{name} - {base_name}, UF1 at seeds {', '.join(map(str, common))}: "
                         f"{', '.join(f'{d:+.3f}' for d in diffs)}; mean {statistics.mean(diffs):+.3f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", dest="groups", action="append", required=True,
                    help="NAME=RUN[,RUN...]: finished runs of one setting at different seeds (repeatable; "
                         "later groups are paired with the first by seed)")
    ap.add_argument("--markdown", type=Path, help="append the table as Markdown to this file")
    args = ap.parse_args(argv)

    groups = {name: [read_run(p) for p in paths] for name, paths in map(parse_group, args.groups)}
    for name, runs in groups.items():
        seeds = [r.seed for r in runs]
        if len(set(seeds)) < len(seeds):
            raise UserError(f"--group {name}: two runs have the same seed ({', '.join(map(str, seeds))}); "
                            f"give one run per seed")
    digests = {r.digest for runs in groups.values() for r in runs}
    if len(digests) > 1:
        raise UserError("the runs scored different clips (run.json samples_digest differs); compare runs of "
                        "one dataset and protocol")
    sources = sorted({s for runs in groups.values() for r in runs for s in r.per_source})
    rows = [row for name, runs in groups.items() for row in group_rows(name, runs, sources)]
    note = "\n".join(paired(groups))
    show_table("Seeds side by side", ["setting", "seed", "UF1 / UAR", *[f"{s} UF1 / UAR" for s in sources],
                                      *[f"{part_label(k)} of the same models (decision - it, UF1)" for k in PARTS]],
               rows, args.markdown, note)
    if note:
        print(note)


if __name__ == "__main__":
    run_script(main)
