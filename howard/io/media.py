"""Reading subject and plate clips, and writing images atomically.

A clip is a video file (anything the ffmpeg shipped with imageio-ffmpeg decodes), a folder of
images (sorted naturally: ``frame2`` before ``frame10``), a printf pattern (``shot.%04d.png``)
or one image (a still plate). :func:`open_source` returns a :class:`FrameSource` that streams
``(index, frame)`` pairs, frame HxWx3 uint8 RGB, holding one frame at a time.

Every file is written to a temporary name in its folder and renamed into place, so an
interrupted run never leaves a truncated file.
"""

import logging
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from . import png
from ..errors import InputError, OutputError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr",
                    ".jp2", ".pgm", ".ppm", ".pnm", ".hdr")
_PRINTF = re.compile(r"%(0?)(\d*)d")


def natural_key(name: str) -> list:
    """Sort key that orders the digit runs of ``name`` by value (``frame2 < frame10``)."""
    parts = re.split(r"(\d+)", name)
    # re.split alternates text and digits, so equal positions always compare like with like
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


def to_rgb8(image: np.ndarray, bgr_order: bool = False) -> np.ndarray:
    """Any decoded image as HxWx3 uint8 RGB.

    Args:
        image: HxW grey, HxWx1, HxWx3 or HxWx4 (alpha dropped); uint8, uint16 (rounded to
            8 bits) or float (0-1, clipped).
        bgr_order: the colour channels are in OpenCV's B, G, R order.
    """
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if bgr_order:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def read_image(path: PathLike) -> np.ndarray:
    """One image file as HxWx3 uint8 RGB (EXIF orientation applied).

    Raises:
        InputError: the file is missing or no decoder can read it.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise InputError(f"cannot read image {str(path)!r}: {e.strerror}; check the path and "
                         f"its permissions") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is not None:
        return to_rgb8(image, bgr_order=True)
    try:  # formats OpenCV was built without (EXR, some TIFF flavours)
        import imageio.v3 as iio

        return to_rgb8(np.asarray(iio.imread(str(path))))
    except Exception:  # noqa: BLE001 - every decoder failure means the same to the user
        raise InputError(f"cannot decode image {str(path)!r} ({data.size} bytes): not an image "
                         f"OpenCV or imageio can read; re-export it as PNG or JPEG") from None


class FrameSource:
    """A clip: frames streamed in order, each HxWx3 uint8 RGB.

    Attributes:
        kind: ``'video'``, ``'folder'``, ``'pattern'`` or ``'image'``.
        name: the path as given.
        size: ``(h, w)`` of every frame.
        fps: frames per second when the container says, else None.
        len_hint: frame count claimed by metadata (may be wrong or None); see :meth:`count`.
    """

    kind = ""

    def __init__(self, name: str, size: Tuple[int, int], fps: Optional[float],
                 len_hint: Optional[int]):
        self.name, self.size, self.fps, self.len_hint = name, size, fps, len_hint

    def frames(self, start: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` from frame ``start`` on (index counts from 0)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray]]:
        return self.frames(0)

    def count(self) -> int:
        """The true number of frames (decodes a video once; cached)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        h, w = self.size
        return f"{type(self).__name__}({self.name!r}, kind={self.kind!r}, size={w}x{h})"


