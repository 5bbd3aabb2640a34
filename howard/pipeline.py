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

With ``temporal`` on, each frame's alpha is smoothed with the previous one along the optical
flow (:mod:`howard.temporal`) in the network's thread, in frame order; its state (the
previous grey frame and 16-bit alpha) is saved with each frame, so a resumed run continues
from exactly the numbers an uninterrupted one has.

The subject mask used to keep features off the subject comes from the alpha of frame
``t - lag`` (``lag`` = 2 x batch size), the newest alpha a pipelined run is sure to have.
"""

import functools
import json
import logging
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from . import __version__

from .io import media, recomposite
from .frame_output import Backdrop, frame_images, network_outputs, subject_mask, to_uint
from .io.outputs import OutputFolder
from .align.aligner import PlateAligner
from .align.sanity import plate_warning
from .align.alignment import LARGE_UNCOVERED, coverage_summary, read_records
from .settings import (Settings, auto_backbone_scale, auto_sample_pixels, check_resumable,
                       check_settings, fit_backbone_scale, recorded_setting,
                       settings_digest)
from .producers import DONE, choose_plates, inline, render_plates
from .stages import Chunk, Interrupted, MaskBoard, Progress, Writer, yield_to_network
from .temporal import TemporalFilter

__all__ = ["Settings", "auto_backbone_scale", "auto_sample_pixels", "subject_mask", "to_uint",
           "frame_images", "run", "network_outputs"]

log = logging.getLogger(__name__)

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


def _restore_temporal(folder: OutputFolder, board: MaskBoard, smoother: TemporalFilter,
                      start: int, lag: int) -> int:
    """Load the temporal state saved with frame ``start - 1`` (and the masks from
    ``start``); returns the frame to restart at, walking back as :func:`_restore_masks`."""
    while start > 0:
        images = [cv2.imread(str(folder.state / k / f"{start - 1:06d}.png"),
                             cv2.IMREAD_UNCHANGED) for k in ("temporal_grey", "temporal_pha")]
        if all(i is not None for i in images) and \
                _restore_masks(folder, board, start, lag) == start:
            smoother.restore(*images)
            return start
        start -= 1
    return 0


def run(subject_path, plate_path, out, settings: Settings, *, device=None, overwrite=False,
        resume=False, progress=True, workers: Optional[int] = None,
        threads: Optional[int] = None, command: Optional[str] = None,
        chunk: Optional[Chunk] = None,
        on_progress: Optional[Callable[[Dict], None]] = None) -> Dict:
    """Matte ``subject_path`` against ``plate_path`` into the folder ``out``.

    Every check that can fail on user input (inputs, weights, output folder) runs before the
    output folder is touched. See :func:`howard.matte` for the arguments; ``chunk`` runs one
    frame range of a cluster run into a folder howard.cluster has prepared (it resumes from
    the frames of its range already on disk).

    Returns:
        A summary dict: frames written, seconds, frames per second, fallback count, how much
        of the frames no plate frame saw (:func:`coverage_summary`), paths.
    """
    from .net import infer, weights as weights_mod  # torch side, imported when needed

    check_settings(settings)
    folder = OutputFolder(out, settings.outputs, settings.name_template, settings.start_number)
    subject = media.open_source(subject_path)
    plate = media.open_source(plate_path)
    n_subject, n_plate = subject.count(), plate.count()
    h, w = subject.size
    backdrop = Backdrop(settings, (h, w), n_subject)
    scale = settings.backbone_scale or auto_backbone_scale(h, w)
    pixels = settings.sample_pixels or auto_sample_pixels(h, w)
    aligner = PlateAligner(plate, (h, w), n_subject=n_subject, n_plate=n_plate,
                           features=settings.features, window=settings.window,
                           plate_fit=settings.plate_fit)
    dev = infer.select_device(device)
    model = weights_mod.load_model(settings.weights, settings.variant, refine=True, device=dev,
                                   backbone_scale=scale, refine_mode=settings.refine_mode,
                                   sample_pixels=pixels, threshold=settings.threshold,
                                   uncertain=settings.refine_uncertain)
    inputs = {"subject": os.path.abspath(subject_path), "plate": os.path.abspath(plate_path),
              "subject_frames": n_subject, "plate_frames": n_plate, "size": [h, w],
              "subject_fps": subject.fps, "plate_fps": plate.fps}
    digest = settings_digest(settings, inputs)
    continuing = resume or (chunk and "settings" in (folder.read_settings() or {}))
    backend, precision = _runtime(settings, dev, folder.read_settings() if continuing else None)
    digest["settings"].update(backbone_scale=scale, sample_pixels=pixels,
                              weights_sha256=weights_mod.sha256(model.checkpoint_path),
                              backend=backend, precision=precision)
    if continuing:
        check_resumable(folder, digest)
    folder.prepare(overwrite=overwrite and not chunk, resume=resume or bool(chunk))

    lag = 2 * settings.batch_size
    smoother = TemporalFilter() if settings.temporal == "on" else None
    if chunk:  # the first unfinished frame of the range, after a warm-up not written
        folder.done_file = folder.state / "parts" / f"done-{chunk.tag}"
        folder.done_file.parent.mkdir(exist_ok=True)
        finished = folder.done_frames()
        keep = next((i for i in range(chunk.first, chunk.stop) if i not in finished), chunk.stop)
        end = min(chunk.stop, n_subject)
        start = keep if keep >= end else \
            max(0, (keep - chunk.warmup) // settings.batch_size * settings.batch_size)
        board = MaskBoard(floor=start)
        meta_path = folder.state / "parts" / f"howard-{chunk.tag}.json"
        log_path = folder.state / "parts" / f"alignment-{chunk.tag}.jsonl"
        _keep_records(log_path, keep)
    else:
        board, end, meta_path = MaskBoard(), n_subject, folder.root / "howard.json"
        log_path = folder.root / "alignment.jsonl"
        start = folder.first_unfinished() if resume else 0
        start = min(_restore_masks(folder, board, start, lag), n_subject)
        if smoother is not None:  # the smoother's state saved with the frame before
            start = _restore_temporal(folder, board, smoother, start, lag)
        keep = start
        records = folder.read_alignment(start) if resume else []
        if records:
            aligner.restore(records[-1], records[-2] if len(records) > 1 else None)
        folder.reset_done(start if resume else 0)

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
    matter = infer.Matter(model, dev, backend=backend, precision=precision,
                          low_light=settings.low_light)
    meta = {"command": command or " ".join(sys.argv), "version": __version__,
            "versions": _versions(), "device": str(dev), "threads": threads,
            "weights": model.checkpoint_path, **digest, "inputs": inputs,
            "status": "running", "frames_done": keep}
    # an automatic base pass is fitted to the subject's size on the first frame matted; a
    # resumed run keeps what the run it continues chose
    base_pass = chunk.base_pass if chunk else None
    if base_pass:
        matter.model.backbone_scale = float(base_pass["scale"])
        meta["base_pass"] = base_pass
    elif settings.backbone_scale is None and resume and start > 0:
        old = folder.read_settings() or {}
        base_pass = old.get("base_pass") or {"scale": scale, "frame_size_scale": scale}
        matter.model.backbone_scale = float(base_pass["scale"])
        meta["base_pass"] = base_pass
    media.atomic_write_text(meta_path, json.dumps(meta, indent=2))

    writer = Writer(folder, settings.png_level, workers, lag, background=on_cpu)
    writer.set_start(keep)
    align_log = open(log_path, "a")
    stop = threading.Event()
    chosen_q: queue.Queue = queue.Queue(maxsize=settings.batch_size)
    out_q: queue.Queue = queue.Queue(maxsize=2 * settings.batch_size)
    producers = [
        threading.Thread(target=choose_plates, daemon=True, name="howard-align",
                         args=(subject, aligner, start, end, lag, board, chosen_q, stop,
                               on_cpu)),
        threading.Thread(target=render_plates, daemon=True, name="howard-render",
                         args=(aligner, chosen_q, out_q, stop, on_cpu,
                               settings.parallax == "on"))]
    bar = Progress(progress, end, start, callback=on_progress)
    started, fallbacks, done = time.perf_counter(), 0, start
    status = "interrupted"
    cv_threads = cv2.getNumThreads()
    if on_cpu:  # the network has the cores: OpenCV threads would only pre-empt it
        cv2.setNumThreads(1)
    try:
        if workers > 0:
            for producer in producers:
                producer.start()
            source = iter(lambda: out_q.get(), DONE)
        else:
            source = inline(subject, aligner, start, end, lag, board,
                             settings.parallax == "on")
        batch = []
        for item in source:
            if isinstance(item, BaseException):
                raise item
            batch.append(item)
            if settings.backbone_scale is None and base_pass is None:
                base_pass = _fit_base_pass(matter, item, scale, (h, w))
                meta["base_pass"] = base_pass
                media.atomic_write_text(meta_path, json.dumps(meta, indent=2))
            if len(batch) == settings.batch_size:
                new = _matte_batch(batch, matter, settings, writer, board, align_log,
                                   backdrop, keep, smoother)
                fallbacks, done = fallbacks + len(new), done + len(batch)
                bar.update(len(batch), fallbacks=new)
                batch = []
        if batch:
            new = _matte_batch(batch, matter, settings, writer, board, align_log,
                               backdrop, keep, smoother)
            fallbacks, done = fallbacks + len(new), done + len(batch)
            bar.update(len(batch), fallbacks=new)
        writer.close()
        if settings.videos and not chunk:
            bar.report("videos")
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
        # over every frame on record (a resumed run's earlier frames too)
        records = read_records(log_path)
        coverage = coverage_summary(records)
        warnings = _plate_warnings(records) if status == "complete" and not chunk else []
        if warnings:
            meta["warnings"] = warnings
        meta.update(status=status, frames_done=folder.first_unfinished(),
                    seconds=round(seconds, 3), fallback_frames=fallbacks,
                    written=max(0, done - keep), warmup_frames=keep - start,
                    coverage=coverage)
        media.atomic_write_text(meta_path, json.dumps(meta, indent=2))
    if coverage["uncovered_frames"]:
        log.info("%d frames have more than %g %% that no plate frame sees (up to %.1f %%); "
                 "it is filled from the frame off the subject and inpainted under it",
                 coverage["uncovered_frames"], 100 * LARGE_UNCOVERED,
                 100 * coverage["uncovered_max"])
    processed = max(0, done - keep)
    return {"output": str(folder.root), "frames": n_subject, "processed": processed,
            "resumed_at": keep, "warmup_frames": keep - start, "seconds": round(seconds, 3),
            "fps": round(processed / seconds, 3) if seconds > 0 else None,
            "fallback_frames": fallbacks, **coverage, "device": str(dev),
            "warnings": warnings}


def _plate_warnings(records) -> list:
    """The run's warnings about its plate (see :mod:`howard.align.sanity`), logged."""
    text = plate_warning(records)
    if text:
        log.info("%s", text)
    return [text] if text else []


