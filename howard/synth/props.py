"""Held-out families, continued: rigid props (chair, bicycle, bottle) and people made of real
photo textures. See :mod:`howard.synth.families`; the same ``(rng, (h, w)) -> (fgr, pha)``
contract, evaluation only."""

from typing import Tuple

import cv2
import numpy as np

from . import photos
from .families import Layers, Size, texture

SKIN = np.array([[0.95, 0.78, 0.65], [0.80, 0.58, 0.42], [0.55, 0.37, 0.25],
                 [0.33, 0.21, 0.14]], np.float32)


def _lines(L: Layers, segments, width: float) -> None:
    for (x0, y0), (x1, y1) in segments:
        cv2.line(L.hi, L.pt(x0, y0), L.pt(x1, y1), 255, L.px(width), cv2.LINE_AA)


def _chair(rng, L: Layers, cx: float, base: float, s: float) -> None:
    """A wooden or metal chair about ``s`` px tall standing on ``base``: thin legs, a seat and
    a back of posts and spindles."""
    seat_y, leg = base - 0.45 * s, rng.uniform(0.012, 0.03) * s
    half, depth = 0.22 * s, 0.08 * s
    _lines(L, [((cx - half, seat_y), (cx - half - 0.02 * s, base)),
               ((cx + half, seat_y), (cx + half + 0.02 * s, base)),
               ((cx - half + depth, seat_y - depth), (cx - half + depth, base - depth)),
               ((cx + half - depth, seat_y - depth), (cx + half - depth, base - depth)),
               ((cx - half + depth, seat_y - depth), (cx - half + depth, seat_y - 0.55 * s)),
               ((cx + half - depth, seat_y - depth), (cx + half - depth, seat_y - 0.55 * s))],
           3 * leg)
    seat = np.array([[cx - half, seat_y], [cx + half, seat_y],
                     [cx + half - depth, seat_y - depth], [cx - half + depth, seat_y - depth]])
    cv2.fillPoly(L.hi, [L.poly(seat)], 255, cv2.LINE_AA)
    top = seat_y - 0.55 * s
    _lines(L, [((cx - half + depth, top), (cx + half - depth, top))], 4 * leg)
    n = int(rng.integers(3, 8))
    xs = np.linspace(cx - half + depth, cx + half - depth, n + 2)[1:-1]
    _lines(L, [((x, top), (x, seat_y - depth)) for x in xs], rng.uniform(0.6, 2.0) * leg)
    _lines(L, [((cx - half, seat_y + 0.2 * s), (cx + half, seat_y + 0.2 * s))], leg)


def _bicycle(rng, L: Layers, cx: float, base: float, s: float) -> None:
    """A bicycle ``s`` px long standing on ``base``: tyres, sub-pixel spokes, a diamond frame."""
    r = 0.19 * s
    wy, back, front = base - r, cx - 0.3 * s, cx + 0.3 * s
    tube = rng.uniform(0.012, 0.02) * s
    for x in (back, front):
        cv2.circle(L.hi, L.pt(x, wy), L.px(r - tube), 255, L.px(2 * tube), cv2.LINE_AA)
        for a in np.linspace(0, np.pi, int(rng.integers(8, 18)), endpoint=False):
            dx, dy = np.cos(a) * (r - tube), np.sin(a) * (r - tube)
            _lines(L, [((x - dx, wy - dy), (x + dx, wy + dy))], rng.uniform(0.3, 0.7))
    crank = (cx - 0.03 * s, wy)
    seat = (cx - 0.1 * s, wy - 0.42 * s)
    head = (front - 0.08 * s, wy - 0.4 * s)
    _lines(L, [((back, wy), crank), ((back, wy), seat), (crank, seat), (crank, head),
               (seat, head), (head, (front, wy)), (head, (head[0] - 0.02 * s, head[1] - 0.1 * s)),
               ((head[0] - 0.1 * s, head[1] - 0.1 * s), (head[0] + 0.05 * s, head[1] - 0.1 * s)),
               ((seat[0] - 0.06 * s, seat[1] - 0.03 * s), (seat[0] + 0.04 * s, seat[1] - 0.03 * s))],
           tube)


