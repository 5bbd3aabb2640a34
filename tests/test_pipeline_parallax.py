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


def test_sequential_run_corrects_parallax_too(clip, tmp_path):  # noqa: F811
    """--workers 0 applies the same correction as the overlapped loop: the same bytes, on a
    clip with near boards where the correction is at work."""
    import hashlib

    from howard.synth.clips import make_clip

    make_clip(tmp_path / "layers", 5, (144, 256), 6, write_gt=False, parallax=0.6, shake=2.0)
    _, _, weights = clip
    runs = {}
    for workers in (None, 0):
        out = tmp_path / f"w{workers}"
        howard_matte(tmp_path / "layers", out, weights, workers)
        runs[workers] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted((out / "bgr").glob("*.png"))}
        records = [json.loads(x) for x in (out / "alignment.jsonl").read_text().splitlines()]
        assert any(r["parallax"] > 0 for r in records)
    assert runs[None] == runs[0] and len(runs[0]) == 6


def howard_matte(folder, out, weights, workers):
    import howard
    howard.matte(str(folder / "subject.mp4"), str(folder / "plate.mp4"), str(out),
                 weights=str(weights), device="cpu", threads=1, outputs="bgr", progress=False,
                 workers=workers)
