"""Synthetic handheld clips with exact ground truth, for testing and measuring the pipeline.

A planar scene (an image larger than the frame) is filmed by two simulated handheld cameras:
with a person in front of it (the subject clip), and empty, with another length and a drifting
exposure (the clean plate). Camera ``t`` is a homography scene -> frame pixels (OpenCV's
convention, pixel centres at integers), so plate frame ``j`` maps to subject frame ``t`` by
exactly ``H_s[t] @ inv(H_p[j])``. The person is a flat cut-out in the scene plane: it shakes
with the scene and also walks, breathes (scales) and sways on its own.

Shake is low-pass filtered noise, a slow drift (0.4 s) plus a jitter (0.08 s), within rotation
2 deg, translation 3% of the width, scale 3% and perspective 2%, each times ``shake``. The plate
is ``clip(gain * view + bias)`` per channel, gain 0.85-1.15 and bias within +-0.05 drifting
smoothly. Both clips get Gaussian sensor noise.

A plate that is not framed like the shot (``plate_pan``, ``plate_offset``) leaves a strip of the
subject frame that its time-mapped frame does not see; with :func:`edge_person` the person
stands in that strip (the case the plate mosaic of :mod:`howard.align.mosaic` is for).
"""

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

from ..io import encode, media

from . import layers
from . import light as lighting
from . import samples
from .camera import (PLATE_ORDERS, _shift, _walked, camera_path,  # noqa: F401 (re-exported)
                     person_motion, plate_exposure, plate_shift, smooth_track, walk_positions)
from .placement import PersonFn, closeup_person, edge_person  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
Size = Tuple[int, int]
BackgroundFn = Callable[[np.random.Generator, Size], np.ndarray]


