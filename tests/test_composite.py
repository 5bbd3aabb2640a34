"""Compositing: the equation in both colour spaces, backgrounds, and re-compositing a folder."""

import json

import cv2
import numpy as np
import pytest

from howard.io import composite as comp
from howard.io import encode, media
from howard.io.recomposite import composite_folder
from howard.errors import InputError, OutputError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def reference(f, a, b, space):
    """The equation in float64, written out independently of the module."""
    f, b = f / 255.0, b / 255.0
    if space == "linear":
        dec = lambda x: np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)  # noqa
        c = a * dec(f) + (1 - a) * dec(b)
        c = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    else:
        c = a * f + (1 - a) * b
    return np.round(c * 255.0)


class TestEquation:
    @pytest.mark.parametrize("space, expected", [
        # red over blue at a quarter alpha. sRGB: 0.25*255 = 63.75 -> 64, 0.75*255 -> 191.
        # linear: sRGB(0.25) = 1.055*0.25^(1/2.4) - 0.055 = 0.5371 -> 137;
        #         sRGB(0.75) = 0.8808 -> 225 (brighter edges: light adds up linearly)
        ("srgb", (64, 0, 191)), ("linear", (137, 0, 225))])
    def test_hand_computed(self, space, expected):
        fgr = np.full((2, 3, 3), RED, np.uint8)
        bgr = np.full((2, 3, 3), BLUE, np.uint8)
        pha = np.full((2, 3), 0.25, np.float32)
        out = comp.composite(fgr, pha, bgr, space)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
        assert (out == expected).all()

    @pytest.mark.parametrize("space", comp.SPACES)
    def test_ends_and_exact_srgb(self, space):
        fgr = np.array([[[200, 100, 0]] * 3], np.uint8)
        bgr = np.array([[[0, 50, 250]] * 3], np.uint8)
        pha = np.array([[0, 255, 102]], np.uint8)  # 102/255 = 0.4 exactly
        out = comp.composite(fgr, pha, bgr, space)
        assert (out[0, 0] == bgr[0, 0]).all() and (out[0, 1] == fgr[0, 0]).all()
        if space == "srgb":  # 0.4 * F + 0.6 * B
            assert out[0, 2].tolist() == [80, 70, 150]

    @pytest.mark.parametrize("space", comp.SPACES)
    def test_every_pixel_matches_reference(self, space):
        rng = np.random.default_rng(0)
        f = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        b = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        a = rng.integers(0, 256, (24, 32), dtype=np.uint8)
        want = reference(f.astype(float), a[..., None] / 255.0, b.astype(float), space)
        for ff, aa, bb in [(f, a, b), (f.astype(np.uint16) * 257, a.astype(np.uint16) * 257,
                                       b.astype(np.uint16) * 257),
                           (f / 255.0, a / 255.0, b / 255.0)]:
            diff = np.abs(comp.composite(ff, aa, bb, space).astype(int) - want)
            # 8-bit output: off by one only where the exact value sits on a rounding edge
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01

    def test_inside_and_premultiply(self):
        src = np.full((1, 3, 3), 10, np.uint8)
        new = np.full((1, 3, 3), 240, np.uint8)
        out = comp.inside(src, np.array([[0, 255, 102]], np.uint8), new, "srgb")
        assert out[0, :, 0].tolist() == [10, 240, 102]  # 0.4*240 + 0.6*10
        px = comp.premultiply(np.array([[[200, 100, 50, 128]]], np.uint8))
        assert px.tolist() == [[[100, 50, 25, 128]]]  # round(c * 128 / 255)
        px16 = comp.premultiply(np.array([[[65535, 32768, 0, 32768]]], np.uint16))
        assert px16.dtype == np.uint16 and px16.tolist() == [[[32768, 16384, 0, 32768]]]

    def test_bad_space(self):
        with pytest.raises(InputError, match="'log'"):
            comp.composite(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.uint8),
                           np.zeros((1, 1, 3), np.uint8), "log")


