"""Measure howard against baselines on synthetic handheld clips with exact ground truth.

    python scripts/evaluate.py                              # 3 clips x 24 frames, 540x960
    python scripts/evaluate.py --clips 1 --frames 8 --weights ckpt.pth --out runs/eval-small

The evaluation set comes from ``howard.synth.clips.make_set`` (clip ``i`` has seed ``seed*1000+i``)
and is kept under ``--cache``, one folder per seed and size. Every method mattes the same
subject frames:

* ``howard``: ``howard.matte(subject.mp4, plate.mp4, ...)`` as users run it; alpha read back
  from ``rgba/`` (8-bit), the aligned plates from ``bgr/``.
* ``base``: the same network's base pass alone (``pha_sm`` of the refine network, at the same
  backbone scale, on howard's aligned plates) upsampled bilinearly to full size: what the
  refiner adds over plain upsampling.
* ``none``: no alignment; the time-mapped plate frame as it is, into the same network.
* ``published``: plate frame 0 aligned to every frame by
  :func:`howard.eval.baselines.published_align` (one still plate, as the published inference
  script does), into the network.
* ``diffkey``: :func:`howard.eval.baselines.difference_key` on howard's aligned plates; no network.
* ``diffkey_truth``: the same difference key on the true background (``gt/bgr``): no alignment
  error at all, no network.
* ``truth``: the network given the true background (``gt/bgr``): the alignment upper bound.

``--subjects person,plant,...`` evaluates several subject families (the default ``person`` is
the figure of ``howard.synth.samples``; the others are the held-out families of
``howard.synth.families``, which training never draws from), each on its own set of the same
seeds, cameras and backgrounds, and reports a table per family and one over all of them.
``--light dim`` makes the same clips at 5-15 % exposure with high-ISO noise
(``howard.synth.light``). ``--coverage P`` frames the plate off the shot: its time-mapped frames
miss a strip of about P of the width on the right, where the person stands (at first); with
``--coverage-mode pan`` (the default) the plate pans from there to P the other way, so other
plate frames see the strip, with ``offset`` no plate frame does.

Per method: the mean over frames of SAD, MSE, Grad and Conn on the whole frame, SAD and Grad
in the unknown band, dtSSD (see ``howard.eval.metrics``), and the mean corner error in px of the
plate -> frame homography against the truth in ``meta.json``. Writes ``OUT/table.md``,
``OUT/results.json`` and ``OUT/sheet.png`` (frames, howard's plates and alphas, error maps).
``results.json`` also holds per-clip numbers and ``rerun_max_abs_diff``, the largest gap between
howard's alpha and the refined alpha of the network re-run here on howard's plates (a check
that both run the same network: 8-bit rounding alone gives 0.002). Only howard's plates are
colour-corrected; ``none`` and ``published`` see the plate's own exposure, as they would.
"""

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

import howard
from howard.align import homography
from howard.eval import baselines, metrics, sheet
from howard.io import media
from howard.synth.clips import closeup_person, edge_person, make_set
from howard.synth.families import FAMILIES
from howard.synth.light import LIGHTS
from howard.errors import HowardError
from howard.net.infer import Matter, configure_threads, pad_to_multiple, select_device
from howard.pipeline import auto_backbone_scale, auto_sample_pixels
from howard.settings import parse_backbone_scale
from howard.net.openvino_backend import resolve_backend, resolve_precision
from howard.net.weights import find_weights, load_model

METHODS = {
    "howard": "howard",
    "base": "howard (base only, upsampled)",
    "none": "no alignment (time-mapped plate)",
    "published": "published alignment (one still plate)",
    "diffkey": "difference key (howard's plates)",
    "diffkey_truth": "difference key (true background)",
    "truth": "true background (upper bound)",
}
PLATE_ORDERS = ("same", "reversed", "faster", "offset")  # as howard.synth.clips.PLATE_ORDERS
PLATE_ORDER_PAN = 0.8  # frame widths walked in the plate-order sets
COLUMNS = [("sad", "SAD"), ("mse", "MSE"), ("grad", "Grad"), ("conn", "Conn"),
           ("sad_band", "SAD band"), ("grad_band", "Grad band"), ("dtssd", "dtSSD")]


