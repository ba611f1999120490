"""Flowpack samples end to end: a release-like tree of real face crops and flow maps with a
known motion, through `load_dataset("flowpack")`, `prepare_dataset` and `deftmer prepare`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

from deftmer.data import load_dataset
from deftmer.data.frames import read_frame
from deftmer.facs import REGION_NAMES
from deftmer.preprocess import PreparedCache, PreprocessConfig, load_clip_inputs, prepare_dataset
from deftmer.preprocess.face import FaceLandmarker
from deftmer.preprocess.face_template import build_face_template, face_template, template_landmarks
from deftmer.preprocess.from_flowpack import decode_flowpack_flow
from deftmer.preprocess.rois import ROI_BY_NAME

HEADER = "dataset,sub,filename_o,label,apex,imagename,sub_filename"
SIDE = 28      # flow map side, as in the release
APEX = 224     # apex face side, as in the release
MAX_FLOW = 1.0  # px at 28 px that channel value 0 / 255 stands for (PreprocessConfig default)


@lru_cache(maxsize=1)
def astronaut_landmarks() -> np.ndarray:
    with FaceLandmarker() as lm:
        pts = lm.detect(astronaut())
    assert pts is not None
    return pts


def face_crop(pad: float) -> tuple[np.ndarray, np.ndarray]:
    """A 224x224 crop of the astronaut's face (``pad`` x the mesh box on each side; < 0 cuts into
    the face) and the true landmarks in the crop's pixels, carried through the crop exactly."""
    pts = astronaut_landmarks()
    lo, hi = pts.min(0), pts.max(0)
    box_lo, box_hi = lo - pad * (hi - lo), hi + pad * (hi - lo)
    x0, y0 = np.floor(box_lo).astype(int)
    x1, y1 = np.ceil(box_hi).astype(int)
    crop = cv2.resize(astronaut()[y0:y1, x0:x1], (APEX, APEX), interpolation=cv2.INTER_AREA)
    scale = np.array([APEX / (x1 - x0), APEX / (y1 - y0)])
    return crop, ((pts - [x0, y0]) * scale).astype(np.float32)


def encode_flow_png(u: np.ndarray, v: np.ndarray, strain: np.ndarray) -> np.ndarray:
    """The documented flowpack encoding: 127.5 = no motion, 0 / 255 = -/+ MAX_FLOW px; strain x 255."""
    chans = [127.5 + u / MAX_FLOW * 127.5, 127.5 + v / MAX_FLOW * 127.5, strain * 255.0]
    return np.clip(np.round(np.stack(chans, -1)), 0, 255).astype(np.uint8)


@dataclass
class Row:
    source: str
    sub: str
    clip: str
    label: int
    pad: float
    region: str
    motion: tuple[float, float]  # (u, v) px at 28 px; v < 0 is upwards
    strain: float


ROWS = [
    Row("casme2", "sub01", "EP02_01f", 1, 0.05, "lip_corner_L", (0.5, -0.4), 0.20),
    Row("samm", "006", "006_1_2", 0, 0.00, "brow_inner_R", (0.0, -0.6), 0.10),
    Row("smic", "s01", "s1_ne_01", 2, -0.25, "chin", (0.0, 0.7), 0.30),  # cut into the face: MediaPipe misses it
]


def region_centre(landmarks: np.ndarray, region: str) -> np.ndarray:
    return landmarks[list(ROI_BY_NAME[region].landmarks)].mean(axis=0)


