"""Video files from frames, through the ffmpeg binary shipped with imageio-ffmpeg.

Frames are piped raw to ffmpeg's standard input; ffmpeg writes to a temporary name in the
target folder that is renamed into place only once it has finished, so a failed or interrupted
encode never leaves a half-written file. Three formats:

* :func:`write_prores4444`: ``.mov`` ProRes 4444 with alpha, for editing and compositing tools.
* :func:`write_webm_alpha`: ``.webm`` VP9 with alpha, for browsers.
* :func:`write_mp4`: ``.mp4`` H.264, no alpha, plays everywhere; can carry the source's sound.

Pixels are taken as sRGB and converted to Y'CbCr with the BT.709 matrix, and the file is tagged
BT.709 so players convert back with the same matrix.
"""

import functools
import logging
import os
import re
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Set, Tuple, Union

import numpy as np

from ..errors import InputError, OutputError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
# RGB -> Y'CbCr with the BT.709 matrix in limited range, and the stream tagged to say so
_TO_YUV = ("scale=out_color_matrix=bt709:out_range=tv,"
           "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=None)
def encoders() -> Set[str]:
    """Names of the encoders the bundled ffmpeg offers (e.g. ``libx264``, ``prores_ks``)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True)
    text = proc.stdout.decode(errors="replace")
    return set(re.findall(r"^\s*[VAS][A-Z.]{5}\s+(\S+)", text, flags=re.MULTILINE))


def _require(encoder: str, what: str) -> None:
    if encoder not in encoders():
        raise OutputError(f"cannot write {what}: the ffmpeg bundled with imageio-ffmpeg "
                          f"({ffmpeg_exe()}) has no {encoder} encoder; install an "
                          f"imageio-ffmpeg build that includes it or choose another format")


def _log_line(text: bytes, last: bool = False) -> str:
    """One line of an ffmpeg log without its ``[component @ 0x...]`` prefixes: the first
    (with ``-loglevel error`` that is the cause; later lines are consequences) or the last."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", ln).strip()
             for ln in text.decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("Last message repeated")]
    return (lines[-1] if last else lines[0])[:200] if lines else "no message"


def _frames_of(frames: Iterable, channels: int, dtypes: Tuple) -> Iterator[np.ndarray]:
    """Check and yield each frame (``(index, frame)`` pairs are unwrapped)."""
    first = None
    for item in frames:
        frame = np.asarray(item[1] if isinstance(item, tuple) else item)
        if frame.ndim != 3 or frame.shape[2] != channels or frame.dtype not in dtypes:
            raise ValueError(f"expected HxWx{channels} frames of "
                             f"{'/'.join(np.dtype(d).name for d in dtypes)}, got shape "
                             f"{frame.shape} {frame.dtype}")
        if first is None:
            first = frame
        elif frame.shape != first.shape or frame.dtype != first.dtype:
            raise ValueError(f"every frame must be {first.shape} {first.dtype} like the first, "
                             f"got {frame.shape} {frame.dtype}")
        yield np.ascontiguousarray(frame)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad an odd width or height by repeating the last column/row (4:2:0 needs even)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _encode(path: PathLike, frames: Iterator[np.ndarray], fps: float, out_args: List[str],
            container: str, inputs: Optional[List[str]] = None, even: bool = False) -> Path:
    """Pipe ``frames`` to ffmpeg and move the finished file to ``path``."""
    path = Path(path)
    if not fps or fps <= 0 or not path.parent.is_dir():
        raise OutputError(f"cannot write {str(path)!r} at {fps} frames/s: the frame rate must be "
                          f"positive and the folder {str(path.parent)!r} must exist")
    first = next(frames, None)
    if first is None:
        raise OutputError(f"cannot write {str(path)!r}: no frames were given; check the input")
    first = _even(first) if even else first
    h, w, c = first.shape
    pix_fmt = {3: "rgb24", 4: "rgba64le" if first.dtype == np.uint16 else "rgba"}[c]
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{w}x{h}", "-framerate", repr(float(fps)),
           "-i", "pipe:0", *(inputs or []), *out_args, "-f", container, str(tmp)]
    log.debug("encoding %s: %s", path, " ".join(cmd))
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        count, ok = 1, False
        try:
            try:
                proc.stdin.write(first.tobytes())
                for frame in frames:
                    proc.stdin.write((_even(frame) if even else frame).tobytes())
                    count += 1
            except BrokenPipeError:
                pass  # ffmpeg stopped early; its exit status and log say why
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            rc = proc.wait()
            err.seek(0)
            if rc != 0:
                why = _log_line(err.read())
                raise OutputError(f"ffmpeg could not write {str(path)!r} ({why}); check the "
                                  f"frame size, the frame rate and free space")
            os.replace(tmp, path)
            ok = True
        except OSError as e:
            raise OutputError(f"cannot write {str(path)!r}: {e.strerror or e}; check that the "
                              f"folder is writable and has free space") from None
        finally:
            if not ok:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                try:
                    tmp.unlink()
                except OSError:
                    pass
    log.info("wrote %s (%d frames, %dx%d)", path, count, w, h)
    return path


def write_prores4444(path: PathLike, frames_rgba: Iterable[np.ndarray], fps: float) -> Path:
    """Write a QuickTime ``.mov`` in ProRes 4444 with alpha (10-bit 4:4:4 colour, 16-bit alpha).

    Args:
        path: the file to write; replaced if it exists.
        frames_rgba: HxWx4 RGBA frames, straight (not premultiplied) alpha, uint8 or uint16,
            all the same size and dtype; ``(index, frame)`` pairs are accepted too.
        fps: frames per second.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputError: no frames, the folder is missing, no ProRes encoder, or ffmpeg failed.
    """
    _require("prores_ks", "ProRes 4444")
    args = ["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le",
            "-alpha_bits", "16", "-vendor", "apl0", "-vf", _TO_YUV]
    return _encode(path, _frames_of(frames_rgba, 4, (np.uint8, np.uint16)), fps, args, "mov")


