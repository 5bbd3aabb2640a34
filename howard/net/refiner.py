"""Error-guided patch refinement (the second stage of BackgroundMattingV2).

The base network's error map says where its coarse alpha is likely wrong. The refiner re-predicts
alpha and the foreground residual only there, in 4x4 full-resolution patches, from the base's
hidden features and the full-resolution ``src`` and ``bgr``.

Cells: one cell of the (H/4, W/4) grid is one 4x4 patch at full resolution.

Which cells: the published rule ranks them by the error map alone. howard also ranks a cell by
how unsure the coarse alpha itself is, ``uncertain * 4 * a * (1 - a)`` (1 at a = 0.5, 0 at 0
and 1), taking the larger of the two: a plain part of the subject that the base pass left
half transparent (a blue cap against a blue sky) is refined even where the error map is only
moderately raised, and it costs nothing, since the budget stays the same. On howard's
synthetic evaluation sets (scripts/evaluate.py, stage 7 weights, same budget) ``uncertain=1``
against 0 cut SAD by 6 % at 960x540, 8 % and 1 % at 1080p (two seeds), 4 % at 4K and 1 % on
medium shots (``--zoom 2.5``), and gradient error in the unknown band by 12 %, 16 % and -0.5 %,
15 % and 8 %; on the real photo pair it brought the cap from mean alpha 0.78 to 0.88 and
removed the blocky steps there. ``uncertain=0`` is the published rule.
"""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import resize

MODES = ("full", "sampling", "thresholding")


