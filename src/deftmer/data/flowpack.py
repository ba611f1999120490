"""Precomputed flow pack loader: the STSTNet / HTNet public release layout, reused by many MER repos.

Layout (defaults; each name can be overridden):

- ``combined_3_class2_for_optical_flow.csv`` at the root, header
  ``dataset,sub,filename_o,label,apex,imagename,sub_filename`` (label 0 negative, 1 positive,
  2 surprise);
- ``datasets/STSNet_whole_norm_u_v_os/<sub>_<filename_o> .png``: 28x28 RGB flow maps
  (horizontal flow, vertical flow, optical strain scaled to 0-255) -- note the space before
  ``.png`` in the release;
- ``datasets/combined_datasets_whole/<imagename>``: 224x224 apex faces (``imagename`` is
  ``s01_s1_ne_01.jpg`` for SMIC, so the CSV column is used, not ``<sub>_<filename_o>``).

Samples carry ``apex_image`` and ``flow_image`` and no frames. The release has no Action
Units; ``casme2_coding=`` / ``samm_coding=`` name the databases' own coding sheets, whose AUs
are then attached to the CASME II / SAMM clips by (subject, clip name) (see
`deftmer.data.coding_sheets`); SMIC clips have none.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deftmer.data.annotation import Column, cell_int, cell_text, read_csv_table
from deftmer.data.coding_sheets import CodedClip, coding_key, read_coding_sheets
from deftmer.data.dataset import MEDataset, register_dataset
from deftmer.data.labels import MEGC3, get_class_set
from deftmer.data.loader_options import call_loader
from deftmer.data.rules import FILES_MISSING, attach, dedupe_ids, label_with_problems
from deftmer.data.sample import Problem, Sample
from deftmer.errors import DataLayoutError

DEFAULT_CSV = "combined_3_class2_for_optical_flow.csv"
DEFAULT_FLOW_DIR = "datasets/STSNet_whole_norm_u_v_os"
DEFAULT_APEX_DIR = "datasets/combined_datasets_whole"
#: Integer labels of the release, in MEGC 2019 order.
LABEL_NAMES: tuple[str, ...] = MEGC3.classes  # 0 negative, 1 positive, 2 surprise
SOURCE_NAMES = {"casme2": "casme2", "casme_ii": "casme2", "casmeii": "casme2", "samm": "samm", "smic": "smic",
                "smic_hs": "smic"}

COLUMNS = [
    Column("dataset", ("dataset",)),
    Column("sub", ("sub", "subject")),
    Column("filename_o", ("filename_o", "filename")),
    Column("label", ("label",)),
    Column("apex", ("apex",), required=False),
    Column("imagename", ("imagename",), required=False),
    Column("sub_filename", ("sub_filename",), required=False),
]


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def load_flowpack(
    root: Path,
    *,
    csv: str | Path = DEFAULT_CSV,
    flow_dir: str | Path = DEFAULT_FLOW_DIR,
    apex_dir: str | Path = DEFAULT_APEX_DIR,
    class_set: str = "megc3",
    name: str = "flowpack",
    casme2_coding: str | Path | None = None,
    samm_coding: str | Path | None = None,
) -> MEDataset:
    """Read a flow pack; relative ``csv``/``flow_dir``/``apex_dir`` are taken under ``root``.

    ``casme2_coding`` / ``samm_coding``: coding spreadsheets whose AUs the matching clips take.
    """
    root = Path(root)
    cs = get_class_set(class_set)
    csv_path, flow_root, apex_root = (p if Path(p).is_absolute() else root / p for p in (csv, flow_dir, apex_dir))
    csv_path, flow_root, apex_root = Path(csv_path), Path(flow_root), Path(apex_root)
    if not csv_path.is_file():
        raise DataLayoutError(f"flow pack CSV {csv_path} does not exist; point --root at the release checkout "
                              f"or pass -o csv=PATH")
    if not flow_root.is_dir():
        raise DataLayoutError(f"flow map folder {flow_root} does not exist; expected '<sub>_<filename_o> .png' "
                              f"files there, or pass -o flow_dir=PATH")
    table = read_csv_table(csv_path, COLUMNS)
    file = str(csv_path)
    coded = _coding(root, casme2_coding, samm_coding)
    problems: list[Problem] = []
    coded_sources = {k[0] for k in coded}
    samples: list[Sample] = []
    for row in table.rows:
        source_raw = cell_text(row.get("dataset")).lower()
        source = SOURCE_NAMES.get(source_raw, source_raw)
        sub, clip = cell_text(row.get("sub")), cell_text(row.get("filename_o"))
        code = cell_int(row.get("label"))
        emotion = LABEL_NAMES[code] if code is not None and code < len(LABEL_NAMES) else cell_text(row.get("label"))
        stem = f"{sub}_{clip}"
        flow = _first_existing(flow_root / f"{stem} .png", flow_root / f"{stem}.png")
        imagename = cell_text(row.get("imagename"))
        apex_img = _first_existing(*([apex_root / imagename] if imagename else []), apex_root / f"{stem}.jpg")
        sample = Sample(dataset=name, subject=sub, clip=clip, emotion=emotion, source=source,
                        apex=cell_int(row.get("apex")), flow_image=flow, apex_image=apex_img,
                        extra={"annotation_line": str(row.line), "label_code": cell_text(row.get("label"))})
        label, p = label_with_problems(emotion, cs, sample.id, file)
        if source in coded_sources:
            sample = _with_codes(sample, coded.get(coding_key(source, sub, clip)), p, file)
        if flow is None:
            p.append(Problem(FILES_MISSING, f"flow map '{stem} .png' not found", sample.id, str(flow_root)))
        if apex_img is None:
            p.append(Problem(FILES_MISSING, f"apex face '{imagename or stem + '.jpg'}' not found", sample.id,
                             str(apex_root)))
        problems.extend(p)
        samples.append(attach(sample.with_label(label), p))
    samples, p_dup = dedupe_ids(samples, file)
    problems.extend(p_dup)
    return MEDataset(name=name, root=root, class_set=cs, samples=samples, problems=problems)


def _coding(root: Path, casme2_coding, samm_coding) -> dict:
    paths = [None if p is None else (Path(p) if Path(p).is_absolute() else root / p) for p in (casme2_coding, samm_coding)]
    for opt, p in zip(("casme2_coding", "samm_coding"), paths):
        if p is not None and not p.is_file():
            raise DataLayoutError(f"coding spreadsheet {p} does not exist; pass an existing file with -o {opt}=PATH")
    return read_coding_sheets(*paths)


def _with_codes(sample: Sample, coded: CodedClip | None, problems: list[Problem], file: str) -> Sample:
    """The sample with its coding-sheet AUs; a clip the sheet lacks is reported, never guessed."""
    if coded is None:
        problems.append(Problem("au_unmatched", f"no row for {sample.subject}/{sample.clip} in the "
                                f"{sample.source} coding sheet; the clip keeps no AUs", sample.id, file))
        return sample
    problems.extend(coded.problems)
    return replace(sample, aus=coded.aus, extra={**sample.extra, "coded_emotion": coded.emotion,
                                                 "coding_line": str(coded.line)})


@register_dataset("flowpack", "Precomputed flow pack (STSTNet/HTNet release: CSV + 28x28 flow PNGs + apex JPEGs), "
                  "no frames; default class set megc3")
def _load(root: Path, **options: object) -> MEDataset:
    return call_loader(load_flowpack, "flowpack", root, options)
