"""SynthME long videos: minutes of a neutral face with micro-expressions among distractors.

Spotting is only hard because faces do other things: blink, talk, turn, and show ordinary
(macro-)expressions. Each video here is one SynthME subject (`synth`'s renderer, so its AU
motion is the same FACS-directed displacement) filmed at 30 fps, with micro-expressions
(0.2-0.5 s, SynthME amplitudes) scattered between more distractors: macro-expressions
(1-3 s, several times larger), blinks, speech (the jaw and lips oscillating at syllable rate)
and head turns (a shift, roll and foreshortening to a new pose). Written in the CAS(ME)^2
layout (``rawpic/s15/15_0101synth/img1.jpg`` + ``CAS(ME)^2code_final.xlsx``, which the
CAS(ME)^2 loader reads unchanged) plus ``synthme_long_truth.json`` with every event,
distractors included.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deftmer.data.sample import ActionUnit
from deftmer.data.synthme_long import ANNOTATION_NAME, KINDS, TRUTH_NAME, LongEvent
from deftmer.errors import UserError
from deftmer.synth.face import SubjectFace
from deftmer.synth.generate import (
    CLASS_COMBOS,
    SYNTHME_CLASSES,
    _face_centre,
    _is_lateral,
    deterministic_xlsx,
    subject_face,
)
from deftmer.synth.motion import IOD_224, ClipRenderer, HeadMotion, au_field, blink_course, time_course
from deftmer.utils.console import make_progress
from deftmer.utils.io import atomic_write_bytes, atomic_write_json

FOLDER_OFFSET = 14          # participant 1 -> folder s15, as in CAS(ME)^2


@dataclass(frozen=True)
class LongSynthOptions:
    """What a long video holds, per minute, and how each kind of event looks."""

    size: int = 256
    fps: float = 30.0
    minutes: float = 1.0
    per_minute: dict[str, float] = field(default_factory=lambda: {
        "micro": 4, "macro": 2, "blink": 6, "speech": 2, "head_turn": 2})
    micro_s: tuple[float, float] = (0.2, 0.5)
    micro_amplitude_224: tuple[float, float] = (0.6, 2.0)
    macro_s: tuple[float, float] = (1.0, 3.0)
    macro_amplitude_224: tuple[float, float] = (4.0, 8.0)
    blink_s: tuple[float, float] = (0.1, 0.3)
    blink_amplitude_px: float = 3.0
    speech_s: tuple[float, float] = (1.0, 3.0)
    speech_amplitude_224: tuple[float, float] = (2.0, 5.0)
    head_turn_s: tuple[float, float] = (0.4, 1.2)
    head_turn_px: float = 8.0
    head_jitter_px: float = 0.8
    flicker: float = 0.008
    noise_sigma: float = 1.2
    jpeg_quality: int = 95
    min_gap_s: float = 0.6

    def validate(self) -> None:
        if not 96 <= self.size <= 1024 or not 10 <= self.fps <= 240:
            raise UserError("long SynthME needs a frame size of 96..1024 px and 10..240 fps")
        if not 0 < self.minutes <= 30:
            raise UserError(f"--minutes {self.minutes} must be in (0, 30]")
        if set(self.per_minute) - set(KINDS) or any(v < 0 for v in self.per_minute.values()):
            raise UserError(f"per_minute takes non-negative rates of {', '.join(KINDS)}")


# --- planning ---------------------------------------------------------------------------------

def _counts(rng: np.random.Generator, opts: LongSynthOptions) -> list[str]:
    kinds = []
    for kind in KINDS:
        rate = opts.per_minute.get(kind, 0.0) * opts.minutes
        n = int(np.floor(rate) + (rng.random() < rate - np.floor(rate)))
        kinds += [kind] * (max(n, 1) if kind == "micro" else n)
    return [kinds[i] for i in rng.permutation(len(kinds))]


def _duration(rng: np.random.Generator, kind: str, opts: LongSynthOptions) -> float:
    lo, hi = {"micro": opts.micro_s, "macro": opts.macro_s, "blink": opts.blink_s, "speech": opts.speech_s,
              "head_turn": opts.head_turn_s}[kind]
    return float(rng.uniform(lo, hi))


def _expression(rng: np.random.Generator, emotion: str, amplitude: tuple[float, float]):
    combo = CLASS_COMBOS[emotion][int(rng.integers(len(CLASS_COMBOS[emotion])))]
    side = ("L" if rng.random() < 0.5 else "R") if rng.random() < 0.25 else None
    return tuple((n, side if _is_lateral(n) else None, round(float(rng.uniform(*amplitude)), 4)) for n in combo)


def plan_video(seed: int, video: int, opts: LongSynthOptions) -> list[LongEvent]:
    """Events of one video, placed without overlap, with neutral gaps of at least ``min_gap_s``."""
    rng = np.random.default_rng([seed, video, 41])
    kinds = _counts(rng, opts)
    durations = [_duration(rng, k, opts) for k in kinds]
    total = opts.minutes * 60.0
    slack = total - sum(durations) - opts.min_gap_s * (len(kinds) + 1)
    if slack < 0:
        raise UserError(f"{len(kinds)} events do not fit in {opts.minutes} min; lower the rates or add minutes")
    gaps = opts.min_gap_s + slack * rng.dirichlet(np.ones(len(kinds) + 1))
    events, t = [], 0.0
    classes = [SYNTHME_CLASSES[(video * 7 + i) % len(SYNTHME_CLASSES)] for i in range(len(kinds))]
    for i, (kind, dur) in enumerate(zip(kinds, durations)):
        t += gaps[i]
        onset = 1 + int(round(t * opts.fps))
        n = max(4, int(round(dur * opts.fps)) + 1)
        events.append(_event(rng, kind, onset, n, classes[i], opts))
        t += dur
    return events


def _event(rng: np.random.Generator, kind: str, onset: int, n: int, emotion: str,
           opts: LongSynthOptions) -> LongEvent:
    offset = onset + n - 1
    if kind == "micro":
        apex = onset + int(round(rng.uniform(0.3, 0.55) * (n - 1)))
        return LongEvent(kind, onset, apex, offset, emotion, _expression(rng, emotion, opts.micro_amplitude_224))
    if kind == "macro":
        rise = min(int(round(rng.uniform(0.2, 0.4) * opts.fps)), (n - 2) // 2)
        fall = min(int(round(rng.uniform(0.25, 0.5) * opts.fps)), (n - 2) // 2)
        return LongEvent(kind, onset, onset + rise, offset, emotion, _expression(rng, emotion, opts.macro_amplitude_224),
                         {"rise": rise, "fall": fall})
    if kind == "speech":
        return LongEvent(kind, onset, onset, offset, params={
            "rate_hz": float(rng.uniform(3.0, 5.0)), "jaw_224": float(rng.uniform(*opts.speech_amplitude_224)),
            "phase": float(rng.uniform(0, 2 * np.pi)), "seed": float(rng.integers(1 << 30))})
    if kind == "head_turn":
        s = opts.head_turn_px
        return LongEvent(kind, onset, offset, offset, params={
            "tx": float(rng.uniform(-1, 1) * s), "ty": float(rng.uniform(-0.4, 0.4) * s),
            "roll_deg": float(rng.uniform(-5, 5)), "squeeze": float(rng.uniform(0.0, 0.06)),
            "back": float(rng.random() < 0.5)})
    return LongEvent(kind, onset, onset + (n - 1) // 2, offset)


# --- rendering --------------------------------------------------------------------------------

def _course(ev: LongEvent, fps: float) -> list[np.ndarray]:
    """Strength per frame of each of the event's fields (one course per field)."""
    n = ev.offset - ev.onset + 1
    t = np.arange(n) / fps
    if ev.kind == "micro":
        return [time_course(n, ev.apex - ev.onset)]
    if ev.kind == "macro":
        rise, fall = int(ev.params["rise"]), int(ev.params["fall"])
        c = np.ones(n)
        c[:rise + 1] = 0.5 - 0.5 * np.cos(np.pi * np.arange(rise + 1) / max(rise, 1))
        c[n - fall - 1:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fall + 1) / max(fall, 1))
        return [c]
    if ev.kind == "blink":
        return [blink_course(n, 0, n - 1)]
    if ev.kind == "speech":  # syllables: the jaw opens and closes, the lips round half a cycle later
        rng = np.random.default_rng(int(ev.params["seed"]))
        taper = np.clip(np.minimum(t, t[-1] - t) / 0.15, 0, 1)
        cycle = np.pi * ev.params["rate_hz"] * t + ev.params["phase"]
        loud = 0.5 + 0.5 * rng.random(int(np.ceil(cycle[-1] / np.pi)) + 2)[np.floor(cycle / np.pi).astype(int)]
        return [taper * loud * np.sin(cycle) ** 2, 0.5 * taper * loud * np.sin(cycle + np.pi / 2) ** 2]
    return []


