"""The record of one subject frame's alignment: what :class:`PlateAligner` chose and rendered,
and its line in ``alignment.jsonl``."""

import json
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

__all__ = ["Alignment", "LARGE_UNCOVERED", "coverage_summary", "read_records"]

#: a frame with more than this fraction seen by no plate frame is counted in the run's summary
LARGE_UNCOVERED = 0.01


def _sig(x: float, digits: int = 10) -> float:
    return float(f"{x:.{digits}g}")


def _usable(H: Optional[np.ndarray]) -> bool:
    """``H`` is a finite, invertible 3x3 homography with ``H[2, 2]`` away from 0."""
    if H is None:
        return False
    H = np.asarray(H, dtype=np.float64)
    return (H.shape == (3, 3) and bool(np.isfinite(H).all()) and abs(H[2, 2]) > 1e-12
            and abs(float(np.linalg.det(H))) > 1e-12)


def _rounded(H: np.ndarray) -> np.ndarray:
    """``H`` at the precision :meth:`Alignment.to_json` keeps (a 1e-7 px change), so a run
    resumed from the records continues exactly as an uninterrupted one."""
    return np.array([[_sig(v) for v in row] for row in H.tolist()])


@dataclass
class Alignment:
    """The plate aligned to one subject frame.

    Attributes:
        bgr: HxWx3 uint8 RGB plate warped to the frame, completed where it does not reach
            by other plate frames (:func:`mosaic.compose`), colour-matched, and filled where
            no plate frame reaches (:func:`mosaic.fill_uncovered`).
        valid: HxW bool, True where the chosen plate frame covers the frame.
        covered: HxW bool, True where some plate frame (the chosen one or the mosaic's)
            covers the frame.
        H: 3x3 float64 plate -> subject homography used.
        plate_index: plate frame used.
        inliers: inlier matches of ``H`` (0 for a fallback).
        residual: background mismatch of the choice (0-255 units, at scoring size).
        fallback: no candidate passed; ``H`` is the last good one (or identity).
        reason: why the fallback was taken, or why ECC alone aligned the frame ('' otherwise).
        gain, bias: (3,) colour correction applied (bias in 0-1 units).
        refined: ``H`` was polished by ECC, or (no candidate's features gave a homography)
            found by ECC alone from the last good one.
        tried: per candidate ``[plate_index, inliers, residual or None]``.
        mosaic: per plate frame laid into the part the chosen one does not cover
            ``[plate_index, fraction of the frame it added]``, in the order used.
        inpainted: fraction of the frame no plate frame covers where the subject crosses
            into it, inpainted (the rest of the uncovered part is the frame itself).
        plate, busy, sources: what :meth:`PlateAligner.render` still needs (the chosen
            plate frame at full size, the subject mask at scoring size, and the mosaic's
            ``(plate_index, rgb, H)``); None once rendered.
        parallax: mean length in px of the residual parallax correction applied to ``bgr``
            (:func:`howard.align.parallax.correct_alignment`), None when off.

    Between :meth:`PlateAligner.choose` and :meth:`PlateAligner.render`, ``bgr``,
    ``valid``, ``covered``, ``gain`` and ``bias`` are None.
    """

    bgr: np.ndarray
    valid: np.ndarray
    H: np.ndarray
    plate_index: int
    inliers: int
    residual: float
    fallback: bool
    reason: str
    gain: np.ndarray
    bias: np.ndarray
    refined: bool = False
    tried: List[list] = field(default_factory=list)
    seconds: Optional[float] = None
    covered: Optional[np.ndarray] = field(default=None, repr=False)
    mosaic: List[list] = field(default_factory=list)
    inpainted: float = 0.0
    plate: Optional[np.ndarray] = field(default=None, repr=False)
    busy: Optional[np.ndarray] = field(default=None, repr=False)
    sources: Optional[list] = field(default=None, repr=False)
    parallax: Optional[float] = None  # mean residual correction in px (None: not applied)

    @property
    def uncovered(self) -> float:
        """Fraction of the frame no plate frame covers (filled by
        :func:`mosaic.fill_uncovered`)."""
        covered = self.valid if self.covered is None else self.covered
        return 1.0 - float(covered.mean())

    def to_json(self) -> dict:
        """Everything but the images, as plain JSON types (floats rounded)."""
        rec = {"plate_index": int(self.plate_index), "fallback": bool(self.fallback),
               "reason": self.reason, "inliers": int(self.inliers),
               "residual": round(float(self.residual), 3) if np.isfinite(self.residual) else None,
               "H": [[_sig(v) for v in row] for row in self.H.tolist()],
               "gain": [round(float(g), 4) for g in self.gain],
               "bias": [round(float(b), 4) for b in self.bias],
               "valid": round(float(self.valid.mean()), 4),
               "covered": round(1.0 - self.uncovered, 4),
               "uncovered": round(self.uncovered, 4), "inpainted": round(self.inpainted, 4),
               "mosaic": self.mosaic, "refined": bool(self.refined), "tried": self.tried}
        if self.seconds is not None:
            rec["seconds"] = round(float(self.seconds), 4)
        if self.parallax is not None:
            rec["parallax"] = round(float(self.parallax), 3)
        return rec


def read_records(path: Union[str, os.PathLike]) -> List[Dict]:
    """The records of an ``alignment.jsonl`` (lines that do not parse are skipped; none when
    the file is missing)."""
    records = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records


def coverage_summary(records: Iterable[Dict]) -> Dict:
    """How much of the frames no plate frame saw, over alignment records.

    Returns:
        ``uncovered_frames``: frames with more than :data:`LARGE_UNCOVERED` uncovered;
        ``uncovered_max``: the largest uncovered fraction of a frame; ``uncovered_mean``:
        its mean over the frames (records from before the mosaic count their ``valid``).
    """
    shares = [float(r.get("uncovered", 1.0 - r.get("valid", 1.0))) for r in records]
    return {"uncovered_frames": sum(s > LARGE_UNCOVERED for s in shares),
            "uncovered_max": round(max(shares, default=0.0), 4),
            "uncovered_mean": round(float(np.mean(shares)) if shares else 0.0, 4)}
