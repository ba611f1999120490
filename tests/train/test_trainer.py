"""Resumable, repeatable training of the DEFT model."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from model_toys import make_clips, tiny_config  # noqa: E402

from deftmer.data.labels import MEGC3  # noqa: E402
from deftmer.errors import CheckpointError  # noqa: E402
from deftmer.model.deft import DeftModel  # noqa: E402
from deftmer.train.trainer import CHECKPOINT  # noqa: E402


def _cfg():
    cfg = tiny_config()
    cfg.train.stage1_epochs = 3
    cfg.train.stage2_max_steps = 3
    cfg.train.checkpoint_every = 1
    return cfg


def _probs(model, clips):
    return np.array([[p.probs[c] for c in MEGC3.classes] for p in model.predict(clips)])


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_model(tmp_path):
    clips = make_clips(n_subjects=4, per_subject=4)
    reference = DeftModel(_cfg(), MEGC3)
    reference.fit(clips)

    def crash(phase, i, total):
        if phase == "stage2" and i == 2:
            raise Interrupt   # like Ctrl-C after stage-2 step 2 (checkpoint after step 2 written)

    first = DeftModel(_cfg(), MEGC3)
    with pytest.raises(Interrupt):
        first.fit(clips, progress=crash, checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = DeftModel(_cfg(), MEGC3)
    seen = []
    stats = resumed.fit(clips, progress=lambda phase, i, total: seen.append((phase, i)), checkpoint_dir=tmp_path)
    assert seen == [("stage2", 3)]          # stages 1/1b and steps 1-2 were not redone
    assert [r["step"] for r in stats["log"] if r["phase"] == "stage2"] == [0, 1, 2]
    assert np.array_equal(_probs(reference, clips), _probs(resumed, clips))
    # throughput counts the examples each phase really processed in this call
    tc = _cfg().train
    bs = min(tc.batch_size, len(clips))
    epochs = sum(r["phase"] == "stage1" for r in reference.stats["log"])
    llm_bs = min(tc.llm_batch_size, reference.stats["n_records"])
    assert reference.stats["stage1/samples"] == epochs * (len(clips) // bs) * bs
    assert reference.stats["stage1_llm/samples"] == tc.stage1_llm_steps * llm_bs
    assert reference.stats["stage2/samples"] == 3 * llm_bs
    assert reference.stats["stage2/samples_per_s"] == pytest.approx(3 * llm_bs / reference.stats["stage2_s"], rel=0.05)
    assert stats["stage2/samples"] == llm_bs and "stage1/samples" not in stats   # resumed: one step run now


def test_checkpoint_of_another_config_is_refused(tmp_path):
    clips = make_clips(n_subjects=2, per_subject=3)
    cfg = _cfg()
    cfg.train.stage2_max_steps = 2
    DeftModel(cfg, MEGC3).fit(clips, checkpoint_dir=tmp_path)
    other = _cfg()
    other.model.lora_rank = 2
    with pytest.raises(CheckpointError, match="different config"):
        DeftModel(other, MEGC3).fit(clips, checkpoint_dir=tmp_path)