def _fields(ev: LongEvent, face: SubjectFace, opts: LongSynthOptions) -> list[np.ndarray]:
    px = face.iod / IOD_224
    if ev.kind in ("micro", "macro"):
        return [sum(au_field(face, ActionUnit(n, side), amp * px) for n, side, amp in ev.aus)]  # type: ignore[arg-type]
    if ev.kind == "blink":
        return [au_field(face, ActionUnit(45), opts.blink_amplitude_px)]
    if ev.kind == "speech":
        jaw = ev.params["jaw_224"] * px
        return [au_field(face, ActionUnit(26), jaw), au_field(face, ActionUnit(18), 0.5 * jaw)]
    return []


def _pose_matrix(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """2x3 affine of a head pose (tx, ty, roll deg, squeeze) about the face centre."""
    th = np.deg2rad(p[2])
    lin = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) @ np.diag([1.0 - p[3], 1.0])
    return np.hstack([lin, (centre + p[:2] - lin @ centre)[:, None]])


def head_poses(events: list[LongEvent], n_frames: int) -> np.ndarray:
    """(n_frames + 1, 4) pose per frame number: each head turn moves to a new pose (or back) and stays."""
    poses = np.zeros((n_frames + 1, 4))
    current = np.zeros(4)
    for ev in (e for e in events if e.kind == "head_turn"):
        target = np.zeros(4) if ev.params["back"] and np.any(current) else \
            np.array([ev.params["tx"], ev.params["ty"], ev.params["roll_deg"], ev.params["squeeze"]])
        n = ev.offset - ev.onset + 1
        s = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n - 1, 1))
        poses[ev.onset:ev.offset + 1] = current + s[:, None] * (target - current)
        poses[ev.offset + 1:] = target
        current = target
    return poses


