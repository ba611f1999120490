"""SynthME: a synthetic micro-expression benchmark with known ground truth, in the CASME II layout.

Why it exists: the real MER datasets are licensed and absent here, yet the demo and every stage's
tests need clips whose AUs, sides, apex and displacement are *known*. SynthME renders them from a
real face photograph (see `synth_face`) moved by FACS-directed local displacement fields (see
`synth_motion`), writes frames plus a ``CASME2-coding-synthme.xlsx`` spreadsheet that the CASME II
loader reads unchanged, and a ``synthme_truth.json`` with what really happened in every clip.

Emotions follow FACS/EMFACS rules with the CASME II 5-class labels (happiness, disgust,
repression, surprise, others); each class has several AU combinations, unilateral variants and a
range of amplitudes, so a classifier must read *where and which way* the face moved.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from deftmer.data.sample import ActionUnit
from deftmer.data.synthme import ANNOTATION_NAME, TRUTH_NAME, ClipTruth, TrueAU
from deftmer.errors import UserError
from deftmer.facs import AUS, MIDLINE_BASES, emfacs_emotion, expected_motions, objective_class
from deftmer.synth.face import FACE_OVAL, SubjectFace, build_subject_face, draw_identity
from deftmer.synth.motion import (
    IOD_224,
    ClipRenderer,
    HeadMotion,
    apply_affine,
    au_field,
    blink_course,
    forward_displacement,
    time_course,
)
from deftmer.utils.console import make_progress
from deftmer.utils.io import atomic_write_bytes, atomic_write_json

SETTINGS_NAME = ".synthme_settings.json"
COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
           "Estimated Emotion", "Objective Classes")
SYNTHME_CLASSES = ("happiness", "disgust", "repression", "surprise", "others")
_ROMAN_TO_INT = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}
_FORMAT_VERSION = 1

#: AU combinations per CASME II class, most typical first (FACS/EMFACS, Davison et al. 2018).
#: "others" holds local AUs that no EMFACS prototype covers, as CASME II's "others" clips do.
CLASS_COMBOS: dict[str, tuple[tuple[int, ...], ...]] = {
    "happiness": ((6, 12), (12,), (6, 12), (6, 7, 12)),
    "disgust": ((9,), (10,), (4, 9), (4, 10), (9, 10)),
    "repression": ((14,), (15,), (17,), (24,), (15, 17), (17, 24)),
    "surprise": ((1, 2), (1, 2, 5), (1, 2, 26), (5, 26), (1, 2, 25)),
    "others": ((4,), (7,), (18,), (38,), (4, 38)),
}


@dataclass(frozen=True)
class SynthOptions:
    """Everything that shapes the benchmark besides its size and seed."""

    size: int = 256                              # frame side, px
    fps: float = 200.0
    duration_s: tuple[float, float] = (0.2, 0.5)  # onset -> offset
    amplitude_224: tuple[float, float] = (0.6, 2.0)  # AU peak, px of a 224-px aligned face
    unilateral_prob: float = 0.25
    head_motion_px: float = 0.8
    flicker: float = 0.008                       # relative brightness change per frame (std)
    noise_sigma: float = 1.2                     # sensor noise, grey levels
    blink_prob: float = 0.3
    blink_amplitude_px: float = 3.0
    jpeg_quality: int = 95
    classes: tuple[str, ...] = SYNTHME_CLASSES

    def validate(self) -> None:
        if not 96 <= self.size <= 1024:
            raise UserError(f"frame size {self.size} is outside 96..1024 px")
        if self.fps <= 0 or not 0 < self.duration_s[0] <= self.duration_s[1]:
            raise UserError("fps must be > 0 and duration_s a (min, max) pair of positive seconds")
        if round(self.duration_s[0] * self.fps) < 4:
            raise UserError(f"clips of {self.duration_s[0]} s at {self.fps} fps have fewer than 5 frames; "
                            "raise --fps or the minimum duration")
        if not 0 < self.amplitude_224[0] <= self.amplitude_224[1]:
            raise UserError("amplitude_224 must be a (min, max) pair of positive px")
        unknown = [c for c in self.classes if c not in CLASS_COMBOS]
        if unknown or not self.classes:
            raise UserError(f"unknown SynthME classes {unknown}; choose from {', '.join(SYNTHME_CLASSES)}")
        if not 50 <= self.jpeg_quality <= 100:
            raise UserError("jpeg_quality must be in 50..100")


@dataclass(frozen=True)
class SynthSummary:
    """What `generate_synthme` wrote."""

    root: Path
    annotation: Path
    truth: Path
    subjects: int
    clips: int
    class_counts: dict[str, int]
    frames: int
    rendered_clips: int          # clips rendered by this call (the rest existed: resumed run)
    seconds: float


# --- planning -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipPlan:
    subject_index: int
    clip_index: int
    emotion: str
    aus: tuple[tuple[int, str | None, float], ...]   # (AU, side, amplitude_224)
    n_frames: int
    apex_index: int
    first_frame: int
    blink: tuple[int, int] | None                   # (start index, length) in frames

    @property
    def subject(self) -> str:
        return f"sub{self.subject_index + 1:02d}"

    @property
    def clip(self) -> str:
        return f"EP{self.clip_index + 1:02d}_01"

    @property
    def sample_id(self) -> str:
        return f"synthme/{self.subject}/{self.clip}"


def _is_lateral(number: int) -> bool:
    return any(m.base not in MIDLINE_BASES for m in AUS[number].motions)


def class_schedule(subjects: int, clips_per_subject: int, classes: Sequence[str]) -> list[list[str]]:
    """Class of every clip: round-robin over all clips, so classes are balanced to within one
    overall and every subject sees as many different classes as it has clips (up to all)."""
    k = len(classes)
    return [[classes[(s * clips_per_subject + j) % k] for j in range(clips_per_subject)]
            for s in range(subjects)]


def plan_clip(rng: np.random.Generator, subject_index: int, clip_index: int, emotion: str,
              opts: SynthOptions) -> ClipPlan:
    combos = CLASS_COMBOS[emotion]
    combo = combos[int(rng.integers(len(combos)))]
    side: str | None = None
    if rng.random() < opts.unilateral_prob:
        side = "L" if rng.random() < 0.5 else "R"
    aus = []
    for number in combo:
        amp = float(rng.uniform(*opts.amplitude_224))
        aus.append((number, side if _is_lateral(number) else None, round(amp, 4)))
    duration = float(rng.uniform(*opts.duration_s))
    n_frames = max(5, int(round(duration * opts.fps)) + 1)
    apex_index = int(round(rng.uniform(0.3, 0.55) * (n_frames - 1)))
    first_frame = int(rng.integers(1, 200))
    blink = None
    if rng.random() < opts.blink_prob:
        length = max(3, int(round(rng.uniform(0.08, 0.14) * opts.fps)))
        start = int(rng.integers(-length // 2, n_frames - length // 2))
        blink = (start, length)
    return ClipPlan(subject_index, clip_index, emotion, tuple(aus), n_frames, apex_index, first_frame, blink)


def make_plan(subjects: int, clips_per_subject: int, seed: int, opts: SynthOptions) -> list[ClipPlan]:
    schedule = class_schedule(subjects, clips_per_subject, opts.classes)
    plans = []
    for s in range(subjects):
        order = np.random.default_rng([seed, s, 7919]).permutation(clips_per_subject)
        for j in range(clips_per_subject):
            emotion = schedule[s][int(order[j])]
            rng = np.random.default_rng([seed, s, j, 1])
            plans.append(plan_clip(rng, s, j, emotion, opts))
    return plans


# --- rendering ------------------------------------------------------------------------------------

def subject_face(seed: int, subject_index: int, size: int) -> SubjectFace:
    """The identity of subject ``subject_index`` of a benchmark made with ``seed``."""
    params = draw_identity(np.random.default_rng([seed, subject_index, 0]), subject_index)
    return build_subject_face(params, size)


def _face_centre(face: SubjectFace) -> tuple[float, float]:
    c = face.landmarks[list(FACE_OVAL)].mean(0)
    return float(c[0]), float(c[1])


def _clip_scene(face: SubjectFace, plan: ClipPlan, seed: int, opts: SynthOptions):
    """Fields, courses and head motion of one clip, plus its truth record."""
    px_per_224 = face.iod / IOD_224
    anchors = face.anchors()
    expression = np.zeros((face.size, face.size, 2), np.float32)
    true_aus = []
    for number, side, amp in plan.aus:
        au = ActionUnit(number, side)  # type: ignore[arg-type]
        f = au_field(face, au, amp * px_per_224)
        expression += f
        regions = tuple(r for r, *_ in expected_motions(au))
        disp = {r: tuple(round(float(v), 4) for v in forward_displacement(f, anchors[r])) for r in regions}
        peak = float(np.sqrt((f ** 2).sum(-1)).max())
        true_aus.append(TrueAU(number, side, amp, round(peak, 4), regions, disp))  # type: ignore[arg-type]
    blink_field = au_field(face, ActionUnit(45), opts.blink_amplitude_px) if plan.blink else \
        np.zeros_like(expression)
    strength = time_course(plan.n_frames, plan.apex_index)
    blink = blink_course(plan.n_frames, *plan.blink) if plan.blink else np.zeros(plan.n_frames)
    rng = np.random.default_rng([seed, plan.subject_index, plan.clip_index, 2])
    head = HeadMotion.draw(rng, opts.head_motion_px, _face_centre(face))
    flicker = 1.0 + opts.flicker * rng.standard_normal(plan.n_frames)

    h0 = head.at(0.0)
    ha = head.at(plan.apex_index / opts.fps)
    centres = {r: apply_affine(h0, a) for r, a in anchors.items()}
    apex_disp = strength[plan.apex_index] * expression + blink[plan.apex_index] * blink_field
    region_flow = {}
    for r, a in anchors.items():
        moved = apply_affine(ha, a + forward_displacement(apex_disp, a))
        region_flow[r] = tuple(round(float(v), 4) for v in moved - centres[r])
    fc = np.array(_face_centre(face))
    head_px = float(np.linalg.norm(apply_affine(ha, fc) - apply_affine(h0, fc)))
    blink_frames = None
    if plan.blink:
        lo = max(plan.blink[0], 0)
        hi = min(plan.blink[0] + plan.blink[1], plan.n_frames - 1)
        if lo <= hi:
            blink_frames = (plan.first_frame + lo, plan.first_frame + hi)
    aus_for_class = [a.action_unit() for a in true_aus]
    truth = ClipTruth(
        sample_id=plan.sample_id, subject=plan.subject, clip=plan.clip, emotion=plan.emotion,
        objective_class=objective_class(aus_for_class), fps=opts.fps,
        onset=plan.first_frame, apex=plan.first_frame + plan.apex_index,
        offset=plan.first_frame + plan.n_frames - 1, aus=tuple(true_aus),
        region_centres={r: (round(float(c[0]), 3), round(float(c[1]), 3)) for r, c in centres.items()},
        region_flow=region_flow, head_motion_px=round(head_px, 4), blink=blink_frames,
        frame_size=face.size, iod_px=round(face.iod, 3))
    renderer = ClipRenderer(face, expression, blink_field)
    return truth, renderer, strength, blink, head, flicker, rng


def render_clip(face: SubjectFace, plan: ClipPlan, seed: int, opts: SynthOptions, folder: Path) -> ClipTruth:
    """Write one clip's JPEG frames into ``folder`` (made complete, then renamed into place)."""
    truth, renderer, strength, blink, head, flicker, rng = _clip_scene(face, plan, seed, opts)
    if folder.is_dir():
        return truth
    tmp = folder.with_name(f".{folder.name}.partial")
    if tmp.exists():
        for p in tmp.iterdir():
            p.unlink()
    tmp.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, opts.jpeg_quality]
    for i in range(plan.n_frames):
        noise = (rng.standard_normal((face.size, face.size, 3), dtype=np.float32) * np.float32(opts.noise_sigma)
                 if opts.noise_sigma > 0 else None)
        img = renderer.render(float(strength[i]), float(blink[i]), head.at(i / opts.fps), float(flicker[i]), noise)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        (tmp / f"img{plan.first_frame + i}.jpg").write_bytes(buf.tobytes())
    tmp.rename(folder)
    return truth


