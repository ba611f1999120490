"""What several spotting tests share, made once per session: a rendered long video (frames and
an .avi) and a small trained model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from long_videos import TWO_MES_AND_A_BLINK, folder_to_video, render_folder  # noqa: E402


@pytest.fixture(scope="session")
def long_folder(tmp_path_factory) -> Path:
    """8 s at 30 fps: two micro-expressions and a blink between them (`TWO_MES_AND_A_BLINK`)."""
    return render_folder(tmp_path_factory.mktemp("long") / "video", TWO_MES_AND_A_BLINK, n_frames=240)


@pytest.fixture(scope="session")
def long_video(long_folder) -> Path:
    return folder_to_video(long_folder, long_folder.parent / "long.avi")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> tuple[Path, tuple[str, ...]]:
    """A saved mdmo-svm trained on five small SynthME clips (one per class), and its classes."""
    from deftmer.config import ExperimentConfig
    from deftmer.data import load_dataset
    from deftmer.models import create_model
    from deftmer.preprocess import load_clip_inputs, prepare_dataset
    from deftmer.synth.generate import SynthOptions, generate_synthme

    base = tmp_path_factory.mktemp("model")
    generate_synthme(base / "synthme", subjects=1, clips_per_subject=5, seed=0, progress=False,
                     options=SynthOptions(size=160, fps=100.0))
    cfg = ExperimentConfig.model_validate({"preprocess": {"flow": "dis", "size": 112}})
    ds = load_dataset("synthme", base / "synthme")
    prepare_dataset(ds.labelled(), base / "cache", cfg.preprocess, workers=1, progress=False)
    model = create_model("mdmo-svm", cfg, ds.class_set)
    model.fit(load_clip_inputs(ds.labelled(), base / "cache", cfg.preprocess))
    model.save(base / "ckpt")
    return base / "ckpt", ds.class_set.classes


@pytest.fixture()
def cli(capsys):
    """Run `deftmer ARGS` in this process (libraries and the landmarker stay loaded between
    calls): returns (exit code, stdout, stderr)."""
    from deftmer.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run