def render_video(face: SubjectFace, events: list[LongEvent], n_frames: int, seed: int, video: int,
                 opts: LongSynthOptions, write) -> None:
    """Render frames 1..n_frames and hand each RGB frame to ``write(number, rgb)``."""
    rng = np.random.default_rng([seed, video, 43])
    centre = np.array(_face_centre(face))
    jitter = HeadMotion.draw(rng, opts.head_jitter_px, tuple(centre))  # type: ignore[arg-type]
    poses = head_poses(events, n_frames)
    zero = np.zeros((face.size, face.size, 2), np.float32)
    grid = np.stack(np.meshgrid(np.arange(face.size), np.arange(face.size)), -1).astype(np.float32)
    pending = [e for e in events if e.kind != "head_turn"]
    active: tuple[LongEvent, list[np.ndarray], list[np.ndarray]] | None = None
    for f in range(1, n_frames + 1):
        if active is None and pending and pending[0].onset == f:
            ev = pending.pop(0)
            active = (ev, _fields(ev, face, opts), _course(ev, opts.fps))
        disp = zero
        if active is not None:
            ev, fields, courses = active
            disp = sum(c[f - ev.onset] * fld for c, fld in zip(courses, fields)).astype(np.float32)
            if f == ev.offset:
                active = None
        j = jitter.at(f / opts.fps)
        p = _pose_matrix(poses[f], centre)
        head = np.hstack([j[:, :2] @ p[:, :2], (j[:, :2] @ p[:, 2] + j[:, 2])[:, None]])
        noise = rng.standard_normal((face.size, face.size, 3), dtype=np.float32) * np.float32(opts.noise_sigma)
        gain = 1.0 + opts.flicker * float(rng.standard_normal())
        moving = 1.0 if disp is not zero else 0.0
        write(f, ClipRenderer(face, disp, zero, grid).render(moving, 0.0, head, gain, noise))


# --- writing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LongSynthSummary:
    root: Path
    videos: int
    frames: int
    counts: dict[str, int]
    rendered: int
    seconds: float


def video_names(video: int) -> tuple[str, str, str]:
    """(subject folder, video folder, expression-name stem) of video ``video`` (0-based)."""
    number = video + 1 + FOLDER_OFFSET
    code = f"{video + 1:02d}01"
    return f"s{number}", f"{number}_{code}synth", f"synth{video + 1}"


