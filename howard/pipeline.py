"""The per-frame loop: read, align, matte, write; overlapped, resumable.

Four kinds of work run at once: a thread reads subject frames and chooses the plate frame and
homography for each, a second warps and colour-matches the chosen plate (for one frame while the
first chooses for the next), the calling thread runs the network, and a pool of writer threads
makes and encodes the PNGs. Queues between them are bounded, so memory stays flat however long
the clip. The work done for a frame does not depend on the timing of the threads (``workers=0``
runs everything in one thread and writes the same bytes).

On a CPU run the network's threads take every core; the other threads run at a lower priority
(see :func:`howard.stages.yield_to_network`) and OpenCV is kept to one thread, so they fill the
time between network passes instead of slowing the passes down.

The subject mask used to keep features off the subject comes from the alpha of frame
``t - lag`` (``lag`` = 2 x batch size), the newest alpha a pipelined run is sure to have.
"""

import functools
import json
import logging
import math
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import __version__, composite, media, recomposite
from .errors import InputError
from .outputs import OutputFolder
from .plate import PlateAligner
from .stages import Interrupted, MaskBoard, Progress, Stopped, Writer, yield_to_network

log = logging.getLogger(__name__)

_DONE = object()


@dataclass
class Settings:
    """Everything that decides the bytes of the outputs (stored in howard.json)."""

    weights: Optional[str] = None
    variant: Optional[str] = None
    backbone_scale: Optional[float] = None  # None: chosen from the frame size
    refine_mode: str = "sampling"
    sample_pixels: Optional[int] = None  # None: scaled from 80,000 at 1920x1080
    threshold: float = 0.1
    outputs: Sequence[str] = ("rgba",)
    bit_depth: int = 8
    features: str = "orb"
    window: int = 3
    plate_fit: str = "error"
    batch_size: int = 1
    png_level: int = 1
    name_template: str = "%05d.png"
    start_number: int = 0
    premultiply: bool = False
    background: Optional[str] = None
    composite_mode: str = "over"
    composite_space: str = "linear"
    videos: Sequence[str] = ()
    extra: Dict = field(default_factory=dict)


def auto_backbone_scale(h: int, w: int) -> float:
    """Base pass at roughly 270-540 px on the short side: 1/2 up to ~760 px, 1/4 for HD,
    1/8 for 4K."""
    return float(min(0.5, max(0.125, 2.0 ** round(math.log2(288 / min(h, w))))))


def auto_sample_pixels(h: int, w: int) -> int:
    """80,000 refined pixels at 1920x1080 (about 4% of the frame), in proportion elsewhere."""
    return int(max(4_000, round(80_000 * h * w / (1920 * 1080) / 16) * 16))


