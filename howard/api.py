"""The Python entry point: :func:`matte` takes the same options as ``howard matte``."""

from typing import Callable, Dict, Optional, Sequence, Union

from .errors import HowardError
from .pipeline import Settings, run


def matte(subject: str, plate: str, out: str, *, weights: Optional[str] = None,
          variant: Optional[str] = None, device: Optional[str] = "auto",
          backbone_scale: Optional[float] = None, refine_mode: str = "sampling",
          sample_pixels: Optional[int] = None, threshold: float = 0.1,
          refine_uncertain: float = 1.0,
          batch_size: int = 1, features: str = "orb", window: int = 3,
          plate_fit: str = "error", outputs: Union[str, Sequence[str]] = ("rgba",),
          bit_depth: int = 8, png_level: int = 1, name_template: str = "%05d.png",
          start_number: int = 0, premultiply: bool = False,
          background: Optional[str] = None, composite_mode: str = "over",
          composite_space: str = "linear", videos: Union[str, Sequence[str]] = (),
          overwrite: bool = False, resume: bool = False,
          progress: bool = True, workers: Optional[int] = None,
          threads: Optional[int] = None, command: Optional[str] = None,
          scheduler: Optional[str] = None, chunk_frames: Optional[int] = None,
          temporal: str = "off", backend: str = "auto", precision: str = "auto",
          on_progress: Optional[Callable[[Dict], None]] = None,
          parallax: str = "on", low_light: str = "auto") -> Dict:
    """Matte every frame of ``subject`` against the clean ``plate``; write images to ``out``.

    Args:
        subject: video file, image folder, printf pattern (``shot.%04d.png``) or one image.
        plate: the clean plate, in any of the same forms (one image = a still plate).
        out: output folder; refused when non-empty unless ``overwrite`` or ``resume``.
        weights: checkpoint path or name (default: the shipped weights or $HOWARD_WEIGHTS).
        variant: backbone of the checkpoint; read from it when None.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        backbone_scale: base-pass resolution (<= 1/2); None picks it from the frame size and
            lowers it when the subject fills much of the first frame (medium shots,
            close-ups); the choice is recorded in howard.json as ``base_pass``.
        refine_mode: ``sampling``, ``thresholding`` or ``full``.
        sample_pixels: refined pixels per frame (sampling); None scales 160,000 at 1080p.
        threshold: error threshold (thresholding).
        refine_uncertain: weight of the coarse alpha's own uncertainty in choosing the cells
            to refine, besides the error map (0: the error map alone, as published).
        batch_size: frames per network call.
        features: ``orb`` or ``sift`` for plate alignment.
        window: plate frames tried either side of the time-mapped one.
        plate_fit: ``error``, ``crop`` or ``stretch`` when aspect ratios differ.
        outputs: any of ``rgba pha fgr err ref bgr`` (list or comma string).
        bit_depth: 8 or 16 for rgba/pha/fgr.
        png_level: PNG compression level 0-9.
        name_template: frame file name pattern (``{output}`` = output kind).
        start_number: number of subject frame 0 in file names.
        premultiply: write rgba with premultiplied colour (default straight alpha).
        background: for the ``com`` output (added when this is given): a colour (name or
            ``#rrggbb``), an image, or a video / image sequence (looped or cut to length,
            scaled to cover the frame).
        composite_mode: ``over`` (subject over the new background) or ``inside`` (the new
            background seen through the subject, the original background kept).
        composite_space: ``linear`` (light mixed in linear light, right for soft edges) or
            ``srgb`` (encoded values mixed, as many editors do).
        videos: any of ``mov`` (ProRes 4444 with alpha, from rgba), ``webm`` (VP9 with
            alpha, from rgba), ``mp4`` (H.264 composite with the subject's sound), written as
            ``out/rgba.mov``, ``out/rgba.webm``, ``out/com.mp4`` once every frame is done.
        overwrite, resume: how to treat a non-empty ``out``.
        progress: show a progress bar.
        workers: writer threads (0: everything in one thread; default: CPU count - 1, at
            least 1).
        threads: network threads on CPU.
        command: the command line recorded in howard.json.
        scheduler: a Dask scheduler address (``tcp://host:8786``) or ``local:N`` (N local
            worker processes) to matte frame ranges in parallel (see :mod:`howard.cluster`).
        chunk_frames: frames per cluster task (default: chosen from the clip and workers).
        temporal: ``on`` carries the previous frame's alpha along the optical flow where the
            frames agree (:mod:`howard.temporal`): less flicker on still parts; ``off``: every
            frame on its own.
        backend: the network's runtime on the CPU: ``openvino`` (compiled once per weights
            and size, cached on disk), ``torch``, or ``auto`` (OpenVINO on the CPU when it is
            installed, torch otherwise and on a GPU). A resumed run keeps its run's choice.
        precision: OpenVINO's arithmetic: ``f32``, ``mixed`` (the encoder in f32, the rest
            in bf16) or ``bf16`` (both need a CPU with bf16 units), or ``auto`` (``mixed``
            where the CPU has bf16 units, else ``f32``; see the README).
        on_progress: called in the calling thread after every batch of frames with a dict:
            ``stage`` (``'matte'``, then ``'videos'`` while the videos are encoded), ``done``
            and ``frames`` (frames finished, resumed ones included, and in all), ``fps`` (of
            this run), ``seconds_left`` and ``fallbacks`` (the batch's alignment fallbacks as
            ``{"frame", "reason"}``). Not with ``scheduler``.
        parallax: ``on`` corrects what the homography leaves between the aligned plate and
            the frame's background (nearer or further things; :mod:`howard.align.parallax`)
            by a smooth, bounded optical flow; ``off``: the homography alone.
        low_light: ``auto`` brightens a dim frame and its plate for the network and smooths
            the noise that comes up with them (:mod:`howard.net.exposure`; a well-exposed shot
            is left as it is); ``off`` never does.

    Returns:
        Summary dict: ``output``, ``frames``, ``processed``, ``resumed_at``, ``seconds``,
        ``fps``, ``fallback_frames``, ``uncovered_frames`` (frames of which more than 1 %
        is seen by no plate frame), ``uncovered_max``, ``uncovered_mean``, ``device``.
    """
    settings = make_settings(
        weights=weights, variant=variant, backbone_scale=backbone_scale,
        refine_mode=refine_mode, sample_pixels=sample_pixels, threshold=threshold,
        refine_uncertain=refine_uncertain, batch_size=batch_size, features=features,
        window=window, plate_fit=plate_fit, outputs=outputs, bit_depth=bit_depth,
        png_level=png_level, name_template=name_template, start_number=start_number,
        premultiply=premultiply, background=background, composite_mode=composite_mode,
        composite_space=composite_space, videos=videos, temporal=temporal, backend=backend,
        precision=precision, parallax=parallax, low_light=low_light)
    if scheduler is not None:  # frame ranges on a Dask cluster (the optional extra)
        if on_progress is not None:
            raise HowardError("on_progress reports a run on this machine; leave out the "
                              "scheduler to use it")
        from .batch import matte_on_cluster
        return matte_on_cluster(subject, plate, out, settings, scheduler=scheduler,
                                chunk_frames=chunk_frames, device=device,
                                overwrite=overwrite, resume=resume, progress=progress,
                                workers=workers, threads=threads, command=command)
    return run(subject, plate, out, settings, device=device, overwrite=overwrite, resume=resume,
               progress=progress, workers=workers, threads=threads, command=command,
               on_progress=on_progress)


def make_settings(*, outputs: Union[str, Sequence[str]] = ("rgba",),
                  videos: Union[str, Sequence[str]] = (), background: Optional[str] = None,
                  **options) -> Settings:
    """The :class:`Settings` for :func:`matte`'s keyword options of the same names (the
    ones that decide the outputs' bytes); ``outputs`` and ``videos`` may be comma strings."""
    if isinstance(outputs, str):
        outputs = [o.strip() for o in outputs.split(",") if o.strip()]
    if isinstance(videos, str):
        videos = [v.strip() for v in videos.split(",") if v.strip()]
    outputs = list(outputs)
    if background is not None and "com" not in outputs:
        outputs.append("com")
    return Settings(outputs=tuple(outputs), videos=tuple(videos), background=background,
                    **options)
