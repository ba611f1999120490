"""What ``deftmer check-data`` reports: counts per class and subject, every problem, and
whether the dataset is usable at all.

Most annotation problems are flags later stages cope with; the kinds in
`deftmer.data.rules.EXCLUDING` keep a clip out of every stage, and clips without frames on
disk are "absent". The counts here are of the clips the stages will really use. A dataset is
*unusable* when no clip can feed the pipeline: no samples, no labelled samples, or no usable
labelled sample.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from deftmer.data.dataset import MEDataset
from deftmer.data.rules import ABSENT, exclusion
from deftmer.data.sample import Problem

EXCLUDED = "(excluded)"


@dataclass(frozen=True)
class DatasetReport:
    """Counts and verdict for one loaded dataset."""

    name: str
    class_set: str
    classes: tuple[str, ...]
    n_samples: int
    n_labelled: int
    n_usable_inputs: int  # labelled samples the stages use: inputs on disk, not excluded by a rule
    per_class: dict[str, int]
    per_subject: dict[str, dict[str, int]]
    per_source: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    unusable_reason: str | None = None
    excluded: dict[str, int] = field(default_factory=dict)  # labelled clips left out, by rule (and "absent")
    usable_subjects: int = 0                                # subjects with at least one usable labelled clip

    @property
    def usable(self) -> bool:
        return self.unusable_reason is None

    def ready_line(self) -> str:
        """The closing line of ``check-data``: what the stages will use, and what they leave out."""
        text = f"{self.n_usable_inputs} labelled clips ready from {self.usable_subjects} subjects"
        ruled = {k: n for k, n in self.excluded.items() if k != ABSENT}
        if ruled:
            text += f"; {sum(ruled.values())} excluded ({', '.join(f'{n} {k}' for k, n in sorted(ruled.items()))})"
        if self.excluded.get(ABSENT):
            text += f"; {self.excluded[ABSENT]} absent (no frames on disk)"
        return text


def _sort_subjects(subjects: list[str]) -> list[str]:
    import re

    def key(s: str) -> tuple[str, int, str]:
        m = re.search(r"(\d+)", s)
        return (re.sub(r"\d+", "", s), int(m.group(1)) if m else -1, s)

    return sorted(subjects, key=key)


def summarise(ds: MEDataset) -> DatasetReport:
    """Count samples by class, subject and source, and decide whether the dataset is usable."""
    classes = ds.class_set.classes
    per_class = {c: 0 for c in classes}
    per_class[EXCLUDED] = 0
    per_subject: dict[str, dict[str, int]] = {}
    for s in ds.samples:
        key = s.label if s.label is not None else EXCLUDED
        per_class[key] = per_class.get(key, 0) + 1
        row = per_subject.setdefault(s.subject, {c: 0 for c in (*classes, EXCLUDED)})
        row[key] = row.get(key, 0) + 1
    per_subject = {k: per_subject[k] for k in _sort_subjects(list(per_subject))}
    per_source = dict(Counter(s.source or s.dataset for s in ds.samples))
    labelled = [s for s in ds.samples if s.label is not None]
    usable_inputs = ds.labelled()
    excluded = Counter(reason for s in labelled if (reason := exclusion(s)) is not None)
    reason = None
    if not ds.samples:
        reason = "no samples were read"
    elif not labelled:
        reason = f"no sample has a label in the {ds.class_set.name} classes"
    elif not usable_inputs and set(excluded) == {ABSENT}:
        reason = "no labelled sample has frames or a flow map on disk (check --root and the frames folder)"
    elif not usable_inputs:
        reason = f"every labelled clip is absent or excluded by an annotation rule ({dict(excluded)})"
    return DatasetReport(
        name=ds.name, class_set=ds.class_set.name, classes=classes, n_samples=len(ds.samples),
        n_labelled=len(labelled), n_usable_inputs=len(usable_inputs), per_class=per_class,
        per_subject=per_subject, per_source=per_source, problems=list(ds.problems),
        problem_counts=dict(Counter(p.kind for p in ds.problems)), unusable_reason=reason,
        excluded=dict(excluded), usable_subjects=len({s.subject for s in usable_inputs}),
    )


def render_report(report: DatasetReport, console: Console, show_problems: bool = True) -> None:
    """Rich tables: summary, per class, per subject, problem kinds, then every problem."""
    head = Table(title=f"{report.name}: {report.n_samples} clips", show_header=False)
    head.add_row("class set", report.class_set)
    head.add_row("labelled clips", str(report.n_labelled))
    for kind, n in sorted(report.excluded.items()):
        head.add_row("  absent (no frames on disk)" if kind == ABSENT else f"  excluded: {kind}", str(n))
    head.add_row("labelled clips usable", str(report.n_usable_inputs))
    head.add_row("subjects", str(len(report.per_subject)))
    head.add_row("subjects with usable clips", str(report.usable_subjects))
    if len(report.per_source) > 1 or report.name not in report.per_source:
        head.add_row("sources", ", ".join(f"{k} {v}" for k, v in sorted(report.per_source.items())))
    head.add_row("problems", str(len(report.problems)))
    console.print(head)

    cls = Table(title="per class")
    cls.add_column("class")
    cls.add_column("clips", justify="right")
    for c, n in report.per_class.items():
        if c != EXCLUDED or n:
            cls.add_row(c, str(n))
    console.print(cls)

    cols = [c for c in (*report.classes, EXCLUDED) if c != EXCLUDED or report.per_class.get(EXCLUDED)]
    sub = Table(title="per subject")
    sub.add_column("subject")
    for c in cols:
        sub.add_column(c, justify="right")
    sub.add_column("total", justify="right")
    for s, row in report.per_subject.items():
        sub.add_row(s, *(str(row.get(c, 0)) for c in cols), str(sum(row.values())))
    console.print(sub)

    if report.problems:
        kinds = Table(title="problems by kind")
        kinds.add_column("kind")
        kinds.add_column("count", justify="right")
        for k, n in sorted(report.problem_counts.items()):
            kinds.add_row(k, str(n))
        console.print(kinds)
        if show_problems:
            every = Table(title="every problem")
            every.add_column("kind", no_wrap=True)
            every.add_column("sample", no_wrap=True)
            every.add_column("message")
            every.add_column("file")
            for p in report.problems:
                every.add_row(p.kind, p.sample_id or "-", p.message, p.file or "-")
            console.print(every)