def _bottle(rng, L: Layers, cx: float, base: float, s: float):
    """A glass bottle ``s`` px tall on ``base``: its glass (translucent) is painted here; returns
    the label and cap to paint opaque on top."""
    bw, neck = rng.uniform(0.22, 0.32) * s, rng.uniform(0.08, 0.12) * s
    shoulder, top = base - 0.6 * s, base - s
    body = np.array([[cx - bw / 2, base], [cx + bw / 2, base], [cx + bw / 2, shoulder],
                     [cx + neck / 2, shoulder - 0.15 * s], [cx + neck / 2, top],
                     [cx - neck / 2, top], [cx - neck / 2, shoulder - 0.15 * s],
                     [cx - bw / 2, shoulder]])
    cv2.fillPoly(L.hi, [L.poly(body)], 255, cv2.LINE_AA)
    label = np.array([[cx - bw / 2, base - 0.15 * s], [cx + bw / 2, base - 0.15 * s],
                      [cx + bw / 2, base - 0.4 * s], [cx - bw / 2, base - 0.4 * s]])
    cap = np.array([[cx - neck / 2, top], [cx + neck / 2, top], [cx + neck / 2, top + 0.06 * s],
                    [cx - neck / 2, top + 0.06 * s]])
    return [label, cap]


def _arm(rng, L: Layers, size: Size, hand: Tuple[float, float]) -> None:
    """An arm reaching in from the nearer side edge of the frame to ``hand``."""
    h, w = size
    side = 0 if hand[0] < w / 2 else w
    elbow = ((side + hand[0]) / 2, hand[1] + rng.uniform(0.05, 0.2) * h)
    cv2.polylines(L.hi, [L.poly([(side - 0.05 * w * (1 if side else -1), elbow[1] + 0.1 * h),
                                 elbow, hand])], False, 255, L.px(0.03 * w), cv2.LINE_AA)
    cv2.circle(L.hi, L.pt(*hand), L.px(0.022 * w), 255, -1, cv2.LINE_AA)


