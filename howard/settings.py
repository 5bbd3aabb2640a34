"""Run settings: what decides the outputs, the sizes chosen from the frame, and their checks.

:class:`Settings` is stored in howard.json; :func:`settings_digest` is the part of it a resumed
run must share with the run it continues (see :func:`check_resumable`).
"""

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Dict, Optional, Sequence

from .io import composite, recomposite
from .errors import InputError
from .io.outputs import OutputFolder


BACKENDS = ("auto", "openvino", "torch")
PRECISIONS = ("auto", "f32", "mixed", "bf16")


@dataclass
class Settings:
    """Everything that decides the bytes of the outputs (stored in howard.json)."""

    weights: Optional[str] = None
    variant: Optional[str] = None
    backbone_scale: Optional[float] = None  # None: from the frame size and the subject
    refine_mode: str = "sampling"
    sample_pixels: Optional[int] = None  # None: scaled from 160,000 at 1920x1080
    threshold: float = 0.1
    refine_uncertain: float = 1.0  # 0: refine where the error map says, as published
    outputs: Sequence[str] = ("rgba",)
    bit_depth: int = 8
    features: str = "orb"
    window: int = 3
    plate_fit: str = "error"
    batch_size: int = 1
    png_level: int = 1
    name_template: str = "%05d.png"
    start_number: int = 0
    premultiply: bool = False
    background: Optional[str] = None
    composite_mode: str = "over"
    composite_space: str = "linear"
    videos: Sequence[str] = ()
    temporal: str = "off"  # 'on': motion-compensated smoothing of the alpha (howard.temporal)
    parallax: str = "on"  # dense residual correction of the aligned plate (align.parallax)
    backend: str = "auto"  # network runtime: 'auto', 'openvino' (CPU) or 'torch'
    precision: str = "auto"  # OpenVINO's arithmetic: 'auto', 'f32', 'mixed' or 'bf16'
    low_light: str = "auto"  # 'auto': dim frames brightened and smoothed for the network
    extra: Dict = field(default_factory=dict)


def parse_backbone_scale(text: str) -> float:
    """A base-pass scale from text such as '1/3' or '0.25'; ValueError unless in (0, 1/2]."""
    try:
        value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a number (e.g. 0.25 or 1/4)") from None
    if not 0 < value <= 0.5:
        raise ValueError(f"a base-pass scale must be in (0, 1/2], got {text}")
    return value


def auto_backbone_scale(h: int, w: int) -> float:
    """The base pass as 1/n of the frame: about 360 px on the short side up to 1440p (1/2 up
    to 720p, 1/3 for 1080p, 1/4 for 1440p), about 270 px above (1/8 for 4K).

    On synthetic 1080p clips (scripts/evaluate.py, two sets) 1/3 beat 1/4 on every metric
    (SAD -15%, gradient error in the unknown band -20 to -31%, dtSSD -13%) for 43% more
    network time; 1/2 was better still in the band but worse on the whole frame. At 4K, 1/6
    against 1/8 was mixed (gradient error -19%, SAD +11%), so 4K stays at 1/8.
    """
    short = min(h, w)
    if short <= 1500:
        return 1.0 / max(2, round(short / 360))
    return 1.0 / max(4, round(short / 270))


# the widest part of the subject, as the largest distance from inside it to its edge, that the
# base pass handles well, in base-pass pixels (see :func:`fit_backbone_scale`)
SUBJECT_HALF_WIDTH = 80