def _runtime(settings: Settings, dev, old: Optional[Dict]) -> Tuple[str, str]:
    """The network's runtime and precision for this run: what was asked for, except that
    ``auto`` keeps the choice of the run being continued (``old``, its howard.json), so a
    resumed run's frames come from the same arithmetic as the ones already written."""
    from .net import openvino_backend as ovb
    backend, precision = settings.backend, settings.precision
    if old is not None:
        if backend == "auto":
            backend = recorded_setting(old, "backend")
        if precision == "auto":
            precision = recorded_setting(old, "precision")
    backend = ovb.resolve_backend(backend, dev)
    return backend, ovb.resolve_precision(precision) if backend == "openvino" else "f32"


def _fit_base_pass(matter, item, scale: float, size) -> Dict:
    """The base-pass scale for the run, from the subject's size in ``item`` (a frame and its
    aligned plate), set on ``matter``'s model; returned as recorded in howard.json."""
    from .net import infer
    index, frame, result = item
    half_width = infer.subject_half_width(matter, frame, result.bgr)
    chosen = fit_backbone_scale(scale, half_width, *size)
    matter.model.backbone_scale = chosen
    if chosen != scale:
        log.info("a large subject (half width %.0f px): base pass at 1/%d instead of 1/%d",
                 half_width, round(1 / chosen), round(1 / scale))
    return {"scale": chosen, "frame_size_scale": scale, "subject_half_width": round(half_width, 1),
            "measured_on_frame": int(index)}