def prop(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """A rigid prop, a chair, a bicycle or a bottle, standing on the ground or held up by an
    arm that enters from the frame's edge."""
    h, w = size
    L = Layers(size)
    kind = ("chair", "bicycle", "bottle")[rng.integers(3)]
    held = rng.random() < 0.4
    s = {"chair": 0.6, "bicycle": 0.7, "bottle": 0.5 if held else 0.35}[kind]
    s *= min(h, 1.4 * w) * rng.uniform(0.7, 1)
    cx = rng.uniform(0.35, 0.65) * w
    base = rng.uniform(0.6, 0.75) * h if held else rng.uniform(0.9, 0.97) * h
    colour = rng.uniform(0.1, 0.9, 3)
    extra = []
    if kind == "chair":
        _chair(rng, L, cx, base, s)
    elif kind == "bicycle":
        _bicycle(rng, L, cx, base, s)
    else:
        extra = _bottle(rng, L, cx, base, s)
    glass = kind == "bottle"
    L.paint(texture(rng, size, colour, 0.15 if glass else 0.3),
            rng.uniform(0.25, 0.6) if glass else 1.0)
    for part in extra:
        cv2.fillPoly(L.hi, [L.poly(part)], 255, cv2.LINE_AA)
        L.paint(texture(rng, size, rng.uniform(0.1, 0.9, 3), 0.4))
    if held:
        hand = (cx + rng.uniform(-0.05, 0.05) * s, base - (0.5 if glass else 0.55) * s)
        _arm(rng, L, size, hand)
        L.paint(texture(rng, size, SKIN[rng.integers(len(SKIN))], 0.1))
    return L.result()


def _photo_patch(rng, name: str, box, size: Size, pts) -> np.ndarray:
    """(h, w, 3) float32: the part ``box`` (x0, y0, x1, y1, fractions) of a bundled photo
    stretched over the bounding box of ``pts`` (n, 2)."""
    img = photos.photo(name)
    ih, iw = img.shape[:2]
    x0, y0, x1, y1 = box
    crop = img[int(y0 * ih):int(y1 * ih), int(x0 * iw):int(x1 * iw)]
    (px0, py0), (px1, py1) = np.min(pts, 0), np.max(pts, 0)
    src = np.float32([[0, 0], [crop.shape[1], 0], [0, crop.shape[0]]])
    dst = np.float32([[px0, py0], [px1, py0], [px0, py1]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(np.ascontiguousarray(crop), m, (size[1], size[0]),
                          flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)


def photo_person(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """A standing person in real photo textures: the astronaut's face and suit, the coffee and
    cat photos as clothing, real hair colour from the cat's fur, with sub-pixel hair strands.
    The silhouette is drawn here (not the training figure's)."""
    h, w = size
    L = Layers(size)
    tall = rng.uniform(0.7, 0.9) * h
    feet, cx = rng.uniform(0.94, 0.99) * h, rng.uniform(0.35, 0.65) * w
    head_r = 0.065 * tall
    head = (cx, feet - tall + head_r)
    neck, hip = head[1] + head_r * 1.1, feet - 0.48 * tall
    sh = 0.13 * tall
    legs = [((cx - 0.05 * tall, hip), (cx - 0.06 * tall + rng.normal(0, 0.02) * tall, feet)),
            ((cx + 0.05 * tall, hip), (cx + 0.06 * tall + rng.normal(0, 0.02) * tall, feet))]
    _lines(L, legs, 0.075 * tall)
    trousers = _photo_patch(rng, ("coffee.png", "chelsea.png")[rng.integers(2)],
                            (0.2, 0.3, 0.8, 0.9), size,
                            [(cx - 0.1 * tall, hip), (cx + 0.1 * tall, feet)])
    L.paint(np.clip(trousers * rng.uniform(0.5, 1.0), 0, 1))
    torso = np.array([[cx - sh, neck + 0.02 * tall], [cx + sh, neck + 0.02 * tall],
                      [cx + 0.1 * tall, hip + 0.03 * tall], [cx - 0.1 * tall, hip + 0.03 * tall]])
    cv2.fillPoly(L.hi, [L.poly(torso)], 255, cv2.LINE_AA)
    for side in (-1, 1):  # arms, hanging or bent
        elbow = (cx + side * (sh + 0.03 * tall), neck + 0.2 * tall)
        hand = (elbow[0] + side * rng.uniform(-0.08, 0.08) * tall, elbow[1] + 0.17 * tall)
        cv2.polylines(L.hi, [L.poly([(cx + side * sh * 0.9, neck + 0.04 * tall), elbow, hand])],
                      False, 255, L.px(0.05 * tall), cv2.LINE_AA)
    L.paint(_photo_patch(rng, "astronaut.png", (0.0, 0.5, 0.6, 1.0), size, torso))
    cv2.ellipse(L.hi, L.pt(*head), (L.px(head_r * 0.8), L.px(head_r)), 0, 0, 360, 255, -1,
                cv2.LINE_AA)
    cv2.line(L.hi, L.pt(cx, head[1]), L.pt(cx, neck + 0.02 * tall), 255, L.px(head_r * 0.8),
             cv2.LINE_AA)
    box = [(head[0] - head_r, head[1] - head_r), (head[0] + head_r, head[1] + 1.2 * head_r)]
    L.paint(_photo_patch(rng, "astronaut.png", (0.32, 0.06, 0.6, 0.38), size, box))
    hair = np.clip(photos.random_view(rng, photos.photo("chelsea.png"), size) *
                   rng.uniform(0.3, 1.2), 0, 1)
    cv2.ellipse(L.hi, L.pt(head[0], head[1] - 0.35 * head_r),
                (L.px(head_r * 0.85), L.px(head_r * 0.7)), 0, 180, 360, 255, -1, cv2.LINE_AA)
    L.paint(hair)
    for _ in range(int(rng.integers(150, 400))):  # loose strands around the head
        a = rng.uniform(-np.pi, 0)  # the upper half of the head
        start = (head[0] + 0.8 * head_r * np.cos(a),
                 head[1] - 0.35 * head_r + 0.7 * head_r * np.sin(a))
        end = (start[0] + rng.normal(0, 0.4) * head_r + np.cos(a) * 0.5 * head_r,
               start[1] + rng.uniform(-0.2, 1.2) * head_r)
        cv2.line(L.hi, L.pt(*start), L.pt(*end), 255, 1, cv2.LINE_AA)
    L.paint(hair, rng.uniform(0.5, 0.9))
    return L.result()
