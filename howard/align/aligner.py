"""Choosing and aligning a clean-plate frame for every subject frame.

For subject frame ``t`` the candidates are the plate frames within ``window`` of the
proportionally mapped one (``t * n_plate // n_subject``) plus the one chosen for ``t - 1``. Each
candidate is matched to the frame (features off the subject), its homography checked, and the
survivor whose warped plate best explains the frame's background wins. When none survives,
ECC alone tracks the plate from the last good homography (identity before there is one),
coarse to fine, and is kept if the background then matches at least as well; otherwise that
homography is reused as it is and the frame is flagged: one bad frame never stops a run.

Where the chosen plate frame leaves part of the frame uncovered, other plate frames that see
it are laid in (the other candidates, with the homographies their matching gave, and the
keyframes of :class:`Keyframes`, matched the same way): a mosaic (:mod:`.mosaic`). What no
plate frame covers is filled so that a subject standing there is kept.

The plate clip is streamed: :class:`PlateWindow` holds only the current candidates (at most
``2 * window + 2`` frames, and in a pipelined run the next couple read ahead) with their
features, computed once per plate frame.
"""

import logging
import os
from typing import Optional, Tuple, Union

import cv2
import numpy as np

from . import color, features, homography, mosaic
from .alignment import Alignment, _rounded, _usable
from ..errors import InputError
from ..io.media import FrameSource, open_source
from .keyframes import Keyframes
from .mosaic_sources import MosaicSources
from .plate_window import PLATE_FITS, PlateFrame, PlateWindow, candidates, fit_plate, plate_crop
from .search import PlateSearch

__all__ = ["PLATE_FITS", "plate_crop", "fit_plate", "candidates", "PlateFrame", "PlateWindow",
           "Alignment", "PlateAligner", "scaled_min_inliers"]

log = logging.getLogger(__name__)


def scaled_min_inliers(size: Tuple[int, int], full: int = 30, floor: int = 12,
                       height: int = 360) -> int:
    """Inliers a homography needs on frames of ``size`` (h, w): ``full`` from ``height`` px
    high up, in proportion below, never under ``floor``. A 160 px high frame holds about a
    fifth of the keypoints of a 360 px one, so 30 inliers would refuse its true plate."""
    return int(min(full, max(floor, round(full * size[0] / height))))


def _stretched(src: np.ndarray) -> np.ndarray:
    """HxW uint8 grey of ``src`` (HxWx3 uint8 RGB) with its local contrast stretched as a
    flat plate's is (:func:`features.normalise_contrast`, whatever its spread)."""
    grey = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
    return features.normalise_contrast(grey, low=256)