class TestBackground:
    @pytest.mark.parametrize("spec", ["#ff0000", "red", " Red ", "#f00", (255, 0, 0)])
    def test_colour(self, spec):
        bg = comp.parse_background(spec, (4, 6), 3)
        frames = list(bg)
        assert bg.kind == "colour" and [i for i, _ in frames] == [0, 1, 2]
        assert all(f.shape == (4, 6, 3) and (f == RED).all() for _, f in frames)

    @pytest.mark.parametrize("spec", ["chartreuse-ish", "#ggg", "#12345"])
    def test_unknown(self, spec, tmp_path):
        with pytest.raises(InputError, match=repr(spec).strip("'")):
            comp.parse_background(spec, (4, 6), 3)

    @staticmethod
    def clip_frames(n=3, h=20, w=40):
        """Frames whose red channel is 6*x and blue channel codes the frame number."""
        x = np.broadcast_to(np.arange(w, dtype=np.uint8)[None, :] * 6, (h, w))
        return [np.dstack([x, np.full((h, w), 128, np.uint8), np.full((h, w), 60 * i + 20,
                                                                     np.uint8)])
                for i in range(n)]

    def test_sequence_loops_and_covers(self, tmp_path):
        for i, f in enumerate(self.clip_frames()):
            media.write_png(tmp_path / f"bg{i}.png", f)
        bg = comp.parse_background(str(tmp_path), (30, 30), 7)
        frames = list(bg)
        assert bg.kind == "clip" and [i for i, _ in frames] == list(range(7))
        for i, f in frames:
            assert f.shape == (30, 30, 3)
            np.testing.assert_array_equal(f, frames[i % 3][1])  # frame 3 == frame 0, ...
        # 40x20 -> cover 30x30: scaled by 1.5 to 60x30, the middle 30 columns kept, i.e.
        # source x 10..30 (red 60..180); nothing squashed, rows all alike
        red = frames[0][1][:, :, 0].astype(int)
        assert abs(red[0, 0] - 60) <= 4 and abs(red[0, 29] - 176) <= 4
        assert (red == red[:1]).all() and (np.diff(red[0]) >= 0).all()
        assert [int(f[0, 0, 2]) for _, f in frames[:3]] == [20, 80, 140]

    @pytest.mark.parametrize("cache", [True, False])
    def test_video_loops_or_trims(self, tmp_path, monkeypatch, cache):
        if not cache:  # a long clip: every loop decodes the file again
            monkeypatch.setattr(comp, "LOOP_CACHE_BYTES", 0)
        path = encode.write_mp4(tmp_path / "bg.mp4", self.clip_frames(h=24), 24, crf=0)
        frames = [f for _, f in comp.parse_background(path, (24, 40), 5)]
        assert len(frames) == 5
        np.testing.assert_array_equal(frames[3], frames[0])
        np.testing.assert_array_equal(frames[4], frames[1])
        assert abs(int(frames[1][5, 5, 2]) - 80) <= 3
        assert len(list(comp.parse_background(path, (24, 40), 2))) == 2  # longer: cut

    def test_still_image(self, tmp_path):
        media.write_png(tmp_path / "still.png", self.clip_frames(1)[0])
        bg = comp.parse_background(tmp_path / "still.png", (10, 10), 4)
        frames = list(bg)
        assert bg.kind == "image" and len(frames) == 4 and frames[3][1].shape == (10, 10, 3)