def _matte_batch(batch, matter, settings, writer, board, align_log,
                 backdrop, keep: int = 0, smoother=None) -> List[Dict]:
    """Matte ``batch``; frames from ``keep`` on are written and logged (earlier ones are a
    chunk's warm-up: their masks only). Returns the fallback frames written, as
    ``{"frame", "reason"}``."""
    if len(batch) == 1:  # a view, not a copy: two full frames less to move per frame
        src, bgr = batch[0][1][None], batch[0][2].bgr[None]
    else:
        src = np.stack([frame for _, frame, _ in batch])
        bgr = np.stack([a.bgr for _, _, a in batch])
    out = matter(src, bgr, network_outputs(settings.outputs))
    fallbacks = []
    for i, (index, frame, result) in enumerate(batch):
        one = {k: v[i] for k, v in out.items()}
        state = None
        if smoother is not None:
            one["pha"] = smoother(frame, one["pha"])
            state = dict(zip(("temporal_grey", "temporal_pha"), smoother.state))
        mask = subject_mask(one["pha"])
        board.put(index, mask)
        if index < keep:
            continue
        images = functools.partial(
            frame_images, settings.outputs, frame, result.bgr, one, settings.bit_depth,
            settings.premultiply, backdrop.frame(index), settings.composite_mode,
            settings.composite_space)
        record = {"frame": index, **result.to_json()}
        align_log.write(json.dumps(record) + "\n")
        if result.fallback:
            fallbacks.append({"frame": index, "reason": result.reason})
        writer.submit(index, images, mask, state)
    align_log.flush()
    return fallbacks


def _keep_records(path, below: int) -> None:
    """Keep only the alignment records of frames ``< below`` in the part file ``path``."""
    if path.is_file():
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("frame", below) < below:
                    kept.append(line + "\n")
            except (json.JSONDecodeError, AttributeError):  # a line cut short by a lost worker
                continue
        media.atomic_write_text(path, "".join(kept))


def _versions() -> Dict[str, str]:
    import torch

    return {"howard": __version__, "torch": torch.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}