class PlateAligner(MosaicSources):
    """Aligns the plate to each subject frame in turn (``t`` ascending).

    Args:
        plate: the plate clip, a :class:`FrameSource` or a path (one image = a still plate).
        size: (H, W) of the subject frames.
        n_subject: frames in the subject (None: taken as the plate's length).
        n_plate: frames in the plate (None: counted).
        features: ``'orb'`` or ``'sift'``.
        window: plate frames tried either side of the time-mapped one.
        plate_fit: ``'error'``, ``'crop'`` or ``'stretch'`` (see :func:`plate_crop`).
        n_features, work_width: feature count and working width (see :func:`homography.detect`).
        dilate: the subject mask grows by this fraction of the width (motion since the alpha).
        min_inliers, max_shift: sanity limits (see :func:`homography.check_homography`);
            ``min_inliers`` None scales with the frame height (:func:`scaled_min_inliers`).
        refine: polish the chosen homography with ECC (about 25 ms at 640 px).
        smooth: 0 (off) to <1, blend of the chosen H's corners with the previous frame's while
            the plate frame stays the same.
        seed: RNG seed for the robust estimator.
        mosaic: complete the chosen plate frame with other plate frames where it does not
            cover the frame (False: only :func:`mosaic.fill_uncovered`).
        keyframe_step, keyframe_reach: the mosaic's plate frames beyond the candidates (see
            :class:`Keyframes`).
        min_gap: the mosaic is built only when the chosen plate frame misses more than this
            fraction of the frame (a sliver along an edge is not worth matching more frames),
            and a plate frame joins it only when it adds more than that.
        max_layers: plate frames laid into one frame at most.
    """

    def __init__(self, plate: Union[FrameSource, str, os.PathLike], size: Tuple[int, int], *,
                 n_subject: Optional[int] = None, n_plate: Optional[int] = None,
                 features: str = "orb", window: int = 3, plate_fit: str = "error",
                 n_features: int = 2000, work_width: int = 960, dilate: float = 0.02,
                 min_inliers: Optional[int] = None, max_shift: float = 0.25,
                 refine: bool = True,
                 smooth: float = 0.0, seed: int = 0, mosaic: bool = True,
                 keyframe_step: int = 8, keyframe_reach: int = 24, min_gap: float = 0.002,
                 max_layers: int = 3):
        source = plate if isinstance(plate, FrameSource) else open_source(plate)
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.size = tuple(size)
        self.plates = PlateWindow(source, self.size, plate_fit, n_plate, features, n_features,
                                  work_width)
        self.n_subject = n_subject
        self.window, self.dilate, self.refine, self.smooth = window, dilate, refine, smooth
        self.min_inliers = scaled_min_inliers(self.size) if min_inliers is None else min_inliers
        self.max_shift, self.seed = max_shift, seed
        self.detect_args = dict(method=features, n_features=n_features, work_width=work_width)
        # inlier threshold: 2 px at the working width, in full-resolution px
        self.thresh = 2.0 * max(1.0, self.size[1] / work_width)
        self.search = PlateSearch(source, self.size, plate_fit, n_plate, window)
        self.prev_index: Optional[int] = None
        self.before_index: Optional[int] = None  # the winner before prev_index
        self.prev_H: Optional[np.ndarray] = None
        self.good_H: Optional[np.ndarray] = None
        self.mosaic, self.min_gap, self.max_layers = mosaic, min_gap, max_layers
        self.keyframes = Keyframes(self.plates, keyframe_step, keyframe_reach)

    def restore(self, record: dict, before: Optional[dict] = None) -> None:
        """Continue after the frame whose :meth:`Alignment.to_json` record is given (resume);
        ``before``, the record of the frame before it, if any (where the plate is heading)."""
        self.prev_index = int(record["plate_index"])
        self.before_index = None if before is None else int(before["plate_index"])
        self.prev_H = self.good_H = np.array(record["H"], dtype=np.float64)

    def _predicted(self) -> Optional[int]:
        """The plate frame the last two winners point to (the last one if only one)."""
        if self.prev_index is None:
            return None
        step = 0 if self.before_index is None else self.prev_index - self.before_index
        return self.prev_index + int(np.clip(step, -2 * self.window, 2 * self.window))

    def align(self, t: int, src: np.ndarray, pha: Optional[np.ndarray] = None) -> Alignment:
        """Align the plate to subject frame ``t``: :meth:`choose`, then :meth:`render`.

        Args:
            t: subject frame index.
            src: HxWx3 uint8 RGB subject frame.
            pha: the subject's alpha from a recent frame, 2-D at any resolution (float 0-1,
                uint8 0-255 or bool), or None. Grown by ``dilate``; features and colour
                statistics stay off it.
        """
        return self.render(self.choose(t, src, pha), src)

    def choose(self, t: int, src: np.ndarray, pha: Optional[np.ndarray] = None) -> Alignment:
        """The plate frame and homography for subject frame ``t`` (arguments as for
        :meth:`align`), without the warped plate: see :meth:`render`.

        Frames must be chosen in order (each starts from the previous choice); rendering
        may happen later and elsewhere.
        """
        h, w = self.size
        if src.shape[:2] != (h, w):
            raise InputError(f"subject frame {t} is {src.shape[1]}x{src.shape[0]}, expected "
                             f"{w}x{h}; every subject frame must have the same size")
        n_plate = self.plates.length
        picks = candidates(t, self.n_subject or n_plate, n_plate, self.window, self.prev_index)
        src_small = homography.shrink(src, self.plates.small_width)
        f = src_small.shape[1] / w
        sh, sw = src_small.shape[:2]
        busy = homography.subject_mask(pha, (sh, sw), self.dilate)
        # the plate may be walked another way or pace: where the candidates look poor next
        # to the whole plate's nearest frames, those and where the plate heads are tried too
        predicted = self._predicted()
        if predicted is not None and 0 <= predicted < n_plate:
            picks = sorted(set(picks) | {predicted})
        picks, widened = self.search.widen(picks, n_plate, src_small, busy, predicted)
        frames = self.plates.fetch(picks)
        if not frames:  # the plate turned out shorter than counted: use its last frames
            frames = self.plates.fetch(candidates(t, self.n_subject or n_plate,
                                                  self.plates.length, self.window))
        if not frames:
            raise InputError(f"the plate {self.plates.source.name} has no frame that could be "
                             f"decoded (subject frame {t}); check the plate file")
        src_feat = homography.detect(src, exclude=busy, **self.detect_args)

        # the previous winner first, then outwards from the time-mapped frame; the first
        # homography found guides the matching of the rest (see homography.match)
        centre = t * self.plates.length // (self.n_subject or self.plates.length)
        order = sorted(frames, key=lambda i: (i != self.prev_index, abs(i - centre), i))
        prior, found, tried, reasons = self.prev_H, [], [], []

        def attempt(indices, prior):
            for i in indices:
                H, n, why = self._estimate(frames[i], src_feat, prior)
                res = self._residual(frames[i], H, f, src_small, busy) if why is None else np.inf
                if why is None and not np.isfinite(res):
                    why = "too little background in view to judge"
                tried.append([i, n, None if why else round(res, 3)])
                if why:
                    reasons.append(f"{i}: {why}")
                    continue
                prior = H if prior is None else prior
                found.append((res, i, H, n))

        attempt(order, prior)
        if not found and not widened:  # none aligned: search the whole plate
            more = self.search.more(list(frames), n_plate, predicted)
            if more:
                frames = self.plates.fetch(sorted(set(frames) | set(more)))
                attempt([i for i in more if i in frames], self.prev_H)
        if not found and not busy.any():
            # no alpha yet: a contrasty subject can keep a flat background's contrast from
            # being stretched as the plate's was, and its keypoints from matching the plate's
            src_feat = homography.detect(_stretched(src), **self.detect_args)
            attempt(sorted(frames, key=lambda i: (abs(i - centre), i)), self.prev_H)
        if widened or len(tried) > len(order):
            log.info("frame %d: plate frames searched beyond the time-mapped window: %s", t,
                     [i for i, _, _ in tried])
        # a homography far from what the other plate frames agree on is wrong, however well
        # its residual scores (a blurred frame can favour a wrongly zoomed plate)
        kept = []
        for c, px in zip(found, homography.disagreeing([c[2] for c in found], self.size)):
            if px:
                log.info("frame %d: plate frame %d left out: its corners lie %.0f px from the "
                         "other plate frames' agreement", t, c[1], px)
            else:
                kept.append(c)
        best = min(kept, key=lambda c: c[0]) if kept else None
        tried.sort()

        refined, reason = False, ""
        if best is not None:
            res, index, H, n = best
            if self.refine:
                R = self._polish(frames[index], H, n, f, src_small, busy)
                if R is not None:
                    r_res = self._residual(frames[index], R, f, src_small, busy)
                    if r_res <= res:
                        H, res, refined = R, r_res, True
            H = self._smoothed(index, H)
        else:
            index = self.prev_index if self.prev_index in frames else \
                min(frames, key=lambda i: (abs(i - centre), i))
            start = "last good homography" if self.good_H is not None else "identity"
            H = self.good_H if self.good_H is not None else np.eye(3)
            n = 0
            res = self._residual(frames[index], H, f, src_small, busy)
            reason = "no plate frame aligned (" + "; ".join(reasons[:3]) + \
                     ("; ..." if len(reasons) > 3 else "") + ")"
            T = self._track(frames[index], H, f, src_small, busy) if self.refine else None
            t_res = self._residual(frames[index], T, f, src_small, busy) if T is not None \
                else np.inf
            # ECC's answer is kept only when the background can judge it (a finite residual):
            # with neither residual finite, inf <= inf used to keep a None homography
            if T is not None and np.isfinite(t_res) and t_res <= res:
                H, res, refined = T, t_res, True
                reason += f"; aligned by ECC alone from the {start}"
                log.info("frame %d: %s", t, reason)
            else:
                log.info("frame %d: %s; using the %s", t, reason, start)
        if not _usable(H):  # a last line of defence: a record always holds a finite 3x3 H
            log.warning("frame %d: no usable homography (%s); using the identity", t, reason)
            H, refined, reason = np.eye(3), False, (reason or "no usable homography") + \
                "; identity used"
            best = None
        H = _rounded(H)
        self.before_index, self.prev_index, self.prev_H = self.prev_index, index, H
        fallback = best is None and not refined
        if not fallback:
            self.good_H = H
        # a fallback's homography is a guess: other plate frames matched against it would
        # only add to the error
        sources = [] if fallback or not self.mosaic else self._mosaic_sources(
            index, H, res, kept, frames, centre, src_feat, f, src_small, busy)

        return Alignment(None, None, H, index, n, res, fallback, reason, None, None,
                         refined, tried, plate=frames[index].rgb, busy=busy, sources=sources)

    def render(self, a: Alignment, src: np.ndarray) -> Alignment:
        """Fill in ``a`` (from :meth:`choose` for ``src``): the plate warped to the frame,
        completed by the mosaic's plate frames (:func:`mosaic.compose`), colour-matched on the
        background, and filled where no plate frame reaches (:func:`mosaic.fill_uncovered`).

        Depends only on its arguments, so one thread can render a frame while another
        chooses for the next. Returns ``a``.
        """
        h, w = self.size
        bgr, valid = homography.warp_plate(a.plate, a.H, self.size)
        busy = cv2.resize(a.busy.astype(np.uint8), (w, h),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
        # 10,000 pixels pin three gains and biases down as well as 40,000, in a quarter of
        # the time
        gain, bias = color.fit_gain_bias(bgr, src, valid & ~busy, max_samples=10_000)
        covered = valid
        if a.sources:  # the mosaic is made in the chosen frame's colours, then matched as one
            layers = [homography.warp_plate(rgb, H, self.size) for _, rgb, H in a.sources]
            bgr, covered, gained = mosaic.compose(bgr, valid, layers,
                                                  mosaic.feather_width(self.size))
            a.mosaic = [[i, round(g, 4)] for (i, _, _), g in zip(a.sources, gained)]
        a.bgr = color.apply_gain_bias(bgr, gain, bias)
        if not covered.all():
            a.bgr, a.inpainted = mosaic.fill_uncovered(a.bgr, covered, src)
        a.valid, a.covered, a.gain, a.bias = valid, covered, gain, bias
        a.plate = a.busy = a.sources = None
        return a

    def _estimate(self, plate: PlateFrame, src_feat, prior):
        """(H, inliers, reason or None) for one candidate: matching guided by ``prior``
        first, over all keypoints when that fails (a jump the prior did not foresee)."""
        for guide in ([prior, None] if prior is not None else [None]):
            pp, ps = homography.match(plate.features, src_feat, prior=guide)
            H, n = homography.find_homography(pp, ps, self.thresh, self.seed)
            why = homography.check_homography(H, self.size, n, self.min_inliers, self.max_shift)
            if H is None:  # say what was missing: texture on either side, or common texture
                why = (f"{len(pp)} matches from {len(plate.features)} plate and "
                       f"{len(src_feat)} frame features")
            if why is None:
                return H, n, None
        return H, n, why

    def _residual(self, plate: PlateFrame, H, f, src_small, busy,
                  step: Optional[int] = None) -> float:
        """:func:`homography.photometric_residual` on every ``step``-th pixel of the small copies;
        the plate is warped straight onto that grid.

        ``step`` defaults to 3 on copies at least 480 px wide (a 213x120 grid from 640 px tells
        candidates apart as well as a finer one, at half the cost) and 2 on smaller ones.
        """
        step = step or (3 if src_small.shape[1] >= 480 else 2)
        grid = np.diag([1.0 / step, 1.0 / step, 1.0]) @ homography.rescale_homography(H, f)
        src, busy = src_small[::step, ::step], busy[::step, ::step]
        warped, valid = homography.warp_plate(plate.small, grid, src.shape[:2], erode=1)
        return homography.photometric_residual(src, warped, valid & ~busy, step=1)

    def _polish(self, plate: PlateFrame, H, n, f, src_small, busy) -> Optional[np.ndarray]:
        """``H`` refined by :func:`homography.refine_ecc` on background pixels, if still plausible."""
        Hs = homography.rescale_homography(H, f)
        valid = homography.warp_plate(plate.grey, Hs, src_small.shape[:2], erode=1)[1]
        # from a feature estimate, steps after the second moved the corners by hundredths of a
        # pixel on test clips: not worth their 10 ms each
        R = homography.refine_ecc(cv2.cvtColor(src_small, cv2.COLOR_RGB2GRAY), plate.grey, H, f,
                             valid & ~busy, iters=2)
        if R is None or homography.check_homography(R, self.size, n, self.min_inliers,
                                               self.max_shift):
            return None
        return R

    def _track(self, plate: PlateFrame, H, f, src_small, busy) -> Optional[np.ndarray]:
        """The homography found by :func:`homography.track_ecc` from ``H`` when no candidate's
        features gave one, if plausible (the caller keeps it only if the background then
        matches at least as well)."""
        Hs = homography.rescale_homography(H, f)
        valid = homography.warp_plate(plate.grey, Hs, src_small.shape[:2], erode=1)[1]
        R = homography.track_ecc(cv2.cvtColor(src_small, cv2.COLOR_RGB2GRAY), plate.grey, H, f,
                            valid & ~busy)
        if R is None or homography.check_homography(R, self.size, self.min_inliers,
                                               self.min_inliers, self.max_shift):
            return None
        return R

    def _smoothed(self, index: int, H: np.ndarray) -> np.ndarray:
        """Corners of ``H`` pulled towards the previous frame's while the plate frame is the
        same (different plate frames need different homographies, so no blending then)."""
        if not self.smooth or self.prev_H is None or index != self.prev_index:
            return H
        c = homography.corners(self.size)
        now, before = homography.project(H, c)[0], homography.project(self.prev_H, c)[0]
        blend = (1.0 - self.smooth) * now + self.smooth * before
        S = cv2.getPerspectiveTransform(c.astype(np.float32), blend.astype(np.float32))
        return S / S[2, 2]

    def close(self) -> None:
        """Stop reading the plate."""
        self.plates.close()
        self.keyframes.close()