def parse_size(text: str) -> Tuple[int, int]:
    """``'540x960'`` (height x width) -> (540, 960)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH such as 540x960, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def evaluation_set(cache: Path, seed: int, clips: int, frames: int, size,
                   zoom: float = 1.0, subject: str = "person",
                   light: str = "normal", plate_order: str = "same",
                   parallax: float = 0.0, coverage: float = 0.0,
                   coverage_mode: str = "pan") -> List[Path]:
    """The clip folders of the set, made once and reused from ``cache``.

    A ``plate_order`` other than 'same' walks both cameras 0.8 frame widths sideways (the
    plate pass in that order); ``parallax`` adds near boards of that gain; ``coverage``
    frames the plate off the shot by that fraction of the width (``coverage_mode``)."""
    params = {"seed": seed, "clips": clips, "frames": frames, "size": list(size)}
    root = cache / f"seed{seed}-{clips}x{frames}-{size[0]}x{size[1]}"
    extra = {}
    if plate_order != "same":
        extra["pan"] = PLATE_ORDER_PAN
    if parallax:
        params["parallax"] = parallax
        root = root.with_name(f"{root.name}-parallax{parallax:g}")
        extra["parallax"] = parallax
    for key, value, default in (("subject", subject, "person"), ("light", light, "normal"),
                                ("plate_order", plate_order, "same")):
        if value != default:
            params[key] = value
            root = root.with_name(f"{root.name}-{value}")
            extra[key] = value
    if zoom != 1:
        params["zoom"] = zoom
        root = root.with_name(f"{root.name}-zoom{zoom:g}")
        extra["person_fn"] = closeup_person(zoom)
    if coverage:
        params.update(coverage=coverage, coverage_mode=coverage_mode)
        root = root.with_name(f"{root.name}-{coverage_mode}{coverage:g}")
        extra[f"plate_{coverage_mode}"] = coverage
        extra["person_fn"] = edge_person(0.9, extra.get("person_fn"))
    record = root / "set.json"
    if not (record.is_file() and json.loads(record.read_text()) == params):
        tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
        print(f"making the evaluation set in {root} ...", flush=True)
        make_set(tmp, clips, seed, size=tuple(size), n_frames=frames, **extra)
        (tmp / "set.json").write_text(json.dumps(params))
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    return [root / f"clip_{i:03d}" for i in range(clips)]


def true_homography(meta: dict, t: int, j: int) -> np.ndarray:
    """Plate frame ``j`` -> subject frame ``t``, from the cameras in ``meta.json``."""
    H = np.array(meta["subject_cameras"][t]) @ np.linalg.inv(np.array(meta["plate_cameras"][j]))
    return H / H[2, 2]


def read_alpha(path: Path) -> np.ndarray:
    """A grey (8 or 16 bit) or RGBA PNG's alpha as HxW float64 in [0, 1]."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(path)
    a = image[..., 3] if image.ndim == 3 else image
    return a.astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)


