"""Shared fixtures: a textured scene built from images shipped with scikit-image, and views
of it through known homographies."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data


def make_scene(height: int = 1000, width: int = 1700) -> np.ndarray:
    """A (height, width, 3) uint8 RGB mosaic of photographs: texture everywhere."""
    tiles = [data.astronaut(), data.coffee(), data.rocket(), data.immunohistochemistry(),
             data.chelsea(), data.hubble_deep_field()[:500, :600]]
    row_h = height // 2 + 1
    rows = []
    for r in range(2):
        row = [cv2.resize(t, (int(t.shape[1] * row_h / t.shape[0]), row_h),
                          interpolation=cv2.INTER_AREA) for t in tiles[3 * r:3 * r + 3]]
        rows.append(np.hstack(row))
    w = min(width, *(r.shape[1] for r in rows))
    scene = np.vstack([r[:, :w] for r in rows])[:height]
    if w < width:  # mirror to widen; the seam adds texture, not confusion
        scene = np.hstack([scene, scene[:, ::-1][:, :width - w]])
    return np.ascontiguousarray(scene)


def view(scene: np.ndarray, M: np.ndarray, size) -> np.ndarray:
    """The scene through the 3x3 map ``M`` (scene -> view pixel coordinates), bilinear."""
    h, w = size
    return cv2.warpPerspective(scene, M, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1.0]])


def known_homography(seed: int = 0, size=(720, 1280)) -> np.ndarray:
    """A handheld-like plate -> subject homography: a few degrees of rotation, a few percent
    of zoom, tens of px of shift, a little perspective."""
    rng = np.random.default_rng(seed)
    h, w = size
    c = np.array([[w / 2], [h / 2]])
    angle = np.deg2rad(rng.uniform(-3, 3))
    s = rng.uniform(0.96, 1.04)
    R = s * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    A = np.eye(3)
    A[:2, :2] = R
    A[:2, 2:] = c - R @ c + rng.uniform(-30, 30, (2, 1))
    A[2, :2] = rng.uniform(-2e-5, 2e-5, 2)
    return A / A[2, 2]


def paste_blob(image: np.ndarray, fraction: float = 1 / 3, seed: int = 0) -> tuple:
    """Paste a subject-sized occluder (an ellipse of brick texture) covering about
    ``fraction`` of ``image``; returns (new image, HxW bool mask of the blob)."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    axes = (int(w * np.sqrt(fraction / np.pi) * 0.8), int(h * np.sqrt(fraction / np.pi) * 1.25))
    centre = (int(w * rng.uniform(0.4, 0.6)), int(h * 0.55))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    brick = cv2.resize(data.brick(), (w, h))
    texture = np.dstack([brick, brick // 2, 255 - brick])
    out = image.copy()
    out[mask > 0] = texture[mask > 0]
    return out, mask > 0


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    return make_scene()


@pytest.fixture(scope="session")
def plate_and_subject(scene):
    """(plate 720x1280, subject with occluder, true H plate -> subject, occluder mask)."""
    size = (720, 1280)
    offset = translation(-200, -140)  # scene -> plate: a crop with margin all round
    H = known_homography(0, size)
    plate = view(scene, offset, size)
    subject = view(scene, H @ offset, size)
    subject, blob = paste_blob(subject)
    return plate, subject, H, blob


@pytest.fixture(autouse=True, scope="session")
def _openvino_cache(tmp_path_factory):
    """Compiled OpenVINO graphs go to a temporary cache, not the user's."""
    import os
    os.environ["HOWARD_CACHE_DIR"] = str(tmp_path_factory.mktemp("howard-cache"))
    yield


def write_frames(folder, frames):
    """Write RGB uint8 frames as ``folder/0000.png ...`` (the folder is made if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