class Refiner(nn.Module):
    """The refine network: conv1..conv4 (valid convolutions) on patches around chosen cells.

    Args:
        mode: ``full``, ``sampling`` or ``thresholding``.
        sample_pixels: pixels refined in ``sampling`` mode.
        threshold: error threshold in ``thresholding`` mode.
        kernel_size: 1 or 3.
        prevent_oversampling: in ``sampling`` mode, never refine a cell whose score is 0.
        uncertain: weight of the coarse alpha's own uncertainty in choosing cells (see the
            module's docstring); 0 chooses by the error map alone.
    """

    def __init__(self, mode: str = "sampling", sample_pixels: int = 80_000,
                 threshold: float = 0.1, kernel_size: int = 3,
                 prevent_oversampling: bool = True, uncertain: float = 1.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"refine mode must be one of {MODES}, got {mode!r}")
        if kernel_size not in (1, 3):
            raise ValueError(f"refine kernel_size must be 1 or 3, got {kernel_size}")
        if sample_pixels < 16:
            raise ValueError(f"sample_pixels must be at least 16, got {sample_pixels}")
        if not 0 <= uncertain <= 1:
            raise ValueError(f"uncertain must be in [0, 1], got {uncertain}")
        self.mode = mode
        self.uncertain = uncertain
        self.sample_pixels = sample_pixels
        self.threshold = threshold
        self.kernel_size = kernel_size
        self.prevent_oversampling = prevent_oversampling
        # True: resize/pad/crop whole tensors (slower; kept as the reference the fast path is
        # tested against).
        self.reference = False
        # the dtype the patches are gathered in and handed between the stages (None: the
        # inputs'; a backend whose patch convolutions run in bf16 sets bfloat16: half the
        # bytes moved)
        self.work_dtype = None
        ch = [32, 24, 16, 12, 4]
        self.conv1 = nn.Conv2d(ch[0] + 6 + 4, ch[1], kernel_size, bias=False)
        self.bn1 = nn.BatchNorm2d(ch[1])
        self.conv2 = nn.Conv2d(ch[1], ch[2], kernel_size, bias=False)
        self.bn2 = nn.BatchNorm2d(ch[2])
        self.conv3 = nn.Conv2d(ch[2] + 6, ch[3], kernel_size, bias=False)
        self.bn3 = nn.BatchNorm2d(ch[3])
        self.conv4 = nn.Conv2d(ch[3], ch[4], kernel_size, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def score(self, pha: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
        """How much each coarse pixel wants refining: the error map, or the coarse alpha's
        uncertainty ``uncertain * 4 * a * (1 - a)`` where that is larger (both (B,1,h,w))."""
        if not self.uncertain:
            return err
        a = pha.detach().clamp(0, 1)
        return torch.maximum(err, self.uncertain * 4 * a * (1 - a))

    def select(self, err: torch.Tensor) -> torch.Tensor:
        """Cells to refine from the error map at cell resolution.

        Args:
            err: (B,1,H/4,W/4) float error map in [0,1].

        Returns:
            (B,1,H/4,W/4) float mask, 1 for a chosen cell.
        """
        if self.mode == "thresholding":
            return err.gt(self.threshold).to(err.dtype)
        b, _, h, w = err.shape
        flat = err.reshape(b, -1)
        k = min(self.sample_pixels // 16, flat.shape[1])
        idx = flat.topk(k, dim=1, sorted=False).indices
        ref = torch.zeros_like(flat).scatter_(1, idx, 1.0)
        if self.prevent_oversampling:
            ref = ref * flat.gt(0).to(flat.dtype)
        return ref.view(b, 1, h, w)

    def _stage1(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))

    def _stage2(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv4(self.relu(self.bn3(self.conv3(x))))

    def forward(self, src: torch.Tensor, bgr: torch.Tensor, pha: torch.Tensor,
                fgr: torch.Tensor, err: torch.Tensor,
                hid: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Refine the coarse prediction.

        Args:
            src, bgr: (B,3,H,W) full-resolution inputs in [0,1].
            pha: (B,1,h,w) coarse alpha; fgr: (B,3,h,w) coarse foreground residual;
            err: (B,1,h,w) coarse error; hid: (B,32,h,w) hidden features (h,w = base size).

        Returns:
            ``pha`` (B,1,H,W) and ``fgr`` residual (B,3,H,W), both unclamped, and ``ref``
            (B,1,H/4,W/4) marking the refined cells.
        """
        H, W = src.shape[2:]
        if self.mode == "full":
            return self._forward_full(torch.cat([src, bgr], dim=1),
                                      torch.cat([hid, pha, fgr], dim=1))
        err = F.interpolate(self.score(pha, err), (H // 4, W // 4), mode="bilinear",
                            align_corners=False)
        ref = self.select(err)
        cells = torch.nonzero(ref[:, 0], as_tuple=True)
        if self.reference:
            pha, fgr = self._refine_reference(torch.cat([src, bgr], dim=1), pha, fgr, hid, cells)
        else:
            pha, fgr = self._refine_gather(src, bgr, pha, fgr, hid, cells)
        return pha, fgr, ref

    def _refine_reference(self, src_bgr, pha, fgr, hid, idx):
        """Straightforward form: resize and pad whole tensors, then crop the chosen patches."""
        H, W = src_bgr.shape[2:]
        coarse = F.interpolate(torch.cat([pha, fgr], dim=1), (H, W), mode="bilinear",
                               align_corners=False)
        if idx[0].numel() == 0:
            return coarse[:, :1], coarse[:, 1:]
        k3 = self.kernel_size == 3
        x = F.interpolate(torch.cat([hid, pha, fgr], dim=1), (H // 2, W // 2), mode="bilinear",
                          align_corners=False)
        y = F.interpolate(src_bgr, (H // 2, W // 2), mode="bilinear", align_corners=False)
        x = crop_patches(torch.cat([x, y], dim=1), idx, 2, 3 if k3 else 0)
        x = self._stage1(x)
        x = F.interpolate(x, size=(8, 8) if k3 else (4, 4), mode="nearest")
        y = crop_patches(src_bgr, idx, 4, 2 if k3 else 0)
        x = self._stage2(torch.cat([x, y], dim=1))
        out = replace_patches(coarse, x, idx)
        return out[:, :1], out[:, 1:]

    def _refine_gather(self, src, bgr, pha, fgr, hid, idx):
        """Same result as :meth:`_refine_reference` without padded copies of the half- and
        full-resolution tensors: windows are gathered from channels-last views and the zero
        padding is applied as a mask.

        The half-resolution inputs are made whole, then gathered: the windows of neighbouring
        cells overlap (8x8 windows around 2x2 cells), so resizing them one by one did more
        work than resizing the frame once. They are written once, into one buffer of the
        working dtype; whole-frame resizing is OpenCV's (:mod:`howard.net.resize`)."""
        H, W = src.shape[2:]
        coarse = resize.bilinear(torch.cat([pha, fgr], dim=1), (H, W))
        if idx[0].numel() == 0:
            return coarse[:, :1], coarse[:, 1:]
        pad1 = 3 if self.kernel_size == 3 else 0
        dt = self.work_dtype or src.dtype
        features = torch.cat([hid, pha, fgr], dim=1)
        c = features.shape[1]
        x = resize.bilinear(features, (H // 2, W // 2))
        buf = torch.empty((src.shape[0], H // 2, W // 2, c + 6), dtype=dt,
                          device=src.device).permute(0, 3, 1, 2)  # channels-last
        buf[:, :c] = x
        buf[:, c:c + 3] = resize.halve(src)
        buf[:, c + 3:] = resize.halve(bgr)
        x = upsample2x_nearest(self._stage1(gather_windows(buf, idx, 2, pad1)))
        pad2 = 2 if self.kernel_size == 3 else 0
        y = torch.cat([gather_windows(src, idx, 4, pad2), gather_windows(bgr, idx, 4, pad2)],
                      dim=1).to(dt)
        x = self._stage2(torch.cat([x, y], dim=1))
        scatter_cells(coarse, x, idx)
        return coarse[:, :1], coarse[:, 1:]

    def _forward_full(self, src_bgr: torch.Tensor, coarse: torch.Tensor):
        H, W = src_bgr.shape[2:]
        p1, p2 = (3, 2) if self.kernel_size == 3 else (0, 0)
        x = F.interpolate(coarse, (H // 2, W // 2), mode="bilinear", align_corners=False)
        y = F.interpolate(src_bgr, (H // 2, W // 2), mode="bilinear", align_corners=False)
        x = self._stage1(F.pad(torch.cat([x, y], dim=1), (p1,) * 4))
        x = F.interpolate(x, (H + 2 * p2, W + 2 * p2), mode="nearest")
        x = self._stage2(torch.cat([x, F.pad(src_bgr, (p2,) * 4)], dim=1))
        ref = torch.ones_like(src_bgr[:, :1, ::4, ::4])
        return x[:, :1], x[:, 1:], ref


def crop_patches(x: torch.Tensor, idx, size: int, padding: int) -> torch.Tensor:
    """Crop a (size + 2*padding)^2 window around each chosen cell.

    Args:
        x: (B,C,h,w) tensor, where one cell covers ``size`` x ``size`` pixels.
        idx: (batch, row, col) index tensors of the chosen cells, each of length P.
        size: pixels per cell side at this resolution.
        padding: zero padding added around ``x`` (and so around each window).

    Returns:
        (P,C,size+2*padding,size+2*padding) patches.
    """
    if padding:
        x = F.pad(x, (padding,) * 4)
    win = size + 2 * padding
    patches = x.permute(0, 2, 3, 1).unfold(1, win, size).unfold(2, win, size)
    return patches[idx[0], idx[1], idx[2]]


def replace_patches(x: torch.Tensor, patches: torch.Tensor, idx) -> torch.Tensor:
    """Write (P,C,4,4) ``patches`` into the 4x4 cells ``idx`` of (B,C,H,W) ``x`` (in place)."""
    b, c, h, w = x.shape
    view = x.view(b, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 1, 3, 5)
    view[idx[0], idx[1], idx[2]] = patches
    return view.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def _window_index(x: torch.Tensor, idx, size: int, padding: int):
    """Flat NHWC row indices (P*win*win,) of the windows around cells, and their validity."""
    b, _, h, w = x.shape
    win = size + 2 * padding
    steps = torch.arange(win, device=x.device)
    rows = idx[1][:, None] * size - padding + steps  # (P, win)
    cols = idx[2][:, None] * size - padding + steps
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    flat = (idx[0][:, None, None] * h + rows.clamp(0, h - 1)[:, :, None]) * w \
        + cols.clamp(0, w - 1)[:, None, :]
    return flat.reshape(-1), valid, win


def gather_windows(x: torch.Tensor, idx, size: int, padding: int) -> torch.Tensor:
    """Like :func:`crop_patches` (zero padding included) but gathers rows of a channels-last view.

    Args:
        x: (B,C,h,w) tensor, ideally in ``torch.channels_last`` memory format.
        idx, size, padding: as in :func:`crop_patches`.

    Returns:
        (P,C,win,win) patches in channels-last memory format, win = size + 2*padding.
    """
    c = x.shape[1]
    flat, valid, win = _window_index(x, idx, size, padding)
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view when x is channels-last
    out = rows.index_select(0, flat)
    if padding:
        outside = torch.nonzero(~valid.reshape(-1)).squeeze(1)
        if outside.numel():
            out.index_fill_(0, outside, 0.0)
    return out.view(-1, win, win, c).permute(0, 3, 1, 2)


def scatter_cells(x: torch.Tensor, patches: torch.Tensor, idx) -> None:
    """Write (P,C,4,4) ``patches`` into the cells ``idx`` of a channels-last (B,C,H,W) ``x``."""
    c = x.shape[1]
    flat, _, _ = _window_index(x, idx, 4, 0)
    rows = x.permute(0, 2, 3, 1).view(-1, c)  # fails loudly if x is not channels-last
    rows.index_copy_(0, flat, patches.permute(0, 2, 3, 1).reshape(-1, c).to(rows.dtype))


def upsample2x_nearest(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling of small (P,C,h,w) patches (cheaper than interpolate)."""
    p, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(p, c, h, 2, w, 2).reshape(p, c, 2 * h, 2 * w)
