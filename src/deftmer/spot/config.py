"""Settings of micro-expression spotting in long videos.

Durations are in seconds and turned into frames with each video's own frame rate, and every
threshold is relative to the video's own noise (median + k * MAD of its signals), so one set
of settings serves a 24 fps webcam clip and a 200 fps lab recording.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SpotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(160, ge=64, le=512, description="side of the aligned face crop the flow is computed on, px")
    max_fps: float = Field(30.0, gt=0, description="faster videos are read every n-th frame down to about this rate")
    lag_s: float = Field(0.1, gt=0, description="flow of each frame against the frame this long before it")
    landmark_every: int = Field(2, ge=1, description="landmarks (and the face alignment) are refreshed every n-th "
                                                     "processed frame; the frames between reuse the alignment")
    threshold_mad: float = Field(5.0, gt=0, description="a candidate peaks above median + k * MAD of the motion score")
    extend_mad: float = Field(2.0, gt=0, description="a candidate extends while the score stays above median + k * MAD")
    me_max_s: float = Field(0.5, gt=0, description="a micro-expression lasts at most this long (onset to offset)")
    me_min_s: float = Field(0.06, ge=0, description="shorter movements are jolts or noise, not expressions")
    blink_ratio: float = Field(1.5, gt=0, description="blink: both upper eyelids move this many times more than "
                                                      "any region away from the eyes (and more than the lower lids)")
    smooth_s: float = Field(0.1, ge=0, description="moving average of each region's score over this long")
    speech_window_s: float = Field(1.0, gt=0, description="speech: how far before and after a mouth-led "
                                                          "candidate the mouth's activity is looked at")
    speech_activity: float = Field(0.2, gt=0, lt=1, description="speech: share of that time the mouth moves")
    head_ratio: float = Field(1.0, gt=0, description="head motion: the rigid head shift over the lag exceeds this "
                                                     "many times the face's own (non-rigid) motion")
    return_ratio: float = Field(0.65, gt=0, description="macro-expression: the face has not returned to where it "
                                                       "started (net shift > this share of the peak shift)")
    eye_y: float = Field(0.36, gt=0.0, lt=1.0, description="alignment targets, as in preprocessing")
    eye_distance: float = Field(0.30, gt=0.0, lt=1.0)
