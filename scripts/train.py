"""Train howard's matting network on synthetic composites (two stages: base, then refine).

    python scripts/train.py --run runs/base --stage base --init imagenet
    python scripts/train.py --run runs/refine --stage refine --init runs/base/best.pth
    python scripts/train.py --run runs/refine --export weights/howard-mobilenetv2.pth

A run folder holds ``last.pth`` (model + optimiser + progress, written every few minutes and on
Ctrl-C / SIGTERM), ``best.pth`` (best validation SAD), ``log.jsonl`` (losses, validation) and
``args.json``. Running the same command again resumes from ``last.pth`` (with the learning rates
this command sets, so a run can go on at a lower one). CUDA is used when
present (bf16 autocast there); on CPU it runs in float32.
"""

import argparse
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from howard.net import exposure
from howard.net.model import build_model
from howard.settings import auto_sample_pixels
from howard.synth.samples import SampleGenerator
from howard.net.training import init_imagenet, matting_loss, param_groups, refine_loss
from howard.net.weights import read_checkpoint, save_checkpoint

log = logging.getLogger("train")

LRS = {"base": {"backbone": 1e-4, "aspp": 5e-4, "decoder": 5e-4},
       "refine": {"backbone": 5e-5, "aspp": 5e-5, "decoder": 1e-4, "refiner": 3e-4}}


class Batches(torch.utils.data.Dataset):
    """Batch ``i`` of synthetic samples, deterministic in (seed, i); crop size varies per batch.
    ``samples`` are keyword arguments of :class:`howard.synth.samples.SampleGenerator` (augmentations,
    foreground and background folders)."""

    def __init__(self, seed, batch_size, crop, length=10**9, step=4, compact=False, **samples):
        self.seed, self.batch_size, self.crop, self.length = seed, batch_size, crop, length
        self.step, self.compact, self.samples = step, compact, samples
        self.gen = None

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        if self.gen is None:  # built lazily, once per worker process
            self.gen = SampleGenerator(seed=self.seed, **self.samples)
        rng = np.random.default_rng([self.seed, 7, i])
        h, w = (int(rng.integers(self.crop[0], self.crop[1] + 1)) // self.step * self.step
                for _ in range(2))
        first = i * self.batch_size
        batch = self.gen.batch(range(first, first + self.batch_size), (h, w))
        if self.compact:  # 8-bit pictures and half-precision alpha: a third of the bytes to move
            batch = {k: (v * 255 + 0.5).astype(np.uint8) if k != "pha" else v.astype(np.float16)
                     for k, v in batch.items()}
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


def _photos(dirs):
    """Real photos (float32 HxWx3 RGB in [0, 1], at most 1024 px on a side) from ``dirs``, used
    as textures of the object foregrounds; none when no folder is given."""
    import cv2
    out = []
    for d in dirs or ():
        for f in sorted(Path(d).iterdir()):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR) if f.suffix.lower() in (
                ".jpg", ".jpeg", ".png") else None
            if img is not None:
                s = min(1.0, 1024 / max(img.shape[:2]))
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255)
    log.info("%d texture photos from %s", len(out), list(dirs or ()))
    return out