def rgba_frames(n=2, h=12, w=16, depth=8):
    """Green subject, opaque on the left half, transparent on the right, a 50% middle column."""
    top = 255 if depth == 8 else 65535
    a = np.zeros((h, w), np.float64)
    a[:, : w // 2] = 1.0
    a[:, w // 2] = 0.5
    dtype = np.uint8 if depth == 8 else np.uint16
    fgr = np.zeros((h, w, 3), dtype)
    fgr[..., 1] = top
    return [np.dstack([fgr, np.round(a * top).astype(dtype)]) for _ in range(n)]


class TestFolder:
    @pytest.mark.parametrize("depth", [8, 16])
    def test_rgba(self, tmp_path, depth):
        (tmp_path / "rgba").mkdir()
        frames = rgba_frames(depth=depth)
        for i, f in enumerate(frames):
            media.write_png(tmp_path / "rgba" / f"{i:05d}.png", f)
        summary = composite_folder(tmp_path, "blue", progress=False)
        assert summary["frames"] == 2 and summary["output"] == str(tmp_path / "com")
        names = sorted(p.name for p in (tmp_path / "com").iterdir())
        assert names == ["00000.png", "00001.png"]
        com = cv2.imread(str(tmp_path / "com" / names[1]), cv2.IMREAD_UNCHANGED)[..., ::-1]
        assert com.shape == (12, 16, 3) and com.dtype == np.uint8
        assert com[0, 0].tolist() == [0, 255, 0] and com[0, -1].tolist() == [0, 0, 255]
        a = frames[1][0, 8, 3] / (255.0 if depth == 8 else 65535.0)  # about 0.5
        want = reference(np.array([0, 255, 0.0]), a, np.array([0, 0, 255.0]), "linear")
        assert np.abs(com[0, 8] - want).max() <= 1 and 180 < com[0, 8, 1] < 195

    def test_pha_fgr_with_template(self, tmp_path):
        frames = rgba_frames(n=3)
        (tmp_path / "pha").mkdir(), (tmp_path / "fgr").mkdir()
        for i, f in enumerate(frames):
            media.write_png(tmp_path / "pha" / f"s_pha.{i + 7:04d}.png", f[..., 3])
            media.write_png(tmp_path / "fgr" / f"s_fgr.{i + 7:04d}.png", f[..., :3])
        settings = {"name_template": "s_{output}.%04d.png", "start_number": 7}
        (tmp_path / "howard.json").write_text(json.dumps({"settings": settings}))
        composite_folder(tmp_path, "#000", space="srgb", progress=False)
        names = sorted(p.name for p in (tmp_path / "com").iterdir())
        assert names == ["s_com.0007.png", "s_com.0008.png", "s_com.0009.png"]

    def test_inside_needs_subject(self, tmp_path):
        (tmp_path / "rgba").mkdir()
        media.write_png(tmp_path / "rgba" / "00000.png", rgba_frames(1)[0])
        with pytest.raises(InputError, match="howard.json"):
            composite_folder(tmp_path, "red", mode="inside", progress=False)

    def test_inside_with_video(self, tmp_path):
        (tmp_path / "rgba").mkdir()
        (tmp_path / "src").mkdir()
        for i, f in enumerate(rgba_frames(n=2)):
            media.write_png(tmp_path / "rgba" / f"{i:05d}.png", f)
            media.write_png(tmp_path / "src" / f"{i}.png", np.full((12, 16, 3), 40, np.uint8))
        meta = {"inputs": {"subject": str(tmp_path / "src"), "subject_fps": 30.0}}
        (tmp_path / "howard.json").write_text(json.dumps(meta))
        out = composite_folder(tmp_path, "white", mode="inside",
                                    video=tmp_path / "com.mp4", progress=False)
        com = media.read_image(tmp_path / "com" / "00001.png")
        assert com[0, 0].tolist() == [255] * 3 and com[0, -1].tolist() == [40] * 3
        clip = media.open_source(out["video"])
        assert clip.count() == 2 and clip.fps == 30.0

    def test_empty_folder(self, tmp_path):
        with pytest.raises(InputError, match="rgba"):
            composite_folder(tmp_path, "red", progress=False)
        with pytest.raises(OutputError, match=".mp4"):
            composite_folder(tmp_path, "red", video=tmp_path / "x.avi", progress=False)
