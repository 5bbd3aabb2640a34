"""How fast ``howard matte`` goes through a clip, and where the time goes.

    python scripts/bench.py                       # 1920x1080, 24 frames, CPU
    python scripts/bench.py --frames 100 --resolution 3840x2160 --device cuda

Makes a synthetic handheld clip (or takes ``--subject``/``--plate``), then runs, each in a fresh
process so peak memory is its own:

* ``overlapped``: ``howard matte`` as users run it (reading, aligning, the network and PNG
  writing overlap). Wall seconds per frame of the frame loop, and peak memory.
* ``sequential``: the same with ``--workers 0`` (one stage after another), instrumented: CPU
  seconds per frame of each stage (process CPU time while the stage runs, so the network's
  and OpenCV's own threads count). Its files must be byte-identical to the overlapped run's.
* ``model``: the network alone on the same frames and settings, seconds per frame (median).
* ``published``: the published network's forward pass alone at its HD settings (torch, float32,
  base pass 1/4, 80,000 refined pixels chosen by the error map) on the same frames and weights.

``--backends torch,openvino`` (and ``--precisions f32,bf16``) repeats the runs for each network
runtime and prints them side by side. End to end is also given as marginal seconds per frame:
the frame loop after its first ``--settle`` frames (which include loading and compiling).

Prints a table (markdown) and writes it as JSON with ``--json``.
"""

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("decode", "plate choice (features, search, homography)",
          "plate render (warp, mosaic)", "colour", "parallax", "network", "encode")


