"""The cache: atomic per-sample files keyed by config, resumable runs, failures that do not stop a run."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from synthclips import make_clip

import deftmer.preprocess.runner as runner
from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess import PreparedCache, PreprocessConfig, load_clip_inputs, prepare_dataset
from deftmer.preprocess.cache import from_arrays, to_arrays

CFG = PreprocessConfig(flow="dis", size=128, dynamic_image_frames=4)
REGIONS = [("lip_corner_L", (1, -1)), ("brow_inner_R", (0, -1)), ("chin", (0, 1)), ("cheek_R", (0, -1))]


def write_sample(root: Path, subject: str, clip: str, frames: list[np.ndarray], apex: int | None) -> Sample:
    folder = root / subject / clip
    folder.mkdir(parents=True)
    paths = []
    for i, f in enumerate(frames):
        p = folder / f"img{i + 1}.png"
        cv2.imwrite(str(p), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        paths.append(p)
    n = len(frames)
    return Sample(dataset="toy", subject=subject, clip=clip, emotion="x", frames=tuple(paths),
                  frame_numbers=tuple(range(1, n + 1)), onset=1, apex=None if apex is None else apex + 1,
                  offset=n, label="x", problems=() if apex is not None else ("apex_missing",))


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> list[Sample]:
    root = tmp_path_factory.mktemp("toy")
    samples = []
    for k, (region, d) in enumerate(REGIONS):
        clip = make_clip(region, d, n_frames=9, apex=4, seed=k)
        samples.append(write_sample(root, f"s{k // 2}", f"c{k}", clip.frames, None if k == 3 else 4))
    blank = [np.full((64, 64, 3), 128, np.uint8)] * 3
    samples.append(write_sample(root, "s9", "noface", blank, 1))
    return samples


def assert_same(a, b) -> None:
    da, db = to_arrays(a), to_arrays(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert np.array_equal(da[k], db[k]), k


def test_roundtrip_keeps_every_field(toy, tmp_path):
    from deftmer.preprocess import prepare_sample

    p = prepare_sample(toy[0], CFG)
    q = from_arrays(to_arrays(p))
    assert_same(p, q)
    assert np.allclose(q.diff, p.diff) and q.head_motion == p.head_motion and q.meta == p.meta
    cache = PreparedCache(tmp_path, CFG)
    cache.save(toy[0], p)
    assert cache.has(toy[0]) and not cache.has(toy[1])
    assert_same(cache.load(toy[0]), p)
    assert not list(cache.path_for(toy[0]).parent.glob("*.tmp"))
    other = PreparedCache(tmp_path, CFG.model_copy(update={"flow": "farneback"}))
    assert other.path_for(toy[0]) != cache.path_for(toy[0]) and not other.has(toy[0])


def test_run_records_failures_and_goes_on(toy, tmp_path):
    report = prepare_dataset(toy, tmp_path, CFG, workers=2, progress=False)
    assert (report.total, report.computed, report.cached, report.failed) == (5, 4, 0, 1)
    assert (report.workers_requested, report.workers) == (2, 1)  # 5 clips do not repay a second process
    assert report.failures[0].sample_id == "toy/s9/noface" and "no face" in report.failures[0].reason
    assert report.apex_spotted == 1
    assert report.stage_seconds["flow"] > 0 and report.stage_seconds["write"] > 0
    assert (Path(report.cache_dir) / "report.json").is_file()
    # a second run finds everything done (the failure is remembered, not retried)
    again = prepare_dataset(toy, tmp_path, CFG, workers=1, progress=False)
    assert (again.computed, again.cached, again.failed) == (0, 4, 1)
    clips = load_clip_inputs(toy, tmp_path, CFG)  # the failed sample is skipped with a warning
    assert [c.id for c in clips] == [s.id for s in toy[:4]]
    assert clips[0].prepared.roi_masks.shape == (17, 128, 128)


def test_workers_are_started_only_when_the_clips_repay_them():
    assert runner.effective_workers(2, 5, "dis") == 1
    assert runner.effective_workers(2, 442, "dis") == 2
    assert runner.effective_workers(8, 100, "dis") == 2 and runner.effective_workers(8, 100, "tvl1") == 8
    assert runner.effective_workers(4, 3, "tvl1", min_clips_per_worker=1) == 3
    assert runner.effective_workers(1, 1000, "tvl1") == 1


def test_missing_samples_are_one_user_error(toy, tmp_path):
    with pytest.raises(UserError, match=r"5 of 5 samples are not in the preprocessing cache.*deftmer prepare"):
        load_clip_inputs(toy, tmp_path, CFG)


def test_interrupted_run_resumes_to_the_same_cache(toy, tmp_path, monkeypatch):
    full = tmp_path / "full"
    prepare_dataset(toy, full, CFG, workers=1, progress=False)

    part = tmp_path / "part"
    real = runner.prepare_one
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "prepare_one", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(toy, part, CFG, workers=1, progress=False)
    monkeypatch.setattr(runner, "prepare_one", real)
    cache_part, cache_full = PreparedCache(part, CFG), PreparedCache(full, CFG)
    assert sum(cache_part.has(s) for s in toy) == 2
    resumed = prepare_dataset(toy, part, CFG, workers=1, progress=False)
    assert (resumed.cached, resumed.computed, resumed.failed) == (2, 2, 1)
    for s in toy[:4]:
        assert_same(cache_part.load(s), cache_full.load(s))


@pytest.mark.slow
def test_process_pool_gives_the_same_cache(toy, tmp_path):
    one = prepare_dataset(toy, tmp_path / "one", CFG, workers=1, progress=False)
    two = prepare_dataset(toy, tmp_path / "two", CFG, workers=2, progress=False, min_clips_per_worker=1)
    assert two.workers == 2 and (two.computed, two.failed) == (one.computed, one.failed) == (4, 1)
    for s in toy[:4]:
        assert_same(PreparedCache(tmp_path / "one", CFG).load(s), PreparedCache(tmp_path / "two", CFG).load(s))


def test_stored_maps_are_float16_within_precision_and_load_as_float32(toy, tmp_path):
    from deftmer.preprocess import prepare_sample
    from deftmer.preprocess.flow import compute_flow

    p = prepare_sample(toy[0], CFG)
    cache = PreparedCache(tmp_path, CFG)
    cache.save(toy[0], p)
    with np.load(cache.path_for(toy[0])) as z:
        stored = {k: z[k] for k in z.files}
        assert z.zip.getinfo("flow.npy").compress_type == 0  # uncompressed (the speed choice)
    assert stored["flow"].dtype == np.float16 and stored["roi_masks_packed"].dtype == np.uint8
    q = cache.load(toy[0])
    assert q.flow.dtype == q.strain.dtype == q.dynamic.dtype == np.float32 and q.roi_masks.dtype == bool
    # the pipeline already rounds to storage precision: in memory (predict) == from the cache (training)
    for name in ("flow", "strain", "dynamic", "roi_masks", "apex_face", "onset_face", "landmarks"):
        assert np.array_equal(getattr(q, name), getattr(p, name)), name
    # ...and that rounding is far below flow error: < 1e-3 relative on a real onset->apex flow
    raw = compute_flow(p.onset_face, p.apex_face, "dis")
    moving = np.abs(raw) > 1e-3
    assert moving.sum() > 1000
    rounded = raw.astype(np.float16).astype(np.float32)
    assert (np.abs(rounded - raw)[moving] / np.abs(raw)[moving]).max() < 1e-3


def test_format_one_files_still_load(toy, tmp_path):
    """Caches written before the float16 format (compressed float32, unpacked masks) stay readable."""
    import io
    import json

    from deftmer.preprocess import prepare_sample
    from deftmer.utils.io import atomic_write_bytes

    p = prepare_sample(toy[1], CFG)
    old = {"apex_face": p.apex_face, "onset_face": p.onset_face, "flow": p.flow, "strain": p.strain,
           "dynamic": p.dynamic, "landmarks": p.landmarks, "roi_masks": p.roi_masks,
           "head_motion": np.asarray(p.head_motion, np.float64),
           "info": np.array(json.dumps({"format": 1, "sample_id": p.sample_id, "dataset": p.dataset,
                                        "subject": p.subject, "label": p.label, "onset_index": p.onset_index,
                                        "apex_index": p.apex_index, "apex_spotted": p.apex_spotted,
                                        "flow_method": p.flow_method, "meta": p.meta}))}
    buf = io.BytesIO()
    np.savez_compressed(buf, **old)
    cache = PreparedCache(tmp_path, CFG)
    atomic_write_bytes(cache.path_for(toy[1]), buf.getvalue())
    q = cache.load(toy[1])
    assert np.array_equal(q.flow, p.flow) and np.array_equal(q.roi_masks, p.roi_masks)
    assert q.apex_index == p.apex_index and q.meta == p.meta


def test_the_failure_table_says_how_many_it_leaves_out(tmp_path, capsys, monkeypatch):
    from deftmer.utils.console import console

    monkeypatch.setattr(console, "_width", 300)
    report = runner.PrepareReport(cache_dir=str(tmp_path), config_hash="abc", flow="dis", workers=1, total=30,
                                  failures=[runner.Failure(f"d/s/c{i}", "no face") for i in range(25)],
                                  left_out={"absent": 246})
    report.print()
    out = capsys.readouterr().out
    assert "failures (25)" in out and "d/s/c19" in out and "d/s/c20" not in out
    assert (f"... and 5 more failure(s): the first 20 are shown, all 25 are listed in {tmp_path / 'report.json'}"
            in out)
    assert "left out: absent" in out and "246" in out and "template landmarks" not in out
