"""The dual constraint: AU labels and optical flow must agree before either becomes text.

Flow -> labels: each labelled AU's regions must move above the noise floor in (about) the
direction FACS says; otherwise the AU is "weak" or "contradicted". Labels -> flow: strong
motion in a region that no labelled AU accounts for is "unexplained". The clip score and the
policy in `UnimerConfig` decide what the instruction text may say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deftmer.data.sample import ActionUnit, Sample
from deftmer.facs import AUS, MODEL_AUS, REGION_INDEX, expected_motions
from deftmer.unimer.config import UnimerConfig
from deftmer.unimer.motion import angle_between
from deftmer.unimer.records import AUVerdict, RegionMotionStats

VERDICT_CREDIT = {"supported": 1.0, "weak": 0.5, "contradicted": 0.0}


@dataclass
class ClipConsistency:
    """Outcome of the dual constraint for one clip."""

    sample_id: str
    verdicts: list[AUVerdict]
    unexplained: list[str]          # region names with strong motion no labelled AU explains
    unverifiable: list[str]         # labelled AUs with no local skin motion (head/eye codes, AU31...)
    score: float                    # mean verdict credit; 1.0 when nothing is labelled
    labelled: bool                  # False: the clip has no checkable AU labels (SMIC, flowpack)
    inferred: list[AUVerdict] = field(default_factory=list)  # AUs read from motion alone

    def kept(self, cfg: UnimerConfig) -> list[AUVerdict]:
        """Verdicts whose AU may appear in the text under ``cfg.policy``."""
        if cfg.policy == "keep_all":
            return list(self.verdicts)
        return [v for v in self.verdicts if v.verdict != "contradicted"]

    def passes(self, cfg: UnimerConfig) -> bool:
        """False when the ``drop_low_score`` policy removes the whole clip."""
        return cfg.policy != "drop_low_score" or self.score >= cfg.min_score


def _stats_by_region(stats: list[RegionMotionStats]) -> dict[str, RegionMotionStats]:
    return {s.region: s for s in stats}


def au_verdict(au: ActionUnit, stats: list[RegionMotionStats], cfg: UnimerConfig) -> AUVerdict | None:
    """Check one AU against its regions; None when the AU has no local motion to check.

    A region "agrees" when it moves with SNR >= ``support_snr`` within
    ``direction_tolerance_deg`` of the expected direction, and is "faint" at SNR >= ``weak_snr``.
    Supported: agreeing regions carry at least half the AU's FACS weight. Weak: some region
    agrees or is faint. Contradicted: no region moves the expected way (still, or the other way).
    """
    info = AUS.get(au.number)
    if info is None or not info.local:
        return None
    by_region = _stats_by_region(stats)
    motions = expected_motions(au)
    total = sum(w for *_, w in motions)
    agree_w = 0.0
    score_sum = 0.0
    faint = opposite = still = 0
    for region, dx, dy, w in motions:
        s = by_region[region]
        ang = angle_between(s.mean_u, s.mean_v, dx, dy)
        aligned = ang <= cfg.direction_tolerance_deg
        if aligned and s.snr >= cfg.support_snr:
            agree_w += w
        elif aligned and s.snr >= cfg.weak_snr:
            faint += 1
        elif s.snr < cfg.weak_snr:
            still += 1
        else:
            opposite += 1
        # graded support: saturates at the support SNR, scaled by how well the direction fits
        if aligned and s.snr >= cfg.weak_snr:
            score_sum += w * min(1.0, s.snr / cfg.support_snr) * math.cos(math.radians(ang))
    regions = tuple(sorted({r for r, *_ in motions}, key=REGION_INDEX.__getitem__))
    score = min(1.0, score_sum / total) if total else 0.0
    if agree_w >= 0.5 * total:
        verdict, reason = "supported", f"{agree_w / total:.0%} of the AU's regions move as expected"
    elif agree_w > 0 or faint:
        verdict, reason = "weak", "expected motion present but below the support threshold in most regions"
    else:
        verdict = "contradicted"
        reason = ("regions move in another direction" if opposite
                  else "no motion above the noise floor in the AU's regions")
    return AUVerdict(au=f"{au.side or ''}AU{au.number}", number=au.number, side=au.side, verdict=verdict,
                     regions=regions, score=round(score, 4), reason=reason)


def _explained_regions(aus: list[ActionUnit]) -> set[str]:
    return {r for a in aus for r, *_ in expected_motions(a)}


def infer_aus(stats: list[RegionMotionStats], cfg: UnimerConfig,
              candidates: tuple[int, ...] = MODEL_AUS) -> list[AUVerdict]:
    """AUs that the flow alone supports, for clips without AU labels.

    Conservative: an AU's side is where its main region agrees with FACS (both sides ->
    bilateral), the reading must be "supported", and AUs are taken best fit first, skipping
    one whose moving regions better-fitting AUs already account for (a lip corner pulled up and
    out reads as AU12, not also AU14; AU12's slight cheek lift is not also AU6).
    """
    by_region = _stats_by_region(stats)
    found: list[AUVerdict] = []
    for n in candidates:
        info = AUS.get(n)
        if info is None or not info.local:
            continue
        lateral = any(r.endswith(("_L", "_R")) for r in _primary_regions(ActionUnit(n)))
        side: str | None = None
        if lateral:
            sides = [sd for sd in ("L", "R") if _agrees(ActionUnit(n, sd), by_region, cfg)]
            if not sides:
                continue
            side = sides[0] if len(sides) == 1 else None
        v = au_verdict(ActionUnit(n, side), stats, cfg)
        if v is not None and v.verdict == "supported" and _agrees(ActionUnit(n, side), by_region, cfg):
            found.append(v)
    order = {n: i for i, n in enumerate(candidates)}
    # best fit first; on a tie the AU that accounts for more regions (AU6 before AU7)
    found.sort(key=lambda v: (-round(v.score, 2), -len(v.regions), order[v.number]))
    kept: list[AUVerdict] = []
    used: set[str] = set()
    for v in found:
        moving = _agreeing_regions(ActionUnit(v.number, v.side), by_region, cfg)
        if moving <= used:  # its motion is already accounted for (AU6's cheek lift from AU12)
            continue
        kept.append(v)
        used |= moving
    kept.sort(key=lambda v: order[v.number])
    return kept


def _agreeing_regions(au: ActionUnit, by_region: dict[str, RegionMotionStats], cfg: UnimerConfig) -> set[str]:
    """Regions of ``au`` that move above the weak SNR in the FACS direction."""
    return {r for r, dx, dy, _ in expected_motions(au)
            if by_region[r].snr >= cfg.weak_snr
            and angle_between(by_region[r].mean_u, by_region[r].mean_v, dx, dy) <= cfg.direction_tolerance_deg}


def _agrees(au: ActionUnit, by_region: dict[str, RegionMotionStats], cfg: UnimerConfig) -> bool:
    """True when a main region of ``au`` moves above the support SNR in the FACS direction."""
    for region, dx, dy, _w in expected_motions(au):
        if region not in _primary_regions(au):
            continue
        s = by_region[region]
        if s.snr >= cfg.support_snr and angle_between(s.mean_u, s.mean_v, dx, dy) <= cfg.direction_tolerance_deg:
            return True
    return False


def _primary_regions(au: ActionUnit) -> list[str]:
    """Regions of an AU's heaviest motion (e.g. the lip corners for AU12)."""
    motions = expected_motions(au)
    if not motions:
        return []
    top = max(w for *_, w in motions)
    return [r for r, _, _, w in motions if w == top]


def check_clip(sample: Sample, stats: list[RegionMotionStats], cfg: UnimerConfig) -> ClipConsistency:
    """Apply both directions of the constraint to one clip's labels and flow."""
    verdicts: list[AUVerdict] = []
    unverifiable: list[str] = []
    checked: list[ActionUnit] = []
    for au in sample.aus:
        v = au_verdict(au, stats, cfg)
        if v is None:
            unverifiable.append(str(au))
            continue
        verdicts.append(v)
        checked.append(au)
    labelled = bool(verdicts)
    inferred = [] if labelled else infer_aus(stats, cfg)
    # an AU the flow contradicts did not happen, so it explains no motion
    explaining = ([a for a, v in zip(checked, verdicts) if v.verdict != "contradicted"] if labelled
                  else [ActionUnit(v.number, v.side) for v in inferred])
    explained = _explained_regions(explaining)
    unexplained = [s.region for s in stats if s.snr >= cfg.unexplained_snr and s.region not in explained]
    score = sum(VERDICT_CREDIT[v.verdict] for v in verdicts) / len(verdicts) if verdicts else 1.0
    return ClipConsistency(sample_id=sample.id, verdicts=verdicts, unexplained=unexplained,
                           unverifiable=unverifiable, score=round(score, 4), labelled=labelled,
                           inferred=inferred)
