"""Video files: alpha survives ProRes 4444 and VP9, H.264 carries the source's sound, and a
failed encode leaves no file behind."""

import subprocess

import numpy as np
import pytest

from howard.io import encode, media
from howard.errors import InputError, OutputError

H, W, N = 48, 64, 4


def rgba_frames(depth: int = 8):
    """N frames: a soft alpha ramp that moves, over a colour gradient."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for i in range(N):
        a = np.clip((xx - 10 - 3 * i) * 6, 0, 255)
        rgb = np.dstack([xx * 4, yy * 5, np.full_like(xx, 40 * i)])
        frame = np.dstack([rgb, a]).astype(np.uint8)
        out.append(frame.astype(np.uint16) * 257 if depth == 16 else frame)
    return out


def need(name):
    if name not in encode.encoders():
        pytest.skip(f"the bundled ffmpeg has no {name} encoder")


@pytest.mark.parametrize("fmt, encoder, alpha_tol, rgb_tol", [
    # ProRes 4444 keeps alpha losslessly at 16 bits; the 8 -> 10 -> 8 bit trip through
    # ffmpeg's converter moves it by at most one level. Colour is 10-bit 4:4:4.
    ("mov", "prores_ks", 1, 2),
    # VP9 codes alpha like a second picture, lossy: a few levels at crf 24; colour is 4:2:0
    ("webm", "libvpx-vp9", 4, 12)])
def test_alpha_round_trip(tmp_path, fmt, encoder, alpha_tol, rgb_tol):
    need(encoder)
    write = encode.write_prores4444 if fmt == "mov" else encode.write_webm_alpha
    frames = rgba_frames()
    path = write(tmp_path / f"clip.{fmt}", iter(frames), 24)
    back = list(encode.read_alpha_video(path))
    assert len(back) == N
    for src, got in zip(frames, back):
        assert got.shape == (H, W, 4) and got.dtype == np.uint8
        diff = np.abs(src.astype(int) - got)
        assert diff[..., 3].max() <= alpha_tol, diff[..., 3].max()
        assert diff[..., 3].mean() < 1.0
        assert diff[..., :3].max() <= rgb_tol and diff[..., :3].mean() < 3
    assert [p.name for p in tmp_path.iterdir()] == [f"clip.{fmt}"]  # no temporary left


def test_prores_16_bit(tmp_path):
    need("prores_ks")
    path = encode.write_prores4444(tmp_path / "deep.mov", rgba_frames(16), 25)
    back = list(encode.read_alpha_video(path))
    assert len(back) == N
    assert np.abs(back[2][..., 3].astype(int) - rgba_frames()[2][..., 3]).max() <= 1


@pytest.fixture(scope="module")
def with_sound(tmp_path_factory):
    """A one-second 64x48 test pattern with a 440 Hz tone."""
    need("libx264")
    path = tmp_path_factory.mktemp("src") / "sound.mp4"
    subprocess.run([encode.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
                   check=True)
    return path


def test_mp4_copies_sound_and_pads_odd_size(tmp_path, with_sound):
    frames = [np.full((H - 1, W - 1, 3), (200, 30, 60), np.uint8) for _ in range(6)]
    path = encode.write_mp4(tmp_path / "out.mp4", ((i, f) for i, f in enumerate(frames)), 24,
                            audio_from=with_sound)
    info = encode.probe(path)
    assert info == {"codec": "h264", "size": (H, W), "audio": "aac"}
    clip = media.open_source(path)
    assert clip.count() == 6 and clip.fps == 24.0
    first = next(iter(clip))[1]
    assert np.abs(first[10, 10].astype(int) - (200, 30, 60)).max() <= 4  # BT.709 both ways


def test_mp4_source_without_sound(tmp_path):
    frames = [np.zeros((H, W, 3), np.uint8)] * 3
    silent = encode.write_mp4(tmp_path / "a.mp4", frames, 24)
    assert encode.probe(silent)["audio"] is None
    again = encode.write_mp4(tmp_path / "b.mp4", frames, 24, audio_from=silent)
    assert encode.probe(again)["audio"] is None
    with pytest.raises(InputError, match="missing.wav"):
        encode.write_mp4(tmp_path / "c.mp4", frames, 24, audio_from=tmp_path / "missing.wav")


def test_failures_leave_nothing(tmp_path):
    def broken():
        yield np.zeros((H, W, 3), np.uint8)
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError, match="decoder died"):
        encode.write_mp4(tmp_path / "x.mp4", broken(), 24)
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(InputError, match="notes.txt"):
        encode.write_mp4(tmp_path / "y.mp4", [np.zeros((H, W, 3), np.uint8)], 24,
                         audio_from=tmp_path / "notes.txt")
    with pytest.raises(OutputError, match="invalid width x height"):  # x264's limit
        encode.write_mp4(tmp_path / "y.mp4", [np.zeros((2, 40000, 3), np.uint8)], 24)
    with pytest.raises(OutputError, match="no frames"):
        encode.write_mp4(tmp_path / "z.mp4", [], 24)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