def network(matter: Matter, src: np.ndarray, bgr: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(pha, base)``: HxW float64 refined alpha and the base pass upsampled bilinearly."""
    s, (h, w) = pad_to_multiple(matter.to_tensor(src))
    b, _ = pad_to_multiple(matter.to_tensor(bgr))
    with torch.inference_mode():
        pha, _, pha_sm, *_ = matter.model(s, b)
        up = F.interpolate(pha_sm, s.shape[-2:], mode="bilinear", align_corners=False)
    return (pha[0, 0, :h, :w].double().cpu().numpy(),
            up[0, 0, :h, :w].clamp(0, 1).double().cpu().numpy())


def evaluate_clip(clip: Path, out: Path, matter: Matter, args, methods, keep: Dict) -> Dict:
    """Run every method on one clip; per-frame metrics and alignment errors by method."""
    meta = json.loads((clip / "meta.json").read_text())
    size = tuple(meta["size"])
    label = clip.name if args.family == "person" else f"{args.family}-{clip.name}"
    run_dir = out / "howard" / label
    started = time.perf_counter()
    summary = howard.matte(str(clip / "subject.mp4"), str(clip / "plate.mp4"), str(run_dir),
                           weights=args.weights, device=args.device, outputs="rgba,bgr",
                           progress=False, overwrite=True, threads=args.threads,
                           backbone_scale=args.backbone_scale,
                           sample_pixels=args.sample_pixels,
                           refine_uncertain=args.refine_uncertain, **args.matte_extra)
    howard_seconds = time.perf_counter() - started
    # the other methods use the base pass howard chose for this clip (fitted to the subject)
    base_scale = json.loads((run_dir / "howard.json").read_text()).get("base_pass", {}).get("scale")
    if base_scale is not None:
        matter.model.backbone_scale = float(base_scale)
    records = {}
    for line in (run_dir / "alignment.jsonl").read_text().splitlines():
        rec = json.loads(line)
        records[rec["frame"]] = rec
    plates = [f for _, f in media.open_source(str(clip / "plate.mp4")).frames()]
    rows = {m: [] for m in methods}
    align_px = {m: [] for m in methods}
    prev: Dict[str, np.ndarray] = {}
    failures, rerun_diff, net_seconds, plate_err = 0, 0.0, 0.0, []
    for t, src in media.open_source(str(clip / "subject.mp4")).frames():
        true = read_alpha(clip / "gt" / "pha" / f"{t:05d}.png")
        bgr_h = media.read_image(run_dir / "bgr" / f"{t:05d}.png")
        true_bgr = media.read_image(clip / "gt" / "bgr" / f"{t:05d}.png")
        plate_err.append(plate_error(bgr_h, true_bgr, true))
        rec, j_time = records[t], meta["frames"][t]["plate_index"]
        err_h = homography.corner_error(np.array(rec["H"]), true_homography(meta, t, rec["plate_index"]),
                                   size)
        preds, errs = {"howard": read_alpha(run_dir / "rgba" / f"{t:05d}.png")}, {"howard": err_h}
        tick = time.perf_counter()
        if "base" in methods:
            pha, preds["base"] = network(matter, src, bgr_h)
            rerun_diff = max(rerun_diff, float(np.abs(pha - preds["howard"]).max()))
            errs["base"] = err_h
        if "none" in methods:
            preds["none"] = network(matter, src, plates[j_time])[0]
            errs["none"] = homography.corner_error(np.eye(3), true_homography(meta, t, j_time), size)
        if "published" in methods:
            bgr_p, H = baselines.published_align(plates[0], src)
            failures += H is None
            preds["published"] = network(matter, src, bgr_p)[0]
            errs["published"] = homography.corner_error(np.eye(3) if H is None else H,
                                                   true_homography(meta, t, 0), size)
        if "diffkey_truth" in methods:
            preds["diffkey_truth"], errs["diffkey_truth"] = baselines.difference_key(
                src, true_bgr), 0.0
        if "truth" in methods:
            preds["truth"] = network(matter, src, true_bgr)[0]
            errs["truth"] = 0.0
        net_seconds += time.perf_counter() - tick
        if "diffkey" in methods:
            preds["diffkey"], errs["diffkey"] = baselines.difference_key(src, bgr_h), err_h
        for m in methods:
            p = preds[m]
            rows[m].append(metrics.frame_metrics(p, true, (prev[m], prev["true"]) if prev
                                                 else None))
            align_px[m].append(errs[m])
        prev = {**preds, "true": true}
        if (label, t) in keep:
            keep[(label, t)] = {"src": src, "bgr": bgr_h, "true": true, "pred": preds["howard"]}
    n = len(rows[methods[0]])
    print(f"{label}: {n} frames; howard {howard_seconds:.1f} s, other networks "
          f"{net_seconds:.1f} s", flush=True)
    return {"clip": label, "family": args.family, "seed": meta["seed"], "frames": n, "rows": rows,
            "align_px": align_px, "published_failures": failures,
            "howard_fallbacks": summary["fallback_frames"], "howard_seconds": howard_seconds,
            "base_pass_scale": matter.model.backbone_scale,
            "rerun_max_abs_diff": rerun_diff,
            # share of the frame the chosen plate frame covers, and the plate with its mosaic
            "valid": [records[t]["valid"] for t in range(n)],
            "covered": [records[t].get("covered", records[t]["valid"]) for t in range(n)],
            "plate_error": plate_err}


def plate_error(bgr: np.ndarray, true_bgr: np.ndarray, true_pha: np.ndarray) -> float:
    """How far the plate howard handed the network is from the true background: the mean
    absolute difference in grey levels (0-255, over the three channels) where no subject is
    (true alpha 0), the part no plate frame covers included (the network sees it too)."""
    keep = true_pha <= 0
    if not keep.any():
        return float("nan")
    diff = np.abs(bgr.astype(np.int16) - true_bgr.astype(np.int16))
    return float(diff[keep].mean())


def clip_report(clip: Dict, methods: List[str]) -> Dict:
    """One clip's entry of results.json: its records and mean metrics per method."""
    out = {k: v for k, v in clip.items() if k not in ("rows", "align_px")}
    out["methods"] = {m: {"metrics": metrics.summarize(clip["rows"][m]),
                          "align_px": float(np.mean(clip["align_px"][m])),
                          "sad_per_frame": [round(float(r["sad"]), 4)
                                            for r in clip["rows"][m]]} for m in methods}
    return out


def summarize_methods(per_clip: List[Dict], methods: List[str]) -> Dict:
    """Mean metrics and alignment errors per method over the frames of ``per_clip``."""
    results = {}
    for m in methods:
        rows = [r for c in per_clip for r in c["rows"][m]]
        px = [e for c in per_clip for e in c["align_px"][m]]
        results[m] = {"name": METHODS[m], "metrics": metrics.summarize(rows),
                      "align_px": float(np.mean(px)), "align_px_max": float(np.max(px))}
    return results


def table(results: Dict, n_frames: int, note: str) -> str:
    """The markdown table of the mean metrics per method."""
    head = ["method"] + [c for _, c in COLUMNS] + ["align err (px)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for key, res in results.items():
        values = [res["metrics"].get(k, float("nan")) for k, _ in COLUMNS]
        cells = [METHODS[key]] + [f"{v:.3f}" for v in values]
        cells.append(f"{res['align_px']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Means over {n_frames} frames. SAD and Grad in thousands, MSE x1000, Conn "
              f"in thousands, dtSSD x100; 'band' = the unknown band around the true edge. "
              f"Align err: mean corner error of the plate -> frame homography vs the truth. "
              + note]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="results folder")
    p.add_argument("--cache", type=Path, default=Path("runs/evalset"),
                   help="where evaluation sets are made and kept (default runs/evalset)")
    p.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="network threads on CPU (default 1: on a machine busy with other "
                        "work, more threads can be several times slower)")
    p.add_argument("--seed", type=int, default=1, help="set seed; clip i uses seed*1000+i")
    p.add_argument("--clips", type=int, default=3, help="clips in the set (default 3)")
    p.add_argument("--frames", type=int, default=24, help="subject frames per clip (default 24)")
    p.add_argument("--size", type=parse_size, default=(540, 960), help="HxW (default 540x960)")
    p.add_argument("--zoom", type=float, default=1.0,
                   help="medium shots and close-ups: the person magnified this much about the "
                        "chest (default 1: full length)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma list of {', '.join(METHODS)} (default all; howard always runs)")
    p.add_argument("--backbone-scale", type=parse_backbone_scale, default=None,
                   help="base-pass resolution, e.g. 1/4 (default: chosen from the size, as "
                        "howard matte does)")
    p.add_argument("--sample-pixels", type=int, default=None,
                   help="pixels the refiner redoes per frame (default: as howard matte does, "
                        "160,000 at 1920x1080 in proportion to the frame area)")
    p.add_argument("--refine-uncertain", type=float, default=1.0,
                   help="weight of the coarse alpha's uncertainty in choosing the cells to "
                        "refine, as in howard matte (default 1; 0: the error map alone)")
    p.add_argument("--sheet-rows", type=int, default=3, help="frames in sheet.png (default 3)")
    p.add_argument("--subjects", default="person",
                   help=f"comma list of subject families: person (default; the training "
                        f"figure) and the held-out {', '.join(FAMILIES)}")
    p.add_argument("--low-light", choices=("auto", "off"), default=None,
                   help="howard's handling of dim shots (default: as howard matte does)")
    p.add_argument("--temporal", choices=("on", "off"), default=None,
                   help="howard's temporal step (default: as howard matte does)")
    p.add_argument("--backend", choices=("auto", "openvino", "torch"), default="auto",
                   help="the network's runtime, for howard and the other network rows "
                        "(default: as howard matte does)")
    p.add_argument("--precision", choices=("auto", "f32", "mixed", "bf16"), default="auto",
                   help="OpenVINO's arithmetic (default: as howard matte does)")
    p.add_argument("--light", choices=LIGHTS, default="normal",
                   help="normal, or dim: the same clips at 5-15%% exposure with high-ISO noise")
    p.add_argument("--plate-order", choices=PLATE_ORDERS, default="same",
                   help="how the plate pass walks the shot: same (default: time mapping "
                        "holds), reversed, faster (1.6x, then standing) or offset (starting "
                        "half a walk earlier); other than same, both cameras walk "
                        f"{PLATE_ORDER_PAN:g} frame widths sideways")
    p.add_argument("--parallax", type=float, default=0.0,
                   help="0 (default): a planar scene; else near boards moving this much more "
                        "than the scene with the camera (e.g. 0.6)")
    p.add_argument("--align-parallax", choices=("on", "off"), default=None,
                   help="howard's residual parallax correction (default: as howard matte does)")
    p.add_argument("--coverage", type=float, default=0.0,
                   help="frame the plate off the shot: its time-mapped frames miss a strip of "
                        "about this fraction of the width on the right, where the person "
                        "stands (default 0: framed like the shot)")
    p.add_argument("--coverage-mode", choices=("pan", "offset"), default="pan",
                   help="pan (default): the plate pans from there to as far the other way, "
                        "so other plate frames see the strip; offset: no plate frame does")
    args = p.parse_args(argv)
    methods = ["howard"] + [m.strip() for m in args.methods.split(",")
                            if m.strip() and m.strip() != "howard"]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        p.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    try:
        args.weights = str(find_weights(args.weights))
    except HowardError as e:
        p.error(f"{e}")
    started = time.perf_counter()
    if args.zoom < 1:
        p.error("--zoom must be at least 1")
    families = list(dict.fromkeys(f.strip() for f in args.subjects.split(",") if f.strip()))
    bad = [f for f in families if f != "person" and f not in FAMILIES]
    if bad or not families:
        p.error(f"unknown subject family {(bad or [''])[0]!r}; choose from person, "
                f"{', '.join(FAMILIES)}")
    args.matte_extra = {"backend": args.backend, "precision": args.precision}
    if args.temporal is not None:
        args.matte_extra["temporal"] = args.temporal
    if args.align_parallax is not None:
        args.matte_extra["parallax"] = args.align_parallax
    if args.low_light is not None:
        args.matte_extra["low_light"] = args.low_light
    if not 0 <= args.coverage < 0.5:
        p.error("--coverage must be in [0, 0.5)")
    sets = {f: evaluation_set(args.cache, args.seed, args.clips, args.frames, args.size,
                              args.zoom, f, args.light, args.plate_order, args.parallax,
                              args.coverage, args.coverage_mode)
            for f in families}
    h, w = args.size
    scale = args.backbone_scale or auto_backbone_scale(h, w)
    if args.sample_pixels is not None and args.sample_pixels < 16:
        p.error("--sample-pixels must be at least 16")
    pixels = args.sample_pixels or auto_sample_pixels(h, w)
    if not 0 <= args.refine_uncertain <= 1:
        p.error("--refine-uncertain must be in [0, 1]")
    threads = configure_threads(args.threads)
    dev = select_device(args.device)
    model = load_model(args.weights, refine=True, device=dev,
                       backbone_scale=scale, sample_pixels=pixels,
                       uncertain=args.refine_uncertain)
    backend = resolve_backend(args.backend, dev)
    precision = resolve_precision(args.precision) if backend == "openvino" else "auto"
    matter = Matter(model, dev, backend=backend, precision=precision,
                    low_light=args.low_light or "auto")
    everything = [(c.name if f == "person" else f"{f}-{c.name}", t)
                  for f, clips in sets.items() for c in clips for t in range(args.frames)]
    picks = np.linspace(0, len(everything) - 1, args.sheet_rows + 2)[1:-1]
    keep = {everything[int(round(i))]: None for i in picks}
    args.out.mkdir(parents=True, exist_ok=True)
    per_clip = []
    for f, clips in sets.items():
        args.family = f
        per_clip += [evaluate_clip(c, args.out, matter, args, methods, keep) for c in clips]

    results, n_frames = summarize_methods(per_clip, methods), sum(c["frames"] for c in per_clip)
    by_family = {f: summarize_methods([c for c in per_clip if c["family"] == f], methods)
                 for f in families}
    failures = sum(c["published_failures"] for c in per_clip)
    fallbacks = sum(c["howard_fallbacks"] for c in per_clip)
    valid = [v for c in per_clip for v in c["valid"]]
    covered = [v for c in per_clip for v in c["covered"]]
    plate_err = float(np.nanmean([v for c in per_clip for v in c["plate_error"]]))
    zoomed = f", person zoomed {args.zoom:g}x" if args.zoom != 1 else ""
    fitted = [c["base_pass_scale"] for c in per_clip]
    if any(abs(f - scale) > 1e-9 for f in fitted):
        zoomed += " (base pass fitted to the subject: " + ", ".join(
            f"1/{round(1 / f)}" for f in fitted) + ")"
    note = (f"Published alignment failed on {failures} frames (plate used unwarped); howard "
            f"fell back on {fallbacks}. Set: seed {args.seed}, {args.clips} clips x "
            f"{args.frames} frames, {h}x{w}{zoomed}, base pass at {scale:.3g}, {pixels:,} refined "
            f"pixels a frame (uncertain alpha weighted {args.refine_uncertain:g}); weights "
            f"{Path(args.weights).name}.")
    if args.temporal is not None:
        note += f" Temporal step {args.temporal}."
    if args.light != "normal":
        note += f" Light: {args.light} (exposure 5-15 %, high-ISO noise)."
    if args.plate_order != "same":
        note += f" Plate pass {args.plate_order}, walking {PLATE_ORDER_PAN:g} frame widths."
    if args.parallax:
        note += f" Near boards with parallax gain {args.parallax:g}."
    if args.coverage:
        note += (f" Plate framed off the shot: a strip of {args.coverage:g} of the width "
                 f"missed, the person standing in it ({args.coverage_mode}).")
    note += (f" Howard's chosen plate frames covered {100 * np.mean(valid):.1f} % of the frame "
             f"on average (least {100 * np.min(valid):.1f} %), with the mosaic "
             f"{100 * np.mean(covered):.1f} % (least {100 * np.min(covered):.1f} %). "
             f"Outside the subject the plate fed to the network differs from the true "
             f"background by {plate_err:.2f} grey levels on average.")
    if families == ["person"]:
        text = table(results, n_frames, note)
    else:
        text = "".join(f"### {f}\n\n" + table(by_family[f], n_frames // len(families), "")
                       + "\n" for f in families)
        text += f"### all: {', '.join(families)}\n\n" + table(results, n_frames, note)
    print(text)
    (args.out / "table.md").write_text(text)
    seconds = time.perf_counter() - started
    report = {"settings": {"seed": args.seed, "clips": args.clips, "frames": args.frames,
                           "size": [h, w], "zoom": args.zoom, "weights": args.weights,
                           "device": str(dev),
                           "threads": threads, "backbone_scale": scale,
                           "sample_pixels": pixels,
                           "refine_uncertain": args.refine_uncertain, "methods": methods,
                           "subjects": families, "light": args.light,
                           "plate_order": args.plate_order, "parallax": args.parallax,
                           "coverage": args.coverage, "coverage_mode": args.coverage_mode,
                           "temporal": args.temporal, "backend": matter.backend,
                           "precision": matter.precision,
                           "difference_key": {"low": baselines.KEY_LOW,
                                              "high": baselines.KEY_HIGH,
                                              "blur": baselines.KEY_BLUR}},
              "methods": results, "families": by_family, "published_failures": failures,
              "howard_fallbacks": fallbacks,
              "coverage": {"valid_mean": float(np.mean(valid)), "valid_min": float(np.min(valid)),
                           "covered_mean": float(np.mean(covered)),
                           "covered_min": float(np.min(covered))},
              "plate_error": plate_err,
              "seconds": round(seconds, 1),
              "clips": [clip_report(c, methods) for c in per_clip]}
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    shown = [(k, v) for k, v in keep.items() if v is not None]
    if shown:
        cells = [[v["src"], v["bgr"], v["true"], v["pred"],
                  sheet.heat_map(np.abs(v["pred"] - v["true"]))] for _, v in shown]
        image = sheet.draw_sheet(cells, ["frame", "aligned plate (howard)", "true alpha",
                                         "howard alpha", "|error|"], width=1500,
                                 captions=[f"{c} frame {t}" for (c, t), _ in shown])
        sheet.save_sheet(args.out / "sheet.png", image)
    print(f"wrote {args.out / 'table.md'}, results.json, sheet.png in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