def make_tree(root: Path) -> dict[str, Row]:
    """The release layout: CSV at the root, '<sub>_<filename_o> .png' flow maps, apex JPEGs."""
    flows, faces = root / "datasets" / "STSNet_whole_norm_u_v_os", root / "datasets" / "combined_datasets_whole"
    flows.mkdir(parents=True)
    faces.mkdir(parents=True)
    lines = [HEADER]
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    by_id = {}
    for r in ROWS:
        stem = f"{r.sub}_{r.clip}"
        lines.append(f"{r.source},{r.sub},{r.clip},{r.label},,{stem}.jpg,{stem}")
        crop, true_pts = face_crop(r.pad)
        cv2.imwrite(str(faces / f"{stem}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        # the motion sits where the region is in the crop: true anatomy when MediaPipe can see the
        # face, the template's region when it cannot (the sample's regions then come from the template)
        where = true_pts if r.pad >= 0 else template_landmarks(APEX)
        cx, cy = region_centre(where, r.region) * SIDE / APEX
        patch = (np.hypot(xx - cx, yy - cy) <= 1.5).astype(np.float32)
        png = encode_flow_png(r.motion[0] * patch, r.motion[1] * patch, r.strain * patch)
        cv2.imwrite(str(flows / f"{stem} .png"), cv2.cvtColor(png, cv2.COLOR_RGB2BGR))
        by_id[f"flowpack/{r.sub}/{r.clip}"] = r
    (root / "combined_3_class2_for_optical_flow.csv").write_text("\n".join(lines) + "\n")
    return by_id


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict[str, Row]]:
    root = tmp_path_factory.mktemp("flowpack")
    return root, make_tree(root)


def test_decode_follows_the_documented_encoding():
    u = np.full((SIDE, SIDE), 0.6, np.float32)
    v = np.full((SIDE, SIDE), -0.8, np.float32)
    png = encode_flow_png(u, v, np.full((SIDE, SIDE), 0.25, np.float32))
    flow, strain = decode_flowpack_flow(png, MAX_FLOW, encoding="fixed")
    assert flow.shape == (2, SIDE, SIDE) and strain.shape == (SIDE, SIDE)
    assert np.abs(flow[0] - 0.6).max() <= 0.5 / 127.5 and np.abs(flow[1] + 0.8).max() <= 0.5 / 127.5
    assert np.abs(strain - 0.25).max() <= 0.5 / 255


def minmax_png(u: np.ndarray, v: np.ndarray, strain: np.ndarray, order: str = "osvu") -> np.ndarray:
    """How public flow packs were made: each channel min-max scaled to 0..255 on its own, the
    arrays stacked (strain, v, u) and written with cv2.imwrite (so RGB as read is u, v, strain)."""
    chans = [cv2.normalize(c.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX) for c in (strain, v, u)]
    bgr = np.stack(chans if order == "osvu" else chans[::-1], -1)
    return np.round(bgr).astype(np.uint8)


def test_minmax_packs_decode_with_zero_at_the_median_and_the_right_signs(tmp_path):
    rng = np.random.default_rng(0)
    u = rng.normal(0, 0.02, (SIDE, SIDE)).astype(np.float32)
    v = rng.normal(0, 0.02, (SIDE, SIDE)).astype(np.float32)
    u[10:14, 6:10] += 0.6                     # one patch moves right and up
    v[10:14, 6:10] -= 0.4
    strain = np.hypot(u, v)
    for order, channels in (("osvu", "uvs"), ("uvos", "svu")):
        path = tmp_path / f"{order} .png"
        cv2.imwrite(str(path), minmax_png(u, v, strain, order))
        rgb = read_frame(path)
        flow, st = decode_flowpack_flow(rgb, MAX_FLOW, "minmax", channels)
        moving = np.zeros((SIDE, SIDE), bool)
        moving[10:14, 6:10] = True
        assert np.abs(np.median(flow[:, ~moving], axis=1)).max() < 0.02     # the still face decodes as still
        assert flow[0, moving].mean() > 1.0 and flow[1, moving].mean() < -1.0   # right and up, relative units
        assert st[moving].mean() > 5 * st[~moving].mean()
    # the fixed scale reads the same files as if 127.5 were zero: the still face would 'move'
    flow_fixed, _ = decode_flowpack_flow(read_frame(tmp_path / "osvu .png"), MAX_FLOW, "fixed")
    assert np.abs(np.median(flow_fixed[:, ~moving], axis=1)).min() > 0.5


def test_flowpack_tree_prepares_with_no_failures(tree, tmp_path):
    root, rows = tree
    ds = load_dataset("flowpack", root)
    assert sorted(s.id for s in ds.samples) == sorted(rows) and not ds.problems
    size = 112  # a configured size other than the release's 224: flow vectors must rescale
    cfg = PreprocessConfig(size=size, flowpack_encoding="fixed")   # the tree is written on the fixed scale
    report = prepare_dataset(ds.samples, tmp_path, cfg, workers=1, progress=False)
    assert (report.total, report.computed, report.failed) == (3, 3, 0), report.failures
    assert report.template_landmarks == 1
    scale = size / SIDE
    for clip in load_clip_inputs(ds.samples, tmp_path, cfg):
        p, row = clip.prepared, rows[clip.id]
        assert p.onset_face is None and p.diff is None and p.dynamic is None
        assert p.flow_method == "flowpack" and p.flow.dtype == np.float32 and p.flow.shape == (2, size, size)
        assert p.apex_face.shape == (size, size, 3) and p.apex_face.dtype == np.uint8
        assert p.roi_masks.shape == (len(REGION_NAMES), size, size) and (p.roi_masks.sum(axis=(1, 2)) > 20).all()
        assert p.meta["landmarks"] == ("template" if row.pad < 0 else "detected")
        # the known motion, at the region's centre: right sign, scaled to the configured size
        cx, cy = np.round(region_centre(p.landmarks, row.region)).astype(int)
        expected = np.array(row.motion) * scale
        assert p.flow[:, cy, cx] == pytest.approx(expected, abs=0.05 * scale)
        assert p.strain[cy, cx] == pytest.approx(row.strain, abs=0.01)
        # ...and the region with the largest mean motion is that region
        magnitude = p.magnitude
        top = REGION_NAMES[int(np.argmax([magnitude[m].mean() for m in p.roi_masks]))]
        assert top == row.region, (clip.id, top)
        mean = p.flow[:, p.roi_masks[REGION_NAMES.index(row.region)]].mean(axis=1)
        cos = mean @ expected / (np.linalg.norm(mean) * np.linalg.norm(expected))
        assert cos > 0.99


def test_detected_landmarks_stay_in_the_crop_frame(tree, tmp_path):
    """A detected face is not re-aligned: landmarks, image and flow share the release crop's frame."""
    root, rows = tree
    ds = load_dataset("flowpack", root)
    cfg = PreprocessConfig()
    prepare_dataset(ds.samples, tmp_path, cfg, workers=1, progress=False)
    cache = PreparedCache(tmp_path, cfg)
    for s in ds.samples:
        row = rows[s.id]
        if row.pad < 0:
            continue
        p = cache.load(s)
        _, true_pts = face_crop(row.pad)
        # MediaPipe's points on the crop are the crop's own anatomy (a few px), not eye-aligned ones
        assert np.median(np.hypot(*(p.landmarks - true_pts).T)) < 4.0
        assert p.apex_face.shape == (224, 224, 3) and "alignment" not in p.meta


def test_template_mode_gives_every_sample_the_same_regions(tree, tmp_path):
    root, _ = tree
    ds = load_dataset("flowpack", root)
    cfg = PreprocessConfig(flowpack_landmarks="template", size=128)
    report = prepare_dataset(ds.samples, tmp_path, cfg, workers=1, progress=False)
    assert (report.failed, report.template_landmarks) == (0, 3)
    masks = [c.prepared.roi_masks for c in load_clip_inputs(ds.samples, tmp_path, cfg)]
    assert all(np.array_equal(masks[0], m) for m in masks[1:])


def test_template_resource_matches_a_fresh_build_and_sits_like_a_face():
    shipped = face_template()
    assert shipped.shape == (478, 2) and shipped.dtype == np.float32
    assert np.abs(build_face_template() - shipped).max() < 1e-4
    # levelled eyes, the subject's right eye (33, 133) on the image left, nose tip (1) in the middle
    right_eye, left_eye = shipped[[33, 133]].mean(0), shipped[[362, 263]].mean(0)
    assert abs(right_eye[1] - left_eye[1]) < 1e-3 and right_eye[0] < 0.5 < left_eye[0]
    assert 0.4 < shipped[1, 0] < 0.6 and right_eye[1] < shipped[1, 1] < shipped[152, 1]


def test_cli_prepare_on_a_flowpack_root(tree, tmp_path):
    from deftmer.cli import main

    root, _ = tree
    cache = tmp_path / "cache"
    main(["prepare", "--dataset", "flowpack", "--root", str(root), "--cache", str(cache), "--workers", "1"])
    reports = list(cache.glob("*/report.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert (report["total"], report["computed"], report["failed"], report["template_landmarks"]) == (3, 3, 0, 1)
    assert len(list(cache.glob("*/flowpack/*/*.npz"))) == 3


def test_missing_or_corrupt_flow_maps_fail_alone_with_reasons(tmp_path):
    root = tmp_path / "pack"
    rows = make_tree(root)
    flows = root / "datasets" / "STSNet_whole_norm_u_v_os"
    (flows / "sub01_EP02_01f .png").unlink()
    (flows / "006_006_1_2 .png").write_bytes(b"not a png")
    ds = load_dataset("flowpack", root)
    report = prepare_dataset(ds.samples, tmp_path / "cache", PreprocessConfig(size=64), workers=1, progress=False)
    assert (report.computed, report.failed) == (1, 2)
    reasons = {f.sample_id: f.reason for f in report.failures}
    assert "no frames and no flow map PNG" in reasons["flowpack/sub01/EP02_01f"]
    assert "cannot be decoded" in reasons["flowpack/006/006_1_2"]
    assert set(rows) - set(reasons) == {"flowpack/s01/s1_ne_01"}
