"""Baselines to measure howard against: a single-still-plate alignment and a difference key.

* :func:`published_align` aligns one still plate to a frame the way the published
  BackgroundMattingV2 inference script does (500 ORB features, the best 15% of matches, RANSAC),
  with two differences: descriptors are matched with cross-checking, and a frame it cannot
  align gets the plate unwarped (and ``H = None``) instead of an exception, so a run can count
  its failures.
* :func:`difference_key` is a classical clean-plate key: alpha from how much each pixel of the
  frame differs from the aligned plate, with no network at all.

Images are HxWx3 uint8 RGB throughout.
"""

from typing import Optional, Tuple

import cv2
import numpy as np

# Difference-key defaults, tuned by a grid search on the mean SAD of one synthetic clip
# (``howard.synth.clips.make_clip(seed=7000)``, 540x960, 24 frames, plates aligned by
# ``howard.align.aligner.PlateAligner``); the evaluation set of ``scripts/evaluate.py`` uses other seeds.
KEY_LOW = 0.06
KEY_HIGH = 0.12
KEY_BLUR = 0.0

PUBLISHED_FEATURES = 500
PUBLISHED_KEEP = 0.15
PUBLISHED_RANSAC_PX = 3.0


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def published_align(plate_rgb: np.ndarray,
                    src_rgb: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Align one still plate to a subject frame as the published inference script does.

    ORB with :data:`PUBLISHED_FEATURES` features on both images, brute-force Hamming matching
    with cross-checking, the best :data:`PUBLISHED_KEEP` of the matches by descriptor
    distance, ``cv2.findHomography`` with RANSAC and a :data:`PUBLISHED_RANSAC_PX` px
    threshold, then the plate is warped to the frame and pixels it does not cover are taken
    from the frame (as the published script does). Nothing keeps features off the subject.

    Args:
        plate_rgb: hxwx3 uint8 RGB plate (any size).
        src_rgb: HxWx3 uint8 RGB subject frame.

    Returns:
        ``(bgr, H)``: the HxWx3 uint8 aligned plate and the 3x3 float64 plate -> frame
        homography; when no homography is found, the plate resized to the frame (unwarped)
        and ``None``.
    """
    h, w = src_rgb.shape[:2]
    orb = cv2.ORB_create(nfeatures=PUBLISHED_FEATURES)
    kp_plate, des_plate = orb.detectAndCompute(_grey(plate_rgb), None)
    kp_src, des_src = orb.detectAndCompute(_grey(src_rgb), None)
    H = None
    if des_plate is not None and des_src is not None:
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        matches = sorted(matcher.match(des_plate, des_src), key=lambda m: m.distance)
        matches = matches[:int(len(matches) * PUBLISHED_KEEP)]
        if len(matches) >= 4:
            pts_plate = np.float32([kp_plate[m.queryIdx].pt for m in matches])
            pts_src = np.float32([kp_src[m.trainIdx].pt for m in matches])
            H, _ = cv2.findHomography(pts_plate, pts_src, cv2.RANSAC, PUBLISHED_RANSAC_PX)
    if H is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
        if plate_rgb.shape[:2] != (h, w):
            plate_rgb = cv2.resize(plate_rgb, (w, h), interpolation=cv2.INTER_AREA)
        return plate_rgb.copy(), None
    H = H / H[2, 2]
    bgr = cv2.warpPerspective(plate_rgb, H, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
    covered = cv2.warpPerspective(np.full(plate_rgb.shape[:2], 255, np.uint8), H, (w, h),
                                  flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    bgr[covered == 0] = src_rgb[covered == 0]
    return bgr, H


def _fill_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """``mask`` (uint8 0/255) with enclosed background regions up to ``max_area`` px set."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(255 - mask, connectivity=4)
    if count <= 1:
        return mask
    h, w = mask.shape
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    touches = (x == 0) | (y == 0) | (x + stats[:, cv2.CC_STAT_WIDTH] == w) | \
              (y + stats[:, cv2.CC_STAT_HEIGHT] == h)
    small = (stats[:, cv2.CC_STAT_AREA] <= max_area) & ~touches
    small[0] = False  # label 0 is the mask itself
    out = mask.copy()
    out[small[labels]] = 255
    return out


def difference_key(src: np.ndarray, bgr: np.ndarray, low: float = KEY_LOW,
                   high: float = KEY_HIGH, blur: float = KEY_BLUR) -> np.ndarray:
    """A clean-plate difference key: alpha from how far each pixel is from the plate.

    The distance is the largest per-channel absolute difference between the frame and the
    plate (0-1 units), both first blurred with a Gaussian of ``blur`` px (sensor noise and
    resampling differences). Alpha ramps linearly from 0 at ``low`` to 1 at ``high``. Then
    a small clean-up on the solid part of the key (alpha > 0.5): it is opened and closed with
    a 3x3 ellipse; pixels the opening removes become 0, gaps the closing bridges and enclosed
    holes up to 0.1% of the frame become 1; the soft ramp is kept everywhere else.

    The defaults (:data:`KEY_LOW`, :data:`KEY_HIGH`, :data:`KEY_BLUR`) were tuned on one
    synthetic clip of a seed outside the evaluation set (see the module constants).

    Args:
        src: HxWx3 uint8 RGB subject frame.
        bgr: HxWx3 uint8 RGB plate aligned to it.
        low, high: distances (0-1) that map to alpha 0 and 1; ``low < high``.
        blur: Gaussian sigma in px (0 for none).

    Returns:
        HxW float32 alpha in [0, 1].
    """
    if src.shape != bgr.shape:
        raise ValueError(f"frame {src.shape} and plate {bgr.shape} must have one shape")
    if not 0.0 <= low < high:
        raise ValueError(f"need 0 <= low < high, got {low}, {high}")
    a, b = src.astype(np.float32) / 255.0, bgr.astype(np.float32) / 255.0
    if blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur)
        b = cv2.GaussianBlur(b, (0, 0), blur)
    dist = np.abs(a - b)
    dist = dist.max(axis=2) if dist.ndim == 3 else dist
    alpha = np.clip((dist - low) / (high - low), 0.0, 1.0).astype(np.float32)

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    core = (alpha > 0.5).astype(np.uint8) * 255
    opened = cv2.morphologyEx(core, cv2.MORPH_OPEN, kernel)
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel)
    filled = _fill_holes(closed, max(1, alpha.size // 1000))
    alpha[(core > 0) & (opened == 0)] = 0.0  # specks
    alpha[(filled > 0) & (opened == 0)] = 1.0  # gaps the closing bridged, and small holes
    return alpha
