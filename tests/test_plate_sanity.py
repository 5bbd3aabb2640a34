"""A plate of another place: one warning line, recorded in howard.json; --strict exits 5."""

import json

import numpy as np
import pytest

from howard.align.sanity import POOR_RESIDUAL, plate_warning


def _records(n, failed=0, residual=3.0):
    return [{"frame": i, "fallback": i < failed, "residual": residual} for i in range(n)]


class TestPlateWarning:
    def test_right_plate_is_quiet(self):
        assert plate_warning(_records(10)) is None

    def test_half_the_frames_failing_is_not_most(self):
        assert plate_warning(_records(10, failed=5)) is None

    def test_most_frames_failing(self):
        text = plate_warning(_records(10, failed=6))
        assert "does not seem to show the same place" in text and "6 of 10 frames" in text

    def test_poor_residual(self):
        text = plate_warning(_records(8, residual=POOR_RESIDUAL + 20))
        assert "55 grey levels" in text
        assert plate_warning(_records(8, residual=POOR_RESIDUAL - 1)) is None

    def test_degenerate_records(self):
        assert plate_warning([]) is None
        assert plate_warning([{"frame": 0}, "garbage", None]) is None
        inf = [{"fallback": False, "residual": float("inf")}, {"fallback": False,
                                                               "residual": float("nan")}]
        assert plate_warning(inf) is None


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A 10-frame handheld clip over one photo, its own plate, and a plate of another photo."""
    import cv2

    from howard.synth.clips import make_clip
    from test_aligner_robust import _photo

    def photo_bg(name):
        img = _photo(name, (360, 640)).astype(np.float32) / 255
        return lambda rng, size: cv2.resize(img, (size[1], size[0]))

    root = tmp_path_factory.mktemp("places")
    make_clip(root / "a", 5, (180, 320), 10, plate_ratio=1.3, write_gt=False,
              background_fn=photo_bg("astronaut"))
    make_clip(root / "b", 6, (180, 320), 10, plate_ratio=1.3, write_gt=False,
              background_fn=photo_bg("coffee"))
    return root / "a" / "subject.mp4", root / "a" / "plate.mp4", root / "b" / "plate.mp4"


def _run(args):
    from click.testing import CliRunner

    from howard.cli import main
    return CliRunner().invoke(main, ["matte"] + [str(a) for a in args])


def test_wrong_plate_warns_and_strict_exits_non_zero(clips, tmp_path):
    subject, _, wrong = clips
    res = _run([subject, wrong, tmp_path / "out", "-q", "--backend", "torch"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.stderr.splitlines() if x.startswith("howard: warning:")]
    assert len(lines) == 1 and "does not seem to show the same place" in lines[0]
    assert "10 of 10 frames could not be aligned" in lines[0]
    meta = json.loads((tmp_path / "out" / "howard.json").read_text())
    assert meta["warnings"] == [lines[0][len("howard: warning: "):]]
    strict = _run([subject, wrong, tmp_path / "strict", "-q", "--strict", "--backend", "torch"])
    assert strict.exit_code == 5
    assert "--strict" in strict.stderr and "Traceback" not in strict.output
    assert len(list((tmp_path / "strict" / "rgba").glob("*.png"))) == 10  # still written


def test_right_plate_gives_no_warning(clips, tmp_path):
    subject, plate, _ = clips
    res = _run([subject, plate, tmp_path / "out", "-q", "--strict", "--backend", "torch"])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr
    assert "warnings" not in json.loads((tmp_path / "out" / "howard.json").read_text())
