"""Inputs the baselines read from a `PreparedSample`: region-pooled flow features and small flow images.

Both only use ``flow``, ``strain`` and ``roi_masks``, which every source has (flowpack
samples ship no onset frame), so the baselines run on everything the DEFT model runs on.
"""

from __future__ import annotations

import numpy as np

from deftmer.baselines.config import MdmoSvmConfig
from deftmer.model.intensity import scale_by_max_main_direction
from deftmer.preprocess.records import PreparedSample


def region_main_direction(u: np.ndarray, v: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """MDMO's per-region reading of flow: the mean vector of the dominant direction bin.

    ``u``/``v`` are the flow vectors of one region (1-D). Vectors are binned by angle into
    ``bins`` equal sectors; the main direction is the sector with the largest *summed
    magnitude* (MDMO counts vectors; weighting by magnitude keeps near-zero noise vectors,
    whose angle is random, from winning on a still region). Returns ``(mean_vector (2,),
    magnitude-weighted histogram (bins,))``, the histogram as mean magnitude per pixel.
    """
    if u.size == 0:
        return np.zeros(2, np.float32), np.zeros(bins, np.float32)
    mag = np.hypot(u, v)
    ang = np.arctan2(v, u)                                    # (-pi, pi], image coords (y down)
    idx = np.floor((ang + np.pi) / (2 * np.pi / bins)).astype(np.int64) % bins
    hist = np.bincount(idx, weights=mag, minlength=bins)
    main = int(np.argmax(hist))                               # ties -> lowest bin: deterministic
    sel = idx == main
    mean = np.array([u[sel].mean(), v[sel].mean()]) if sel.any() else np.zeros(2)
    return mean.astype(np.float32), (hist / u.size).astype(np.float32)


def mdmo_features(prepared: PreparedSample, cfg: MdmoSvmConfig) -> np.ndarray:
    """One clip -> a fixed-length vector, regions in ``facs.REGIONS`` order.

    Layout per region: main-direction mean flow (dx, dy) [+ ``direction_bins`` histogram]
    [+ mean strain]. Cartesian (dx, dy) rather than MDMO's (rho, theta): an angle wraps at
    +-pi, which a linear classifier cannot read. ``normalise="max_region"`` divides motion
    by the clip's largest region motion (MDMO's rho normalisation) and strain by its largest
    region strain, so a subject's overall expression intensity does not dominate.
    """
    u, v = prepared.flow[0], prepared.flow[1]
    strain = prepared.strain
    mains, hists, strains = [], [], []
    for mask in prepared.roi_masks:
        m = mask.astype(bool)
        mean, hist = region_main_direction(u[m], v[m], cfg.direction_bins)
        mains.append(mean)
        hists.append(hist)
        strains.append(float(strain[m].mean()) if m.any() else 0.0)
    main_arr = np.stack(mains)                               # (R, 2)
    hist_arr = np.stack(hists)                               # (R, B)
    strain_arr = np.asarray(strains, np.float32)[:, None]    # (R, 1)
    if cfg.normalise == "max_region":
        main_arr, hist_arr, strain_arr = scale_by_max_main_direction(main_arr, hist_arr, strain_arr)
    parts = [main_arr]
    if cfg.histograms:
        parts.append(hist_arr)
    if cfg.strain:
        parts.append(strain_arr)
    return np.concatenate(parts, axis=1).reshape(-1).astype(np.float32)


def mdmo_feature_dim(n_regions: int, cfg: MdmoSvmConfig) -> int:
    """Length of `mdmo_features` for ``n_regions`` regions under ``cfg``."""
    return n_regions * (2 + (cfg.direction_bins if cfg.histograms else 0) + (1 if cfg.strain else 0))


def flow_image(prepared: PreparedSample, size: int) -> np.ndarray:
    """(3, size, size) float32: u, v (in pixels of the resized image) and optical strain.

    Area interpolation averages the flow inside each output pixel, which is what the
    STSTNet/Off-ApexNet family feed their shallow CNNs (28 x 28 flow from a larger face).
    """
    import cv2  # lazy: the config tree imports this package

    src = prepared.flow.shape[-1]
    k = size / float(src)
    chans = []
    for plane, scale in ((prepared.flow[0], k), (prepared.flow[1], k), (prepared.strain, 1.0)):
        img = cv2.resize(np.ascontiguousarray(plane, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)
        chans.append(img * scale)
    return np.stack(chans).astype(np.float32)


def mirror_flow_image(img: np.ndarray) -> np.ndarray:
    """The flow image of the horizontally mirrored face: columns reversed and u negated."""
    out = img[:, :, ::-1].copy()
    out[0] = -out[0]
    return out