def subject_mask(pha: np.ndarray, width: int = 480) -> np.ndarray:
    """The alpha handed to plate alignment as the subject's whereabouts, small and 8-bit.

    Quantised so a resumed run, which reads masks back from PNG, aligns exactly as an
    uninterrupted one. Args: pha (H,W) float [0,1]. Returns (h,w) uint8, ``width`` px wide.
    """
    h, w = pha.shape
    small = cv2.resize(pha, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return (np.clip(small, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_uint(x: np.ndarray, depth: int) -> np.ndarray:
    """float in [0,1] -> uint8 (depth 8) or uint16 (depth 16), rounded.

    One float temporary, worked on in place and laid out as ``x`` is (a channel-first view
    stays channel-first until the cast), instead of three: fewer passes over a full HD frame.
    """
    scale, dtype = (255.0, np.uint8) if depth == 8 else (65535.0, np.uint16)
    y = np.multiply(x, np.float32(scale), dtype=np.float32)
    np.add(y, np.float32(0.5), out=y)
    np.clip(y, 0.0, scale + 0.5, out=y)  # the cast truncates: rounds to nearest from here
    return y.astype(dtype)


def frame_images(kinds, src, bgr, out: Dict[str, np.ndarray], depth: int,
                 premultiply: bool = False, back: Optional[np.ndarray] = None,
                 mode: str = "over", space: str = "linear") -> Dict[str, np.ndarray]:
    """The images to write for one frame, by output kind.

    Args:
        src, bgr: HxWx3 uint8 RGB frame and aligned plate.
        out: the network's float outputs for the frame (``pha`` HxW, ``fgr`` HxWx3, ...).
        back: HxWx3 uint8 RGB new background (for ``com``).
    """
    images = {}
    for kind in kinds:
        if kind == "rgba":
            rgba = np.dstack([to_uint(out["fgr"], depth), to_uint(out["pha"], depth)])
            images[kind] = composite.premultiply(rgba) if premultiply else rgba
        elif kind == "com":
            pha8, fgr8 = to_uint(out["pha"], 8), to_uint(out["fgr"], 8)
            images[kind] = (composite.composite(fgr8, pha8, back, space) if mode == "over"
                            else composite.inside(src, pha8, back, space))
        elif kind in ("pha", "err", "ref"):
            images[kind] = to_uint(out[kind], depth if kind == "pha" else 8)
        elif kind == "fgr":
            images[kind] = to_uint(out["fgr"], depth)
        elif kind == "bgr":
            images[kind] = bgr
    return images


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """``q.put(item)``, giving up once ``stop`` is set (the consumer has gone)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _choose_plates(subject, aligner, start, lag, board, out_q, stop, background):
    """First producer thread: subject frames from ``start``, each with its plate frame and
    homography chosen (:meth:`PlateAligner.choose`)."""
    if background:
        yield_to_network()
    try:
        for index, frame in subject.frames(start):
            if stop.is_set():
                break
            mask = board.get(index - lag)
            started = time.perf_counter()
            result = aligner.choose(index, frame, mask)
            result.seconds = time.perf_counter() - started
            _put(out_q, (index, frame, result), stop)
        _put(out_q, _DONE, stop)
    except Stopped:
        _put(out_q, _DONE, stop)
    except BaseException as e:  # handed down the line to the consumer, which re-raises it
        _put(out_q, e, stop)


def _render_plates(aligner, in_q, out_q, stop, background):
    """Second producer thread: renders each chosen plate (:meth:`PlateAligner.render`)
    while the first chooses for the next frame, so the two halves of the work use two
    cores between network passes."""
    if background:
        yield_to_network()
    try:
        while not stop.is_set():
            try:
                item = in_q.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _DONE or isinstance(item, BaseException):
                _put(out_q, item, stop)
                return
            index, frame, result = item
            started = time.perf_counter()
            aligner.render(result, frame)
            result.seconds += time.perf_counter() - started
            _put(out_q, (index, frame, result), stop)
    except BaseException as e:
        _put(out_q, e, stop)


def _settings_digest(settings: Settings, inputs: Dict) -> Dict:
    keep = {k: v for k, v in vars(settings).items() if k not in ("extra",)}
    # through JSON, so it compares equal to what howard.json gives back on --resume
    return json.loads(json.dumps({"settings": keep,
                                  "inputs": {k: inputs[k] for k in ("subject", "plate")}}))


def _check_resumable(folder: OutputFolder, digest: Dict) -> None:
    old = folder.read_settings()
    if old is None:
        return
    for section in ("settings", "inputs"):
        for key, value in digest[section].items():
            if old.get(section, {}).get(key) != value:
                raise InputError(
                    f"cannot resume in {str(folder.root)!r}: {key} was "
                    f"{old.get(section, {}).get(key)!r} there and is {value!r} now; run with the "
                    f"same inputs and settings, or use --overwrite")


def _restore_masks(folder: OutputFolder, board: MaskBoard, start: int, lag: int) -> int:
    """Load the masks frames from ``start`` need; returns the frame to restart at (earlier
    than ``start`` if some saved mask is missing, 0 at worst)."""
    while start > 0:
        masks = {}
        for index in range(max(0, start - lag), start):
            mask = cv2.imread(str(folder.state / "mask" / f"{index:06d}.png"),
                              cv2.IMREAD_UNCHANGED)
            if mask is None:
                break
            masks[index] = mask
        else:
            for index, mask in masks.items():
                board.put(index, mask)
            return start
        start -= 1
    return 0


def run(subject_path, plate_path, out, settings: Settings, *, device=None, overwrite=False,
        resume=False, progress=True, workers: Optional[int] = None,
        threads: Optional[int] = None, command: Optional[str] = None) -> Dict:
    """Matte ``subject_path`` against ``plate_path`` into the folder ``out``.

    Every check that can fail on user input (inputs, weights, output folder) runs before the
    output folder is touched. See :func:`howard.matte` for the arguments.

    Returns:
        A summary dict: frames written, seconds, frames per second, fallback count, paths.
    """
    from . import infer, weights as weights_mod  # torch side, imported when needed

    if settings.bit_depth not in (8, 16):
        raise InputError(f"bit depth must be 8 or 16, got {settings.bit_depth}")
    if settings.batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {settings.batch_size}")
    if not 0 <= settings.png_level <= 9:
        raise InputError(f"PNG compression level must be 0-9, got {settings.png_level}")
    if "com" in settings.outputs and settings.background is None:
        raise InputError("the com output needs a new background: add --background COLOUR, "
                         "IMAGE or VIDEO")
    if settings.composite_mode not in composite.MODES:
        raise InputError(f"composite mode must be one of {composite.MODES}, got "
                         f"{settings.composite_mode!r}")
    if settings.composite_space not in composite.SPACES:
        raise InputError(f"composite space must be one of {composite.SPACES}, got "
                         f"{settings.composite_space!r}")
    recomposite.check_videos(settings.videos, settings.outputs)
    folder = OutputFolder(out, settings.outputs, settings.name_template, settings.start_number)
    subject = media.open_source(subject_path)
    plate = media.open_source(plate_path)
    n_subject, n_plate = subject.count(), plate.count()
    h, w = subject.size
    backdrop = _Backdrop(settings, (h, w), n_subject)
    scale = settings.backbone_scale or auto_backbone_scale(h, w)
    pixels = settings.sample_pixels or auto_sample_pixels(h, w)
    aligner = PlateAligner(plate, (h, w), n_subject=n_subject, n_plate=n_plate,
                           features=settings.features, window=settings.window,
                           plate_fit=settings.plate_fit)
    dev = infer.select_device(device)
    model = weights_mod.load_model(settings.weights, settings.variant, refine=True, device=dev,
                                   backbone_scale=scale, refine_mode=settings.refine_mode,
                                   sample_pixels=pixels, threshold=settings.threshold)
    inputs = {"subject": os.path.abspath(subject_path), "plate": os.path.abspath(plate_path),
              "subject_frames": n_subject, "plate_frames": n_plate, "size": [h, w],
              "subject_fps": subject.fps, "plate_fps": plate.fps}
    digest = _settings_digest(settings, inputs)
    digest["settings"].update(backbone_scale=scale, sample_pixels=pixels,
                              weights_sha256=weights_mod.sha256(model.checkpoint_path))
    if resume:
        _check_resumable(folder, digest)
    folder.prepare(overwrite=overwrite, resume=resume)

    lag = 2 * settings.batch_size
    board = MaskBoard()
    start = folder.first_unfinished() if resume else 0
    start = min(_restore_masks(folder, board, start, lag), n_subject)
    records = folder.read_alignment(start) if resume else []
    if records:
        aligner.restore(records[-1])
    if not resume:
        folder.reset_done(0)
    else:
        folder.reset_done(start)

    threads = infer.configure_threads(threads)
    cores = os.cpu_count() or 2
    # one core is the aligning thread's; the others write PNGs
    workers = max(1, cores - 1) if workers is None else workers
    on_cpu = dev.type == "cpu"
    background = yield_to_network if on_cpu else None
    # plate frames are decoded and described ahead, beside the choosing (same features)
    plate_pool = (ThreadPoolExecutor(1, thread_name_prefix="howard-plate",
                                     initializer=background) if workers > 0 else None)
    aligner.plates.executor = plate_pool
    matter = infer.Matter(model, dev)
    meta = {"command": command or " ".join(sys.argv), "version": __version__,
            "versions": _versions(), "device": str(dev), "threads": threads,
            "weights": model.checkpoint_path, **digest, "inputs": inputs,
            "status": "running", "frames_done": start}
    media.atomic_write_text(folder.root / "howard.json", json.dumps(meta, indent=2))

    writer = Writer(folder, settings.png_level, workers, lag, background=on_cpu)
    writer.set_start(start)
    align_log = open(folder.root / "alignment.jsonl", "a")
    stop = threading.Event()
    chosen_q: queue.Queue = queue.Queue(maxsize=settings.batch_size)
    out_q: queue.Queue = queue.Queue(maxsize=2 * settings.batch_size)
    producers = [
        threading.Thread(target=_choose_plates, daemon=True, name="howard-align",
                         args=(subject, aligner, start, lag, board, chosen_q, stop, on_cpu)),
        threading.Thread(target=_render_plates, daemon=True, name="howard-render",
                         args=(aligner, chosen_q, out_q, stop, on_cpu))]
    bar = Progress(progress, n_subject, start)
    started, fallbacks, done = time.perf_counter(), 0, start
    status = "interrupted"
    cv_threads = cv2.getNumThreads()
    if on_cpu:  # the network has the cores: OpenCV threads would only pre-empt it
        cv2.setNumThreads(1)
    try:
        if workers > 0:
            for producer in producers:
                producer.start()
            source = iter(lambda: out_q.get(), _DONE)
        else:
            source = _inline(subject, aligner, start, lag, board)
        batch = []
        for item in source:
            if isinstance(item, BaseException):
                raise item
            batch.append(item)
            if len(batch) == settings.batch_size:
                fallbacks += _matte_batch(batch, matter, settings, writer, board, align_log,
                                          backdrop)
                done += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            fallbacks += _matte_batch(batch, matter, settings, writer, board, align_log,
                                      backdrop)
            done += len(batch)
            bar.update(len(batch))
        writer.close()
        if settings.videos:
            meta["videos"] = recomposite.encode_videos(
                folder, settings.videos, n_subject, subject.fps or 25.0,
                subject_path if settings.composite_mode == "over" else None)
        status = "complete"
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted after frame {done}; finished frames are kept, continue "
                          f"with the same command and --resume") from None
    finally:
        stop.set()
        board.close()
        if status != "complete":
            try:
                writer.close()
            except BaseException:  # noqa: BLE001 - the first error is already being raised
                pass
        align_log.close()
        bar.close()
        cv2.setNumThreads(cv_threads)
        if plate_pool is not None:
            plate_pool.shutdown(wait=False, cancel_futures=True)
        seconds = time.perf_counter() - started
        meta.update(status=status, frames_done=folder.first_unfinished(),
                    seconds=round(seconds, 3))
        media.atomic_write_text(folder.root / "howard.json", json.dumps(meta, indent=2))
    processed = done - start
    return {"output": str(folder.root), "frames": n_subject, "processed": processed,
            "resumed_at": start, "seconds": round(seconds, 3),
            "fps": round(processed / seconds, 3) if seconds > 0 else None,
            "fallback_frames": fallbacks, "device": str(dev)}


class _Backdrop:
    """The new background frame by subject frame index, streamed (for the com output)."""

    def __init__(self, settings: Settings, size, n_frames: int):
        self.frames = None
        if settings.background is not None and "com" in settings.outputs:
            self.frames = iter(composite.parse_background(settings.background, size, n_frames))

    def frame(self, index: int) -> Optional[np.ndarray]:
        if self.frames is None:
            return None
        for i, frame in self.frames:
            if i == index:
                return frame
        raise InputError(f"the background ended before frame {index}")


def _inline(subject, aligner, start, lag, board):
    """The single-threaded producer (``workers=0``)."""
    for index, frame in subject.frames(start):
        mask = board.get(index - lag)
        t = time.perf_counter()
        result = aligner.align(index, frame, mask)
        result.seconds = time.perf_counter() - t
        yield index, frame, result


def network_outputs(kinds: Sequence[str]) -> Tuple[str, ...]:
    """The network outputs that the output ``kinds`` are made from (``pha`` always: it is
    also the subject mask for aligning later frames)."""
    kinds = set(kinds)
    need = {"pha"} | ({"fgr"} if kinds & {"rgba", "fgr", "com"} else set()) | (
        kinds & {"err", "ref"})
    return tuple(k for k in ("pha", "fgr", "err", "ref") if k in need)


def _matte_batch(batch, matter, settings, writer, board, align_log,
                 backdrop) -> int:
    if len(batch) == 1:  # a view, not a copy: two full frames less to move per frame
        src, bgr = batch[0][1][None], batch[0][2].bgr[None]
    else:
        src = np.stack([frame for _, frame, _ in batch])
        bgr = np.stack([a.bgr for _, _, a in batch])
    out = matter(src, bgr, network_outputs(settings.outputs))
    fallbacks = 0
    for i, (index, frame, result) in enumerate(batch):
        one = {k: v[i] for k, v in out.items()}
        mask = subject_mask(one["pha"])
        board.put(index, mask)
        images = functools.partial(
            frame_images, settings.outputs, frame, result.bgr, one, settings.bit_depth,
            settings.premultiply, backdrop.frame(index), settings.composite_mode,
            settings.composite_space)
        record = {"frame": index, **result.to_json()}
        align_log.write(json.dumps(record) + "\n")
        fallbacks += bool(result.fallback)
        writer.submit(index, images, mask)
    align_log.flush()
    return fallbacks


def _versions() -> Dict[str, str]:
    import torch

    return {"howard": __version__, "torch": torch.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}