def make_clip(folder: Path, size, frames: int, seed: int = 0):
    """A subject clip and a 1.2x longer plate clip, handheld-like, as H.264 files."""
    from howard.io import encode
    from howard.synth.samples import background, person

    h, w = size
    rng = np.random.default_rng(seed)
    margin = max(16, w // 40)
    scene = (background(rng, (h + 2 * margin, w + 2 * margin)) * 255).astype(np.uint8)
    small = (max(64, h // 4), max(64, w // 4))  # the figure is drawn small and scaled up
    fgr, pha = person(rng, small)
    import cv2
    fgr = cv2.resize(fgr, (w, h), interpolation=cv2.INTER_LINEAR)
    pha = cv2.resize(pha, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]

    def view(t, phase):
        dx = int(margin + margin * 0.8 * np.sin(t / 9 + phase))
        dy = int(margin + margin * 0.6 * np.cos(t / 13 + phase))
        return scene[dy:dy + h, dx:dx + w]

    def subject():
        for t in range(frames):
            shift = np.roll(pha, t * 2, axis=1), np.roll(fgr, t * 2, axis=1)
            yield (shift[1] * 255 * shift[0] + view(t, 0) * (1 - shift[0])).astype(np.uint8)

    encode.write_mp4(folder / "subject.mp4", subject(), 24, crf=16)
    encode.write_mp4(folder / "plate.mp4", (view(t, 1.3) for t in range(int(frames * 1.2))),
                     24, crf=16)
    return folder / "subject.mp4", folder / "plate.mp4"


def _instrument(totals):
    """Wrap the stage functions so each adds the wall time spent in it (in the sequential
    run, where one thing happens at a time)."""
    from howard import producers
    from howard.align import color, aligner
    from howard.net import infer
    from howard.io import media

    inside = {"choose": False}

    def timed(key, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            inside[key] = True
            try:
                return fn(*a, **k)
            finally:
                inside[key] = False
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - t
        return wrapper

    def timed_frames(fn):
        def wrapper(self, *a, **k):
            it = fn(self, *a, **k)
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    spent = time.perf_counter() - t
                    totals["decode"] = totals.get("decode", 0.0) + spent
                    if inside["choose"]:  # the plate, read while choosing
                        totals["plate_decode"] = totals.get("plate_decode", 0.0) + spent
                yield item
        return wrapper

    for cls in {type(c) for c in media.FrameSource.__subclasses__()} | set(
            media.FrameSource.__subclasses__()):
        if "frames" in vars(cls):
            cls.frames = timed_frames(cls.frames)
    color.fit_gain_bias = timed("colour", color.fit_gain_bias)
    color.apply_gain_bias = timed("colour", color.apply_gain_bias)
    aligner.PlateAligner.choose = timed("choose", aligner.PlateAligner.choose)
    aligner.PlateAligner.render = timed("render", aligner.PlateAligner.render)
    producers.correct_parallax = timed("parallax", producers.correct_parallax)
    infer.Matter.__call__ = timed("network", infer.Matter.__call__)
    media.write_png = timed("encode", media.write_png)


def _count_frames(ticks):
    """Record (frames done, time) at every progress update of the run."""
    from howard.io.progress import Progress
    update = Progress.update

    def counted(self, n=1, **kwargs):
        update(self, n, **kwargs)
        ticks.append((self.done, time.perf_counter()))
    Progress.update = counted


def child(args):
    """One measured run in this process; prints a JSON line."""
    import howard

    opts = dict(weights=args.weights, device=args.device, outputs=args.outputs,
                progress=False, png_level=args.png_level, backend=args.backend,
                precision=args.precision)
    result = {}
    if args.child in ("model", "published"):
        import torch
        from howard.net import infer
        from howard.io import media
        from howard import pipeline
        from howard.align import aligner
        from howard.net.weights import load_model

        src = media.open_source(args.subject)
        h, w = src.size
        dev = infer.select_device(args.device)
        infer.configure_threads(None)
        if args.child == "published":  # BackgroundMattingV2's HD settings, torch float32
            model = load_model(args.weights, None, refine=True, device=dev, backbone_scale=0.25,
                               sample_pixels=80_000, uncertain=0.0)
            matter = infer.Matter(model, dev, fp16=False, backend="torch")
        else:
            model = load_model(args.weights, None, refine=True, device=dev,
                               backbone_scale=pipeline.auto_backbone_scale(h, w),
                               sample_pixels=pipeline.auto_sample_pixels(h, w))
            matter = infer.Matter(model, dev, backend=args.backend, precision=args.precision)
        aligner = aligner.PlateAligner(args.plate, (h, w), n_subject=args.frames)
        pairs = [(f, aligner.align(i, f).bgr) for i, f in src.frames(0)]
        needs = pipeline.network_outputs(args.outputs.split(","))  # what a run computes
        times = []
        for f, b in pairs:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            matter(f, b, needs)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        result["model_s"] = statistics.median(times[1:] if len(times) > 2 else times)
    else:
        totals, ticks = {}, []
        if args.child == "sequential":
            _instrument(totals)
        _count_frames(ticks)
        summary = howard.matte(args.subject, args.plate, args.out,
                               workers=0 if args.child == "sequential" else None, **opts)
        n = summary["processed"]
        result.update(loop_s=summary["seconds"] / n, frames=n)
        settle = min(args.settle, len(ticks) - 2)
        if settle >= 0:
            result["marginal_s"] = (ticks[-1][1] - ticks[settle][1]) / (ticks[-1][0]
                                                                         - ticks[settle][0])
        if totals:
            stages = {k: totals.get(k, 0.0) for k in ("decode", "colour", "parallax",
                                                       "network", "encode")}
            # choosing reads the plate; rendering fits and applies the colour: count once
            stages[STAGES[1]] = max(0.0, totals.get("choose", 0.0)
                                    - totals.get("plate_decode", 0.0))
            stages[STAGES[2]] = max(0.0, totals.get("render", 0.0) - stages["colour"])
            result["stage_s"] = {k: v / n for k, v in stages.items()}
        result["digest"] = _digest(Path(args.out))
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.png")):
        if ".howard" not in p.parts:
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _spawn(kind, args, subject, plate, out):
    cmd = [sys.executable, __file__, "--child", kind, "--subject", str(subject), "--plate",
           str(plate), "--out", str(out), "--device", args.device, "--outputs", args.outputs,
           "--png-level", str(args.png_level), "--frames", str(args.frames),
           "--backend", args.backend, "--precision", args.precision, "--settle",
           str(args.settle)]
    if args.weights:
        cmd += ["--weights", args.weights]
    res = subprocess.run(cmd, capture_output=True, text=True)
    lines = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        sys.exit(f"bench: the {kind} run failed:\n{res.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--resolution", default="1920x1080", help="WxH of the synthetic clip")
    p.add_argument("--subject")
    p.add_argument("--plate")
    p.add_argument("--weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--outputs", default="rgba")
    p.add_argument("--png-level", type=int, default=1)
    p.add_argument("--runs", default="overlapped,sequential,model,published")
    p.add_argument("--backends", default="auto", help="comma list of auto, torch, openvino")
    p.add_argument("--precisions", default="auto", help="comma list of auto, f32, mixed, bf16 "
                   "(OpenVINO's; torch runs once in float32)")
    p.add_argument("--settle", type=int, default=4,
                   help="frames left out of the marginal time (loading, compiling)")
    p.add_argument("--backend", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    w, h = (int(v) for v in args.resolution.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="howard-bench-") as tmp:
        tmp = Path(tmp)
        if args.subject and args.plate:
            subject, plate = args.subject, args.plate
        else:
            t = time.perf_counter()
            subject, plate = make_clip(tmp, (h, w), args.frames)
            print(f"made a {w}x{h} clip of {args.frames} frames in "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
        columns = {}
        for backend in args.backends.split(","):
            for precision in (args.precisions.split(",") if backend != "torch" else ["f32"]):
                name = backend if backend == "torch" else f"{backend} {precision}"
                args.backend, args.precision = backend, precision
                runs = columns.setdefault(name, {})
                for kind in args.runs.split(","):
                    if kind == "published" and "published" in _done(columns):
                        continue  # the same torch run for every column
                    runs[kind] = _spawn(kind, args, subject, plate,
                                        tmp / f"{name.replace(' ', '-')}-{kind}")
                    print(f"{name} {kind}: {runs[kind]}", file=sys.stderr)
    report(args, columns, (w, h))


def _done(columns):
    return {k for runs in columns.values() for k in runs}


def report(args, columns, size):
    """A markdown table: one column per runtime, one row per figure."""
    names = list(columns)
    published = next((r["published"] for r in columns.values() if "published" in r), None)

    def row(label, fn):
        cells = []
        for n in names:
            try:
                cells.append(fn(columns[n]))
            except (KeyError, ZeroDivisionError, TypeError):
                cells.append("")
        return f"| {label} | " + " | ".join(cells) + " |"

    rows = [f"| {size[0]}x{size[1]}, {args.frames} frames, {args.device}, outputs "
            f"{args.outputs}, {os.cpu_count()} CPUs | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
            row("end to end, wall s/frame", lambda r: f"{r['overlapped']['loop_s']:.3f}"),
            row("end to end, marginal s/frame", lambda r: f"{r['overlapped']['marginal_s']:.3f}"),
            row("end to end, peak memory MB", lambda r: f"{r['overlapped']['peak_mb']:.0f}"),
            row("sequential (--workers 0), wall s/frame",
                lambda r: f"{r['sequential']['loop_s']:.3f}")]
    rows += [row(f"sequential s/frame: {k}",
                 lambda r, k=k: f"{r['sequential']['stage_s'][k]:.3f}") for k in STAGES]
    rows.append(row("model only, s/frame (median)", lambda r: f"{r['model']['model_s']:.3f}"))
    if published:
        p = published["model_s"]
        rows.append(row("published network's forward alone (1/4, 80,000 px), s/frame",
                        lambda r: f"{p:.3f}"))
        rows.append(row("end to end (marginal) / published forward",
                        lambda r: f"{r['overlapped']['marginal_s'] / p:.2f}"))
    rows.append(row("overlapped files identical to sequential", lambda r: (
        "yes" if r["overlapped"]["digest"] == r["sequential"]["digest"] else "NO")))
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": columns}, indent=1))


if __name__ == "__main__":
    main()