def _quiet_worker(_):
    """Loader processes leave Ctrl-C and SIGTERM to the main process, which finishes its step,
    saves and shuts them down; a terminal or ``timeout`` signals the whole process group."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _as_float(batch, device):
    out = {}
    for k, v in batch.items():
        v = v.to(device, non_blocking=True)
        out[k] = v.float() / 255 if v.dtype == torch.uint8 else v.float()
    return out


def _exposed(batch):
    """What the network sees at run time (:mod:`howard.net.exposure`): a dim sample's frame and
    plate brightened and smoothed, and its true foreground colour brought to the same gain."""
    s, b, g = exposure.brighten(batch["src"], batch["bgr"])
    if g is None:
        return batch
    out = dict(batch, src=s, bgr=b)
    out["fgr"] = (batch["fgr"] * g.view(-1, 1, 1, 1).to(batch["fgr"].dtype)).clamp(0, 1)
    return out


def _augment(batch, gen):
    """A second look at a batch: mirrored and with its colour channels permuted alike."""
    perm = torch.randperm(3, generator=gen).tolist()
    out = {}
    for k, v in batch.items():
        v = v.flip(-1)
        out[k] = v[:, perm] if v.shape[1] == 3 else v
    return out


def validation_set(seed, n, size):
    gen = SampleGenerator(seed=seed)
    return gen.batch(range(n), size)


def _scores(pred, true):
    """Matting metrics of one alpha; SAD and MSE alone when howard.eval.metrics is unavailable."""
    try:
        from howard.eval import metrics
    except ImportError:
        return {"sad": float(np.abs(pred - true).sum() / 1000),
                "mse": float(((pred - true) ** 2).mean() * 1000)}
    return metrics.frame_metrics(pred, true)


def evaluate(model, args, val, device, batch_size=4):
    """Mean SAD / MSE / gradient error (whole frame and unknown band) on the validation set."""
    model.eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(val["src"]), batch_size):
            part = {k: torch.from_numpy(v[start:start + batch_size]).to(device)
                    for k, v in val.items()}
            if getattr(args, "low_light", "off") == "auto":
                part = _exposed(part)
            out = model(part["src"], part["bgr"])
            pha = out[0][:, 0].float().cpu().numpy()
            for p, t in zip(pha, part["pha"][:, 0].cpu().numpy()):
                rows.append(_scores(p, t))
    _train_mode(model, args)
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _train_mode(model, args):
    """Training mode, except a frozen base keeps its batch-norm statistics fixed, and so does
    every batch-norm layer with ``--freeze-bn``."""
    model.train()
    if getattr(args, "freeze_base", False):
        for name in ("backbone", "aspp", "decoder"):
            getattr(model, name).eval()
    if getattr(args, "freeze_bn", False):
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()


def save_state(path, model, optimizer, progress, args):
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "progress": progress, "args": vars(args), "variant": model.variant,
                "stage": args.stage}, tmp)
    os.replace(tmp, path)


def _set_base_pass(model, scale, sample_pixels, h, w):
    """Base-pass scale and refined pixels for an (h, w) input; ``sample_pixels`` 0 means in
    proportion to the input, as ``howard matte`` chooses them."""
    model.backbone_scale = scale
    model.refiner.sample_pixels = sample_pixels or auto_sample_pixels(h, w)


def _publish(args, run):
    """Export the run's best state (fp16) to ``--publish`` while training goes on."""
    if args.publish:
        export(argparse.Namespace(run=str(run), export=args.publish))


def build(args, device):
    model = build_model(args.variant, refine=args.stage == "refine",
                        **({"backbone_scale": args.backbone_scale,
                            "sample_pixels": args.sample_pixels or 20_000}
                           if args.stage == "refine" else {}))
    if args.init == "imagenet":
        log.info("initialised %d backbone tensors from ImageNet", init_imagenet(model))
    elif args.init not in ("none", None):
        raw = torch.load(args.init, map_location="cpu", weights_only=False)
        if isinstance(raw, dict) and "optimizer" in raw:  # a run's last.pth / best.pth
            state = raw["model"]
        else:
            state = read_checkpoint(args.init)[0]
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
        log.info("initialised %d/%d tensors from %s", len(usable), len(own), args.init)
    model.to(device)
    lrs = LRS[args.stage]
    if args.freeze_base:  # train the refiner alone: no backward through the base network
        for name in ("backbone", "aspp", "decoder"):
            getattr(model, name).requires_grad_(False)
        lrs = {"refiner": lrs["refiner"]}
    optimizer = torch.optim.Adam(param_groups(model, lrs))
    for group in optimizer.param_groups:
        group["lr"] *= args.lr_scale
    return model, optimizer


