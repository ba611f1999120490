"""A LOSO run as a page a person can read: HTML (self-contained, images embedded) and Markdown
(images written beside it), with metrics, figures, the run's config and published numbers.

Input is the folder the LOSO runner writes: ``metrics.json``, ``predictions.csv`` and
``config.yaml``. Only ``metrics.json`` is required; missing parts are said so on the page.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from deftmer.errors import UserError
from deftmer.eval import figures as F
from deftmer.eval.metrics import part_label
from deftmer.eval.predictions import read_predictions
from deftmer.eval.published import SELECTION_NOTE, PublishedResult, published_for
from deftmer.utils.console import shell_arg
from deftmer.utils.io import atomic_write_bytes, atomic_write_text, read_json

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
CONFIG_FILE = "config.yaml"


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class GroupScores:
    """Scores of one subject or one source dataset (only the keys the runner wrote)."""

    name: str
    n: int
    accuracy: float | None = None
    uf1: float | None = None
    uar: float | None = None


@dataclass
class RunSummary:
    """What a report shows of one run, read from its folder."""

    run_dir: Path
    model: str
    dataset: str
    protocol: str
    class_set: str
    uf1: float
    uar: float
    accuracy: float
    n_samples: int
    n_folds: int
    labels: list[str]
    confusion: list[list[int]]
    per_class: dict[str, ClassScores]
    per_subject: list[GroupScores]
    per_source: list[GroupScores]
    au_f1: float | None = None
    claim_support: float | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    config_yaml: str | None = None
    examples: list[dict[str, str]] = field(default_factory=list)
    missing_folds: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)   # metrics.json "parts"


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    figures: dict[str, Path]


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _scalar(d: Any, *keys: str) -> float | None:
    """First numeric value among ``keys`` (the runner may nest a value as {"mean": ...})."""
    if not isinstance(d, dict):
        return _num(d)
    for k in keys:
        if k in d:
            v = d[k]
            return _num(v.get("mean") if isinstance(v, dict) else v)
    return None


def _groups(raw: Any) -> list[GroupScores]:
    if not isinstance(raw, dict):
        return []
    out = []
    for name, d in raw.items():
        if not isinstance(d, dict):
            continue
        n = d.get("n", d.get("n_samples", d.get("support", 0)))
        out.append(GroupScores(str(name), int(n or 0), _scalar(d, "accuracy", "acc"), _scalar(d, "uf1"),
                               _scalar(d, "uar")))
    return sorted(out, key=lambda g: g.name)


def load_run(run_dir: str | Path) -> RunSummary:
    """Read a run folder; a folder without a readable ``metrics.json`` is a `UserError`."""
    d = Path(run_dir)
    if not d.is_dir():
        raise UserError(f"run folder {d} does not exist; pass the --out folder of `deftmer loso`")
    mpath = d / METRICS_FILE
    evaluate = f"`deftmer evaluate {shell_arg(d)}`"
    if not mpath.is_file():
        raise UserError(f"{d} has no {METRICS_FILE}; run `deftmer loso ... --out {shell_arg(d)}` (or {evaluate}) first")
    m = read_json(mpath, f"rebuild it from predictions.csv with {evaluate}")
    missing = [k for k in ("uf1", "uar", "accuracy") if not isinstance(m, dict) or _num(m.get(k)) is None]
    if missing:
        raise UserError(f"{mpath} lacks {', '.join(missing)}; it was not written by `deftmer loso`/`evaluate`: "
                        f"rebuild it with {evaluate}")

    conf = m.get("confusion") or {}
    labels = [str(x) for x in conf.get("labels", [])] or list((m.get("per_class") or {}).keys())
    matrix = [[int(v) for v in row] for row in conf.get("matrix", [])]
    per_class = {}
    for cls, s in (m.get("per_class") or {}).items():
        if isinstance(s, dict):
            per_class[str(cls)] = ClassScores(_num(s.get("precision")) or 0.0, _num(s.get("recall")) or 0.0,
                                              _num(s.get("f1")) or 0.0, int(s.get("support") or 0))
    cfg_path = d / CONFIG_FILE
    known = {"missing_folds", "complete", "folds_expected", "uf1", "uar", "accuracy", "per_class", "per_source", "per_subject", "confusion", "n_samples",
             "n_folds", "au_f1", "claim_support", "model", "dataset", "protocol", "class_set", "timing", "parts"}
    return RunSummary(
        run_dir=d,
        model=str(m.get("model", "?")), dataset=str(m.get("dataset", "?")),
        protocol=str(m.get("protocol", "loso")), class_set=str(m.get("class_set", "?")),
        uf1=float(m["uf1"]), uar=float(m["uar"]), accuracy=float(m["accuracy"]),
        n_samples=int(m.get("n_samples") or sum(sum(r) for r in matrix)),
        n_folds=int(m.get("n_folds") or len(m.get("per_subject") or {})),
        labels=labels, confusion=matrix, per_class=per_class,
        per_subject=_groups(m.get("per_subject")), per_source=_groups(m.get("per_source")),
        au_f1=_scalar(m.get("au_f1"), "f1", "au_f1") if isinstance(m.get("au_f1"), dict) else _num(m.get("au_f1")),
        claim_support=_num(m.get("claim_support")),
        timing=m.get("timing") if isinstance(m.get("timing"), dict) else {},
        config_yaml=cfg_path.read_text(errors="replace") if cfg_path.is_file() else None,
        examples=_read_examples(d / PREDICTIONS_FILE, labels),
        missing_folds=[str(x) for x in (m.get("missing_folds") or [])],
        extra={k: v for k, v in m.items() if k not in known and isinstance(v, (int, float, str, bool))},
        parts={str(k): v for k, v in (m["parts"] if isinstance(m.get("parts"), dict) else {}).items()
               if isinstance(v, dict)},
    )


def _read_examples(path: Path, labels: list[str], limit: int = 8) -> list[dict[str, str]]:
    """A few predictions with their generated text (those with text first) for the page; the
    table is validated like every predictions table (a damaged one is a one-line error)."""
    if not path.is_file():
        return []
    df = read_predictions(path, labels or None, "run the same `deftmer loso` command again to rebuild it "
                          "from the fold folders")
    rows = [{k: str(r.get(k, "") or "") for k in ("sample_id", "subject", "true", "pred", "text")}
            for r in df.to_dict("records")]
    with_text = [r for r in rows if r["text"].strip()]
    return (with_text or rows)[:limit]


# --- figures ------------------------------------------------------------------------------------

def make_figures(run: RunSummary) -> dict[str, bytes]:
    """PNG bytes of the report's figures, by name; a figure whose data is absent is left out."""
    out: dict[str, bytes] = {}
    if run.labels and run.confusion:
        out["confusion"] = F.figure_to_png(F.confusion_figure(run.labels, run.confusion,
                                                              title=f"Confusion ({run.n_samples} clips)"))
    subj = [g for g in run.per_subject if g.accuracy is not None]
    if subj:
        out["per_subject"] = F.figure_to_png(F.bar_figure(
            [g.name for g in subj], [g.accuracy for g in subj], "Accuracy per test subject", "accuracy",
            reference=run.accuracy, reference_label=f"overall {run.accuracy:.3f}"))
    if run.per_class:
        names = list(run.per_class)
        out["per_class"] = F.figure_to_png(F.grouped_bar_figure(names, {
            "precision": [run.per_class[c].precision for c in names],
            "recall": [run.per_class[c].recall for c in names],
            "F1": [run.per_class[c].f1 for c in names]}, "Per-class scores"))
    return out