# --- outputs ---------------------------------------------------------------------------------------

def _subject_cell(subject_index: int) -> int | str:
    """CASME II writes subjects as ``1`` or ``01``; SynthME alternates to keep loaders honest."""
    n = subject_index + 1
    return n if subject_index % 2 == 0 else f"{n:02d}"


def coding_sheet_bytes(truths: Sequence[ClipTruth]) -> bytes:
    """The CASME II coding spreadsheet, byte-identical for identical content.

    openpyxl stamps the current time into the document properties and the zip entries; both are
    pinned here so that the same seed gives the same file.
    """
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(list(COLUMNS))
    for t in truths:
        subject_index = int(t.subject[3:]) - 1
        ws.append([_subject_cell(subject_index), t.clip, t.onset, t.apex, t.offset, t.au_string,
                   t.emotion, _ROMAN_TO_INT[t.objective_class]])
    return deterministic_xlsx(wb)


def deterministic_xlsx(wb) -> bytes:
    """An openpyxl workbook as bytes that depend on its content only (no save-time stamps)."""
    import datetime

    fixed = datetime.datetime(2024, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "deftmer synth"
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _pin_core_dates(data)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
    return out.getvalue()


def _pin_core_dates(xml: bytes) -> bytes:
    import re

    return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>2024-01-01T00:00:00Z\g<2>", xml)


def _truth_to_json(t: ClipTruth) -> dict:
    d = asdict(t)
    d["aus"] = [asdict(a) for a in t.aus]
    return d


# --- entry point -------------------------------------------------------------------------------

def _settings(subjects: int, clips_per_subject: int, seed: int, opts: SynthOptions) -> dict:
    return {"format": _FORMAT_VERSION, "subjects": subjects, "clips_per_subject": clips_per_subject,
            "seed": seed, "options": asdict(opts)}


def _check_out(out: Path, settings: dict, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose another output path")
    marker = out / SETTINGS_NAME
    if marker.is_file():
        old = json.loads(marker.read_text())
        if old != json.loads(json.dumps(settings)) and not overwrite:
            raise UserError(f"{out} holds a SynthME benchmark made with other settings; choose another "
                            "folder or pass --overwrite")
        if old != json.loads(json.dumps(settings)):
            _clear(out)
    elif any(out.iterdir()):
        raise UserError(f"{out} is not empty and is not a SynthME folder; choose an empty or new folder")


def _clear(out: Path) -> None:
    import shutil

    for p in out.iterdir():
        if p.is_dir() and (p.name.startswith("sub") or p.name.startswith(".")):
            shutil.rmtree(p)
        elif p.name in (ANNOTATION_NAME, TRUTH_NAME, SETTINGS_NAME):
            p.unlink()


def generate_synthme(out: str | Path, subjects: int = 8, clips_per_subject: int = 6, seed: int = 0,
                     options: SynthOptions | None = None, overwrite: bool = False,
                     progress: bool = True) -> SynthSummary:
    """Render a SynthME benchmark into ``out`` in the CASME II layout and return what was written.

    Deterministic: the same arguments give byte-identical files. Resumable: finished clips are
    kept (each clip folder appears only when complete), so a rerun after Ctrl-C picks up where
    it stopped.
    """
    opts = options or SynthOptions()
    opts.validate()
    if subjects < 1 or clips_per_subject < 1:
        raise UserError("--subjects and --clips-per-subject must be at least 1")
    if subjects > 99 or clips_per_subject > 99:
        raise UserError("SynthME names subjects sub01..sub99 and clips EP01..EP99: use at most 99 of each")
    out = Path(out)
    settings = _settings(subjects, clips_per_subject, seed, opts)
    _check_out(out, settings, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / SETTINGS_NAME, settings)

    t0 = time.perf_counter()
    plans = make_plan(subjects, clips_per_subject, seed, opts)
    truths: list[ClipTruth] = []
    rendered = 0
    with make_progress(transient=not progress) as bar:
        bar.disable = not progress
        task = bar.add_task("SynthME clips", total=len(plans))
        faces: dict[int, SubjectFace] = {}
        for plan in plans:
            if plan.subject_index not in faces:
                faces.clear()
                faces[plan.subject_index] = subject_face(seed, plan.subject_index, opts.size)
            face = faces[plan.subject_index]
            folder = out / plan.subject / plan.clip
            existed = folder.is_dir()
            truths.append(render_clip(face, plan, seed, opts, folder))
            rendered += 0 if existed else 1
            bar.advance(task)
    atomic_write_bytes(out / ANNOTATION_NAME, coding_sheet_bytes(truths))
    doc = {"format": _FORMAT_VERSION, "dataset": "synthme", "seed": seed, "fps": opts.fps,
           "frame_size": opts.size, "classes": list(opts.classes), "settings": settings,
           "clips": [_truth_to_json(t) for t in truths]}
    atomic_write_json(out / TRUTH_NAME, doc)
    counts = {c: sum(t.emotion == c for t in truths) for c in opts.classes}
    return SynthSummary(root=out, annotation=out / ANNOTATION_NAME, truth=out / TRUTH_NAME,
                        subjects=subjects, clips=len(truths), class_counts=counts,
                        frames=sum(t.offset - t.onset + 1 for t in truths), rendered_clips=rendered,
                        seconds=time.perf_counter() - t0)


def emotion_rule_check(combos: Mapping[str, Iterable[tuple[int, ...]]] = CLASS_COMBOS) -> list[str]:
    """Combos that break the FACS/EMFACS rules the classes are meant to follow (empty = all good).

    happiness/disgust/surprise combos must match their EMFACS prototype; "others" combos must
    match no emotion at all.
    """
    bad = []
    for emotion, cs in combos.items():
        for combo in cs:
            got = emfacs_emotion([ActionUnit(n) for n in combo])
            if emotion == "repression":  # not an EMFACS emotion; CASME II codes it from context
                continue
            want = None if emotion == "others" else emotion
            if got != want:
                bad.append(f"{emotion}: {'+'.join(map(str, combo))} -> {got}")
    return bad


__all__ = [
    "CLASS_COMBOS", "SynthOptions", "SynthSummary", "generate_synthme", "make_plan", "class_schedule",
    "emotion_rule_check",
]
