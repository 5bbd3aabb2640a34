"""Whether a plate shows the same place as the subject, judged from a run's alignment records.

A plate of another place (a wrong file from the same folder, a plate of another set-up) does
not crash a run: every frame falls back to the last good homography or the identity and the
matte is written all the same. It is useless, though, and a user must hear of it in one line.
Two signs, either of which is enough:

* most frames could not be aligned (``fallback`` in alignment.jsonl), or
* the aligned plate explains the frame's background poorly: the median photometric residual
  (mean absolute grey-level difference on trusted background, 0-255) is far above what a
  right plate leaves. Measured on synthetic handheld clips, a right plate leaves 2-12 grey
  levels (the higher figures on the first frames, before a subject mask exists, and on noisy
  dim frames); another photo of the same kind of scene leaves 60-75.
"""

import statistics
from typing import Dict, Iterable, Optional

# most frames: more than this fraction of the frames fell back
MOST = 0.5
# grey levels of median residual past which the plate explains the background poorly
POOR_RESIDUAL = 35.0


def plate_warning(records: Iterable[Dict]) -> Optional[str]:
    """One line saying that the plate does not seem to match the subject, or None.

    Args:
        records: the run's alignment records (dicts with ``fallback`` and ``residual``, as in
            alignment.jsonl); records without them are skipped.

    Returns:
        The warning text (without a ``warning:`` prefix), or None when the plate looks right.
    """
    rows = [r for r in records if isinstance(r, dict) and "fallback" in r]
    if not rows:
        return None
    failed = sum(bool(r["fallback"]) for r in rows)
    residuals = [float(r["residual"]) for r in rows
                 if isinstance(r.get("residual"), (int, float)) and r["residual"] == r["residual"]
                 and r["residual"] != float("inf")]
    poor = statistics.median(residuals) if residuals else None
    if failed > MOST * len(rows):
        return (f"the plate does not seem to show the same place as the subject: {failed} of "
                f"{len(rows)} frames could not be aligned; check that the plate is the clean "
                f"plate of this shot")
    if poor is not None and poor > POOR_RESIDUAL:
        return (f"the plate does not seem to show the same place as the subject: the aligned "
                f"plate differs from the frames' background by {poor:.0f} grey levels on "
                f"average (a matching plate leaves under {POOR_RESIDUAL:.0f}); check that the "
                f"plate is the clean plate of this shot")
    return None
