"""On SynthME (known apex and AUs): apex spotting and the strongest region, against the truth file."""

import numpy as np
import pytest

from deftmer.data import load_dataset
from deftmer.data.synthme import load_truth
from deftmer.facs import REGION_NAMES, expected_motions
from deftmer.preprocess import PreprocessConfig, prepare_sample
from deftmer.synth.generate import generate_synthme


@pytest.fixture(scope="module")
def synthme(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthme")
    generate_synthme(root, subjects=6, clips_per_subject=4, seed=1, progress=False)
    return load_dataset("synthme", root).samples, load_truth(root)


@pytest.mark.slow
def test_spotted_apex_within_three_frames_for_90_percent(synthme):
    samples, truth = synthme
    cfg = PreprocessConfig(flow="dis", spot_apex="always")
    hits = []
    for s in samples:
        p = prepare_sample(s, cfg)
        assert p.apex_spotted
        hits.append(abs(s.frame_numbers[p.apex_index] - truth[s.id].apex) <= 3)
    assert np.mean(hits) >= 0.9, f"{sum(hits)}/{len(hits)} apexes within 3 frames"


@pytest.mark.slow
def test_largest_motion_is_in_a_region_of_the_strongest_au_for_90_percent(synthme):
    samples, truth = synthme
    cfg = PreprocessConfig(flow="dis")
    hits = []
    for s in samples:
        p = prepare_sample(s, cfg)
        strongest = max(truth[s.id].aus, key=lambda a: a.peak_px)
        own = {r for r, *_ in expected_motions(strongest.action_unit())}
        magnitude = p.magnitude
        top = REGION_NAMES[int(np.argmax([magnitude[m].mean() for m in p.roi_masks]))]
        hits.append(top in own)
    assert np.mean(hits) >= 0.9, f"{sum(hits)}/{len(hits)} clips"