def export(args):
    """Write a float16, model-only refine checkpoint from the run's best (or last) state."""
    run = Path(args.run)
    source = run / "best.pth"
    if getattr(args, "export_from", "best") == "last" or not source.exists():
        source = run / "last.pth"
    state = torch.load(source, map_location="cpu", weights_only=False)
    model = build_model(state["variant"], refine=True)
    own = model.state_dict()
    meta = {"run": run.name, "stage": state["stage"], **state["progress"]}
    missing = [k for k in own if k not in state["model"]]
    if missing:  # a base-stage run: the refiner comes from the checkpoint it started from
        init = getattr(args, "refiner_from", None) or (state.get("args") or {}).get("init")
        if init in (None, "none", "imagenet") or not Path(init).is_file():
            raise SystemExit(f"{source} has no refiner ({len(missing)} tensors missing) and "
                             f"its run did not start from a checkpoint that has one "
                             f"(--init {init})")
        donor = read_checkpoint(init)[0]
        lacking = [k for k in missing if k not in donor or donor[k].shape != own[k].shape]
        if lacking:
            raise SystemExit(f"{init} lacks {len(lacking)} of the refiner's tensors "
                             f"(first: {lacking[0]})")
        own.update({k: donor[k] for k in missing})
        meta["refiner_from"] = str(init)
    own.update({k: v for k, v in state["model"].items() if k in own})
    model.load_state_dict(own)
    path = save_checkpoint(model, args.export, metadata=meta, half=True)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) from {source}: "
          f"{json.dumps(meta)}")