class ImageSequence(FrameSource):
    """Frames from image files: a folder, a printf pattern, or a single image."""

    def __init__(self, name: str, paths: List[Path], kind: str):
        self.paths, self.kind = paths, kind
        first = read_image(paths[0])
        super().__init__(name, first.shape[:2], None, len(paths))
        self._first = first  # the first frame is read anyway to learn the size

    def count(self) -> int:
        return len(self.paths)

    def frames(self, start: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
        for index in range(max(0, start), len(self.paths)):
            if index == 0 and self._first is not None:
                frame = self._first
            else:
                frame = read_image(self.paths[index])
            if frame.shape[:2] != self.size:
                raise InputError(
                    f"{str(self.paths[index])!r} is {frame.shape[1]}x{frame.shape[0]} but "
                    f"{str(self.paths[0])!r} is {self.size[1]}x{self.size[0]}; every frame of "
                    f"a sequence must have the same size")
            yield index, frame


class VideoSource(FrameSource):
    """Frames decoded by ffmpeg (imageio-ffmpeg's binary), streamed through a pipe."""

    kind = "video"

    def __init__(self, name: str):
        self._count: Optional[int] = None
        meta, first = self._probe(name)
        w, h = meta["size"]
        fps = float(meta.get("fps") or 0) or None
        duration = float(meta.get("duration") or 0)
        hint = int(round(fps * duration)) if fps and duration > 0 else None
        super().__init__(name, (h, w), fps, hint)
        log.debug("opened video %s: %dx%d, fps %s, about %s frames", name, w, h, fps, hint)

    @staticmethod
    def _probe(name: str):
        import imageio_ffmpeg

        gen = imageio_ffmpeg.read_frames(name, output_params=["-fps_mode", "passthrough"])
        try:
            meta = next(gen)
            first = next(gen, None)
        except (OSError, RuntimeError, StopIteration, ValueError, IndexError) as e:
            raise InputError(_probe_error(name, str(e))) from None
        finally:
            gen.close()
        if first is None:
            raise InputError(f"video {name!r} has no frames that ffmpeg can decode; check that "
                             f"the file is complete")
        return meta, first

    def frames(self, start: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
        import imageio_ffmpeg

        start = max(0, int(start))
        params = ["-fps_mode", "passthrough"]
        if start:  # decoded but dropped inside ffmpeg, before conversion and the pipe
            params += ["-vf", f"select=gte(n\\,{start})"]
        h, w = self.size
        gen = imageio_ffmpeg.read_frames(self.name, output_params=params)
        index = start
        try:
            next(gen)
            for data in gen:
                frame = np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3).copy()
                yield index, frame
                index += 1
        except RuntimeError as e:
            raise InputError(f"video {self.name!r} stopped decoding at frame {index} "
                             f"({str(e).splitlines()[0]}); the file may be truncated") from None
        finally:
            gen.close()
        if start == 0 or index > start:
            self._count = index  # a full pass counted every frame

    def count(self) -> int:
        if self._count is None:
            self._count = _ffmpeg_count(self.name)
        return self._count


def _probe_error(name: str, text: str) -> str:
    """One line saying why ffmpeg could not start reading ``name``, from its log."""
    opened = "Error opening input" not in text
    # an input stream line such as "Stream #0:0[0x1](und): Video: h264 ..." before "Output #0"
    has_video = re.search(r"Stream #0:\d+\S*: Video:", text.split("Output #0")[0]) is not None
    if opened and has_video:
        return (f"video {name!r} has a video stream but no frame ffmpeg can decode; the file "
                f"may be truncated or empty")
    if opened:
        return (f"{name!r} has no video stream (an empty or audio-only file?); give a video with "
                f"picture, an image folder, a pattern or an image")
    lines = [ln for ln in text.strip().splitlines() if ln and not ln.startswith("=")]
    detail = lines[-1][:120] if lines else "no details"
    return (f"{name!r} is not a video or image ffmpeg can decode ({detail}); check the file "
            f"and its extension")


def _ffmpeg_count(name: str) -> int:
    """Frames ffmpeg decodes from ``name`` (every frame decoded, none converted or piped)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", name, "-an",
           "-sn", "-dn", "-fps_mode", "passthrough", "-f", "null", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    found = re.findall(rb"frame=\s*(\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise InputError(f"cannot count the frames of {name!r} ({tail[0][:120]}); check that "
                         f"the file is complete")
    return int(found[-1])


def _pattern_paths(pattern: str) -> List[Path]:
    """Files matching a printf pattern with one ``%d`` / ``%0Nd`` field, by number."""
    folder, base = os.path.split(pattern)
    fields = list(_PRINTF.finditer(base))
    if len(fields) != 1 or "%" in base.replace(fields[0].group(0), "", 1):
        raise InputError(f"pattern {pattern!r} must have exactly one integer field such as "
                         f"%04d in its file name, e.g. 'shot.%04d.png'")
    field = fields[0]
    spec = "%" + field.group(1) + field.group(2) + "d"
    folder_path = Path(folder or ".")
    if not folder_path.is_dir():
        raise InputError(f"folder {str(folder_path)!r} of pattern {pattern!r} does not exist")
    regex = re.compile(re.escape(base[:field.start()]) + r"(\d+)" +
                       re.escape(base[field.end():]) + r"\Z")
    numbered = []
    for entry in os.scandir(folder_path):
        m = regex.match(entry.name)
        # keep only names the pattern itself would print (%04d: 0007 yes, 07 no)
        if m and spec % int(m.group(1)) == m.group(1) and entry.is_file():
            numbered.append((int(m.group(1)), folder_path / entry.name))
    numbered.sort()
    return [p for _, p in numbered]


def _folder_paths(folder: Path) -> List[Path]:
    names = [e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")
             and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
    return [folder / n for n in sorted(names, key=natural_key)]


def open_source(path: PathLike) -> FrameSource:
    """Open a clip for streaming: a video, an image folder, a printf pattern or one image.

    Raises:
        InputError: the path is missing, empty, not media, or has no decodable frame.
    """
    name = os.fspath(path)
    p = Path(name)
    if p.is_dir():
        paths = _folder_paths(p)
        if not paths:
            raise InputError(f"folder {name!r} holds no images ({', '.join(IMAGE_EXTENSIONS[:5])}"
                             f", ...); point to the image files or a video instead")
        return ImageSequence(name, paths, "folder")
    if p.is_file():
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            return ImageSequence(name, [p], "image")
        return VideoSource(name)
    if _PRINTF.search(p.name):
        paths = _pattern_paths(name)
        if not paths:
            raise InputError(f"no files match pattern {name!r}; check the folder and the number "
                             f"of digits (%04d matches 0001, %d matches 1)")
        return ImageSequence(name, paths, "pattern")
    raise InputError(f"input {name!r} does not exist; give a video file, an image folder, a "
                     f"printf pattern such as 'shot.%04d.png', or one image")


# --- writing ----------------------------------------------------------------------------------

def atomic_write_bytes(path: PathLike, data, fsync: bool = False) -> None:
    """Write ``data`` (bytes or any buffer) to ``path`` through a temporary file and a rename.

    Raises:
        OutputError: the folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # interrupted or failed: no temporary file is left behind
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {str(path)!r}: {e.strerror or e}; check that the "
                              f"folder exists, is writable and has free space") from None
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def encode_png(array: np.ndarray, level: int = 1) -> np.ndarray:
    """PNG bytes of an image (see :mod:`howard.io.png`: "up"-filtered rows, ISA-L's deflate
    when installed, several times faster than libpng at low levels).

    Args:
        array: HxW grey, HxWx3 RGB or HxWx4 RGBA (straight alpha); uint8 or uint16.
        level: compression 0-9; 1 is fast and near the size of 9 for photographs.

    Returns:
        1-D uint8 array holding the PNG file.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return np.frombuffer(png.encode(array, level), np.uint8)


def write_png(path: PathLike, array: np.ndarray, level: int = 1) -> None:
    """Encode ``array`` (see :func:`encode_png`) and write it atomically to ``path``."""
    atomic_write_bytes(path, encode_png(array, level))
