"""Spot, then recognise: run a saved model on every micro-expression interval of a long video.

Spotting (`deftmer.spot`) finds the intervals; each one is then handed to `predict_clip` as a
clip of its own (onset = the interval's first frame, apex as spotted), so an interval goes
through exactly the code a single clip goes through, and its result has the same fields.
"""

from __future__ import annotations

from dataclasses import replace

from deftmer.model.api import MERModel, RunConfig
from deftmer.predict.clip import MIN_FRAMES, ClipPrediction, predict_clip, user_clip
from deftmer.spot.source import VideoSource
from deftmer.spot.spotter import SpottedInterval


def interval_range(interval: SpottedInterval, n_frames: int) -> tuple[int, int]:
    """Frames read for an interval: onset..offset, widened to the 3 frames a clip needs."""
    start, stop = interval.onset, max(interval.offset, interval.apex)
    while stop - start + 1 < MIN_FRAMES:
        if stop < n_frames - 1:
            stop += 1
        elif start > 0:
            start -= 1
        else:
            break
    return start, stop


def recognise_intervals(source: VideoSource, intervals: list[SpottedInterval], model: MERModel,
                        cfg: RunConfig, explain: bool = True) -> list[tuple[SpottedInterval, ClipPrediction]]:
    """(interval, its `ClipPrediction`) per interval, with frame indices of the whole video."""
    ranges = [interval_range(i, source.n_frames) for i in intervals]
    out = []
    for interval, (start, _stop), frames in zip(intervals, ranges, source.segments(ranges)):
        if len(frames) < MIN_FRAMES:  # the video ended before the container's frame count said
            continue
        apex = min(max(interval.apex - start, 1), len(frames) - 1)
        analysis, _ = predict_clip(source.path, model, cfg, onset=0, apex=apex, explain=explain,
                                   clip=user_clip(frames, source.fps))
        out.append((interval, replace(analysis, onset_index=start + (analysis.onset_index or 0),
                                      apex_index=start + (analysis.apex_index or 0))))
    return out


def interval_json(analysis: ClipPrediction, interval: SpottedInterval) -> dict:
    """``predict --json``'s object for one interval: today's fields, plus where it ends and its score."""
    return {**analysis.to_json(), "offset_index": interval.offset, "onset_s": round(interval.onset_s, 3),
            "apex_s": round(interval.apex_s, 3), "offset_s": round(interval.offset_s, 3),
            "spot_score": round(interval.score, 2)}


def label_recogniser(model: MERModel, cfg: RunConfig):
    """A `deftmer.spot.evaluate` recogniser: the predicted class of each spotted interval."""
    def recognise(source: VideoSource, intervals: list[SpottedInterval]) -> list[str | None]:
        found = {id(i): a.label for i, a in recognise_intervals(source, intervals, model, cfg, explain=False)}
        return [found.get(id(i)) for i in intervals]
    return recognise