def _au_text(aus: tuple[tuple[int, str | None, float], ...]) -> str:
    return "+".join(f"{side or ''}{n}" for n, side, _ in aus)


def annotation_bytes(plans: list[list[LongEvent]]) -> bytes:
    """The CAS(ME)^2 workbook: header-less coding sheet plus the two naming-rule sheets."""
    from openpyxl import Workbook

    wb = Workbook()
    code = wb.active
    code.title = "CASFEcode_final"
    rule1, rule2 = wb.create_sheet("naming rule1"), wb.create_sheet("naming rule2")
    for v, events in enumerate(plans):
        subject, folder, stem = video_names(v)
        rule1.append([int(subject[1:]), subject, v + 1])
        rule2.append([folder.split("_")[1][:4], stem])
        expressions = [e for e in events if e.kind in ("micro", "macro")]
        for k, e in enumerate(expressions, start=1):
            code.append([v + 1, f"{stem}_{k}", e.onset, e.apex, e.offset, _au_text(e.aus), e.emotion,
                         f"{e.kind}-expression", ""])
    return deterministic_xlsx(wb)


def _write_frames(folder: Path, quality: int):
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]

    def write(number: int, rgb: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        (folder / f"img{number}.jpg").write_bytes(buf.tobytes())
    return write


def _check_out(out: Path, settings: dict, overwrite: bool) -> None:
    import shutil

    marker = out / ".synthme_long_settings.json"
    if marker.is_file():
        if json.loads(marker.read_text()) == settings:
            return
        if not overwrite:
            raise UserError(f"{out} holds long SynthME videos made with other settings; choose another folder "
                            "or pass --overwrite")
        shutil.rmtree(out / "rawpic", ignore_errors=True)
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty and is not a long SynthME folder; choose an empty or new folder")


def generate_long_synthme(out: str | Path, videos: int = 4, seed: int = 0, options: LongSynthOptions | None = None,
                          overwrite: bool = False, progress: bool = True) -> LongSynthSummary:
    """Render ``videos`` long videos (one subject each) into ``out``; resumable and deterministic."""
    opts = options or LongSynthOptions()
    opts.validate()
    if not 1 <= videos <= 85:
        raise UserError("--videos must be in 1..85 (CAS(ME)^2 folder numbers stay two-digit)")
    out = Path(out)
    settings = json.loads(json.dumps({"format": 1, "videos": videos, "seed": seed, "options": asdict(opts)}))
    _check_out(out, settings, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / ".synthme_long_settings.json", settings)
    n_frames = int(round(opts.minutes * 60 * opts.fps))
    plans = [plan_video(seed, v, opts) for v in range(videos)]
    t0, rendered = time.perf_counter(), 0
    with make_progress(transient=not progress) as bar:
        bar.disable = not progress
        task = bar.add_task("long SynthME frames", total=videos * n_frames)
        for v, events in enumerate(plans):
            subject, folder_name, _ = video_names(v)
            folder = out / "rawpic" / subject / folder_name
            if not folder.is_dir():
                tmp = folder.with_name(f".{folder_name}.partial")
                tmp.mkdir(parents=True, exist_ok=True)
                write = _write_frames(tmp, opts.jpeg_quality)
                render_video(subject_face(seed, v, opts.size), events, n_frames, seed, v, opts,
                             lambda f, rgb, write=write: (write(f, rgb), bar.advance(task)))
                tmp.rename(folder)
                rendered += 1
            else:
                bar.advance(task, n_frames)
    atomic_write_bytes(out / ANNOTATION_NAME, annotation_bytes(plans))
    truth = {"format": 1, "dataset": "synthme_long", "fps": opts.fps, "frame_size": opts.size, "seed": seed,
             "n_frames": n_frames, "videos": [{"subject": video_names(v)[0], "video": video_names(v)[1],
                                               "events": [asdict(e) for e in ev]} for v, ev in enumerate(plans)]}
    atomic_write_json(out / TRUTH_NAME, truth)
    counts = {k: sum(e.kind == k for ev in plans for e in ev) for k in KINDS}
    return LongSynthSummary(out, videos, videos * n_frames, counts, rendered, time.perf_counter() - t0)
