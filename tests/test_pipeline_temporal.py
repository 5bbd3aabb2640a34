"""The temporal step in the pipeline: recorded in howard.json, smooths the alpha, and a run
interrupted and resumed writes the same bytes as one whole run. Uses the tiny clip and the
random-init checkpoint of test_pipeline."""

import json

import cv2
import numpy as np
import pytest

from howard.errors import InputError

from test_pipeline import N_SUB, _ctrl_c_at_fourth_frame, _digest, _matte, clip  # noqa: F401

OUTPUTS = "rgba,pha,bgr"


@pytest.fixture(scope="module")
def runs(clip, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("temporal")
    _matte(clip, root / "on", outputs=OUTPUTS, temporal="on")
    _matte(clip, root / "off", outputs=OUTPUTS, temporal="off")
    return root / "on", root / "off"


def _alphas(folder):
    return np.stack([cv2.imread(str(folder / "pha" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
                     for i in range(N_SUB)]).astype(np.float64) / 255


def test_recorded_and_smoother(runs):
    on, off = runs
    assert json.loads((on / "howard.json").read_text())["settings"]["temporal"] == "on"
    assert json.loads((off / "howard.json").read_text())["settings"]["temporal"] == "off"
    a_on, a_off = _alphas(on), _alphas(off)
    assert np.array_equal(a_on[0], a_off[0])  # nothing to carry into the first frame
    assert not np.array_equal(a_on[1:], a_off[1:])
    # the random network's alpha flickers; carried along the flow it changes less
    assert np.abs(np.diff(a_on, axis=0)).mean() < np.abs(np.diff(a_off, axis=0)).mean()
    assert (on / ".howard" / "temporal_pha").is_dir()
    assert not (off / ".howard" / "temporal_pha").exists()


def test_resume_is_byte_identical(clip, runs, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "cut"
    with _ctrl_c_at_fourth_frame(monkeypatch):
        _matte(clip, out, outputs=OUTPUTS, temporal="on")
    assert len(list((out / "rgba").iterdir())) == 3
    summary = _matte(clip, out, outputs=OUTPUTS, temporal="on", resume=True)
    assert summary["resumed_at"] == 3
    assert _digest(out) == _digest(runs[0])
    with pytest.raises(InputError, match="temporal"):
        _matte(clip, out, outputs=OUTPUTS, temporal="off", resume=True)


def test_bad_mode(clip, tmp_path):  # noqa: F811
    with pytest.raises(InputError, match="temporal"):
        _matte(clip, tmp_path / "bad", temporal="maybe")
