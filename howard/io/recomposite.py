"""Re-compositing an existing output folder without running the network again."""

import json
import logging
import os
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from . import media
from .composite import (MODES, PathLike, _check_space, composite, frame_at, inside,
                        parse_background)
from ..errors import InputError, OutputError
from .outputs import frame_name
from .progress import Progress

log = logging.getLogger(__name__)


def _read_png(path: Path) -> np.ndarray:
    """A PNG as stored: HxW grey, HxWx3 RGB or HxWx4 RGBA; uint8 or uint16."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        raise InputError(f"cannot read {str(path)!r}: {e.strerror}; check the file") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"cannot decode {str(path)!r} ({data.size} bytes) as PNG; the file may "
                         f"be damaged: run howard matte again with --resume")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4
                             else cv2.COLOR_BGR2RGB)
    return image


def _numbers(names: List[str], kind: str, template: Optional[str]) -> Optional[List[int]]:
    """Frame numbers of ``names`` written with ``template``; None if one does not fit."""
    if not template:
        return None
    pattern = template.replace("{output}", kind)
    field = re.search(r"%0?\d*d", pattern)
    if field is None:
        return None
    regex = re.compile(re.escape(pattern[:field.start()]) + r"(\d+)" +
                       re.escape(pattern[field.end():]) + r"\Z")
    found = [regex.match(n) for n in names]
    return None if not all(found) else [int(m.group(1)) for m in found]


def _listing(folder: Path) -> List[str]:
    names = [e.name for e in os.scandir(folder)
             if e.is_file() and e.name.lower().endswith(".png") and not e.name.startswith(".")]
    return sorted(names, key=media.natural_key)


def unpremultiply(rgb: np.ndarray, pha: np.ndarray) -> np.ndarray:
    """Straight colour from premultiplied: HxWx3 and HxW uint8/uint16 -> HxWx3 float32 0-1
    (0 where alpha is 0: no colour is left to recover there)."""
    a = pha.astype(np.float32)[..., None]
    return np.divide(rgb.astype(np.float32), a, out=np.zeros(rgb.shape, np.float32),
                     where=a > 0).clip(0.0, 1.0)


def _layers(root: Path, premultiplied: bool = False) -> Tuple[str, List[str], Iterator]:
    """(kind read, file names, iterator of (fgr HxWx3, pha HxW) per file) for ``root``;
    ``premultiplied``: rgba/ was written with --premultiply (fgr comes back straight)."""
    if (root / "rgba").is_dir() and _listing(root / "rgba"):
        names = _listing(root / "rgba")

        def rgba():
            for n in names:
                image = _read_png(root / "rgba" / n)
                if image.ndim != 3 or image.shape[2] != 4:
                    raise InputError(f"{str(root / 'rgba' / n)!r} has no alpha channel "
                                     f"(shape {image.shape}); expected an RGBA PNG")
                fgr, pha = image[..., :3], image[..., 3]
                yield (unpremultiply(fgr, pha) if premultiplied else fgr), pha
        return "rgba", names, rgba()
    pha, fgr = root / "pha", root / "fgr"
    if not (pha.is_dir() and fgr.is_dir() and _listing(pha)):
        raise InputError(f"{str(root)!r} holds no rgba/ PNGs nor pha/ and fgr/ PNGs; run howard "
                         f"matte with the rgba output (or pha and fgr) into it first")
    names, fnames = _listing(pha), _listing(fgr)
    if len(names) != len(fnames):
        raise InputError(f"{str(pha)!r} has {len(names)} PNGs but {str(fgr)!r} has "
                         f"{len(fnames)}; finish the run with howard matte --resume")

    def pairs():
        for n, fn in zip(names, fnames):
            a = _read_png(pha / n)
            yield _read_png(fgr / fn), (a if a.ndim == 2 else a[..., 0])
    return "pha", names, pairs()


def composite_folder(out_dir: PathLike, background: Union[PathLike, Sequence[int]],
                     mode: str = "over", space: str = "linear",
                     outputs: Sequence[str] = ("com",), video: Optional[PathLike] = None,
                     progress: bool = True, fps: Optional[float] = None) -> Dict:
    """Composite the frames of a howard output folder again, without the network.

    Reads ``out_dir/rgba/*.png`` (straight alpha, or premultiplied when howard.json records
    ``--premultiply``; 8 or 16 bit; sorted by name) or, without
    them, ``pha/`` with ``fgr/``, and writes ``out_dir/com/`` PNGs (8-bit RGB, the same names,
    ``{output}`` in the run's name template becoming ``com``), each atomically.

    Args:
        out_dir: a folder written by ``howard matte``.
        background: see :func:`parse_background`; in ``'inside'`` mode, the clip seen
            through the subject.
        mode: ``'over'`` puts the subject over ``background``; ``'inside'`` shows
            ``background`` through the subject over the original frames, which are read from
            the subject path recorded in ``out_dir/howard.json``.
        space: ``'linear'`` or ``'srgb'`` (see :func:`composite`).
        outputs: ``('com',)`` writes the PNGs; ``()`` only the video.
        video: also write this ``.mp4`` (H.264, with the subject's sound when it has some).
        progress: show a progress bar on stderr.
        fps: frame rate of ``video``; default the subject's from howard.json, else 25.

    Returns:
        ``{"output": com folder or None, "frames": n, "video": path or None, "mode", "space"}``.

    Raises:
        InputError: no frames to read, a bad option, or no recorded subject in 'inside' mode.
        OutputError: a file cannot be written.
    """
    root = Path(out_dir)
    _check_space(space)
    if mode not in MODES:
        raise InputError(f"composite mode must be 'over' or 'inside', got {mode!r}")
    if any(k != "com" for k in outputs) or (not outputs and video is None):
        raise InputError(f"composite outputs must be ('com',) or a video, got {tuple(outputs)} "
                         f"and video={video!r}")
    if video is not None and Path(video).suffix.lower() != ".mp4":
        raise OutputError(f"composite video {os.fspath(video)!r} must end in .mp4")
    if not root.is_dir():
        raise InputError(f"output folder {str(root)!r} does not exist; give a folder written "
                         f"by howard matte")
    try:
        meta = dict(json.loads((root / "howard.json").read_text()))
    except (OSError, ValueError, TypeError):
        meta = {}
    settings, inputs = meta.get("settings") or {}, meta.get("inputs") or {}
    subject_path = meta.get("subject") or inputs.get("subject")
    kind, names, layers = _layers(root, bool(settings.get("premultiply")))
    template = settings.get("name_template")
    numbers = _numbers(names, kind, template)
    start = int(settings.get("start_number") or 0)
    if numbers is None or min(numbers) < start or numbers != sorted(set(numbers)):
        numbers, start, com_names = list(range(len(names))), 0, names
    else:
        com_names = [frame_name(template, "com", n) for n in numbers]
    indices = [n - start for n in numbers]
    size = _read_png(root / kind / names[0]).shape[:2]
    bg = iter(parse_background(background, size, indices[-1] + 1))
    subject = None
    if mode == "inside":
        if not subject_path:
            raise InputError(f"'inside' mode needs the original frames, but {str(root)!r} has "
                             f"no howard.json naming the subject; run howard matte there first")
        source = media.open_source(subject_path)
        if source.size != size:
            raise InputError(f"subject {subject_path!r} is {source.size[1]}x{source.size[0]} but "
                             f"the mattes are {size[1]}x{size[0]}; check howard.json")
        subject = source.frames(0)
    com_dir = root / "com" if outputs else None
    if com_dir is not None:
        try:
            com_dir.mkdir(exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {str(com_dir)!r}: {e.strerror}; check the "
                              f"folder's permissions") from None

    def frames():
        bar = Progress(progress, len(names))
        try:
            for name, out_name, index, (fgr, pha) in zip(names, com_names, indices, layers):
                if fgr.shape[:2] != size or pha.shape != size:
                    raise InputError(f"{name!r} is {fgr.shape[1]}x{fgr.shape[0]} but the first "
                                     f"frame is {size[1]}x{size[0]}; every frame must match")
                back = frame_at(bg, index, f"background {background!r}")
                if subject is None:
                    com = composite(fgr, pha, back, space)
                else:
                    com = inside(frame_at(subject, index, "subject clip"), pha, back, space)
                if com_dir is not None:
                    media.write_png(com_dir / out_name, com)
                bar.update(1)
                yield com
        finally:
            bar.close()

    written = None
    if video is not None:
        rate = fps or inputs.get("subject_fps") or 25.0
        audio = subject_path if subject_path and Path(subject_path).is_file() else None
        from .encode import write_mp4

        written = str(write_mp4(video, frames(), rate, audio_from=audio))
    else:
        for _ in frames():
            pass
    log.info("composited %d frames (%s, %s) from %s", len(names), mode, space, root)
    return {"output": str(com_dir) if com_dir else None, "frames": len(names), "video": written,
            "mode": mode, "space": space}


VIDEOS = {"mov": ("rgba", "ProRes 4444 with alpha"), "webm": ("rgba", "VP9 with alpha"),
          "mp4": ("com", "H.264 composite")}


def check_videos(formats: Sequence[str], kinds: Sequence[str]) -> None:
    """Refuse video formats whose frames the run does not write (before any work starts)."""
    for fmt in formats:
        if fmt not in VIDEOS:
            raise InputError(f"unknown video format {fmt!r}; choose from {', '.join(VIDEOS)}")
        kind = VIDEOS[fmt][0]
        if kind not in kinds:
            raise InputError(f"a .{fmt} video ({VIDEOS[fmt][1]}) is made from the {kind} "
                             f"frames; add {kind} to --outputs"
                             + (" and give --background" if kind == "com" else ""))


def encode_videos(folder, formats: Sequence[str], n_frames: int, fps: float,
                  audio_from: Optional[PathLike] = None) -> List[str]:
    """Encode finished PNG sequences of an :class:`~howard.io.outputs.OutputFolder` as videos.

    ``mov``/``webm`` hold the rgba frames with alpha, ``mp4`` the composite with the subject's
    sound; each is written to ``<folder>/<kind>.<format>`` atomically.
    """
    from . import encode

    written = []
    for fmt in formats:
        kind = VIDEOS[fmt][0]
        frames = (_read_png(folder.path(kind, i)) for i in range(n_frames))
        path = folder.root / f"{kind}.{fmt}"
        if fmt == "mov":
            encode.write_prores4444(path, frames, fps)
        elif fmt == "webm":
            encode.write_webm_alpha(path, (_to8(f) for f in frames), fps)
        else:
            audio = audio_from if audio_from and Path(audio_from).is_file() else None
            encode.write_mp4(path, frames, fps, audio_from=audio)
        log.info("wrote %s", path)
        written.append(str(path))
    return written


def _to8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else (frame // 257).astype(np.uint8)
