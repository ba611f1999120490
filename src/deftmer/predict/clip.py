"""One clip from a user's video or frame folder, end to end: read, find the face, spot onset
and apex, compute flow, predict with a saved model, and describe the measured motion.

This is what `deftmer predict` and `deftmer explain` share. Every step uses the stage that
owns it (preprocess, model registry, Uni-MER motion statistics), so a user's clip goes through
exactly the code a benchmark clip goes through. Only frames where a face is found are used: a
video whose face leaves the picture is cut to its run of face frames (and says so), so the
apex is never spotted on a frame without a face.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from deftmer.data.frames import read_clip_input
from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.eval.figures import ExplainContent, face_area_mask
from deftmer.facs import REGION_NAMES
from deftmer.model.api import MERModel, Prediction, RunConfig
from deftmer.preprocess import prepare_frames
from deftmer.preprocess.face import get_landmarker
from deftmer.preprocess.from_flowpack import as_flowpack_sample
from deftmer.preprocess.records import ClipInputs, PreparedSample
from deftmer.unimer.constraints import check_clip
from deftmer.unimer.describe import describe_region
from deftmer.unimer.motion import ranked_regions, region_stats
from deftmer.unimer.records import RegionMotionStats

MIN_FRAMES = 3


@dataclass
class MovingRegion:
    """A moving region as reported to the user (face terms: 'left' is the subject's left)."""

    region: str
    direction: str
    magnitude_px: float
    snr: float
    description: str


@dataclass
class ClipPrediction:
    """The answer for one clip; ``to_json`` is what ``deftmer predict --json`` prints."""

    input: str
    n_frames: int
    fps: float
    onset_index: int | None
    apex_index: int | None
    apex_spotted: bool
    label: str
    probs: dict[str, float]
    aus: list[str]
    description: str
    generated_text: str
    moving_regions: list[MovingRegion] = field(default_factory=list)
    motion_aus: list[str] = field(default_factory=list)   # AUs the measured flow is consistent with
    head_motion_px: tuple[float, float] = (0.0, 0.0)
    model: str = ""
    frames_without_face: int = 0
    face_frames: tuple[int, int] | None = None   # the run of face frames used (first, last)
    note: str = ""                               # what was chosen for the user (e.g. a later onset)
    # class probabilities of the parts of the model's decision, each alone, by part name (DEFT: the
    # LLM's class head and the experts' own head; see `deftmer.model.api.Prediction.parts`); empty
    # for other models
    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def read_clip(path: str | Path) -> tuple[list, float]:
    """Frames of a video or frame folder; fewer than 3 frames cannot show onset -> apex motion."""

    frames, fps = read_clip_input(path)
    if len(frames) < MIN_FRAMES:
        raise UserError(f"{path} has {len(frames)} frame(s); a micro-expression clip needs at least "
                        f"{MIN_FRAMES} (onset, apex and one more)")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise UserError(f"{path}: frames differ in size ({', '.join(str(s[:2]) for s in sorted(shapes)[:3])}); "
                        f"all frames of a clip must have one size")
    return frames, fps


def _check_index(name: str, value: int | None, n: int) -> None:
    if value is not None and not 0 <= value < n:
        raise UserError(f"--{name} {value} is outside the clip (frames 0..{n - 1})")


@dataclass(frozen=True)
class UserClip:
    """A user's clip as read: its frames, frame rate, and which frames show a face."""

    frames: list
    fps: float
    has_face: tuple[bool, ...]

    @property
    def without_face(self) -> int:
        return self.has_face.count(False)


def read_user_clip(path: str | Path) -> UserClip:
    """`read_clip`, then look for a face in every frame (MediaPipe, about 10 ms a frame)."""
    frames, fps = read_clip(path)
    return user_clip(frames, fps)


def user_clip(frames: list, fps: float) -> UserClip:
    """A `UserClip` of frames already decoded (a segment of a long video, say)."""

    landmarker = get_landmarker()
    return UserClip(frames, fps, tuple(landmarker.detect(f) is not None for f in frames))


def _face_runs(has_face: tuple[bool, ...]) -> list[tuple[int, int]]:
    """Runs of consecutive face frames as (first, last)."""
    runs, start = [], None
    for i, face in enumerate((*has_face, False)):
        if face and start is None:
            start = i
        elif not face and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def face_segment(clip: UserClip, name: str, onset: int | None = None, apex: int | None = None) -> tuple[int, int]:
    """The run of face frames the analysis uses: the one holding ``onset`` (or ``apex``) when
    given, else the longest. A given onset/apex without a face, or face-less frames between
    them, is one `UserError` naming the frames that do show a face."""
    n = len(clip.frames)
    _check_index("onset", onset, n)
    _check_index("apex", apex, n)
    if onset is not None and apex is not None and apex <= onset:
        raise UserError(f"--apex {apex} must come after --onset {onset}")
    runs = _face_runs(clip.has_face)
    if not runs:
        raise UserError(f"{name}: no face found in any of its {n} frames; give a clip that shows a frontal face")
    shown = ", ".join(f"{a}..{b}" for a, b in runs[:4]) + (" ..." if len(runs) > 4 else "")
    for flag, index in (("onset", onset), ("apex", apex)):
        if index is not None and not clip.has_face[index]:
            raise UserError(f"{name}: --{flag} {index} is a frame with no face (faces in frames {shown}); "
                            f"choose an {flag} among those")
    anchor = onset if onset is not None else apex
    run = next(r for r in runs if r[0] <= anchor <= r[1]) if anchor is not None else max(
        runs, key=lambda r: (r[1] - r[0], -r[0]))
    if apex is not None and not run[0] <= apex <= run[1]:
        raise UserError(f"{name}: frames between --onset {onset} and --apex {apex} have no face (faces in frames "
                        f"{shown}); choose both in one of those runs")
    if run[1] - run[0] + 1 < MIN_FRAMES:
        raise UserError(f"{name}: the face is found in {run[1] - run[0] + 1} consecutive frame(s) only ({shown}); "
                        f"a micro-expression clip needs at least {MIN_FRAMES}")
    return run


def prepare_clip(frames: list, cfg: RunConfig, sample_id: str, onset: int | None = None,
                 apex: int | None = None) -> PreparedSample:
    """Face, alignment, onset/apex (spotted when not given) and flow for in-memory frames."""

    _check_index("onset", onset, len(frames))
    _check_index("apex", apex, len(frames))
    if onset is not None and apex is not None and apex <= onset:
        raise UserError(f"--apex {apex} must come after --onset {onset}")
    return prepare_frames(frames, cfg.preprocess, sample_id=sample_id, onset=onset, apex=apex)


def describe_motion(stats: list[RegionMotionStats], cfg: RunConfig, top: int = 4) -> list[MovingRegion]:
    """The strongest moving regions, in the Uni-MER wording (read from measured flow only)."""

    return [MovingRegion(s.region, s.direction, round(float(s.magnitude), 4), round(float(s.snr), 3),
                         describe_region(s, cfg.unimer))
            for s in ranked_regions(stats)[:top]]


def motion_sentence(moving: list[MovingRegion]) -> str:
    if not moving:
        return "No region moved clearly above the clip's noise floor."
    text = "; ".join(m.description for m in moving)
    return text[0].upper() + text[1:] + "."


def clip_sample(sample_id: str, fps: float, prepared: PreparedSample) -> Sample:
    """A minimal annotation record for an unlabelled user clip (the model API wants one)."""
    return Sample(dataset="input", subject="input", clip=sample_id, emotion="", onset=prepared.onset_index,
                  apex=prepared.apex_index, fps=fps or None)


def _prepare_faces(clip: UserClip, cfg: RunConfig, path: Path, onset: int | None,
                   apex: int | None) -> tuple[PreparedSample, tuple[int, int], str]:
    """`prepare_clip` on the run of face frames (indices stay those of the whole clip), and a
    note of what was chosen when the clip has frames without a face."""
    first, last = face_segment(clip, path.name, onset, apex)
    on, ap = (None if i is None else i - first for i in (onset, apex))
    prepared = prepare_clip(clip.frames[first:last + 1], cfg, path.stem or path.name, on, ap)
    prepared.onset_index += first
    prepared.apex_index = None if prepared.apex_index is None else prepared.apex_index + first
    note = ""
    if clip.without_face:
        note = (f"{clip.without_face} of {len(clip.frames)} frames show no face; used frames {first}..{last}"
                + (f" (onset: frame {first}, the first with a face)" if onset is None and first > 0 else ""))
    return prepared, (first, last), note


def predict_clip(path: str | Path, model: MERModel, cfg: RunConfig, onset: int | None = None,
                 apex: int | None = None, explain: bool = True,
                 clip: UserClip | None = None) -> tuple[ClipPrediction, PreparedSample]:
    """Run the whole pipeline on one clip; returns the analysis and the prepared inputs (for figures).

    ``clip`` = the clip already read with `read_user_clip` (so a CLI can check the input
    before it spends time loading a model).
    """

    path = Path(path)
    clip = clip if clip is not None else read_user_clip(path)
    frames, fps = clip.frames, clip.fps
    sample_id = path.stem or path.name
    prepared, used, note = _prepare_faces(clip, cfg, path, onset, apex)
    if cfg.data.dataset == "flowpack":
        # a model trained on a flow pack learned the pack's flow maps: give it the same

        prepared = as_flowpack_sample(prepared, cfg.preprocess, cfg.preprocess.flowpack_side)
    sample = clip_sample(sample_id, fps, prepared)
    pred: Prediction = model.predict([ClipInputs(sample, prepared)], explain=explain)[0]
    stats = region_stats(prepared)
    moving = describe_motion(stats, cfg)
    motion_aus = [v.au for v in check_clip(sample, stats, cfg.unimer).inferred]
    description = pred.evidence.strip() or motion_sentence(moving)
    return ClipPrediction(
        input=str(path), n_frames=len(frames), fps=float(fps), onset_index=prepared.onset_index,
        apex_index=prepared.apex_index, apex_spotted=bool(prepared.apex_spotted), label=pred.label,
        probs={k: round(float(v), 4) for k, v in pred.probs.items()}, aus=list(pred.aus),
        description=description, generated_text=pred.text, moving_regions=moving, motion_aus=motion_aus,
        head_motion_px=(round(float(prepared.head_motion[0]), 3), round(float(prepared.head_motion[1]), 3)),
        model=getattr(model, "name", ""), frames_without_face=clip.without_face, face_frames=used, note=note,
        parts={k: {c: round(float(v), 4) for c, v in p.items()} for k, p in pred.parts.items()},
    ), prepared


def explain_content(a: ClipPrediction, prepared: PreparedSample):
    """What the explain figure shows, from an analysis and its prepared inputs."""

    desc = a.description
    measured = motion_sentence(a.moving_regions)
    if measured not in desc:
        desc = f"{desc}\nMeasured: {measured}"
    frames = f"onset frame {a.onset_index}, apex frame {a.apex_index}{' (spotted)' if a.apex_spotted else ''}"
    return ExplainContent(onset_face=prepared.onset_face, apex_face=prepared.apex_face, flow=prepared.flow,
                          roi_masks=prepared.roi_masks, label=a.label, probs=a.probs,
                          aus=a.aus or [f"{au} (from motion)" for au in a.motion_aus],
                          description=desc, region_names=REGION_NAMES,
                          title=f"{Path(a.input).name}: {frames}",
                          face_mask=face_area_mask(prepared.flow.shape[1:], prepared.landmarks, prepared.roi_masks))
