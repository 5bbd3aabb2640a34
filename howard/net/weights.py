"""Checkpoints: finding them, loading them strictly with clear errors, saving our own.

Accepted files:
- howard's own checkpoints: ``{"state_dict": ..., "variant": ..., "metadata": {...}}``;
- the published BackgroundMattingV2 ``pytorch_*.pth`` files (a bare state_dict), also with the
  ``module.`` prefixes that ``nn.DataParallel`` adds, and ``{"model"|"state_dict": ...}`` wrappers;
- the published TorchScript exports (``torchscript_*_fp32.pth`` / ``_fp16.pth``).
Half-precision tensors are converted to float32 on load.
"""

import hashlib
import logging
import os
import sys
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

from ..errors import WeightsError
from .model import VARIANTS, build_model

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "howard-mobilenetv2.pth"
PathLike = Union[str, os.PathLike]


def search_dirs() -> list:
    """Folders searched for a checkpoint given by name, in order."""
    dirs = []
    env = os.environ.get("HOWARD_WEIGHTS")
    if env and Path(env).is_dir():
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parents[2] / "weights")  # a clone / editable install
    dirs.append(Path(sys.prefix) / "share" / "howard" / "weights")  # a regular install
    return dirs


def find_weights(weights: Optional[PathLike] = None) -> Path:
    """Resolve ``weights`` (a path, a file name under a weights folder, or None for the default).

    ``HOWARD_WEIGHTS`` may name a checkpoint file (used when ``weights`` is None) or a folder
    to search.
    """
    if weights is None:
        env = os.environ.get("HOWARD_WEIGHTS")
        if env and Path(env).is_file():
            return Path(env)
        if env and not Path(env).is_dir():
            raise WeightsError(f"HOWARD_WEIGHTS is {env!r}, which is neither a checkpoint file "
                               f"nor a folder; fix it or unset it to use the shipped weights")
        weights = DEFAULT_WEIGHTS
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise WeightsError(f"weights {str(path)!r} is not a file; pass a checkpoint file")
    if not path.is_absolute() and len(path.parts) == 1:
        for folder in search_dirs():
            if (folder / path).is_file():
                return folder / path
    where = ", ".join(str(d) for d in search_dirs())
    raise WeightsError(f"no weights found at {str(weights)!r} (searched {where}); pass a "
                       f"checkpoint with --weights PATH or set HOWARD_WEIGHTS")


def sha256(path: PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def infer_variant(state_dict: Dict[str, torch.Tensor]) -> str:
    """Guess the backbone from state_dict keys."""
    if "backbone.features.0.0.weight" in state_dict:
        return "mobilenetv2"
    if "backbone.layer3.22.conv1.weight" in state_dict:
        return "resnet101"
    if "backbone.conv1.weight" in state_dict:
        return "resnet50"
    raise WeightsError("the checkpoint holds no known backbone (expected keys such as "
                       "'backbone.features.0.0.weight' or 'backbone.conv1.weight'); is it a "
                       "BackgroundMattingV2 checkpoint?")


def _read(path: Path):
    """torch.load, or a TorchScript archive's state_dict."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as plain_error:  # noqa: BLE001 - try the TorchScript form next
        try:
            if zipfile.is_zipfile(path):
                return torch.jit.load(str(path), map_location="cpu").state_dict()
        except Exception:  # noqa: BLE001
            pass
        raise WeightsError(f"cannot read weights {str(path)!r}: not a PyTorch checkpoint or it is "
                           f"truncated/corrupt ({type(plain_error).__name__}); download or "
                           f"copy it again") from None


def read_checkpoint(path: PathLike) -> Tuple[Dict[str, torch.Tensor], Optional[str], dict]:
    """Read a checkpoint file.

    Returns:
        ``(state_dict, variant or None, metadata)`` with float32 tensors and no ``module.``
        prefixes.
    """
    obj = _read(Path(path))
    variant, metadata = None, {}
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        variant, metadata = obj.get("variant"), obj.get("metadata") or {}
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise WeightsError(f"weights {str(path)!r} hold no state_dict of tensors; expected a "
                           f"BackgroundMattingV2 or howard checkpoint")
    state_dict = {}
    for key, value in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key
        state_dict[key] = value.float() if value.is_floating_point() else value
    return state_dict, variant, metadata


def load_state(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], variant: str,
               source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` with an error that names the first bad keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    bad_shape = [k for k in own if k in state_dict and own[k].shape != state_dict[k].shape]
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
        if bad_shape:
            k = bad_shape[0]
            parts.append(f"{len(bad_shape)} of the wrong shape (first: {k} "
                         f"{tuple(state_dict[k].shape)} vs {tuple(own[k].shape)})")
        raise WeightsError(f"{source} does not fit the {variant} network: keys "
                           f"{'; '.join(parts)}; check --variant or use a complete checkpoint")
    model.load_state_dict(state_dict, strict=True)


def load_model(weights: Optional[PathLike] = None, variant: Optional[str] = None,
               refine: bool = True, device: Union[str, torch.device] = "cpu",
               **refine_options) -> torch.nn.Module:
    """Build the network, load a checkpoint strictly, return it in eval mode on ``device``.

    Args:
        weights: a checkpoint path or name (see :func:`find_weights`); None for the default.
        variant: ``mobilenetv2``, ``resnet50`` or ``resnet101``; inferred from the keys if None.
        refine: build the refine network (True) or the base network alone.
        device: where to put the model.
        **refine_options: ``backbone_scale``, ``refine_mode``, ``sample_pixels``, ``threshold``,
            ``kernel_size``, ``prevent_oversampling``, ``uncertain``.
    """
    path = find_weights(weights)
    state_dict, saved_variant, metadata = read_checkpoint(path)
    found = infer_variant(state_dict)
    if variant is not None and variant not in VARIANTS:
        raise WeightsError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    variant = variant or saved_variant or found
    if not refine:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("refiner.")}
    model = build_model(variant, refine=refine, **refine_options)
    load_state(model, state_dict, variant, source=f"weights {str(path)!r} ({found})")
    model.checkpoint_path = str(path)
    model.checkpoint_metadata = metadata
    log.info("loaded %s weights from %s", variant, path)
    return model.eval().to(device)


def save_checkpoint(model: torch.nn.Module, path: PathLike, metadata: Optional[dict] = None,
                    half: bool = False) -> Path:
    """Save ``{state_dict, variant, metadata}`` atomically (temp file + rename).

    ``half`` stores floating-point tensors as float16 (half the size; loads as float32).
    """
    path = Path(path)
    state_dict = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu()
                  for k, v in model.state_dict().items()}
    payload = {"state_dict": state_dict, "variant": getattr(model, "variant", None),
               "metadata": dict(metadata or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
