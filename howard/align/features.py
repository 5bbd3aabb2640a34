"""Keypoints of one image and putative matches between two: ORB or SIFT.

Features are found on a grey copy shrunk to a working width (960 px by default) and their
coordinates mapped back to full resolution (see :func:`scale_matrix`), so the homography
estimated from them always lives at full resolution. Matching can be guided by a prior
homography (the previous frame's). Conventions are those of :mod:`howard.align.homography`.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

METHODS = ("orb", "sift")
# Images narrower than SMALL_WIDTH are enlarged to MIN_WORK_WIDTH first: ORB's 31 px patches
# and border leave such a frame too few keypoints to trust a homography. (Wider frames keep
# their own pixels: enlarged ones give slightly less precise keypoints.)
SMALL_WIDTH, MIN_WORK_WIDTH = 240, 480
# ... but by at most this factor: a tall, thin frame (320 px high, 8 wide) enlarged to 480 px
# wide would be 19,200 px high, over a second of SIFT per frame for nothing to align
MAX_ENLARGE = 4.0
# A grey image whose background spans fewer levels than this between its 1st and 99th
# percentiles (night, indoor, fog) is contrast-normalised before detection
LOW_CONTRAST = 64


def normalise_contrast(grey: np.ndarray, keep: Optional[np.ndarray] = None,
                       low: int = LOW_CONTRAST) -> np.ndarray:
    """``grey`` with its local contrast stretched (CLAHE) when it is dark or flat.

    On a dark frame FAST's fixed threshold finds a handful of corners (the lit subject, masked
    out, may be all there is); CLAHE lifts the background's texture to a usable range. Frames
    of normal contrast are returned unchanged, so well-lit footage aligns as before.

    Args:
        grey: hxw uint8 image.
        keep: hxw uint8 or bool, nonzero where detection may look (the background); the
            contrast is judged there. None: everywhere.
        low: 1st-99th percentile spread (0-255) below which the image is normalised.

    Returns:
        hxw uint8: ``grey`` itself, or its CLAHE (clip 3, 8x8 tiles) on the luminance.
    """
    values = grey[keep.astype(bool)] if keep is not None else grey.ravel()
    if values.size < 16:
        return grey
    p1, p99 = np.percentile(values, (1, 99))
    if p99 - p1 >= low:
        return grey
    tiles = (max(1, min(8, grey.shape[1] // 16)), max(1, min(8, grey.shape[0] // 16)))
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=tiles).apply(grey)


@dataclass
class Features:
    """Keypoints of one image.

    Attributes:
        pts: (N, 2) float32 (x, y) at full resolution.
        desc: (N, 32) uint8 (ORB) or (N, 128) float32 (SIFT); None when N == 0.
        method: ``'orb'`` or ``'sift'``.
        size: (h, w) of the full-resolution image.
    """

    pts: np.ndarray
    desc: Optional[np.ndarray]
    method: str
    size: Tuple[int, int]

    def __len__(self) -> int:
        return len(self.pts)


def scale_matrix(f: float) -> np.ndarray:
    """3x3 map from full-resolution to resized pixel coordinates for a resize by ``f``.

    Pixel centres sit at integers, so x_small = (x + 0.5) * f - 0.5.
    """
    o = 0.5 * f - 0.5
    return np.array([[f, 0.0, o], [0.0, f, o], [0.0, 0.0, 1.0]])


def rescale_homography(H: np.ndarray, f: float) -> np.ndarray:
    """``H`` (full resolution) expressed for both images resized by ``f``: S H S^-1."""
    S = scale_matrix(f)
    return S @ H @ np.linalg.inv(S)


def shrink(image: np.ndarray, width: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """``image`` resized to ``width`` px wide (aspect kept); unchanged when already narrower."""
    h, w = image.shape[:2]
    if w <= width:
        return image
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=interpolation)


def detect(image: np.ndarray, method: str = "orb", n_features: int = 3000,
           work_width: int = 960, exclude: Optional[np.ndarray] = None,
           normalise: bool = True) -> Features:
    """Keypoints and descriptors of ``image`` found at ``work_width``.

    Args:
        image: HxWx3 uint8 RGB (or HxW uint8 grey).
        method: ``'orb'`` (fast, binary) or ``'sift'`` (slower, steadier on soft texture).
        n_features: at most this many keypoints.
        work_width: width the grey image is shrunk to first (images narrower than
            ``SMALL_WIDTH`` are enlarged to ``MIN_WORK_WIDTH`` instead).
        exclude: HxW bool (any resolution, resized here), True where no keypoint may lie:
            the subject, so it never drives the homography.
        normalise: stretch the contrast of a dark or flat image first (see
            :func:`normalise_contrast`).

    Returns:
        :class:`Features` with full-resolution coordinates.
    """
    if method not in METHODS:
        raise ValueError(f"feature method must be one of {METHODS}, got {method!r}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = shrink(grey, work_width)
    if small.shape[1] < SMALL_WIDTH:
        h, w = grey.shape[:2]
        k = min(MIN_WORK_WIDTH / w, MAX_ENLARGE)
        small = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))),
                           interpolation=cv2.INTER_CUBIC)
    f = small.shape[1] / grey.shape[1]
    mask = None
    if exclude is not None:
        keep = (~exclude.astype(bool)).astype(np.uint8) * 255
        mask = cv2.resize(keep, small.shape[::-1], interpolation=cv2.INTER_NEAREST)
    if normalise:
        small = normalise_contrast(small, mask)
    if method == "orb":
        # a low FAST threshold finds corners on soft, low-contrast backgrounds as well
        finder = cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8,
                                fastThreshold=10)
    else:
        finder = cv2.SIFT_create(nfeatures=n_features)
    kps, desc = finder.detectAndCompute(small, mask)
    if not kps or desc is None:
        return Features(np.zeros((0, 2), np.float32), None, method, grey.shape[:2])
    pts = np.array([k.pt for k in kps], dtype=np.float64)
    pts = (pts + 0.5) / f - 0.5  # inverse of scale_matrix(f)
    return Features(pts.astype(np.float32), desc, method, grey.shape[:2])


def _nearest2(query: np.ndarray, train: np.ndarray, method: str, ratio: float):
    """Indices (into ``query``, into ``train``) of the pairs passing the ratio test."""
    norm, dtype = ((cv2.NORM_HAMMING, cv2.CV_32S) if method == "orb"
                   else (cv2.NORM_L2, cv2.CV_32F))
    dist, idx = cv2.batchDistance(query, train, dtype, normType=norm, K=2)
    dist = dist.astype(np.float64)
    ok = (idx[:, 1] >= 0) & (dist[:, 0] < ratio * dist[:, 1])
    return np.flatnonzero(ok), idx[ok, 0]


def match(plate: Features, src: Features, ratio: float = 0.8,
          prior: Optional[np.ndarray] = None,
          radius: float = 0.05) -> Tuple[np.ndarray, np.ndarray]:
    """Putative correspondences: nearest neighbour with Lowe's ratio test.

    Hamming distance for ORB, L2 for SIFT. With a ``prior`` homography (e.g. the previous
    frame's), a plate keypoint is compared only with frame keypoints near where the prior
    puts it (grid cells of ``radius`` x the diagonal, and their neighbours): about 5 times
    faster at 3000 keypoints, and fewer false matches.

    Returns:
        ``(pts_plate, pts_src)``, each (M, 2) float32 at full resolution.
    """
    empty = np.zeros((0, 2), np.float32)
    if len(plate) < 2 or len(src) < 2:
        return empty, empty
    if prior is None:
        i_src, i_plate = _nearest2(src.desc, plate.desc, plate.method, ratio)
        return plate.pts[i_plate], src.pts[i_src]
    h, w = src.size
    cell = max(8.0, radius * float(np.hypot(h, w)))
    nx, ny = int(w // cell) + 1, int(h // cell) + 1
    sx, sy = np.clip((src.pts // cell).astype(int).T, 0, [[nx - 1], [ny - 1]])
    order = np.argsort(sy * nx + sx, kind="stable")
    bounds = np.searchsorted((sy * nx + sx)[order], np.arange(nx * ny + 1))
    pred = project(prior, plate.pts.astype(np.float64))[0]
    px, py = np.floor(np.nan_to_num(pred, nan=-1e9) / cell).clip(-9, 1e6).astype(np.int64).T
    inside = (px >= -1) & (px <= nx) & (py >= -1) & (py <= ny)
    keys = np.where(inside, (py + 1) * (nx + 2) + (px + 1), -1)
    pairs_p, pairs_s = [], []
    for key in np.unique(keys[keys >= 0]):
        cy, cx = divmod(int(key), nx + 2)
        cx, cy = cx - 1, cy - 1
        near = [order[bounds[y * nx + x]:bounds[y * nx + x + 1]]
                for y in range(max(0, cy - 1), min(ny, cy + 2))
                for x in range(max(0, cx - 1), min(nx, cx + 2))]
        near = np.concatenate(near) if near else np.zeros(0, np.int64)
        if len(near) < 2:
            continue
        group = np.flatnonzero(keys == key)
        q, t = _nearest2(plate.desc[group], src.desc[near], plate.method, ratio)
        pairs_p.append(group[q])
        pairs_s.append(near[t])
    if not pairs_p:
        return empty, empty
    i_plate, i_src = np.concatenate(pairs_p), np.concatenate(pairs_s)
    return plate.pts[i_plate], src.pts[i_src]


def corners(size: Tuple[int, int]) -> np.ndarray:
    """(4, 2) float64 corner pixel centres of an image of ``size`` = (h, w)."""
    h, w = size
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)


def project(H: np.ndarray, pts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Points (N, 2) mapped through ``H``; returns (projected (N, 2), homogeneous w (N,))."""
    p = np.hstack([pts, np.ones((len(pts), 1))]) @ H.T
    w = p[:, 2]
    return p[:, :2] / np.where(np.abs(w) < 1e-12, 1e-12, w)[:, None], w
