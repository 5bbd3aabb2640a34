"""Readers (video, folder, pattern, image), their user errors, and atomic PNG writing."""

import os

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from howard.io import media
from howard.errors import InputError, OutputError

W, H, N = 96, 64, 12  # tiny clip: multiples of 16, so ffmpeg does not resize


def frame_of(i: int) -> np.ndarray:
    """A frame whose brightness codes ``i`` (survives lossy compression) over a gradient."""
    x = np.linspace(0, 60, W, dtype=np.float32)[None, :, None]
    img = np.broadcast_to(x, (H, W, 3)) + np.float32(15 * i)
    img = img + np.array([0, 20, 40], np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def brightness_index(frame: np.ndarray) -> int:
    return int(round((frame[..., 0].astype(np.float32).mean() - 30) / 15))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    gen = imageio_ffmpeg.write_frames(str(path), (W, H), fps=24, codec="libx264",
                                      macro_block_size=16, output_params=["-crf", "10"])
    gen.send(None)
    for i in range(N):
        gen.send(frame_of(i).tobytes())
    gen.close()
    return path


class TestVideo:
    def test_read(self, video):
        src = media.open_source(video)
        assert (src.kind, src.size, src.fps) == ("video", (H, W), 24.0)
        got = list(src)
        assert [i for i, _ in got] == list(range(N))
        for i, frame in got:
            assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
            assert brightness_index(frame) == i  # order and content, within codec loss

    def test_count_decodes(self, video):
        assert media.open_source(video).count() == N

    def test_start_matches_full_pass(self, video):
        src = media.open_source(video)
        full = dict(src.frames())
        part = list(src.frames(start=9))
        assert [i for i, _ in part] == [9, 10, 11]
        for i, frame in part:
            np.testing.assert_array_equal(frame, full[i])  # decoding is deterministic
        assert list(src.frames(start=N + 5)) == []

    def test_stop_early(self, video):
        src = media.open_source(video)
        for i, _ in src:
            if i == 2:
                break  # closing the generator must end ffmpeg cleanly
        assert next(iter(src))[0] == 0


def write_images(folder, names, size=(H, W)):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        media.write_png(folder / name, np.full(size + (3,), 10 * k, np.uint8))


class TestSequences:
    def test_natural_sort(self):
        names = ["frame10.png", "frame2.png", "Frame1.png", "frame100.png"]
        assert sorted(names, key=media.natural_key) == [
            "Frame1.png", "frame2.png", "frame10.png", "frame100.png"]

    def test_folder(self, tmp_path):
        # written in the order that is also the natural order; files are named out of lexical
        write_images(tmp_path, ["f1.png", "f2.png", "f10.png"])
        (tmp_path / "notes.txt").write_text("ignored")
        (tmp_path / ".hidden.png").write_bytes(b"ignored")
        src = media.open_source(tmp_path)
        assert (src.kind, src.count(), src.size, src.fps) == ("folder", 3, (H, W), None)
        assert [int(f[0, 0, 0]) for _, f in src] == [0, 10, 20]
        assert [i for i, _ in src.frames(start=1)] == [1, 2]

    def test_pattern(self, tmp_path):
        write_images(tmp_path, ["shot.0009.png", "shot.0010.png", "shot.0011.png"])
        write_images(tmp_path / "x", ["shot.10.png"])
        (tmp_path / "shot.010.png").write_bytes(b"not matched: %04d prints 0010")
        src = media.open_source(str(tmp_path / "shot.%04d.png"))
        assert (src.kind, src.count()) == ("pattern", 3)
        assert [int(f[0, 0, 0]) for _, f in src] == [0, 10, 20]
        write_images(tmp_path / "y", ["s_9.png", "s_10.png"])  # %d: by number, not by name
        src = media.open_source(str(tmp_path / "y" / "s_%d.png"))
        assert [p.name for p in src.paths] == ["s_9.png", "s_10.png"]

    def test_single_image_and_conversions(self, tmp_path):
        grey16 = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 7)
        media.write_png(tmp_path / "g.png", grey16)
        src = media.open_source(tmp_path / "g.png")
        assert (src.kind, src.count(), src.size) == ("image", 1, (H, W))
        frame = next(iter(src))[1]
        assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
        expect = np.round(grey16 / 257.0).astype(np.uint8)
        np.testing.assert_array_equal(frame[..., 1], expect)
        rgba = np.dstack([frame_of(3), np.full((H, W), 9, np.uint8)])
        media.write_png(tmp_path / "a.png", rgba)
        np.testing.assert_array_equal(media.read_image(tmp_path / "a.png"), frame_of(3))

    def test_mixed_sizes(self, tmp_path):
        write_images(tmp_path, ["a1.png"])
        write_images(tmp_path, ["a2.png"], size=(H, W + 2))
        with pytest.raises(InputError, match="same size"):
            list(media.open_source(tmp_path))


