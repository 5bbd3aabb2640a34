"""The command line: every user error is one line on stderr, a non-zero exit, no traceback,
and an existing output folder is left exactly as it was (even with --overwrite)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from howard.cli import main
from howard.net.model import build_model
from howard.net.weights import save_checkpoint

H, W = 144, 256


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from tests.conftest import make_scene

    root = tmp_path_factory.mktemp("cli")
    scene = make_scene(400, 600)
    for name, shift in (("subject", 0), ("plate", 3)):
        folder = root / name
        folder.mkdir()
        for t in range(3):
            frame = scene[50 + t:50 + t + H, 50 + shift:50 + shift + W]
            cv2.imwrite(str(folder / f"{t:03d}.png"), frame[..., ::-1])
    wide = root / "wide.png"  # a plate of another aspect ratio
    cv2.imwrite(str(wide), scene[:H, :W * 2, ::-1])
    (root / "notmedia.mp4").write_text("not a video\n" * 50)
    (root / "emptydir").mkdir()
    cut = root / "noframes.mkv"
    gen = imageio_ffmpeg.write_frames(str(cut), (W, H), codec="libx264")
    gen.send(None)
    gen.send(np.zeros((H, W, 3), np.uint8).tobytes())
    gen.close()
    cut.write_bytes(cut.read_bytes()[:600])
    torch.manual_seed(0)
    save_checkpoint(build_model("mobilenetv2", refine=True), root / "random.pth", half=True)
    (root / "corrupt.pth").write_bytes((root / "random.pth").read_bytes()[:5000])
    torch.save({"state_dict": build_model("resnet50", refine=False).state_dict()},
               root / "base_only.pth")
    blocker = root / "afile"
    blocker.write_text("x")
    return root


def _snapshot(folder: Path):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def existing(tmp_path):
    """An output folder holding an earlier run's files."""
    out = tmp_path / "out"
    (out / "rgba").mkdir(parents=True)
    (out / "rgba" / "00000.png").write_bytes(b"earlier result")
    (out / "howard.json").write_text("{}")
    return out


def _run(args, env=None):
    return CliRunner().invoke(main, args, env=env)


CASES = {
    "missing subject": lambda r: [str(r / "nope.mp4"), str(r / "plate")],
    "missing plate": lambda r: [str(r / "subject"), str(r / "nope")],
    "not media": lambda r: [str(r / "notmedia.mp4"), str(r / "plate")],
    "video with no frames": lambda r: [str(r / "noframes.mkv"), str(r / "plate")],
    "empty folder": lambda r: [str(r / "emptydir"), str(r / "plate")],
    "aspect ratio": lambda r: [str(r / "subject"), str(r / "wide.png")],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_errors(case, inputs, existing):
    before = _snapshot(existing)
    res = _run(["matte", *CASES[case](inputs), str(existing), "--overwrite",
                "--weights", str(inputs / "random.pth")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("howard: error: "), res.stderr
    assert "Traceback" not in res.output
    assert _snapshot(existing) == before


@pytest.mark.parametrize("weights,match", [("corrupt.pth", "corrupt"),
                                           ("base_only.pth", "resnet50"),
                                           ("missing.pth", "no weights found")])
def test_weight_errors(weights, match, inputs, existing):
    before = _snapshot(existing)
    res = _run(["matte", str(inputs / "subject"), str(inputs / "plate"), str(existing),
                "--overwrite", "--weights", str(inputs / weights)])
    assert res.exit_code == 4, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], res.stderr
    assert _snapshot(existing) == before


def test_no_weights_anywhere(inputs, tmp_path, monkeypatch):
    import howard.net.weights

    args = ["matte", str(inputs / "subject"), str(inputs / "plate"), str(tmp_path / "o")]
    monkeypatch.setenv("HOWARD_WEIGHTS", str(tmp_path / "none.pth"))
    res = _run(args)
    assert res.exit_code == 4 and "HOWARD_WEIGHTS" in res.stderr
    monkeypatch.delenv("HOWARD_WEIGHTS")
    monkeypatch.setattr(howard.net.weights, "DEFAULT_WEIGHTS", "not-shipped.pth")
    res = _run(args)
    assert res.exit_code == 4 and "--weights" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_output_errors(inputs, existing):
    before = _snapshot(existing)
    weights = ["--weights", str(inputs / "random.pth")]
    res = _run(["matte", str(inputs / "subject"), str(inputs / "plate"), str(existing), *weights])
    assert res.exit_code == 3 and "not empty" in res.stderr
    res = _run(["matte", str(inputs / "subject"), str(inputs / "plate"),
                str(inputs / "afile" / "out"), *weights])
    assert res.exit_code == 3 and "cannot write" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _snapshot(existing) == before


def test_resume_with_other_settings(inputs, tmp_path):
    out = tmp_path / "o"
    weights = ["--weights", str(inputs / "random.pth"), "-q", "--threads", "1"]
    args = ["matte", str(inputs / "subject"), str(inputs / "plate"), str(out), *weights]
    assert _run(args).exit_code == 0
    before = _snapshot(out)
    res = _run(args + ["--resume", "--window", "1"])
    assert res.exit_code == 2 and "cannot resume" in res.stderr
    assert _snapshot(out) == before


# option, the value older folders meant (their howard.json lacks the key), the default now,
# a bad value; as the key and its repr appear in howard.json and in the refusal
OPTIONS_ADDED_LATER = {
    "refine_uncertain": ("--refine-uncertain", ("0", 0.0), 1.0, "2"),
    "low_light": ("--low-light", ("off", "off"), "auto", "dim"),
}


@pytest.mark.parametrize("key", sorted(OPTIONS_ADDED_LATER))
def test_options_added_later_are_recorded_and_older_folders_resume(key, inputs, tmp_path):
    flag, (text, old), default, bad = OPTIONS_ADDED_LATER[key]
    out = tmp_path / "o"
    weights = ["--weights", str(inputs / "random.pth"), "-q", "--threads", "1"]
    args = ["matte", str(inputs / "subject"), str(inputs / "plate"), str(out), *weights]
    assert _run(args + [flag, text]).exit_code == 0
    record = json.loads((out / "howard.json").read_text())
    assert record["settings"][key] == old
    # a folder written before the option existed behaved as ``old`` does
    del record["settings"][key]
    (out / "howard.json").write_text(json.dumps(record))
    before = _snapshot(out)
    res = _run(args + ["--resume"])
    assert res.exit_code == 2 and f"{key} was {old!r} there and is {default!r} now" in res.stderr
    assert _snapshot(out) == before
    assert _run(args + ["--resume", flag, text]).exit_code == 0
    res = _run(args + [flag, bad, "--overwrite"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_bad_option_values(inputs, tmp_path):
    base = ["matte", str(inputs / "subject"), str(inputs / "plate"), str(tmp_path / "o")]
    for extra in (["--backbone-scale", "2"], ["--outputs", "rgba,nope"],
                  ["--name-template", "frame.png"]):
        res = _run(base + extra + ["--weights", str(inputs / "random.pth")])
        assert res.exit_code != 0 and "Traceback" not in res.output, extra
    assert not any((tmp_path / "o").glob("*/*.png"))


def test_real_process_prints_one_line(inputs, tmp_path):
    """The installed entry point, as a user runs it."""
    res = subprocess.run([sys.executable, "-m", "howard.cli", "matte", str(inputs / "nope.mp4"),
                          str(inputs / "plate"), str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_python_m_howard_is_the_command():
    done = subprocess.run([sys.executable, "-m", "howard", "matte", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--weights" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "howard", "matte", "no-such.mp4", "x.mp4", "o"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