def write_webm_alpha(path: PathLike, frames_rgba: Iterable[np.ndarray], fps: float,
                     crf: int = 24) -> Path:
    """Write a ``.webm`` in VP9 with alpha (4:2:0 colour; alpha is lossy too, like the colour).

    Args:
        path: the file to write; replaced if it exists.
        frames_rgba: HxWx4 uint8 RGBA frames, straight alpha, all the same size.
        fps: frames per second.
        crf: VP9 quality, 0 (best) to 63; 24 looks clean on mattes.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputError: no frames, the folder is missing, no VP9 encoder, or ffmpeg failed.
    """
    _require("libvpx-vp9", "WebM with alpha")
    args = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-crf", str(int(crf)), "-b:v", "0",
            "-deadline", "good", "-cpu-used", "4", "-row-mt", "1", "-vf", _TO_YUV]
    return _encode(path, _frames_of(frames_rgba, 4, (np.uint8,)), fps, args, "webm", even=True)


def write_mp4(path: PathLike, frames_rgb: Iterable[np.ndarray], fps: float,
              audio_from: Optional[PathLike] = None, crf: int = 18) -> Path:
    """Write an ``.mp4`` in H.264 (yuv420p, plays everywhere), with sound from another file.

    An odd width or height is padded to even by repeating the last column or row.

    Args:
        path: the file to write; replaced if it exists.
        frames_rgb: HxWx3 uint8 RGB frames, all the same size.
        fps: frames per second.
        audio_from: a media file whose first audio stream is re-encoded to AAC into the
            output (cut to the video's length); a file without sound is fine.
        crf: x264 quality, 0 (lossless) to 51; 18 is visually lossless.

    Returns:
        ``path`` as a Path.

    Raises:
        InputError: ``audio_from`` does not exist.
        OutputError: no frames, the folder is missing, no H.264 encoder, or ffmpeg failed.
    """
    _require("libx264", "H.264 MP4")
    inputs: List[str] = []
    args = ["-map", "0:v:0"]
    if audio_from is not None:
        name = os.fspath(audio_from)
        if not Path(name).is_file():
            raise InputError(f"audio source {name!r} does not exist; give the original video "
                             f"or leave the sound out")
        video, audio, text = _streams(name)
        if video is None and audio is None:
            raise InputError(f"audio source {name!r} is not media ffmpeg can read "
                             f"({_log_line(text, last=True)}); give the original video")
        if audio is None:
            log.info("%s has no sound; writing %s without", name, path)
        else:
            inputs = ["-i", name]
            args += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "192k", "-shortest"]
    args += ["-c:v", "libx264", "-crf", str(int(crf)), "-preset", "medium",
             "-pix_fmt", "yuv420p", "-vf", _TO_YUV, "-movflags", "+faststart"]
    return _encode(path, _frames_of(frames_rgb, 3, (np.uint8,)), fps, args, "mp4",
                   inputs=inputs, even=True)


def _streams(name: str) -> Tuple[Optional[re.Match], Optional[re.Match], bytes]:
    """ffmpeg's description of ``name``: (first video stream match, first audio match, log)."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", name],
                          capture_output=True)
    text = proc.stderr.decode(errors="replace").split("Output #0")[0]
    video = re.search(r"Stream #0:\d+\S*: Video: (\w+).*?, (\d+)x(\d+)", text)
    return video, re.search(r"Stream #0:\d+\S*: Audio: (\w+)", text), proc.stderr


def probe(path: PathLike) -> dict:
    """Codec and size of the first video stream, and the codec of the first audio stream.

    Returns:
        ``{"codec": str, "size": (h, w), "audio": str or None}`` (codec names as ffmpeg's).

    Raises:
        InputError: the file is missing or has no video stream.
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise InputError(f"video {name!r} does not exist; check the path")
    video, audio, text = _streams(name)
    if video is None:
        raise InputError(f"{name!r} has no video stream ffmpeg can read "
                         f"({_log_line(text, last=True)}); check the file")
    return {"codec": video.group(1), "size": (int(video.group(3)), int(video.group(2))),
            "audio": audio.group(1) if audio else None}


def read_alpha_video(path: PathLike) -> Iterator[np.ndarray]:
    """Decode a video keeping its alpha: yields HxWx4 uint8 RGBA frames (straight alpha).

    VP9 keeps alpha in a side channel that only libvpx's decoder reads, so it is chosen for
    VP9 streams. A video without alpha comes back with alpha 255.

    Raises:
        InputError: the file is missing or not a video.
        OutputError: ffmpeg stopped with an error (the cause from its log).
    """
    info = probe(path)
    h, w = info["size"]
    decoder = ["-c:v", "libvpx-vp9"] if info["codec"] == "vp9" else []
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *decoder,
           "-noautorotate", "-i", os.fspath(path), "-map", "0:v:0", "-f", "rawvideo",
           "-pix_fmt", "rgba", "pipe:1"]
    size = h * w * 4
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            while True:
                data = proc.stdout.read(size)
                if len(data) < size:
                    break
                yield np.frombuffer(data, np.uint8).reshape(h, w, 4).copy()
            if proc.wait() != 0:
                err.seek(0)
                raise OutputError(f"ffmpeg could not decode {os.fspath(path)!r} "
                                  f"({_log_line(err.read())}); the file may be damaged")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()
