"""howard's output folders imported into real software: Blender's compositor (the README's
recipe, run headless by ``tests/blender_composite.py``), OpenImageIO's oiiotool, and ffmpeg.

The frames are written by howard's own writers (``frame_images``, ``OutputFolder``, the PNG
encoder) from a synthetic matte, 128x72, 3 frames: a soft-edged disc moving 20 px a frame,
and a junk colour (magenta) stored where alpha is 0, as straight alpha keeps the predicted
foreground there. A compositor that treats the colour wrongly shows the junk.

Tolerances (8-bit levels, Blender against ``howard composite`` on the same folder, both
mixing in linear light): straight files mean < 0.1 and soft edges (0 < a < 1) < 0.5,
largest 2; premultiplied 8-bit files lose colour at low alpha, so mean < 0.15, edges < 1,
largest 8. The next frame differs by more than 5 on average where either frame has the subject
(the numbering check).
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from howard.frame_output import frame_images
from howard.io import encode, media
from howard.io.outputs import OutputFolder
from howard.io.recomposite import _read_png, composite_folder
from howard.settings import Settings

SCRIPT = Path(__file__).with_name("blender_composite.py")
BLENDER, OIIOTOOL = shutil.which("blender"), shutil.which("oiiotool")
needs_blender = pytest.mark.skipif(
    BLENDER is None, reason="Blender not installed (Debian: apt-get install blender)")
needs_oiiotool = pytest.mark.skipif(
    OIIOTOOL is None, reason="oiiotool not installed (Debian: apt-get install openimageio-tools)")
COLOUR = "#00b140"


def _matte(n: int = 3, h: int = 72, w: int = 128):
    """Network-like float outputs per frame: pha (h, w), fgr (h, w, 3) in [0, 1]."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.dstack([xx / w, yy / h, 1 - xx / w])
    for i in range(n):
        pha = np.clip((24 - np.hypot(xx - 40 - 20 * i, yy - h / 2)) / 12, 0, 1)
        fgr = ramp.copy()
        fgr[pha == 0] = (1.0, 0.0, 1.0)
        fgr = np.clip(fgr + rng.normal(0, 0.02, fgr.shape), 0, 1)
        yield {"pha": pha.astype(np.float32), "fgr": fgr.astype(np.float32)}


def write_folder(root: Path, depth: int = 8, premultiply: bool = False,
                 template: str = "%05d.png", start: int = 0, kinds=("rgba",)) -> OutputFolder:
    """An output folder as ``howard matte`` leaves it (frames and howard.json settings)."""
    settings = Settings(outputs=",".join(kinds), bit_depth=depth, premultiply=premultiply,
                        name_template=template, start_number=start)
    folder = OutputFolder(root, kinds, template, start)
    folder.prepare()
    for i, out in enumerate(_matte()):
        for kind, image in frame_images(kinds, None, None, out, depth, premultiply).items():
            media.write_png(folder.path(kind, i), image)
    (root / "howard.json").write_text(json.dumps({"settings": dataclasses.asdict(settings)}))
    return folder


