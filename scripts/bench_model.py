"""Seconds per frame of the matting network alone, base-only and with the refiner.

    python scripts/bench_model.py                       # all backbones, 720p/1080p/4K, CPU (+CUDA)
    python scripts/bench_model.py --variants mobilenetv2 --sizes 1080 --repeats 7 --compare

Operating points: the base-pass scale ``howard matte`` picks (1/2 at 720p, 1/3 at 1080p, 1/8 at
4K; ``--backbone-scale 1/4`` for another) and the refined pixels it picks (160,000 at 1080p, in proportion
to the frame area elsewhere). ``base`` times the base network alone at the backbone
resolution. ``--compare`` adds a straightforward form of the same network (BatchNorm not folded,
NCHW tensors, the refiner resizing and padding whole tensors before cropping) to show what the
optimised path gains. The mobilenetv2 model uses the shipped weights when present (so the error
map, and so the refined area, is realistic); other backbones use random weights.
``--backends torch openvino --precisions f32 bf16`` times each CPU runtime side by side (the
first call of a size compiles; it is the warm-up).
"""

import argparse
import statistics
import time

import cv2
import numpy as np
import torch

from howard.net.infer import Matter, configure_threads
from howard.net.model import build_model
from howard.settings import auto_backbone_scale, auto_sample_pixels, parse_backbone_scale
from howard.net.weights import WeightsError, load_model

SIZES = {"720": (720, 1280), "1080": (1080, 1920), "2160": (2160, 3840)}


def frames(h, w, seed=0):
    """A textured frame and a plate that differs from it in a person-sized region."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    bgr = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))
    src = bgr.copy()
    y0, x0 = h // 5, w // 3
    src[y0:, x0:x0 + w // 4] = rng.integers(0, 256, (h - y0, w // 4, 3), dtype=np.uint8)
    return src, bgr


def model_for(variant, scale, pixels, trained):
    options = dict(backbone_scale=scale, sample_pixels=pixels)
    if trained:
        try:
            return load_model(None, variant, **options), "shipped"
        except WeightsError:
            pass
    torch.manual_seed(0)
    return build_model(variant, **options).eval(), "random"


def time_call(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(variant, size, device, repeats, compare, scale=None, pixels=None, backend="torch",
          precision="auto"):
    h, w = SIZES[size]
    pixels = pixels or auto_sample_pixels(h, w)
    scale = scale or auto_backbone_scale(h, w)
    model, source = model_for(variant, scale, pixels, variant == "mobilenetv2")
    src, bgr = frames(h, w)
    rows = []
    matter = Matter(model, device, backend=backend, precision=precision)
    refined = {}

    def refine():
        refined["px"] = float(matter(src, bgr)["ref"].mean()) * h * w
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows.append(("refine", time_call(refine, repeats)))
    hs, ws = round(h * scale) // 4 * 4, round(w * scale) // 4 * 4
    s_sm = matter.to_tensor(cv2.resize(src, (ws, hs), interpolation=cv2.INTER_AREA))
    b_sm = matter.to_tensor(cv2.resize(bgr, (ws, hs), interpolation=cv2.INTER_AREA))

    def base_only():
        with torch.inference_mode():
            matter.model.raw(s_sm, b_sm)
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows.append((f"base only ({ws}x{hs})", time_call(base_only, repeats)))
    if compare:
        model.refiner.reference = True
        plain = Matter(model, device, optimize=False)
        rows.append(("refine, straightforward", time_call(lambda: plain(src, bgr), repeats)))
        model.refiner.reference = False
    runtime = matter.backend if matter.backend == "torch" else f"openvino {matter.precision}"
    return [(variant, f"{w}x{h}", f"{device.type} {runtime}", kind, sec, refined.get("px", 0),
             source) for kind, sec in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=["mobilenetv2", "resnet50", "resnet101"])
    p.add_argument("--sizes", nargs="+", default=["720", "1080", "2160"], choices=list(SIZES))
    p.add_argument("--devices", nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backbone-scale", type=parse_backbone_scale, default=None,
                   help="base-pass scale, e.g. 1/4 (default: what howard matte picks per size)")
    p.add_argument("--sample-pixels", type=int, default=None,
                   help="refined pixels per frame (default: 160,000 at 1080p, in proportion)")
    p.add_argument("--backends", nargs="+", default=["torch"], choices=["torch", "openvino"])
    p.add_argument("--precisions", nargs="+", default=["auto"], choices=["auto", "f32", "mixed", "bf16"],
                   help="OpenVINO's (torch runs in float32 on the CPU)")
    p.add_argument("--compare", action="store_true",
                   help="also time the straightforward form of the network")
    args = p.parse_args()
    threads = configure_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, {threads} CPU threads, median of {args.repeats} runs")
    print("| backbone | size | device | what | s/frame | fps | refined px | weights |")
    print("|---|---|---|---|---:|---:|---:|---|")
    for device in devices:
        for variant in args.variants:
            for size in args.sizes:
                for backend, precision in _runtimes(args, device):
                    for row in bench(variant, size, torch.device(device), args.repeats,
                                     args.compare, args.backbone_scale, args.sample_pixels,
                                     backend, precision):
                        v, res, dev, kind, sec, px, source = row
                        print(f"| {v} | {res} | {dev} | {kind} | {sec:.3f} | {1 / sec:.2f} | "
                              f"{px:,.0f} | {source} |", flush=True)


def _runtimes(args, device):
    """(backend, precision) pairs to time on ``device``: OpenVINO runs on the CPU only."""
    out = []
    for backend in args.backends:
        if backend == "torch":
            out.append(("torch", "auto"))
        elif device == "cpu":
            out += [("openvino", p) for p in args.precisions]
    return out


if __name__ == "__main__":
    main()
