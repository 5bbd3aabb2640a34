"""OpenVINO backend for CPU inference: the base network (and, optionally, the refiner's
patch convs).

Precisions: ``f32``; ``bf16`` (everything in bf16 on CPUs with bf16 units); ``mixed``: the
encoder in f32, the ASPP, the decoder and the refiner's patch convolutions in bf16. The encoder
is where bf16's rounding moves the matte (the small differences between frame and plate it
works on); the decoder is where the base network spends most of its time. ``auto`` is ``mixed``
where the CPU has bf16 units, else ``f32`` (measurements in :func:`resolve_precision`).

The loaded torch model is converted in memory (``openvino.convert_model``), compiled once per
weights, precision and input size, and the converted graphs are cached on disk under a key made
of the weights' sha256, the input shapes, the precision and the OpenVINO version. A cache file
that does not read back is rebuilt. The gathering and scattering of patches stays in torch.

Telemetry is off. OpenVINO's model converter sends usage events unless a consent file says
no; howard keeps ``openvino_telemetry`` from being imported and, should something have imported
it already, points the converter at its own no-op stub, so nothing is sent anywhere.
"""

import copy
import hashlib
import importlib
import logging
import os
import sys
import types
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ..errors import HowardError
from .model import MattingBase
from .refiner import Refiner

log = logging.getLogger(__name__)

BACKENDS = ("auto", "openvino", "torch")
PRECISIONS = ("auto", "f32", "mixed", "bf16")
# how many graphs were converted from torch / read from the cache (tests read these)
STATS = {"converted": 0, "cached": 0}


def _import_openvino():
    """The ``openvino`` module with telemetry blocked, or None when it is not installed."""
    sys.modules.setdefault("openvino_telemetry", None)  # import fails -> converter's stub
    os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")
    try:
        import openvino
    except ImportError:
        return None
    try:  # the converter's modules each bind the telemetry package as ``tm``: give them the
        # stub, in case the real one was imported before the line above
        from openvino.tools.ovc import telemetry_stub
        for name in ("telemetry_utils", "utils", "convert_impl"):
            module = importlib.import_module(f"openvino.tools.ovc.{name}")
            if hasattr(module, "tm"):
                module.tm = telemetry_stub
    except ImportError:  # another layout of the package: its telemetry module is blocked
        pass
    return openvino