def train(args):
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers:  # the loader processes fill the cores; set before any fork (a forked
        import cv2    # process that changes OpenCV's pool can hang)
        cv2.setNumThreads(1)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    model, optimizer = build(args, device)
    progress = {"step": 0, "samples": 0, "seconds": 0.0, "best_sad": math.inf, "val": None}
    if (run / "last.pth").exists():
        state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        wanted = [g["lr"] for g in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        for g, lr in zip(optimizer.param_groups, wanted):  # this command's --lr-scale wins
            g["lr"] = lr
        progress = state["progress"]
        log.info("resumed %s at step %d (%d samples)", run, progress["step"], progress["samples"])
    (run / "args.json").write_text(json.dumps(vars(args), indent=1))
    data = Batches(args.seed, args.batch_size, args.crop, step=args.crop_step,
                   compact=args.workers > 0, details=not args.plain_figures,
                   outdoor=args.outdoor, camouflage=args.camouflage,
                   camouflage_hue=args.camouflage_hue, closeup=args.closeup,
                   ground=args.ground, objects=args.objects, dim=args.dim,
                   photos=_photos(args.photo_dirs), fg_dirs=args.fg_dirs,
                   fg_share=args.fg_share, bg_dirs=args.bg_dirs, bg_share=args.bg_share)
    first = progress["step"] // args.repeat
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(data, range(first, 10**9)), batch_size=None,
        num_workers=args.workers, persistent_workers=args.workers > 0,
        prefetch_factor=args.prefetch if args.workers else None,
        pin_memory=device.type == "cuda", worker_init_fn=_quiet_worker)
    scales = args.backbone_scales or [args.backbone_scale]
    aug_gen = torch.Generator().manual_seed(args.seed)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    val = validation_set(args.val_seed, args.val_n, (args.val_size, args.val_size))
    stop = {"now": False}

    def on_signal(signum, frame):  # finish the step, save, exit
        stop["now"] = True
    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _loop(args, model, optimizer, progress, loader, val, device, run, stop, scales, aug_gen,
              base_lrs)
    finally:  # also when a step raises: the loader's workers stopped and the signals given
        # back, so that the process ends (it used to wait on its workers, deaf to SIGTERM)
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _loop(args, model, optimizer, progress, loader, val, device, run, stop, scales, aug_gen,
          base_lrs):
    """The training steps until a stop: signal, --max-samples or --max-hours."""

    logf = open(run / "log.jsonl", "a")
    started, last_save, last_val = time.time(), time.time(), time.time()
    seconds0, window, window_start = progress["seconds"], [], time.time()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=device.type == "cuda" or args.bf16)
    if args.bf16 and device.type == "cpu":  # 2-3x faster than float32 on CPUs with bf16 units
        model.to(memory_format=torch.channels_last)
    _train_mode(model, args)

    def looks(loader):
        for batch in loader:
            batch = _as_float(batch, device)
            if args.low_light == "auto":
                batch = _exposed(batch)
            for r in range(args.repeat):
                yield batch if r == 0 else _augment(batch, aug_gen)

    for batch in looks(loader):
        if args.stage == "refine":
            scale = scales[int(torch.randint(len(scales), (1,), generator=aug_gen))]
            _set_base_pass(model, scale, args.sample_pixels, *batch["src"].shape[-2:])
        if args.cosine and args.max_hours:
            done = min(1.0, (time.time() - started) / 3600 / args.max_hours)
            for g, lr in zip(optimizer.param_groups, base_lrs):
                g["lr"] = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))
        with autocast:
            out = model(batch["src"], batch["bgr"])
            if args.stage == "base":
                pha, fgr, err, _ = out
                terms = matting_loss(pha.float(), fgr.float(), err.float(), batch["pha"],
                                     batch["fgr"])
            else:
                terms = refine_loss([o.float() for o in out], batch["pha"], batch["fgr"])
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        progress["step"] += 1
        progress["samples"] += len(batch["src"])
        now = time.time()
        progress["seconds"] = seconds0 + now - started
        window.append({k: float(v.detach()) for k, v in terms.items()})
        if progress["step"] % args.log_every == 0:
            mean = {k: round(float(np.mean([w[k] for w in window])), 5) for k in window[0]}
            rate = len(window) * args.batch_size / max(1e-9, now - window_start)
            rec = {"step": progress["step"], "samples": progress["samples"],
                   "hours": round(progress["seconds"] / 3600, 3),
                   "samples_per_s": round(rate, 2), **mean}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log.info("%s", rec)
            window, window_start = [], now
        last_step = (stop["now"]
                     or (args.max_samples and progress["samples"] >= args.max_samples)
                     or (args.max_hours and now - started > args.max_hours * 3600))
        if now - last_val > args.val_minutes * 60 or last_step:
            if args.stage == "refine":
                _set_base_pass(model, args.backbone_scale, args.sample_pixels, args.val_size,
                               args.val_size)
            scores = evaluate(model, args, val, device)
            progress["val"] = scores
            logf.write(json.dumps({"step": progress["step"], "samples": progress["samples"],
                                   "val": scores}) + "\n")
            logf.flush()
            log.info("validation %s", scores)
            if scores["sad"] < progress["best_sad"]:
                progress["best_sad"] = scores["sad"]
                save_state(run / "best.pth", model, optimizer, progress, args)
                _publish(args, run)
            last_val = now
        if now - last_save > args.save_minutes * 60 or stop["now"]:
            save_state(run / "last.pth", model, optimizer, progress, args)
            last_save = now
        if last_step:
            save_state(run / "last.pth", model, optimizer, progress, args)
            break
    logf.close()
    log.info("stopped at step %d (%d samples)", progress["step"], progress["samples"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run folder (checkpoints, logs); resumed if present")
    p.add_argument("--stage", choices=["base", "refine"], default="base")
    p.add_argument("--variant", default="mobilenetv2")
    p.add_argument("--init", default="imagenet",
                   help="imagenet, none, or a checkpoint to start from (ignored on resume)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop", type=int, nargs=2, default=(256, 384), metavar=("MIN", "MAX"))
    p.add_argument("--backbone-scale", type=float, default=0.25,
                   help="refine stage: base-pass scale (validation, and training unless "
                        "--backbone-scales is given)")
    p.add_argument("--backbone-scales", type=float, nargs="+",
                   help="refine stage: train with a scale drawn from these at every step")
    p.add_argument("--crop-step", type=int, default=4,
                   help="crop sides are multiples of this (fewer distinct shapes on a GPU)")
    p.add_argument("--repeat", type=int, default=1,
                   help="train on every batch this many times (mirrored, channels permuted)")
    p.add_argument("--prefetch", type=int, default=4, help="batches queued per loader process")
    p.add_argument("--cosine", action="store_true",
                   help="with --max-hours: cosine learning-rate decay to 1/10 by the end")
    p.add_argument("--publish", help="write the best weights so far (fp16) here while training")
    p.add_argument("--sample-pixels", type=int, default=20_000,
                   help="refined pixels per sample; 0: in proportion to the crop, as at run time")
    p.add_argument("--freeze-base", action="store_true",
                   help="refine stage: train only the refiner (much cheaper per sample)")
    p.add_argument("--lr-scale", type=float, default=1.0)
    p.add_argument("--freeze-bn", action="store_true",
                   help="keep every batch-norm layer's running statistics as loaded (for "
                        "fine-tuning with small batches, whose statistics are too noisy)")
    p.add_argument("--plain-figures", action="store_true",
                   help="procedural figures without faces, headwear and tattoos (as in the "
                        "validation and evaluation sets)")
    p.add_argument("--outdoor", type=float, default=0.3,
                   help="share of backgrounds that are procedural outdoor scenes (sky, trees)")
    p.add_argument("--camouflage", type=float, default=0.3,
                   help="share of samples with a patch of the subject in the background's colour")
    p.add_argument("--camouflage-hue", type=float, default=0.6,
                   help="share of those patches that keep the background's hue but not its "
                        "saturation and brightness (a blue cap against a blue sky)")
    p.add_argument("--closeup", type=float, default=0.3,
                   help="share of samples zoomed 1.3-3x into the subject's head or chest "
                        "(medium shots and close-ups)")
    p.add_argument("--ground", type=float, default=0.3,
                   help="share of samples where the subject's shadow on the ground touches "
                        "its feet")
    p.add_argument("--objects", type=float, default=0.0,
                   help="share of samples whose subject is objects, plants, fur or veils "
                        "instead of a person (howard.synth.train_objects)")
    p.add_argument("--dim", type=float, default=0.0,
                   help="share of low-light samples (exposure 5-100 %%, noise, crushed blacks)")
    p.add_argument("--photo-dirs", nargs="*", default=(),
                   help="folders of real photos used as textures of the object subjects")
    p.add_argument("--fg-dirs", nargs="*", default=(),
                   help="folders of real cut-outs (RGBA, or fgr/ + pha/), e.g. the people "
                        "scripts/portrait_mattes.py cuts out of photos")
    p.add_argument("--fg-share", type=float, default=0.5,
                   help="share of the person samples whose subject comes from --fg-dirs")
    p.add_argument("--bg-dirs", nargs="*", default=(),
                   help="folders of real person-free photos used as backgrounds")
    p.add_argument("--bg-share", type=float, default=0.5,
                   help="share of the samples whose background comes from --bg-dirs")
    p.add_argument("--low-light", choices=("auto", "off"), default="auto",
                   help="train (and validate) on what the network sees at run time: dim "
                        "samples brightened and smoothed as howard matte --low-light auto does")
    p.add_argument("--bf16", action="store_true",
                   help="on the CPU: bf16 autocast and channels_last (CUDA always uses bf16)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if CUDA is present")
    p.add_argument("--val-seed", type=int, default=10_001)
    p.add_argument("--val-n", type=int, default=16)
    p.add_argument("--val-size", type=int, default=320)
    p.add_argument("--val-minutes", type=float, default=20)
    p.add_argument("--save-minutes", type=float, default=5)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--max-samples", type=int, default=0)
    p.add_argument("--max-hours", type=float, default=0)
    p.add_argument("--export", help="write the run's best weights (fp16, refine layout) here")
    p.add_argument("--refiner-from",
                   help="with --export of a base-stage run: take the refiner from this "
                        "checkpoint (default: the one the run started from)")
    p.add_argument("--export-from", choices=["best", "last"], default="best",
                   help="with --export: the best validation state or the latest one")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.export:
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
