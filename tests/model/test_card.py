"""The one model-card reader/writer: a folder written by `save_model_folder` reads back."""

import pytest

from deftmer.config import ExperimentConfig
from deftmer.data.labels import MEGC3
from deftmer.errors import CheckpointError
from deftmer.model.card import MODEL_CARD, read_model_card, save_model_folder, weights_file


def test_saved_folder_reads_back_with_its_extras(tmp_path):
    cfg = ExperimentConfig()
    out = save_model_folder(tmp_path / "m", "toy", cfg, MEGC3, "w.bin", lambda p: p.write_bytes(b"1"), stats={"a": 1})
    card = read_model_card(out, expected_model="toy")
    assert (out / MODEL_CARD).is_file() and weights_file(out, card.extra["weights"]).read_bytes() == b"1"
    assert card.class_set is MEGC3 and card.extra["stats"] == {"a": 1} and card.cfg.seed == cfg.seed
    with pytest.raises(CheckpointError, match="holds model 'toy'"):
        read_model_card(out, expected_model="other")
    (out / "w.bin").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        weights_file(out, "w.bin")
