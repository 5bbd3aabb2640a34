"""Inference helpers: device choice, threads, padding, BatchNorm folding, a numpy-in/out runner."""

import copy
import logging
import os
from typing import Dict, Iterable, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import HowardError
from . import exposure

log = logging.getLogger(__name__)

OUTPUTS = ("pha", "fgr", "err", "ref")


def select_device(device: Optional[str] = None) -> torch.device:
    """``cuda`` when present (or asked for), else ``cpu``; refuses a device that isn't there."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise HowardError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise HowardError(f"device {device!r} was asked for but no CUDA GPU is available; "
                          f"use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise HowardError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


def configure_threads(threads: Optional[int] = None) -> int:
    """Set torch's intra-op thread count (default: all cores the process may use)."""
    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:
            threads = os.cpu_count() or 1
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


def pad_to_multiple(x: torch.Tensor, multiple: int = 4) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad (B,C,H,W) on the bottom/right by edge replication to multiples of ``multiple``.

    Returns:
        The padded tensor and the original ``(H, W)`` to crop back to.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode ``model`` with every Conv2d -> BatchNorm2d pair folded into the conv.

    Pairs are consecutive children of an ``nn.Sequential`` or attributes named ``convN`` /
    ``bnN`` of one module. The folded BN becomes an identity. Outputs equal the original's up to
    float rounding.
    """
    model = copy.deepcopy(model).eval()

    def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.data = conv.weight.data * scale.reshape(-1, 1, 1, 1)
        conv.bias = nn.Parameter(((bias - bn.running_mean) * scale + bn.bias).detach())

    with torch.no_grad():
        for module in list(model.modules()):
            if isinstance(module, nn.Sequential):
                children = list(module._modules.items())
                for (_, a), (name_b, b) in zip(children, children[1:]):
                    if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                        fold(a, b)
                        module._modules[name_b] = nn.Identity()
            for i in range(1, 5):
                conv, bn = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    fold(conv, bn)
                    setattr(module, f"bn{i}", nn.Identity())
    return model


class Matter:
    """Run a refine network on uint8 numpy frames and return numpy outputs.

    Args:
        model: a :class:`howard.net.model.MattingRefine` (eval mode; loaded weights).
        device: torch device; the model is moved there.
        fp16: half precision (default: on for CUDA, off for CPU).
        optimize: fold BatchNorm and use channels_last (same outputs up to float rounding).
        backend: ``torch``, ``openvino`` or ``auto`` (OpenVINO on the CPU when installed).
        precision: OpenVINO's ``f32``, ``mixed``, ``bf16`` or ``auto`` (``mixed`` on CPUs with
            bf16 units, else f32; see :mod:`howard.net.openvino_backend`).
        low_light: ``auto`` brightens dim frames and plates before the network and smooths the
            noise that comes up with them (:mod:`howard.net.exposure`); ``off`` does not.
    """

    def __init__(self, model: nn.Module, device: Optional[torch.device] = None,
                 fp16: Optional[bool] = None, optimize: bool = True, backend: str = "torch",
                 precision: str = "auto", low_light: str = "auto"):
        from . import openvino_backend as ovb
        self.device = device or next(model.parameters()).device
        self.fp16 = (self.device.type == "cuda") if fp16 is None else fp16
        self.optimize = optimize
        if low_light not in exposure.MODES:
            raise HowardError(f"low_light must be one of {exposure.MODES}, got {low_light!r}")
        self.low_light = low_light
        self.model_in = model
        model = model.eval()
        if optimize:
            model = fuse_batchnorm(model)
        model = model.to(self.device)
        if self.fp16:
            model = model.half()
        if optimize and self.device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
        self.backend = ovb.resolve_backend(backend, self.device)
        self.precision = "f32"
        if self.backend == "openvino":
            if self.fp16:
                raise HowardError("the openvino backend takes --precision, not fp16")
            if model is self.model_in:  # never patch the caller's model
                model = copy.deepcopy(model)
            self.precision = ovb.resolve_precision(precision)
            model = ovb.OpenVinoNet(model, self.precision,
                                    threads=torch.get_num_threads()).install()
        self.model = model
        self.dtype = torch.float16 if self.fp16 else torch.float32

    def to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """(B,H,W,3) or (H,W,3) uint8 RGB -> (B,3,H,W) float in [0,1] on the device."""
        if frames.ndim == 3:
            frames = frames[None]
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return x.permute(0, 3, 1, 2).to(self.dtype).div_(255.0)

    @torch.inference_mode()
    def __call__(self, src: np.ndarray, bgr: np.ndarray,
                 outputs: Iterable[str] = OUTPUTS) -> Dict[str, np.ndarray]:
        """Matte a batch.

        Args:
            src: (B,H,W,3) or (H,W,3) uint8 RGB subject frames.
            bgr: same shape, the aligned plates.
            outputs: which of :data:`OUTPUTS` to return; the full-size error and refinement
                maps cost two upsamplings, so a caller that writes neither leaves them out.

        Returns:
            dict of float32 numpy arrays in [0,1], those asked for of: ``pha`` (B,H,W),
            ``fgr`` (B,H,W,3) (a view of channel-first memory on the CPU, not a copy), ``err``
            (B,H,W) (the coarse error map resized to full size) and ``ref`` (B,H,W) (1 where a
            patch was refined).
        """
        want = set(outputs)
        unknown = want - set(OUTPUTS)
        if unknown:
            raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
        s, size = pad_to_multiple(self.to_tensor(src))
        b, _ = pad_to_multiple(self.to_tensor(bgr))
        src_t, g = s, None
        if self.low_light == "auto":
            s, b, g = exposure.brighten(s, b)
        pha, fgr, _, _, err_sm, ref_sm = self.model(s, b)
        if g is not None:
            fgr = exposure.restore_fgr(fgr, s, src_t, g)
        h, w = size
        out = {}
        if "pha" in want:
            out["pha"] = pha[:, 0, :h, :w]
        if "fgr" in want:
            out["fgr"] = fgr[:, :, :h, :w].permute(0, 2, 3, 1)
        if "err" in want:
            err = F.interpolate(err_sm, s.shape[-2:], mode="bilinear", align_corners=False)
            out["err"] = err[:, 0, :h, :w]
        if "ref" in want:
            out["ref"] = F.interpolate(ref_sm, s.shape[-2:], mode="nearest")[:, 0, :h, :w]
        return {k: v.float().cpu().numpy() for k, v in out.items()}


def subject_half_width(matter: "Matter", src: np.ndarray, bgr: np.ndarray,
                       short_side: int = 112) -> float:
    """How wide the subject is: the largest distance from inside it to its edge, in frame
    pixels, measured on the alpha of a quick base pass at about ``short_side`` pixels on the
    frame's short side (the frame's border is not an edge: a shirt that runs off the frame
    is as wide as its visible edges make it).

    Args:
        src, bgr: (H,W,3) uint8 RGB frame and aligned plate.
    """
    h, w = src.shape[:2]
    f = min(1.0, short_side / min(h, w))
    size = (max(16, round(w * f) // 4 * 4), max(16, round(h * f) // 4 * 4))
    s = matter.to_tensor(cv2.resize(src, size, interpolation=cv2.INTER_AREA))
    b = matter.to_tensor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA))
    if matter.low_light == "auto":
        s, b, _ = exposure.brighten(s, b)
    with torch.inference_mode():
        pha = matter.model.raw(s, b)[0, 0].float().cpu().numpy()
    inside = (pha > 0.5).astype(np.uint8)
    if not inside.any():
        return 0.0
    # holes in the subject (what a too-fine base pass leaves in a close-up) are filled: what
    # the border's flood does not reach is inside
    flood = np.pad(1 - inside, 1, constant_values=1)
    cv2.floodFill(flood, None, (0, 0), 2)
    inside[flood[1:-1, 1:-1] != 2] = 1
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    return float(dist.max()) * h / size[1]
