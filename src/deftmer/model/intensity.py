"""A clip's motion relative to its own strongest region: MDMO's normalisation, in its two readings.

Subjects differ in expression intensity far more than in the PATTERN of where the face moves,
and a LOSO test subject's intensity is never seen in training. MDMO (Liu et al., TAFFC 2016)
divides each region's motion by the clip's largest region motion, which keeps the pattern and
drops the subject's scale. Two models here read it differently, and both readings live here:

* `scale_by_max_region_magnitude` (DEFT's motion expert and its reliability probe): region
  statistics (B, R, F) in torch; the motion columns are divided by the largest region MEAN FLOW
  MAGNITUDE, strain by the largest region mean strain, each divisor floored at 1e-6.
* `scale_by_max_main_direction` (``mdmo-svm``): one clip's main-direction vectors (R, 2) and
  histograms in numpy; divided by the LENGTH OF THE LONGEST MAIN-DIRECTION VECTOR, strain by
  the largest region strain, each divisor plus 1e-6.

They stay two functions because merging them changes numbers: the largest mean magnitude and
the longest main-direction vector are different quantities (the main direction averages only
the dominant direction bin), and a floor and an added epsilon differ for every clip. One
function would change the predictions of models already evaluated.

Neither imports torch: the torch one only calls tensor methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from deftmer.model.inputs import REGION_FEATURES

if TYPE_CHECKING:
    import torch

EPS = 1e-6
#: the flow columns of ``REGION_FEATURES`` that `scale_by_max_region_magnitude` rescales
MOTION_COLUMNS = [REGION_FEATURES.index(f) for f in ("mean_u", "mean_v", "mean_mag", "p90_mag", "std_u", "std_v")]
_MAG_COL = REGION_FEATURES.index("mean_mag")
_STRAIN_COL = REGION_FEATURES.index("mean_strain")


def scale_by_max_region_magnitude(region_feats: torch.Tensor) -> torch.Tensor:
    """Region statistics (B, R, F) relative to each clip's strongest region (DEFT).

    Flow columns are divided by the clip's largest region mean flow magnitude and strain by
    its largest region mean strain, each floored at ``EPS``; the other columns are 0. Same
    column order as ``REGION_FEATURES``; a still clip stays all-zero.
    """
    x = region_feats
    out = x.new_zeros(x.shape)
    scale = x[..., _MAG_COL].amax(1, keepdim=True).clamp_min(EPS)[..., None]
    out[..., MOTION_COLUMNS] = x[..., MOTION_COLUMNS] / scale
    strain = x[..., _STRAIN_COL].amax(1, keepdim=True).clamp_min(EPS)
    out[..., _STRAIN_COL] = x[..., _STRAIN_COL] / strain
    return out


def scale_by_max_main_direction(main: np.ndarray, hist: np.ndarray, strain: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One clip's main-direction vectors (R, 2), direction histograms (R, B) and strain (R, 1)
    relative to its strongest region (``mdmo-svm``).

    Motion (vectors and histograms) is divided by the longest main-direction vector plus
    ``EPS``, strain by the largest region strain plus ``EPS``.
    """
    scale = float(np.linalg.norm(main, axis=1).max()) + EPS
    return main / scale, hist / scale, strain / (float(strain.max()) + EPS)
