"""Details of the procedural figure: faces, headwear, shoes, tattoos (see
:func:`howard.synth.person.person`, ``details=True``).

Each draws into the figure's supersampled canvas with masks from ``blank()``, so the details get
the same fractional edges as the rest of the figure.
"""

import cv2
import numpy as np

from .person import HAIR, SUPER, _cloth, _pt, _strands


def _saturated(rng: np.random.Generator) -> np.ndarray:
    """A strong colour of random hue (caps, bags, bright clothes)."""
    hsv = np.uint8([[[rng.integers(180), rng.integers(150, 256), rng.integers(90, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


def _tattoos(rng: np.random.Generator, skin: np.ndarray) -> np.ndarray:
    """``skin`` with dark ink strokes over it (used for the forearms)."""
    H, W = skin.shape[:2]
    ink = np.zeros((H, W), np.uint8)
    for _ in range(int(rng.integers(20, 80))):
        pts = rng.uniform(0, 1, (int(rng.integers(2, 5)), 2)) * [W, H]
        if rng.random() < 0.7:  # strokes in clusters, like a drawing
            pts = pts[:1] + (pts - pts[:1]) * 0.08
        cv2.polylines(ink, [np.round(pts).astype(np.int32)], False, 255,
                      int(rng.integers(1, 3)) * SUPER, cv2.LINE_AA)
    dark = rng.uniform(0.45, 0.8) * ink.astype(np.float32)[..., None] / 255
    return skin * (1 - dark) + np.float32([0.1, 0.12, 0.18]) * dark


def _face(rng: np.random.Generator, cv: "_Canvas", blank, head, r: float,
          head_mask: np.ndarray, skin: np.ndarray, hair: np.ndarray) -> bool:
    """Eyes, brows, nose, mouth, side shading (kept inside ``head_mask``), sometimes a beard or
    glasses; False if the head is seen from behind (no face)."""
    if rng.random() < 0.2:
        return False
    hx, hy = head
    turn = rng.uniform(-0.35, 0.35) * r  # the face turned a little to one side
    m = blank()  # shading down one side
    side = rng.choice([-1, 1])
    cv2.ellipse(m, _pt(hx + side * 0.55 * r, hy), _pt(0.45 * r, 1.0 * r), 0, 0, 360, 255, -1,
                cv2.LINE_AA)
    m = cv2.bitwise_and(m, head_mask)
    cv.paint(m, skin * rng.uniform(0.55, 0.85), opacity=rng.uniform(0.3, 0.8))
    ey = hy - rng.uniform(0.0, 0.15) * r
    sclera = np.float32([0.92, 0.9, 0.86]) * rng.uniform(0.7, 1.0)
    iris = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.3, 1.0)
    for sx in (-1, 1):
        ex = hx + turn + sx * 0.36 * r
        m = blank()
        cv2.ellipse(m, _pt(ex, ey), _pt(0.15 * r, 0.07 * r), 0, 0, 360, 255, -1, cv2.LINE_AA)
        cv.paint(m, sclera)
        m = blank()
        cv2.circle(m, _pt(ex + rng.uniform(-0.05, 0.05) * r, ey), max(1, int(0.065 * r)), 255,
                   -1, cv2.LINE_AA)
        cv.paint(m, iris)
        m = blank()  # brow
        cv2.line(m, _pt(ex - 0.17 * r, ey - 0.2 * r), _pt(ex + 0.17 * r, ey - 0.22 * r), 255,
                 max(1, int(0.06 * r)), cv2.LINE_AA)
        cv.paint(m, hair)
    m = blank()  # nose: a darker stroke
    cv2.line(m, _pt(hx + turn * 1.2, ey + 0.05 * r),
             _pt(hx + turn * 1.3 + 0.05 * r, ey + 0.4 * r), 255, max(1, int(0.08 * r)),
             cv2.LINE_AA)
    cv.paint(m, skin * 0.7, opacity=0.7)
    m = blank()  # mouth
    my = hy + rng.uniform(0.5, 0.62) * r
    cv2.ellipse(m, _pt(hx + turn, my), _pt(rng.uniform(0.15, 0.3) * r, 0.05 * r), 0, 0, 360,
                255, -1, cv2.LINE_AA)
    cv.paint(m, skin * np.float32([0.6, 0.35, 0.35]) * rng.uniform(0.6, 1.2))
    if rng.random() < 0.3:  # beard: the lower face in hair colour, a little past the jaw
        m = blank()
        cv2.ellipse(m, _pt(hx, hy + 0.1 * r), _pt(0.92 * r, 1.1 * r), 0, 10, 170, 255, -1,
                    cv2.LINE_AA)
        cv2.ellipse(m, _pt(hx + turn, my), _pt(0.22 * r, 0.07 * r), 0, 0, 360, 0, -1)
        cv.paint(m, hair, opacity=rng.uniform(0.7, 1.0))
        m = blank()
        _strands(rng, m, (hx, hy + 0.6 * r), 0.6 * r, int(rng.integers(20, 120)), (0.1, 0.4))
        cv.paint(m, hair)
    if rng.random() < 0.15:  # glasses
        m = blank()
        for sx in (-1, 1):
            cv2.circle(m, _pt(hx + turn + sx * 0.36 * r, ey), int(0.22 * r), 255,
                       max(1, int(0.04 * r)), cv2.LINE_AA)
        cv2.line(m, _pt(hx + turn - 0.14 * r, ey), _pt(hx + turn + 0.14 * r, ey), 255,
                 max(1, int(0.04 * r)), cv2.LINE_AA)
        cv.paint(m, np.float32(rng.uniform(0, 0.5, 3)))
    return True


def _dark(rng: np.random.Generator) -> np.ndarray:
    """Near-black with a faint tint (soles, leather, dark canvas)."""
    return np.clip(rng.uniform(0.02, 0.1) + rng.normal(0, 0.01, 3), 0, 1).astype(np.float32)


def _shoes(rng: np.random.Generator, cv: "_Canvas", blank, feet, width: float,
           ph: float) -> None:
    """A shoe over the end of each leg, seen from the side or the front, often dark and with a
    sole of another colour: dark parts of the subject that touch the ground, where the scene
    itself is often dark with the subject's shadow."""
    r = rng.random()
    upper = _dark(rng) if r < 0.4 else (np.float32(rng.uniform(0.8, 0.95, 3)) if r < 0.55
                                       else _saturated(rng))
    r = rng.random()
    sole = _dark(rng) if r < 0.5 else (np.float32(rng.uniform(0.8, 0.95, 3)) if r < 0.8
                                      else upper)
    side = rng.random() < 0.65
    toward = rng.choice([-1, 1])
    for fx, fy in feet:
        tall = width * rng.uniform(0.8, 1.6)
        bottom = fy + width * 0.45
        if side:  # profile: heel under the ankle, toe pointing away
            length = ph * rng.uniform(0.11, 0.16)
            cx, half = fx + toward * (length * 0.5 - width * 0.45), length * 0.5
        else:  # facing the camera: a rounded block a little wider than the leg
            cx, half = fx, width * rng.uniform(0.55, 0.7)
        m = blank()
        cv2.ellipse(m, _pt(cx, bottom - tall * 0.45), _pt(half, tall * 0.55),
                    rng.uniform(-4, 4), 0, 360, 255, -1, cv2.LINE_AA)
        cv2.rectangle(m, _pt(cx - half * 0.85, bottom - tall * 0.45), _pt(cx + half * 0.85, bottom),
                      255, -1, cv2.LINE_AA)
        cv.paint(m, upper)
        band = m.copy()
        band[:int(round(bottom - tall * rng.uniform(0.15, 0.35)))] = 0
        cv.paint(band, sole)


def _headwear(rng: np.random.Generator, cv: "_Canvas", blank, head, r: float, H: int,
              W: int) -> None:
    """A cap with a brim, a beanie or a wide hat over the top of the head."""
    hx, hy = head
    colour = _saturated(rng) if rng.random() < 0.6 else _cloth(rng, (H, W))
    kind = rng.random()
    m = blank()
    cv2.ellipse(m, _pt(hx, hy - 0.3 * r), _pt(1.0 * r, 0.95 * r), 0, 180, 360, 255, -1,
                cv2.LINE_AA)
    if kind < 0.5:  # cap: crown and a brim to one side
        side = rng.choice([-1, 1])
        cv2.ellipse(m, _pt(hx + side * 0.9 * r, hy - 0.3 * r), _pt(0.75 * r, 0.14 * r),
                    rng.uniform(-20, 20), 0, 360, 255, -1, cv2.LINE_AA)
    elif kind < 0.75:  # wide-brimmed hat
        cv2.ellipse(m, _pt(hx, hy - 0.35 * r), _pt(rng.uniform(1.5, 2.1) * r, 0.22 * r),
                    rng.uniform(-8, 8), 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(m, _pt(hx, hy - 0.6 * r), _pt(0.85 * r, 0.8 * r), 0, 180, 360, 255, -1,
                    cv2.LINE_AA)
    else:  # beanie, a little taller than the head
        cv2.ellipse(m, _pt(hx, hy - 0.25 * r), _pt(1.02 * r, 1.2 * r), 0, 180, 360, 255, -1,
                    cv2.LINE_AA)
    cv.paint(m, colour)