def blender(folder: OutputFolder, alpha: str, convert: bool, background: str, out: Path):
    """Blender's two rendered frames (HxWx3 uint8 RGB), by scene frame number."""
    first = folder.path("rgba", 0)
    cmd = [BLENDER, "-b", "--factory-startup", "--python", str(SCRIPT), "--", str(first), "3",
           str(folder.start_number), alpha, "1" if convert else "0", background, str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and "Error" not in proc.stdout, proc.stdout[-2000:]
    frames = {int(p.stem): _read_png(p) for p in sorted(out.glob("*.png"))}
    start = folder.start_number
    assert sorted(frames) == [start, start + 1]
    return frames


def compare(got: np.ndarray, ref: np.ndarray, pha: np.ndarray):
    """(mean, mean over soft edges, largest) absolute difference in 8-bit levels."""
    d = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    edge = (pha > 0) & (pha < pha.max())
    return d.mean(), d[edge].mean(), d.max()


def check_against_howard(tmp_path, folder: OutputFolder, background: str, alpha: str,
                         convert: bool = True, limits=(0.1, 0.5, 2), cli: bool = False):
    """Blender with the README's recipe against ``howard composite`` on the same folder (the
    command itself when ``cli``, else the function it calls)."""
    if cli:
        subprocess.run([sys.executable, "-m", "howard", "composite", str(folder.root),
                        "--background", background, "-q"], check=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    else:
        composite_folder(folder.root, background, progress=False)
    shots = blender(folder, alpha, convert, background, tmp_path / "blender")
    start, stats = folder.start_number, []
    for number, shot in shots.items():
        index = number - start
        pha = _read_png(folder.path("rgba", index))[..., 3]
        com = _read_png(folder.path("com", index))
        stats.append(compare(shot, com, pha))
        mean, edge, top = stats[-1]
        assert mean < limits[0] and edge < limits[1] and top <= limits[2], stats[-1]
        # the next frame, as an off-by-one numbering would give: far off where either has
        # the subject
        other = _read_png(folder.path("com", index + 1))
        either = (pha > 0) | (_read_png(folder.path("rgba", index + 1))[..., 3] > 0)
        assert np.abs(shot.astype(int) - other)[either].mean() > 5
    return stats


@needs_blender
class TestBlender:
    def test_straight_over_colour_numbered_from_1001(self, tmp_path):
        folder = write_folder(tmp_path / "out", template="shot_{output}.%04d.png", start=1001)
        assert folder.path("rgba", 0).name == "shot_rgba.1001.png"
        check_against_howard(tmp_path, folder, COLOUR, "STRAIGHT", cli=True)
        assert (folder.root / "com" / "shot_com.1001.png").is_file()

    def test_straight_over_image(self, tmp_path):
        folder = write_folder(tmp_path / "out")
        back = np.random.default_rng(1).integers(0, 256, (72, 128, 3), dtype=np.uint8)
        media.write_png(tmp_path / "back.png", back)
        check_against_howard(tmp_path, folder, str(tmp_path / "back.png"), "STRAIGHT")

    def test_16_bit_over_image(self, tmp_path):
        folder = write_folder(tmp_path / "out", depth=16, start=1)
        assert _read_png(folder.path("rgba", 0)).dtype == np.uint16
        yy, xx = np.mgrid[0:72, 0:128]
        back = np.dstack([xx * 2, yy * 3, 255 - xx * 2]).astype(np.uint8)
        media.write_png(tmp_path / "back.png", back)
        # Blender 3.4 reads 16-bit PNGs as float images, premultiplied on load: no Convert
        check_against_howard(tmp_path, folder, str(tmp_path / "back.png"), "STRAIGHT", False)

    def test_16_bit_premultiplied(self, tmp_path):
        folder = write_folder(tmp_path / "out", depth=16, premultiply=True, start=1001)
        check_against_howard(tmp_path, folder, COLOUR, "PREMUL", False)

    def test_premultiplied(self, tmp_path):
        folder = write_folder(tmp_path / "out", premultiply=True, start=1001)
        check_against_howard(tmp_path, folder, COLOUR, "PREMUL", True, (0.15, 1.0, 8))

    def test_convert_premultiplied_off_shows_the_stored_colour(self, tmp_path):
        """The recipe the README used to give: the junk colour over the whole background."""
        folder = write_folder(tmp_path / "out")
        composite_folder(folder.root, COLOUR, progress=False)
        shots = blender(folder, "STRAIGHT", False, COLOUR, tmp_path / "blender")
        pha = _read_png(folder.path("rgba", 0))[..., 3]
        assert compare(shots[0], _read_png(folder.path("com", 0)), pha)[0] > 20


class TestHowardComposite:
    @pytest.mark.parametrize("depth", [8, 16])
    def test_premultiplied_folder_composites_as_straight_one(self, tmp_path, depth):
        """howard.json's premultiply is honoured: the same composite as the straight files
        (8-bit premultiplied colour is coarse at low alpha: soft edges within 1 level)."""
        premul = write_folder(tmp_path / "p", depth=depth, premultiply=True)
        straight = write_folder(tmp_path / "s", depth=depth)
        for folder in (premul, straight):
            composite_folder(folder.root, COLOUR, progress=False)
        for i in range(3):
            pha = _read_png(straight.path("rgba", i))[..., 3]
            mean, edge, _ = compare(_read_png(premul.path("com", i)),
                                    _read_png(straight.path("com", i)), pha)
            assert mean < 0.1 and edge < (1.0 if depth == 8 else 0.1), (mean, edge)


def _dump(path: Path, *flags: str) -> np.ndarray:
    """Pixel values as oiiotool reads them: HxWxC integers of the file's bit depth."""
    text = subprocess.run([OIIOTOOL, *flags, "--dumpdata", str(path)], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    rows = re.findall(r"Pixel \((\d+), (\d+)\): ([\d ]+) \(", text)
    w, h = max(int(r[0]) for r in rows) + 1, max(int(r[1]) for r in rows) + 1
    return np.array([[int(v) for v in r[2].split()] for r in rows]).reshape(h, w, -1)


def _info(path: Path) -> str:
    return subprocess.run([OIIOTOOL, "--info", "-v", str(path)], capture_output=True,
                          text=True, check=True, timeout=60).stdout


@needs_oiiotool
class TestOiiotool:
    @pytest.mark.parametrize("depth", [8, 16])
    def test_every_output(self, tmp_path, depth):
        kinds = ("rgba", "pha", "fgr", "com")
        folder = write_folder(tmp_path / "out", depth=depth, kinds=("rgba", "pha", "fgr"))
        composite_folder(folder.root, COLOUR, progress=False)
        expect = {"rgba": (4, "R, G, B, A", depth), "pha": (1, "Y", depth),
                  "fgr": (3, "R, G, B", depth), "com": (3, "R, G, B", 8)}
        for kind in kinds:
            info = _info(folder.path(kind, 0))
            channels, names, bits = expect[kind]
            assert f"{channels} channel, uint{bits} png" in info, info
            assert f"channel list: {names}" in info, info
            stored = _read_png(folder.path(kind, 0))
            got = _dump(folder.path(kind, 0), "--no-autopremult")
            assert np.array_equal(got, stored.reshape(got.shape)), kind

    def test_straight_is_premultiplied_on_read(self, tmp_path):
        """PNG declares straight alpha: oiiotool multiplies by alpha as it reads, so the
        straight files convert as they are; --premultiply files need --no-autopremult."""
        straight = write_folder(tmp_path / "s")
        premul = write_folder(tmp_path / "p", premultiply=True)
        stored = _read_png(straight.path("rgba", 1)).astype(np.int64)
        a = stored[..., 3:]
        want = (stored[..., :3] * a + 127) // 255
        read = _dump(straight.path("rgba", 1))
        assert np.abs(read[..., :3] - want).max() <= 1
        assert np.array_equal(read[..., 3:], a)
        raw = _dump(premul.path("rgba", 1), "--no-autopremult")
        assert np.abs(raw[..., :3] - want).max() <= 1


class TestMov:
    def test_rgba_mov_decodes_with_alpha(self, tmp_path):
        folder = write_folder(tmp_path / "out")
        frames = [_read_png(folder.path("rgba", i)) for i in range(3)]
        path = encode.write_prores4444(tmp_path / "rgba.mov", iter(frames), 25)
        ffmpeg = encode.ffmpeg_exe()
        text = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True,
                              text=True, timeout=60).stderr
        assert re.search(r"Video: prores \(4444\).*yuva444p", text), text
        raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo",
                              "-pix_fmt", "rgba", "pipe:1"], capture_output=True, check=True,
                             timeout=60).stdout
        decoded = np.frombuffer(raw, np.uint8).reshape(3, 72, 128, 4).astype(int)
        for got, want in zip(decoded, frames):
            assert np.abs(got[..., 3] - want[..., 3]).max() <= 1  # alpha kept
            solid = want[..., 3] == 255
            assert np.abs(got[..., :3] - want[..., :3])[solid].mean() < 3  # lossy colour
        assert os.path.getsize(path) > 0
