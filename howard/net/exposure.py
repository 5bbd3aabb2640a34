"""Dim shots: brighten what the network sees, and smooth the noise that comes up with it.

An evening or indoor shot fills only the bottom of the range: at 10 % exposure the difference
between the subject and the plate is a tenth of what the network learnt on. Before the network,
frame and plate are multiplied by the same gain, ``TARGET / q`` where ``q`` is the plate's 99th
percentile (at least 1, at most :data:`MAX_GAIN`): a scene whose plate reaches ``TARGET`` anywhere
is left exactly as it is. Where the gain is above :data:`SMOOTH_ABOVE`, the brightened noise is
cut with a 3x3 box filter on both. The foreground colour comes back at the frame's own exposure and
detail: the network's residual, divided by the gain, added to the unfiltered frame.

On the dim evaluation set (``scripts/evaluate.py --light dim``, 2 clips x 12, 540x960, stage 8
weights) the gain alone took SAD from 49.6 to 29.2, the gain and the filter to 22.5 (band
gradient error 20.7 -> 13.9, dtSSD 12.0 -> 12.6); a 5x5 filter was worse than none (57.6),
and the target (0.5, 0.75, 0.9) changed SAD by 1 %.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

MODES = ("auto", "off")
TARGET = 0.5  # the plate's 99th percentile is brought up to this
MAX_GAIN = 8.0
SMOOTH_ABOVE = 1.5  # gains above this also get the 3x3 filter


def gains(bgr: torch.Tensor) -> torch.Tensor:
    """(B,) gain per plate of a (B,3,H,W) batch in [0, 1]: 1 for a plate that is bright enough."""
    sample = bgr[:, :, ::8, ::8].float().reshape(bgr.shape[0], -1)
    q = torch.quantile(sample, 0.99, dim=1)
    return (TARGET / q.clamp(min=1e-3)).clamp(1.0, MAX_GAIN)


def _box3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)


def brighten(src: torch.Tensor, bgr: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """The frame and plate the network should see, and the gain per sample (None where no
    sample needs one, and then ``src`` and ``bgr`` are returned unchanged)."""
    g = gains(bgr)
    if not bool((g > 1.0).any()):
        return src, bgr, None
    g4 = g.view(-1, 1, 1, 1).to(src.dtype)
    s, b = (src * g4).clamp(0, 1), (bgr * g4).clamp(0, 1)
    smooth = (g > SMOOTH_ABOVE).view(-1, 1, 1, 1)
    if bool(smooth.any()):
        s = torch.where(smooth, _box3(s), s)
        b = torch.where(smooth, _box3(b), b)
    return s, b, g


def restore_fgr(fgr: torch.Tensor, seen: torch.Tensor, src: torch.Tensor,
                g: torch.Tensor) -> torch.Tensor:
    """The foreground colour at the frame's exposure: the network's residual on the frame it saw
    (``fgr - seen``), divided by the gain, added to the frame ``src`` itself."""
    g4 = g.view(-1, 1, 1, 1).to(fgr.dtype)
    return ((fgr - seen) / g4 + src).clamp(0, 1)
