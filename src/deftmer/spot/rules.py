"""Why a moving interval is not a micro-expression: blink, head motion, speech, duration, no return.

Each rule reads the candidate's own rows of the motion signals and compares them with the
same video's other rows or regions; none uses an absolute pixel threshold, so the rules hold
at any resolution. The first rule that applies names the rejection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deftmer.spot.config import SpotConfig
from deftmer.spot.intervals import AWAY_FROM_EYES, LOWER_LIDS, MOUTH, SCORED, UPPER_LIDS, MotionScore, chained_shift
from deftmer.spot.signals import MotionSignals

BLINK = "blink"
HEAD = "head motion"
SPEECH = "speech / mouth movement"
TOO_LONG = "too long (macro-expression)"
NO_RETURN = "no return to rest (longer expression or pose change)"
TOO_SHORT = "too brief (a jolt or noise)"
REASONS = (BLINK, HEAD, SPEECH, TOO_LONG, NO_RETURN, TOO_SHORT)


@dataclass(frozen=True)
class Extent:
    """A candidate in rows of the signals: the run [first, last] and the expression it implies."""

    first: int
    last: int
    onset: int
    apex: int
    offset: int
    regions: tuple[int, ...]       # strongest regions, strongest first
    peak: float                    # the score's peak
    returned: float                # net shift after the run / peak shift (0 = back at rest)


def extent(sig: MotionSignals, ms: MotionScore, first: int, last: int) -> Extent:
    """Onset, apex and offset rows of the run ``first..last`` of the lagged signal.

    The lagged shift of an expression starts one row after its onset and lasts ``lag`` rows
    past its offset; the apex is where the shift chained from the onset is largest.
    """
    lag = sig.lag
    onset = max(first - 1, 0)
    offset = max(last - lag + 1, onset + 1)
    peak_z = np.nanmax(ms.z[first:last + 1], axis=0)
    regions = tuple(int(i) for i in np.argsort(-np.nan_to_num(peak_z, nan=-np.inf)) if i in SCORED)[:3]
    shift = chained_shift(sig.region_flow[:last + lag + 1], onset, lag)[:, list(regions[:2])]
    size = np.linalg.norm(shift, axis=-1).sum(axis=1)
    apex = onset + int(np.argmax(size[:offset - onset + 1]))
    after = np.linalg.norm(shift[offset - onset:].mean(axis=0), axis=-1).sum()   # mean shift once it is over
    returned = float(after / max(size.max(), 1e-9))
    return Extent(first, last, onset, apex, offset, regions, float(ms.score[first:last + 1].max()), returned)


def is_blink(sig: MotionSignals, ms: MotionScore, e: Extent, cfg: SpotConfig) -> bool:
    """Both upper eyelids lead, and they start by closing.

    Leading: above the lower lids (which a blink drags along) and clearly above every region
    outside the eyes (an expression that narrows the eyes leads with the lower lids or the
    cheeks). Closing: the lids first move down (image y grows downwards); an upper-lid raise
    (AU5, surprise) leads with the same lids but moves them up.
    """
    rows = np.nan_to_num(ms.z[e.first:e.last + 1])
    upper = rows[:, UPPER_LIDS].min(axis=1).max()
    leads = upper > rows[:, LOWER_LIDS].max() and upper > cfg.blink_ratio * max(rows[:, AWAY_FROM_EYES].max(), 1e-6)
    closing = np.nansum(sig.region_flow[e.first:e.first + sig.lag + 1][:, UPPER_LIDS, 1]) > 0
    return bool(leads and closing)


def is_head_motion(sig: MotionSignals, e: Extent, cfg: SpotConfig) -> bool:
    """The head's rigid shift outweighs the face's own motion, and stands out in this video."""
    head = np.nan_to_num(sig.head[e.first:e.last + 1])
    face = np.linalg.norm(sig.region_flow[e.first:e.last + 1][:, list(e.regions[:2])], axis=-1).mean(axis=1)
    typical = float(np.nanmedian(sig.head)) if np.isfinite(sig.head).any() else 0.0
    return bool(head.max() > cfg.head_ratio * np.nanmax(face) and head.max() > 3 * typical)


def is_speech(ms: MotionScore, e: Extent, cfg: SpotConfig, rate: float) -> bool:
    """Mouth-led, and the mouth keeps moving around it: in the ``speech_window_s`` before and
    after the candidate the mouth is active for more than ``speech_activity`` of the time (a
    micro-expression of the mouth is one movement from and back to rest)."""
    if e.regions[0] not in MOUTH:
        return False
    mouth = np.nan_to_num(ms.z[:, MOUTH]).max(axis=1)
    from scipy.signal import find_peaks  # lazy: slow to import, and the CLI imports this module

    syllables, _ = find_peaks(mouth[e.first:e.last + 1], height=ms.low, distance=2)
    if len(syllables) >= 4:   # open-close cycles inside one run: an expression rises and falls once
        return True
    half = int(round(cfg.speech_window_s * rate))
    active = mouth > ms.low
    around = np.concatenate([active[max(e.first - half, 0):e.first], active[e.last + 1:e.last + 1 + half]])
    return bool(len(around) and around.mean() > cfg.speech_activity)


def rejection(sig: MotionSignals, ms: MotionScore, e: Extent, cfg: SpotConfig) -> str | None:
    """The first rule that rejects the candidate, or None for a micro-expression."""
    seconds = (e.offset - e.onset) * sig.step / sig.fps
    if is_head_motion(sig, e, cfg):
        return HEAD
    if is_blink(sig, ms, e, cfg):
        return BLINK
    if is_speech(ms, e, cfg, sig.rate):
        return SPEECH
    if seconds > cfg.me_max_s:
        return TOO_LONG
    if seconds < cfg.me_min_s:
        return TOO_SHORT
    if e.returned > cfg.return_ratio:
        return NO_RETURN
    return None
