"""Low light for evaluation clips: the whole scene at 5-15 % exposure with a phone's high-ISO
noise.

A dim clip is the normal clip (same cameras, scene, subject, motion) with every rendered image
scaled by one exposure per clip, then noise that grows with the signal (shot noise), a floor
(read noise), chroma noise (blotchy, a few pixels across, independent per channel) and crushed
blacks. The subject and the plate draw their noise from one stream in turn, so the plate's
noise is independent of the frame's.
"""

from dataclasses import dataclass

import cv2
import numpy as np

LIGHTS = ("normal", "dim")


@dataclass(frozen=True)
class Light:
    """One clip's lighting: ``exposure`` scales the scene; noise in 0-1 units.

    Attributes:
        exposure: factor on every image, 1 for normal light.
        read: sd of the signal-independent noise.
        shot: variance per unit signal (sd at value x is ``sqrt(read**2 + shot * x)``).
        chroma: sd of the low-frequency per-channel noise.
        black: level subtracted (and clipped) after the noise: crushed blacks.
    """

    exposure: float = 1.0
    read: float = 0.0
    shot: float = 0.0
    chroma: float = 0.0
    black: float = 0.0


def draw_light(kind: str, seed: int) -> Light:
    """The lighting of clip ``seed`` in light ``kind`` ('normal' or 'dim'); its own stream, so
    the rest of the clip is the same in both."""
    if kind not in LIGHTS:
        raise ValueError(f"unknown light {kind!r}; choose from {', '.join(LIGHTS)}")
    if kind == "normal":
        return Light()
    rng = np.random.default_rng([int(seed), 0x0D1A])
    return Light(exposure=float(rng.uniform(0.05, 0.15)), read=float(rng.uniform(0.006, 0.012)),
                 shot=float(rng.uniform(0.002, 0.004)), chroma=float(rng.uniform(0.004, 0.01)),
                 black=float(rng.uniform(0.003, 0.01)))


def expose(light: Light, image: np.ndarray) -> np.ndarray:
    """``image`` (float32 HxWx3 [0, 1]) at the light's exposure, noise-free."""
    return (image * np.float32(light.exposure)).astype(np.float32)


def sensor(light: Light, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A dim exposed ``image`` (float32 HxWx3 [0, 1]) with the light's sensor noise, float32
    [0, 1]; draws from ``rng``."""
    sd = np.sqrt(light.read ** 2 + light.shot * np.clip(image, 0, 1))
    out = image + rng.standard_normal(image.shape, dtype=np.float32) * sd.astype(np.float32)
    if light.chroma > 0:
        blotch = rng.standard_normal(image.shape, dtype=np.float32)
        blotch = cv2.GaussianBlur(blotch, (0, 0), 2.0)
        blotch -= blotch.mean(axis=2, keepdims=True)  # colour, not brightness
        out += blotch * np.float32(light.chroma / (blotch.std() + 1e-6))
    if light.black > 0:
        out = (out - light.black) / (1 - light.black)
    return np.clip(out, 0, 1).astype(np.float32)