def fit_backbone_scale(scale: float, half_width: float, h: int, w: int) -> float:
    """``scale`` lowered to 1/n so that the subject's half width (in frame pixels, the largest
    distance from inside the subject to its edge) spans at most :data:`SUBJECT_HALF_WIDTH`
    base-pass pixels, but not below a 128-pixel short side.

    The base network learnt subjects of a limited size: in a medium shot or close-up, where
    the subject fills much of the frame, large plain areas of it (a shirt, a face) come out
    partly transparent at the usual base-pass resolution and solid at a coarser one. On
    synthetic clips of a person magnified 2.5x (scripts/evaluate.py --zoom 2.5, 960x540) the
    fitted base pass cut SAD from 46.7 to 39.3 with the stage 5 weights, from 25.3 to 22.4
    with the stage 6 weights trained on close-ups and from 21.2 to 16.5 with the stage 7
    weights (a fixed 1/3 gave 15.7 there); on full-length clips (half widths of 35-55
    base-pass pixels at the usual scale) nothing changes.
    """
    if half_width * scale <= SUBJECT_HALF_WIDTH:
        return scale
    n = max(round(1 / scale), math.ceil(half_width / SUBJECT_HALF_WIDTH))
    n = min(n, max(round(1 / scale), min(h, w) // 128))
    return 1.0 / n


def auto_sample_pixels(h: int, w: int) -> int:
    """160,000 refined pixels at 1920x1080 (about 8% of the frame), in proportion elsewhere.

    Twice the published 80,000: howard's base pass leaves more than the edges to fix. On the
    synthetic evaluation sets (stage 5 weights, one run each) doubling the budget cut SAD by 8 %
    (960x540) and 9 % (1080p) and gradient error in the unknown band by 15 % and 22 %, for
    about 30 % more network time at 1080p on a CPU. Doubling again gained 4-8 % SAD and 14-18 %
    band gradient more for another 65 % of network time, so that is left to ``--sample-pixels``.
    """
    return int(max(4_000, round(160_000 * h * w / (1920 * 1080) / 16) * 16))


def check_settings(settings: Settings) -> None:
    """Raise :class:`InputError` for settings that cannot make a run (before any work)."""
    if not 0 <= settings.refine_uncertain <= 1:
        raise InputError(f"--refine-uncertain must be in [0, 1], got {settings.refine_uncertain}")
    if settings.bit_depth not in (8, 16):
        raise InputError(f"bit depth must be 8 or 16, got {settings.bit_depth}")
    if settings.batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {settings.batch_size}")
    if not 0 <= settings.png_level <= 9:
        raise InputError(f"PNG compression level must be 0-9, got {settings.png_level}")
    if "com" in settings.outputs and settings.background is None:
        raise InputError("the com output needs a new background: add --background COLOUR, "
                         "IMAGE or VIDEO")
    if settings.composite_mode not in composite.MODES:
        raise InputError(f"composite mode must be one of {composite.MODES}, got "
                         f"{settings.composite_mode!r}")
    if settings.composite_space not in composite.SPACES:
        raise InputError(f"composite space must be one of {composite.SPACES}, got "
                         f"{settings.composite_space!r}")
    if settings.temporal not in ("on", "off"):
        raise InputError(f"temporal must be 'on' or 'off', got {settings.temporal!r}")
    if settings.parallax not in ("on", "off"):
        raise InputError(f"parallax must be 'on' or 'off', got {settings.parallax!r}")
    if settings.low_light not in ("auto", "off"):
        raise InputError(f"low light must be 'auto' or 'off', got {settings.low_light!r}")
    if settings.backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {settings.backend!r}")
    if settings.precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                         f"{settings.precision!r}")
    recomposite.check_videos(settings.videos, settings.outputs)


def settings_digest(settings: Settings, inputs: Dict) -> Dict:
    keep = {k: v for k, v in vars(settings).items() if k not in ("extra",)}
    # through JSON, so it compares equal to what howard.json gives back on --resume
    return json.loads(json.dumps({"settings": keep,
                                  "inputs": {k: inputs[k] for k in ("subject", "plate")}}))


# what settings added since a folder was written meant before they existed
_BEFORE = {"settings": {"refine_uncertain": 0.0, "temporal": "off", "parallax": "off",
                        "backend": "torch", "precision": "f32", "low_light": "off"}}


def recorded_setting(old: Dict, key: str):
    """Setting ``key`` as howard.json ``old`` has it (what it meant before it existed if
    absent)."""
    return old.get("settings", {}).get(key, _BEFORE["settings"].get(key))


def check_resumable(folder: OutputFolder, digest: Dict) -> None:
    old = folder.read_settings()
    if old is None:
        return
    for section in ("settings", "inputs"):
        for key, value in digest[section].items():
            was = old.get(section, {}).get(key, _BEFORE.get(section, {}).get(key))
            if was != value:
                raise InputError(
                    f"cannot resume in {str(folder.root)!r}: {key} was {was!r} there and is "
                    f"{value!r} now; run with the same inputs and settings, or use --overwrite")
