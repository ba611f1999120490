"""Preprocessing: face alignment, apex spotting, optical flow and strain, AU regions, the cache.

Heavy dependencies (MediaPipe) load lazily, so importing this package stays cheap.
"""

from deftmer.preprocess.cache import PreparedCache, load_clip_inputs
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.pipeline import prepare_frames, prepare_sample
from deftmer.preprocess.records import PreparedSample
from deftmer.preprocess.runner import PrepareReport, prepare_dataset

__all__ = [
    "PrepareReport", "PreparedCache", "PreparedSample", "PreprocessConfig", "load_clip_inputs",
    "prepare_dataset", "prepare_frames", "prepare_sample",
]