# --- rendering ------------------------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


_HTML = jinja2.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>deftmer report: {{ run.model }} on {{ run.dataset }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.figs img{max-width:100%;border:1px solid #eee}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem;font-size:.92rem}
pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.85rem}
.ours{font-weight:bold;background:#eef6ff}td.l{text-align:left}
</style></head><body>
<h1>deftmer report: {{ run.model }} on {{ run.dataset }} ({{ run.protocol|upper }}, {{ run.class_set }})</h1>
<p>Run folder: <code>{{ run.run_dir }}</code> · {{ run.n_samples }} clips · {{ run.n_folds }} folds</p>
{% if run.missing_folds %}<p class="note" id="incomplete">Incomplete run: {{ run.missing_folds|length }} fold(s) not done ({{ run.missing_folds|join(', ') }}); numbers cover the finished folds only. Re-run the same <code>deftmer loso</code> command to finish them.</p>{% endif %}

<h2>Metrics</h2>
<table id="metrics"><tr><th>metric</th><th>value</th></tr>
{% for k, v in summary %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}
</table>
<p>UF1 is macro F1 over classes and UAR the mean per-class recall, both over the pooled predictions of all folds.</p>

<h2>Figures</h2>
<div class="figs">
{% for name, data in images %}<figure><img id="fig-{{ name }}" alt="{{ name }}" src="data:image/png;base64,{{ data }}"><figcaption>{{ name|replace('_', ' ') }}</figcaption></figure>
{% endfor %}</div>

<h2>Per class</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{% for c, s in run.per_class.items() %}<tr><td>{{ c }}</td><td>{{ fmt(s.precision) }}</td><td>{{ fmt(s.recall) }}</td><td>{{ fmt(s.f1) }}</td><td>{{ s.support }}</td></tr>{% endfor %}
</table>
{% if run.per_source %}
<h2>Per source dataset</h2>
<table><tr><th>source</th><th>UF1</th><th>UAR</th><th>accuracy</th><th>clips</th></tr>
{% for g in run.per_source %}<tr><td>{{ g.name }}</td><td>{{ fmt(g.uf1) }}</td><td>{{ fmt(g.uar) }}</td><td>{{ fmt(g.accuracy) }}</td><td>{{ g.n }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Beside published results</h2>
{% if published %}
<table id="published"><tr><th>method</th><th>UF1</th><th>UAR</th><th>source</th></tr>
<tr class="ours"><td>this run ({{ run.model }})</td><td>{{ fmt(run.uf1) }}</td><td>{{ fmt(run.uar) }}</td><td class="l">this folder</td></tr>
{% for p in published %}<tr><td>{{ p.method }}</td><td>{{ fmt(p.uf1) }}</td><td>{{ fmt(p.uar) }}</td><td class="l">{{ p.source }}{% if p.note %} ({{ p.note }}){% endif %}</td></tr>{% endfor %}
</table>
{% else %}<p>No published results are recorded for {{ run.dataset }} / {{ run.class_set }} / {{ run.protocol }}.</p>{% endif %}
<p class="note">{{ selection_note }}</p>

<h2>Per test subject</h2>
<table><tr><th>subject</th><th>clips</th><th>accuracy</th></tr>
{% for g in run.per_subject %}<tr><td>{{ g.name }}</td><td>{{ g.n }}</td><td>{{ fmt(g.accuracy) }}</td></tr>{% endfor %}
</table>
{% if run.examples %}
<h2>Example answers</h2>
<table><tr><th>clip</th><th>true</th><th>predicted</th><th>generated text</th></tr>
{% for e in run.examples %}<tr><td>{{ e.sample_id }}</td><td>{{ e.true }}</td><td>{{ e.pred }}</td><td class="l" style="white-space:pre-wrap">{{ e.text }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Config</h2>
{% if run.config_yaml %}<pre>{{ run.config_yaml }}</pre>{% else %}<p>No config.yaml in the run folder.</p>{% endif %}
{% if run.timing %}<h2>Timing</h2><pre>{{ timing }}</pre>{% endif %}
</body></html>
""", autoescape=True, undefined=jinja2.StrictUndefined)


def _summary_rows(run: RunSummary) -> list[tuple[str, str]]:
    rows = [("UF1", _fmt(run.uf1)), ("UAR", _fmt(run.uar)), ("accuracy", _fmt(run.accuracy)),
            ("clips", str(run.n_samples)), ("folds", str(run.n_folds))]
    if run.au_f1 is not None:
        rows.append(("AU F1 (answers vs labels)", _fmt(run.au_f1)))
    if run.claim_support is not None:
        rows.append(("motion-claim support", _fmt(run.claim_support)))
    for part, g in run.parts.items():
        rows.append((f"{part_label(part)} alone, same models: UF1 / UAR (agrees with the decision)",
                     f"{_fmt(_num(g.get('uf1')))} / {_fmt(_num(g.get('uar')))} ({_fmt(_num(g.get('agreement')))})"))
    for k, v in run.extra.items():
        rows.append((k, _fmt(v) if isinstance(v, float) else str(v)))
    return rows


def render_html(run: RunSummary, images: dict[str, bytes], published: list[PublishedResult]) -> str:
    return _HTML.render(
        run=run, summary=_summary_rows(run), fmt=_fmt, published=published, selection_note=SELECTION_NOTE,
        images=[(k, base64.b64encode(v).decode("ascii")) for k, v in images.items()],
        timing=json.dumps(run.timing, indent=2, default=str))


def render_markdown(run: RunSummary, figure_files: dict[str, str], published: list[PublishedResult]) -> str:
    L = [f"# deftmer report: {run.model} on {run.dataset} ({run.protocol.upper()}, {run.class_set})", "",
         f"{run.n_samples} clips, {run.n_folds} folds. Run folder: `{run.run_dir}`", "",
         *([f"> Incomplete run: folds not done: {', '.join(run.missing_folds)}; numbers cover finished folds only.", ""]
           if run.missing_folds else []),
         "## Metrics", "", "| metric | value |", "| --- | --- |"]
    L += [f"| {k} | {v} |" for k, v in _summary_rows(run)]
    L += ["", "## Figures", ""] + [f"![{k}]({v})" for k, v in figure_files.items()]
    L += ["", "## Per class", "", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    L += [f"| {c} | {_fmt(s.precision)} | {_fmt(s.recall)} | {_fmt(s.f1)} | {s.support} |"
          for c, s in run.per_class.items()]
    if run.per_source:
        L += ["", "## Per source dataset", "", "| source | UF1 | UAR | accuracy | clips |", "| --- | --- | --- | --- | --- |"]
        L += [f"| {g.name} | {_fmt(g.uf1)} | {_fmt(g.uar)} | {_fmt(g.accuracy)} | {g.n} |" for g in run.per_source]
    L += ["", "## Beside published results", ""]
    if published:
        L += ["| method | UF1 | UAR | source |", "| --- | --- | --- | --- |",
              f"| **this run ({run.model})** | {_fmt(run.uf1)} | {_fmt(run.uar)} | this folder |"]
        L += [f"| {p.method} | {_fmt(p.uf1)} | {_fmt(p.uar)} | {p.source}{f' ({p.note})' if p.note else ''} |"
              for p in published]
    else:
        L.append(f"No published results are recorded for {run.dataset} / {run.class_set} / {run.protocol}.")
    L += ["", f"> {SELECTION_NOTE}", "", "## Per test subject", "", "| subject | clips | accuracy |", "| --- | --- | --- |"]
    L += [f"| {g.name} | {g.n} | {_fmt(g.accuracy)} |" for g in run.per_subject]
    L += ["", "## Config", ""]
    L += ["```yaml", run.config_yaml.rstrip(), "```"] if run.config_yaml else ["No config.yaml in the run folder."]
    return "\n".join(L) + "\n"


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> ReportFiles:
    """Write ``report.html`` (self-contained), ``report.md`` and ``figures/*.png`` for a run.

    Default output folder: ``RUN_DIR/report``. Every file is written atomically.
    """
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create report folder {out}: {e.strerror}; pass a writable --out") from None
    images = make_figures(run)
    published = published_for(run.dataset, run.class_set, run.protocol)
    fig_paths: dict[str, Path] = {}
    for name, png in images.items():
        fig_paths[name] = out / "figures" / f"{name}.png"
        atomic_write_bytes(fig_paths[name], png)
    html, md = out / "report.html", out / "report.md"
    atomic_write_text(html, render_html(run, images, published))
    atomic_write_text(md, render_markdown(run, {k: f"figures/{p.name}" for k, p in fig_paths.items()}, published))
    return ReportFiles(html=html, markdown=md, figures=fig_paths)