def _streams(seed: int) -> List[np.random.Generator]:
    """Independent generators: subject and plate cameras, scene, person, motion, exposure, noise."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]


def _view(image: np.ndarray, H: np.ndarray, size: Size) -> np.ndarray:
    return cv2.warpPerspective(image, H, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)


@dataclass
class ClipPlan:
    """Everything a clip is made of; every frame is rendered on demand, noise-free.

    Attributes:
        seed, size (h, w), fps: as given to :func:`plan_clip`.
        scene: float32 (Hs, Ws, 3) RGB [0, 1], the planar background.
        subject_cams, plate_cams: (n, 3, 3), (m, 3, 3) float64 scene -> frame pixels.
        nominal: (3, 3) the unshaken subject camera, in whose view the person was drawn.
        premul, pha: the person there, float32 (h, w, 3) premultiplied colour, (h, w) alpha.
        motion: (n, 3, 3) the person's own motion in that view.
        gain, bias: (m, 3) float64 plate exposure per frame.
        follow: (n, 3, 3) the subject cameras without their walk (the camera follows the
            person, who stays in frame), or None: ``subject_cams``.
        near: the near layer (parallax scenes) or None: see :mod:`howard.synth.layers`.
    """

    seed: int
    size: Size
    fps: float
    scene: np.ndarray
    subject_cams: np.ndarray
    plate_cams: np.ndarray
    nominal: np.ndarray
    premul: np.ndarray
    pha: np.ndarray
    motion: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    follow: Optional[np.ndarray] = None
    near: Optional[object] = None

    @property
    def n_subject(self) -> int:
        return len(self.subject_cams)

    @property
    def n_plate(self) -> int:
        return len(self.plate_cams)

    def plate_index(self, t: int) -> int:
        """The plate frame shot at the same relative time as subject frame ``t``."""
        return t * self.n_plate // self.n_subject

    def homography(self, t: int, j: Optional[int] = None) -> np.ndarray:
        """(3, 3) float64 plate frame ``j`` (default :meth:`plate_index`) -> subject frame t."""
        j = self.plate_index(t) if j is None else j
        H = self.subject_cams[t] @ np.linalg.inv(self.plate_cams[j])
        return H / H[2, 2]

    def background(self, t: int) -> np.ndarray:
        """float32 (h, w, 3) RGB [0, 1]: the scene seen by subject camera ``t``."""
        far = _view(self.scene, self.subject_cams[t], self.size)
        return far if self.near is None else self.near.over(far, self.subject_cams[t])

    def plate_view(self, j: int) -> np.ndarray:
        """float32 (h, w, 3) RGB [0, 1]: the scene seen by plate camera ``j``, true exposure."""
        far = _view(self.scene, self.plate_cams[j], self.size)
        return far if self.near is None else self.near.over(far, self.plate_cams[j])

    def plate_frame(self, j: int) -> np.ndarray:
        """float32 (h, w, 3) RGB [0, 1]: plate frame ``j`` with its exposure, before noise."""
        gain, bias = self.gain[j].astype(np.float32), self.bias[j].astype(np.float32)
        return np.clip(self.plate_view(j) * gain + bias, 0.0, 1.0)

    def subject_frame(self, t: int) -> Dict[str, np.ndarray]:
        """Subject frame ``t`` before noise and its truth, float32 [0, 1].

        Returns:
            ``src`` (h, w, 3) the composite, ``fgr`` (h, w, 3) straight person colour (0 where
            alpha is 0), ``pha`` (h, w), ``bgr`` (h, w, 3) the scene behind.
        """
        cams = self.subject_cams if self.follow is None else self.follow
        F = cams[t] @ np.linalg.inv(self.nominal) @ self.motion[t]
        h, w = self.size
        warp = dict(dsize=(w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        premul = cv2.warpPerspective(self.premul, F, **warp)
        pha = np.clip(cv2.warpPerspective(self.pha, F, **warp), 0.0, 1.0)
        bgr = self.background(t)
        src = np.clip(premul + (1.0 - pha[..., None]) * bgr, 0.0, 1.0)
        fgr = np.where(pha[..., None] > 1e-4, premul / np.maximum(pha, 1e-4)[..., None], 0.0)
        return {"src": src, "fgr": np.clip(fgr, 0.0, 1.0).astype(np.float32), "pha": pha,
                "bgr": bgr}


def plan_clip(seed: int, size: Size = (540, 960), n_frames: int = 24, plate_ratio: float = 1.2,
              fps: float = 24, shake: float = 1.0, sway: bool = True,
              person_fn: Optional[PersonFn] = None,
              background_fn: Optional[BackgroundFn] = None, pan: float = 0.0,
              plate_order: str = "same", parallax: float = 0.0, plate_pan: float = 0.0,
              plate_offset: float = 0.0) -> ClipPlan:
    """Draw a clip: cameras, scene, person, motion and plate exposure (nothing rendered yet).

    Args:
        seed: the clip's seed; the same seed gives the same clip.
        size: (h, w) of both clips, even, at least 16.
        n_frames: subject frames; the plate has ``round(n_frames * plate_ratio)``.
        shake: multiplier of the handheld motion bounds.
        sway: let the person rock about the feet.
        person_fn, background_fn: ``(rng, (h, w))`` -> person ``(fgr, pha)`` / scene image;
            default :func:`howard.synth.samples.person` and :func:`howard.synth.samples.background`.
        pan: both cameras walk sideways ``pan`` frame widths over the shot (0: they stay).
        plate_order: how the plate pass walks it (:func:`walk_positions`); 'offset' makes the
            plate at least ``1.5 n_frames`` long so it still reaches the subject's end.
        parallax: 0, or the gain of a near layer of boards (:mod:`howard.synth.layers`),
            which one homography cannot align with the scene behind.
        plate_pan, plate_offset: the plate framed off the shot (see :func:`plate_shift`); 0
            leaves the clip exactly as without them.
    """
    h, w = size
    if h % 2 or w % 2 or min(h, w) < 16:
        raise ValueError(f"size must be even and at least 16 px, got {h}x{w}")
    if n_frames < 1 or plate_ratio <= 0:
        raise ValueError(f"need n_frames >= 1 and plate_ratio > 0, got {n_frames}, {plate_ratio}")
    rngs = _streams(seed)
    n_plate = max(1, int(round(n_frames * plate_ratio)))
    if plate_order == "offset":
        n_plate = max(n_plate, n_frames + int(round(0.5 * (n_frames - 1))))
    subject = camera_path(rngs[0], n_frames, size, fps, shake)
    plate = camera_path(rngs[1], n_plate, size, fps, shake)
    follow = None
    if pan or plate_order != "same":
        walk_s, walk_p = walk_positions(plate_order, n_frames, n_plate)
        follow = subject
        subject, plate = _walked(subject, walk_s, pan * w), _walked(plate, walk_p, pan * w)
    if plate_pan or plate_offset:  # no random draw: the rest of the clip stays the same
        plate = np.stack([_shift(dx, 0.0) @ c for dx, c in
                          zip(plate_shift(n_plate, w, plate_pan, plate_offset), plate)])
    # the scene is just big enough for every camera (frame corners mapped back), 3 px spare
    corners = np.array([[-0.5, w - 0.5, w - 0.5, -0.5], [-0.5, -0.5, h - 0.5, h - 0.5], [1] * 4])
    seen = np.concatenate([np.linalg.inv(c) @ corners for c in (*subject, *plate)], axis=1)
    ex, ey = np.abs(seen[:2] / seen[2]).max(axis=1)
    scene_w, scene_h = 2 * math.ceil(ex + 3), 2 * math.ceil(ey + 3)
    centre = _shift(-(scene_w - 1) / 2, -(scene_h - 1) / 2)
    scene = (background_fn or samples.background)(rngs[2], (scene_h, scene_w))
    fgr, pha = (person_fn or samples.person)(rngs[3], size)
    fgr, pha = np.asarray(fgr, np.float32), np.asarray(pha, np.float32)
    gain, bias = plate_exposure(rngs[5], n_plate, fps)
    near = None
    if parallax:  # its own generator: the rest of the clip stays as without it
        near = layers.draw_near(np.random.default_rng([seed, 7]), (scene_h, scene_w), size,
                                np.concatenate([subject, plate]) @ centre, parallax)
    return ClipPlan(int(seed), (h, w), float(fps), np.ascontiguousarray(scene, np.float32),
                    subject @ centre, plate @ centre, _shift((w - 1) / 2, (h - 1) / 2) @ centre,
                    np.ascontiguousarray(fgr * pha[..., None]), pha,
                    person_motion(rngs[4], n_frames, fps, size, pha, sway), gain, bias,
                    None if follow is None else follow @ centre, near)


def _to8(image: np.ndarray, rng: Optional[np.random.Generator] = None,
         noise: float = 0.0) -> np.ndarray:
    """float 0-1 ``image`` as uint8, with Gaussian sensor noise of ``noise`` drawn from rng."""
    if rng is not None:
        image = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_clip(out_dir: PathLike, seed: int, size: Size = (540, 960), n_frames: int = 24,
              plate_ratio: float = 1.2, fps: float = 24, crf: int = 18, noise: float = 0.01,
              shake: float = 1.0, sway: bool = True, write_gt: bool = True,
              person_fn: Optional[PersonFn] = None,
              background_fn: Optional[BackgroundFn] = None, subject: str = "person",
              light: str = "normal", pan: float = 0.0, plate_order: str = "same",
              parallax: float = 0.0, plate_pan: float = 0.0, plate_offset: float = 0.0) -> dict:
    """Write one synthetic clip pair and its truth into ``out_dir`` (created if missing).

    Files: ``subject.mp4``, ``plate.mp4`` (H.264 yuv420p at x264 ``crf``), ``meta.json`` and,
    with ``write_gt``, per subject frame ``gt/pha/%05d.png`` (16-bit grey), ``gt/fgr/%05d.png``
    (8-bit RGB, straight colour) and ``gt/bgr/%05d.png`` (8-bit RGB, the scene behind the person,
    noise-free). Same arguments, same PNG and ``meta.json`` bytes (mp4 bytes depend on the
    encoder build).

    Args:
        noise: standard deviation of the sensor noise, 0-1 units (0.01 = 2.55 levels).
        subject: 'person' (``person_fn`` or the default figure) or a held-out family of
            :mod:`howard.synth.families` ('plant', 'fur', 'prop', 'cloth', 'photo_person').
        light: 'normal', or 'dim': the same clip at 5-15 % exposure with high-ISO noise
            (:mod:`howard.synth.light`) instead of ``noise``; the truth is dim too.
        pan, plate_order, parallax: as :func:`plan_clip`; recorded in ``meta.json`` when set.
        others: as :func:`plan_clip`.

    Returns:
        The contents of ``meta.json``: ``seed, size [h, w], fps, n_subject, n_plate, crf, noise,
        plate_ratio, shake, sway, scene_size``; ``frames``, per subject frame: ``index,
        plate_index, homography`` (3x3 list, plate frame -> subject frame) and the plate frame's
        ``plate_gain, plate_bias``; ``plate_pan, plate_offset`` when not 0;
        ``plate_exposure``: ``gain, bias`` (n_plate x 3); ``subject_cameras, plate_cameras``:
        scene -> frame homographies.
    """
    out, gt = Path(out_dir), Path(out_dir) / "gt"
    if subject != "person":
        from .families import family
        person_fn = family(subject)
    lit = lighting.draw_light(light, seed)
    plan = plan_clip(seed, size, n_frames, plate_ratio, fps, shake, sway, person_fn,
                     background_fn, pan, plate_order, parallax, plate_pan, plate_offset)
    noise_rng = _streams(seed)[6]
    for folder in [gt / "pha", gt / "fgr", gt / "bgr"] if write_gt else [out]:
        folder.mkdir(parents=True, exist_ok=True)

    def subject_frames():
        for t in range(plan.n_subject):
            f = plan.subject_frame(t)
            if light != "normal":
                f = {k: v if k == "pha" else lighting.expose(lit, v) for k, v in f.items()}
            if write_gt:
                pha16 = (f["pha"].astype(np.float64) * 65535.0 + 0.5).astype(np.uint16)
                media.write_png(gt / "pha" / f"{t:05d}.png", pha16)
                media.write_png(gt / "fgr" / f"{t:05d}.png", _to8(f["fgr"]))
                media.write_png(gt / "bgr" / f"{t:05d}.png", _to8(f["bgr"]))
            yield _noisy(f["src"])

    def _noisy(image):
        if light == "normal":
            return _to8(image, noise_rng, noise)
        return _to8(lighting.sensor(lit, noise_rng, image))

    encode.write_mp4(out / "subject.mp4", subject_frames(), fps, crf=crf)
    plates = (_noisy(lighting.expose(lit, plan.plate_frame(j))) for j in range(plan.n_plate))
    encode.write_mp4(out / "plate.mp4", plates, fps, crf=crf)
    meta = {"seed": plan.seed, "size": list(plan.size), "fps": plan.fps,
            "n_subject": plan.n_subject, "n_plate": plan.n_plate, "crf": crf, "noise": noise,
            "plate_ratio": plate_ratio, "shake": shake, "sway": sway,
            "scene_size": list(plan.scene.shape[:2]), "subject": subject, "light": light,
            "exposure": lit.exposure,
            **({"plate_pan": plate_pan, "plate_offset": plate_offset}
               if plate_pan or plate_offset else {}),
            "convention": "homography: plate pixel (x, y, 1) -> subject pixel, pixel centres at "
                          "integers; plate = clip(gain * scene view + bias)"}
    for key, value, default in (("pan", pan, 0.0), ("plate_order", plate_order, "same"),
                                ("parallax", parallax, 0.0)):
        if value != default:
            meta[key] = value
    index = [plan.plate_index(t) for t in range(plan.n_subject)]
    meta["frames"] = [{"index": t, "plate_index": j, "homography": plan.homography(t).tolist(),
                       "plate_gain": plan.gain[j].tolist(), "plate_bias": plan.bias[j].tolist()}
                      for t, j in enumerate(index)]
    meta.update(plate_exposure={"gain": plan.gain.tolist(), "bias": plan.bias.tolist()},
                subject_cameras=plan.subject_cams.tolist(), plate_cameras=plan.plate_cams.tolist())
    media.atomic_write_text(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    log.info("wrote clip %s: %d subject, %d plate frames of %dx%d", out, plan.n_subject,
             plan.n_plate, size[1], size[0])
    return meta


def make_set(out_root: PathLike, n_clips: int, seed: int, **clip_args) -> List[dict]:
    """Write ``clip_000``, ``clip_001``, ... under ``out_root``; returns their meta dicts.

    Clip ``i`` has seed ``seed * 1000 + i`` (sets of different seeds share no clip up to 1000
    clips); ``clip_args`` go to :func:`make_clip`.
    """
    return [make_clip(Path(out_root) / f"clip_{i:03d}", seed * 1000 + i, **clip_args)
            for i in range(n_clips)]
