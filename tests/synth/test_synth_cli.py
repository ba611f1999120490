"""`deftmer synth`: writes a readable benchmark; bad input is one line and exit code 2."""

from __future__ import annotations

import pytest

from deftmer.cli import main
from deftmer.data import load_dataset
from deftmer.data.synthme import ANNOTATION_NAME, TRUTH_NAME


def test_synth_command_writes_a_benchmark(tmp_path, capsys):
    out = tmp_path / "bench"
    main(["synth", str(out), "--subjects", "2", "--clips-per-subject", "1", "--seed", "3", "--fps", "60"])
    assert (out / ANNOTATION_NAME).is_file() and (out / TRUTH_NAME).is_file()
    ds = load_dataset("synthme", out)
    assert len(ds) == 2 and ds.subjects == ["sub01", "sub02"]
    assert {s.fps for s in ds.samples} == {60.0}
    assert "2 clips" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--subjects", "0"], "at least 1"),
    (["--classes", "joy"], "unknown SynthME classes"),
    (["--size", "20"], "outside"),
])
def test_synth_command_rejects_bad_input(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["synth", str(tmp_path / "b"), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
