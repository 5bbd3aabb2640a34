"""The plate mosaic in the pipeline: recorded per frame and in the run's summary, shown in
``bgr/``, and rebuilt exactly on --resume.

The plate pans: its first frames are framed 30 px to the side of the shot (the left strip of
the subject frames is not in them) and its later frames see that strip. 144x256, random-init
weights (the alpha is not judged here; what the network was given is).
"""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import howard
from conftest import write_frames
from howard.cli import main
from howard.net.model import build_model
from howard.net.weights import save_checkpoint
from test_pipeline import _ctrl_c_at_fourth_frame, _digest

H, W, N_SUB, N_PLATE = 144, 256, 6, 12
X0 = 40  # the subject camera's left edge in the scene


def _shift(j):
    """Plate frame j sees the scene 30 - 5 j px right of the shot (0 from frame 6 on)."""
    return 30 - 5 * j


@pytest.fixture(scope="module", autouse=True)
def _window_only():
    """Keep the aligner to its time-mapped window in this module: the whole-plate search
    would rightly pick the pan's later, fully framed plate frames, and the strip these tests
    need the mosaic for would not be missing."""
    from howard.align.search import PlateSearch

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PlateSearch, "widen", lambda self, picks, *a, **k: (picks, False))
        mp.setattr(PlateSearch, "more", lambda self, *a, **k: [])
        yield


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(subject folder, plate folder, checkpoint, scene as uint8)."""
    from howard.synth.samples import background, person

    root = tmp_path_factory.mktemp("mosaic")
    rng = np.random.default_rng(7)
    scene = np.uint8(background(rng, (H + 24, W + 2 * X0)) * 255 + 0.5)
    fgr, pha = person(rng, (H, W))
    sub = []
    for t in range(N_SUB):
        bg = scene[8 + t:8 + t + H, X0:X0 + W] / 255.0
        sub.append(np.uint8((fgr * pha[..., None] + bg * (1 - pha[..., None])) * 255 + 0.5))
    write_frames(root / "subject", sub)
    write_frames(root / "plate", [scene[8 + j:8 + j + H, X0 + _shift(j):X0 + _shift(j) + W]
                                  for j in range(N_PLATE)])
    # an offset plate no frame of which sees the left 30 px
    write_frames(root / "offset", [scene[8 + j:8 + j + H, X0 + 30:X0 + 30 + W]
                                   for j in range(N_PLATE)])
    torch.manual_seed(0)
    weights = save_checkpoint(build_model("mobilenetv2", refine=True), root / "random.pth",
                              metadata={"purpose": "test"}, half=True)
    return root / "subject", root / "plate", weights, scene, root / "offset"


def _matte(clip, out, plate=None, **options):
    subject, pan, weights = clip[:3]
    options.setdefault("progress", False)
    return howard.matte(str(subject), str(plate or pan), str(out), weights=str(weights),
                        device="cpu", threads=1, outputs="rgba,bgr", **options)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    return out, _matte(clip, out)


def test_records_and_summary(reference):
    out, summary = reference
    recs = [json.loads(x) for x in (out / "alignment.jsonl").read_text().splitlines()]
    first = recs[0]
    # the chosen plate frame misses the left strip; a later plate frame fills it
    assert first["valid"] < 0.9 and first["covered"] > 0.99 and first["mosaic"]
    assert all(r["covered"] >= r["valid"] for r in recs)
    assert all(r["uncovered"] == pytest.approx(1 - r["covered"], abs=2e-4) for r in recs)
    meta = json.loads((out / "howard.json").read_text())
    assert meta["coverage"]["uncovered_frames"] == summary["uncovered_frames"] == 0
    assert summary["uncovered_max"] < 0.01


def test_bgr_shows_the_filled_plate(reference, clip):
    """bgr/ holds what the network was given: in the strip the chosen plate frame misses,
    the scene itself (from the later plate frame), not the subject frame."""
    out, _ = reference
    scene = clip[3]
    t = 0
    bgr = howard.io.media.read_image(out / "bgr" / f"{t:05d}.png").astype(int)
    truth = scene[8 + t:8 + t + H, X0:X0 + W].astype(int)
    strip = np.s_[:, 2:28]
    assert np.abs(bgr[strip] - truth[strip]).mean() < 6  # colour-matched, bilinear
    frame = howard.io.media.read_image(clip[0] / f"{t:04d}.png").astype(int)
    person = np.abs(frame - truth).sum(2) > 60
    assert person[strip].mean() > 0.05  # the figure stands in the strip...
    assert (np.abs(bgr - frame).sum(2)[strip][person[strip]] > 60).mean() > 0.9  # ...not in bgr


def test_resume_is_byte_identical(clip, reference, tmp_path, monkeypatch):
    out = tmp_path / "cut"
    with _ctrl_c_at_fourth_frame(monkeypatch):
        _matte(clip, out)
    summary = _matte(clip, out, resume=True)
    assert summary["resumed_at"] == 3
    assert _digest(out) == _digest(reference[0])
    assert [json.loads(x)["mosaic"] for x in (out / "alignment.jsonl").read_text().splitlines()] \
        == [json.loads(x)["mosaic"] for x in
            (reference[0] / "alignment.jsonl").read_text().splitlines()]


def test_uncovered_frames_are_reported(clip, tmp_path):
    """A plate no frame of which sees a strip of 12 % of the width: every frame counts in
    howard.json and in the command's closing line."""
    subject, _, weights, _, offset = clip
    out = tmp_path / "offset"
    res = CliRunner().invoke(main, ["matte", str(subject), str(offset), str(out),
                                    "--weights", str(weights), "--device", "cpu",
                                    "--threads", "1"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "howard.json").read_text())
    assert meta["coverage"]["uncovered_frames"] == N_SUB
    assert 0.1 < meta["coverage"]["uncovered_max"] < 0.2
    assert f"{N_SUB} frames partly seen by no plate frame" in res.output