def cache_dir() -> Path:
    """``$HOWARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/howard``, else ``~/.cache/howard``."""
    if os.environ.get("HOWARD_CACHE_DIR"):
        return Path(os.environ["HOWARD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "howard"


def resolve_backend(backend: str, device: torch.device) -> str:
    """``openvino`` or ``torch`` for ``backend`` on ``device`` (auto: OpenVINO on the CPU when
    it is installed, torch otherwise, said in one log line)."""
    if backend not in BACKENDS:
        raise HowardError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    if device.type != "cpu":
        if backend == "openvino":
            raise HowardError("the openvino backend runs on the CPU; use --device cpu or "
                              "--backend torch")
        return "torch"
    if _import_openvino() is None:
        if backend == "openvino":
            raise HowardError("the openvino backend needs the openvino package: "
                              "pip install openvino, or use --backend torch")
        log.info("OpenVINO is not installed: running the network on torch")
        return "torch"
    return "openvino"


def bf16_supported() -> bool:
    """Whether the CPU runs bf16 natively (OpenVINO's CPU plugin says so)."""
    ov = _import_openvino()
    if ov is None:
        return False
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in caps


def resolve_precision(precision: str) -> str:
    """``f32``, ``mixed`` or ``bf16``; auto is ``mixed`` on a CPU with bf16 units, else f32.

    bf16 throughout moved SAD on the evaluation sets (``scripts/evaluate.py --subjects
    person,plant,fur,prop,cloth,photo_person --clips 2 --frames 12``) by 1.9 % on the person
    set and 2.9 % on props against f32: its rounding in the encoder, which works on the small
    differences between frame and plate. ``mixed`` keeps the encoder in f32 and moves the
    matte by far less (see the README's Speed section for the figures)."""
    if precision not in PRECISIONS:
        raise HowardError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision in ("bf16", "mixed") and not bf16_supported():
        raise HowardError(f"this CPU has no bf16 support, which --precision {precision} "
                          f"needs; use --precision f32 or auto")
    if precision == "auto":
        return "mixed" if bf16_supported() else "f32"
    return precision


def weights_sha256(module: nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes and float32 values)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class _Raw(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, src, bgr):
        return MattingBase.raw(self.model, src, bgr)


class _Encoder(nn.Module):
    """The encoder's features x4, x3, x2, x1 (x0, the input, is not handed over)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, src, bgr):
        return tuple(self.model.backbone(torch.cat([src, bgr], dim=1))[:4])


class _Decoder(nn.Module):
    """ASPP and decoder: the 37 raw channels from the encoder's features and the input."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x4, x3, x2, x1, src, bgr):
        m = self.model
        return m.decoder(m.aspp(x4), x3, x2, x1, torch.cat([src, bgr], dim=1))


class _Stage(nn.Module):
    def __init__(self, refiner, name):
        super().__init__()
        self.refiner, self.name = refiner, name

    def forward(self, x):
        return getattr(Refiner, self.name)(self.refiner, x)


class OpenVinoNet:
    """Compiled OpenVINO graphs for one model's convolutional parts.

    Args:
        model: a :class:`howard.net.model.MattingRefine` (eval mode; BatchNorm may be folded).
        precision: ``f32``, ``mixed`` (encoder f32, the rest bf16) or ``bf16``.
        threads: CPU threads for inference (default: OpenVINO's choice).
        cache: directory of the converted graphs (default: :func:`cache_dir`).
        refiner: also route the refiner's patch convolutions through OpenVINO. Off by
            default: at 1080p (10,000 patches of 42x8x8) handing the patches over costs more
            than OpenVINO saves, and torch's channels-last convolutions on them were faster
            (stage 1: 0.089 s in torch, 0.163 s through OpenVINO, median of 5 frames on 2
            cores; the base network 0.30 s in torch, 0.21 s in OpenVINO).
    """

    def __init__(self, model: nn.Module, precision: str = "f32", threads: Optional[int] = None,
                 cache: Optional[Path] = None, refiner: bool = False):
        self.ov = _import_openvino()
        if self.ov is None:
            raise HowardError("the openvino backend needs the openvino package")
        self.model = model
        self.precision = precision
        self.cache = Path(cache) if cache is not None else cache_dir()
        self.core = self.ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.config = config
        low = "f32" if precision == "f32" else "bf16"
        # the arithmetic of each graph: in mixed precision only the encoder stays f32
        self.precisions = {"raw": low, "enc": "f32" if precision == "mixed" else low,
                           "dec": low, "stage1": low, "stage2": low}
        self.sha = weights_sha256(model)
        self.refiner = refiner
        self._compiled: Dict[Tuple, object] = {}
        ref = model.refiner
        self._stages = {"raw": _Raw(model), "enc": _Encoder(model), "dec": _Decoder(model),
                        "stage1": _Stage(ref, "_stage1"), "stage2": _Stage(ref, "_stage2")}

    def _key(self, name: str, shapes) -> str:
        text = f"{name}|{shapes}|{self.sha}|{self.ov.__version__}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _graph(self, name: str, examples, shapes):
        """The OpenVINO model for ``name``: from the cache when it reads back, else converted
        (and written to the cache)."""
        xml = self.cache / f"{name}-{self._key(name, shapes)}.xml"
        if xml.exists():
            try:
                graph = self.core.read_model(str(xml))
                STATS["cached"] += 1
                return graph
            except Exception as exc:  # noqa: BLE001  a damaged cache file: rebuild it
                log.warning("rebuilding the damaged OpenVINO cache file %s (%s)", xml.name,
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        with torch.no_grad():
            graph = self.ov.convert_model(self._stages[name], example_input=examples)
        if name.startswith("stage"):  # any number of patches
            graph.reshape(shapes[0])
        STATS["converted"] += 1
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = xml.with_suffix(f".tmp{os.getpid()}.xml")
            self.ov.save_model(graph, str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
            os.replace(tmp, xml)
        except OSError as exc:
            log.warning("could not write the OpenVINO cache in %s: %s", self.cache, exc)
        return graph

    def _infer(self, name: str, *xs):
        """The outputs (numpy) of graph ``name`` on ``xs`` (torch tensors or numpy arrays)."""
        if name in ("raw", "enc", "dec"):
            shapes = [list(x.shape) for x in xs]
        else:  # the number of patches (and, in full mode, the size) varies
            shapes = [[-1, xs[0].shape[1], -1, -1]]
        key = (name, str(shapes))
        compiled = self._compiled.get(key)
        arrays = [x.float().contiguous().numpy() if isinstance(x, torch.Tensor) else x
                  for x in xs]
        if compiled is None:
            examples = tuple(torch.from_numpy(a) for a in arrays)
            graph = self._graph(name, examples if len(examples) > 1 else examples[0],
                                [self.ov.PartialShape(s) for s in shapes])
            config = dict(self.config, INFERENCE_PRECISION_HINT=self.precisions[name])
            compiled = self.core.compile_model(graph, "CPU", config)
            self._compiled[key] = compiled
        result = compiled(arrays)
        return [result[i] for i in range(len(compiled.outputs))]

    def _run(self, name: str, *xs: torch.Tensor) -> torch.Tensor:
        out = self._infer(name, *xs)[0]
        return torch.from_numpy(out.copy()).to(xs[0].dtype)

    def _raw(self, src: torch.Tensor, bgr: torch.Tensor) -> torch.Tensor:
        """The base network's 37 raw channels: one graph, or in mixed precision the f32
        encoder's features handed to the bf16 decoder."""
        if self.precision != "mixed":
            return self._run("raw", src, bgr)
        s, b = (x.float().contiguous().numpy() for x in (src, bgr))
        out = self._infer("dec", *self._infer("enc", s, b), s, b)[0]
        return torch.from_numpy(out.copy()).to(src.dtype)

    def install(self) -> nn.Module:
        """Route the model's ``raw`` and refiner stages through OpenVINO (or, when the
        refiner stays in torch and the precision is not f32, its patch convolutions through
        a bf16 copy of them in torch); returns the model."""
        m = self.model
        m.raw = types.MethodType(lambda _self, s, b: self._raw(s, b), m)
        low = None
        if not self.refiner and self.precision != "f32":
            low = copy.deepcopy(m.refiner).to(torch.bfloat16)
            m.refiner.work_dtype = torch.bfloat16  # the patches gathered in bf16 already
        for name in ("_stage1", "_stage2"):
            if self.refiner:
                run = (lambda n: lambda _self, x: self._run(n, x))(name[1:])
            elif low is not None:
                run = (lambda f: lambda _self, x: f(low, x.to(torch.bfloat16)).to(x.dtype))(
                    getattr(Refiner, name))
            else:
                continue
            setattr(m.refiner, name, types.MethodType(run, m.refiner))
        m.backend = "openvino"
        return m
