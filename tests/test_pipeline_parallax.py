"""The parallax setting in the pipeline: recorded in howard.json, the correction's size per
frame in alignment.jsonl, a changed setting refused on --resume, a bad value refused in one
line. Uses the tiny clip and the random-init checkpoint of test_pipeline."""

import json

import pytest

from howard.errors import InputError

from test_pipeline import _matte, clip  # noqa: F401


def test_recorded_and_refused_on_resume(clip, tmp_path):  # noqa: F811
    out = tmp_path / "on"
    _matte(clip, out, outputs="rgba,bgr", parallax="on")
    assert json.loads((out / "howard.json").read_text())["settings"]["parallax"] == "on"
    records = [json.loads(line) for line in (out / "alignment.jsonl").read_text().splitlines()]
    # the tiny clip is planar: each frame's correction is measured, and small (under 1 px)
    assert records and all(0.0 <= r["parallax"] < 1.0 for r in records)
    with pytest.raises(InputError, match="parallax"):
        _matte(clip, out, outputs="rgba,bgr", parallax="off", resume=True)


def test_bad_mode(clip, tmp_path):  # noqa: F811
    with pytest.raises(InputError, match="parallax must be 'on' or 'off'"):
        _matte(clip, tmp_path / "bad", parallax="maybe")