class TestUserErrors:
    def test_missing(self, tmp_path):
        with pytest.raises(InputError, match="does not exist"):
            media.open_source(tmp_path / "nope.mp4")

    def test_text_named_mp4(self, tmp_path):
        (tmp_path / "fake.mp4").write_text("this is not a video\n" * 20)
        with pytest.raises(InputError, match="not a video or image ffmpeg can decode"):
            media.open_source(tmp_path / "fake.mp4")

    def test_no_video_stream(self, tmp_path):
        path = tmp_path / "empty.mp4"
        gen = imageio_ffmpeg.write_frames(str(path), (W, H), codec="libx264")
        gen.send(None)
        gen.close()  # no frames sent: a container without a picture stream
        with pytest.raises(InputError, match="no video stream"):
            media.open_source(path)

    def test_video_without_frames(self, video, tmp_path):
        path = tmp_path / "cut.mkv"
        gen = imageio_ffmpeg.write_frames(str(path), (W, H), codec="libx264")
        gen.send(None)
        gen.send(frame_of(0).tobytes())
        gen.close()
        head = path.read_bytes()[:600]  # the stream header survives, no picture does
        path.write_bytes(head)
        with pytest.raises(InputError, match="no frame ffmpeg can decode"):
            media.open_source(path)

    def test_empty_folder(self, tmp_path):
        (tmp_path / "readme.txt").write_text("no images here")
        with pytest.raises(InputError, match="holds no images"):
            media.open_source(tmp_path)

    def test_pattern_matches_nothing(self, tmp_path):
        with pytest.raises(InputError, match="no files match"):
            media.open_source(str(tmp_path / "shot.%04d.png"))
        with pytest.raises(InputError, match="exactly one integer field"):
            media.open_source(str(tmp_path / "a%d_%d.png"))

    def test_unreadable_image(self, tmp_path):
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        with pytest.raises(InputError, match="cannot decode image"):
            media.open_source(tmp_path / "broken.png")

    def test_messages_are_one_line(self, tmp_path):
        (tmp_path / "fake.mov").write_text("x")
        with pytest.raises(InputError) as e:
            media.open_source(tmp_path / "fake.mov")
        assert "\n" not in str(e.value)


class TestWriting:
    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
    @pytest.mark.parametrize("channels", [0, 3, 4])
    def test_png_round_trip(self, tmp_path, dtype, channels):
        rng = np.random.default_rng(channels)
        top = np.iinfo(dtype).max
        shape = (37, 53) + ((channels,) if channels else ())
        img = rng.integers(0, top, shape, endpoint=True).astype(dtype)
        path = tmp_path / "x.png"
        media.write_png(path, img)
        back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if channels == 3:
            back = cv2.cvtColor(back, cv2.COLOR_BGR2RGB)
        elif channels == 4:
            back = cv2.cvtColor(back, cv2.COLOR_BGRA2RGBA)
        assert back.dtype == dtype
        np.testing.assert_array_equal(back, img)
        if dtype == np.uint8:  # a second decoder agrees on channel order (Pillow: 8 bit)
            import imageio.v3 as iio
            np.testing.assert_array_equal(iio.imread(path), img)

    def test_levels(self, tmp_path):
        img = np.tile(frame_of(2), (4, 4, 1))
        sizes = {}
        for level in (0, 1, 9):
            media.write_png(tmp_path / f"{level}.png", img, level=level)
            sizes[level] = os.path.getsize(tmp_path / f"{level}.png")
        assert sizes[0] > sizes[1] >= sizes[9]

    def test_atomic_leaves_no_temp(self, tmp_path):
        media.atomic_write_text(tmp_path / "a.json", "{}")
        media.atomic_write_bytes(tmp_path / "a.json", b'{"k": 1}')
        media.write_png(tmp_path / "b.png", np.zeros((4, 4), np.uint8))
        assert sorted(os.listdir(tmp_path)) == ["a.json", "b.png"]
        assert (tmp_path / "a.json").read_text() == '{"k": 1}'

    def test_failure_leaves_old_file(self, tmp_path):
        media.atomic_write_text(tmp_path / "a.txt", "old")

        class Boom:  # a buffer whose write fails half way
            def __buffer__(self, flags):
                raise KeyboardInterrupt

        with pytest.raises((KeyboardInterrupt, TypeError)):
            media.atomic_write_bytes(tmp_path / "a.txt", Boom())
        assert os.listdir(tmp_path) == ["a.txt"]
        assert (tmp_path / "a.txt").read_text() == "old"

    def test_missing_folder(self, tmp_path):
        with pytest.raises(OutputError, match="cannot write"):
            media.write_png(tmp_path / "no" / "x.png", np.zeros((2, 2), np.uint8))

    def test_bad_array(self, tmp_path):
        with pytest.raises(TypeError):
            media.write_png(tmp_path / "x.png", np.zeros((2, 2), np.float32))
        with pytest.raises(ValueError):
            media.write_png(tmp_path / "x.png", np.zeros((2, 2, 2), np.uint8))
