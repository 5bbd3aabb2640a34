"""The ``howard`` command: flags mapped onto :func:`howard.matte`; user errors as one line."""

import functools
import logging
import os
import shlex
import sys

import click

from . import __version__
from .errors import AlignmentError, HowardError


def _friendly(fn):
    """Print a HowardError as one line on stderr and exit with its code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HowardError as e:
            click.echo(f"howard: error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("howard: interrupted", err=True)
            sys.exit(130)

    return wrapper


def _scale(value):
    if value in (None, "auto"):
        return None
    from .settings import parse_backbone_scale  # the heavy modules load only for a run
    try:
        return parse_backbone_scale(value)
    except ValueError as e:
        raise click.BadParameter(f"{e} (or auto)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="howard")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (alignment, weights).")
def main(verbose):
    """Remove the background from handheld video of people, using a clean plate."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="howard: %(message)s")


@main.command()
@click.argument("subject")
@click.argument("plate")
@click.argument("out")
@click.option("--weights", help="Checkpoint file or name under weights/ (default: the shipped "
              "howard-mobilenetv2.pth, or $HOWARD_WEIGHTS).")
@click.option("--variant", type=click.Choice(["mobilenetv2", "resnet50", "resnet101"]),
              help="Backbone of the checkpoint (default: read from the checkpoint).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--backbone-scale", default="auto", show_default=True,
              help="Resolution of the base pass, e.g. 1/3 for HD, 1/8 for 4K (lower is faster "
              "and coarser); auto picks from the frame size, coarser when the subject fills much of "
              "the first frame.")
@click.option("--refine-mode", type=click.Choice(["sampling", "thresholding", "full"]),
              default="sampling", show_default=True, help="Which pixels the refiner redoes.")
@click.option("--sample-pixels", type=click.IntRange(min=16), default=None,
              help="Pixels refined per frame in sampling mode (default: 160,000 at 1080p, "
              "in proportion to the frame area).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Error threshold in thresholding mode.")
@click.option("--refine-uncertain", type=click.FloatRange(0, 1), default=1.0,
              show_default=True, help="Also refine where the base pass's alpha is unsure: a cell "
              "ranks by the larger of its error and this times 4a(1-a); 0 ranks by the error "
              "map alone, as published.")
@click.option("--temporal", type=click.Choice(["on", "off"]), default="off", show_default=True,
              help="Carry the previous frame's alpha along the optical flow where the frames "
              "agree: still parts stop flickering, moving edges keep the new alpha.")
@click.option("--parallax", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="After the homography, move the plate by a smooth, bounded optical flow "
              "measured on the background: nearer or further things line up too.")
@click.option("--low-light", type=click.Choice(["auto", "off"]), default="auto",
              show_default=True, help="Brighten a dim shot's frames and plate for the network and "
              "smooth the noise that comes up with them (a well-exposed shot is left as it is).")
@click.option("--backend", type=click.Choice(["auto", "openvino", "torch"]), default="auto",
              show_default=True, help="Network runtime: openvino (CPU; compiled once per "
              "weights and size, cached in ~/.cache/howard), torch, or auto (OpenVINO on the "
              "CPU when installed, torch otherwise).")
@click.option("--precision", type=click.Choice(["auto", "f32", "mixed", "bf16"]), default="auto",
              show_default=True, help="OpenVINO's arithmetic: mixed keeps the encoder in f32 "
              "and runs the rest in bf16; mixed and bf16 need a CPU with bf16 units; auto is "
              "mixed there, f32 elsewhere (see the README).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Frames per network call (larger helps on a GPU).")
@click.option("--features", type=click.Choice(["orb", "sift"]), default="orb",
              show_default=True, help="Feature detector for aligning the plate.")
@click.option("--window", type=click.IntRange(min=0), default=3, show_default=True,
              help="Plate frames tried on each side of the time-mapped one.")
@click.option("--plate-fit", type=click.Choice(["error", "crop", "stretch"]), default="error",
              show_default=True, help="What to do when the plate's aspect ratio differs.")
@click.option("--outputs", default="rgba", show_default=True,
              help="Comma list of rgba, pha, fgr, err, ref, bgr.")
@click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True,
              help="Bits per channel of rgba/pha/fgr PNGs.")
@click.option("--png-level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="PNG compression: 0-1 fast and large, 9 slow and small.")
@click.option("--name-template", default="%05d.png", show_default=True,
              help="Frame file names, printf style; {output} is the output kind "
              "(e.g. 'shot_{output}.%04d.png').")
@click.option("--start-number", type=int, default=0, show_default=True,
              help="Number of the first frame in file names (e.g. 1001).")
@click.option("--premultiply", is_flag=True,
              help="Write rgba with premultiplied colour (default: straight alpha, what "
              "PNG means).")
@click.option("--background", default=None,
              help="New background for the com output (implies it): a colour (white, "
              "#00b140), an image, or a video / image sequence (looped to length, scaled to "
              "cover).")
@click.option("--composite-mode", type=click.Choice(["over", "inside"]), default="over",
              show_default=True, help="over: subject over the new background; inside: the "
              "new background plays inside the subject's silhouette.")
@click.option("--composite-space", type=click.Choice(["linear", "srgb"]), default="linear",
              show_default=True, help="Mix light in linear light (right for soft edges) or "
              "mix the sRGB values as most editors do.")
@click.option("--video", "videos", multiple=True, type=click.Choice(["mov", "webm", "mp4"]),
              help="Also write OUT/rgba.mov (ProRes 4444 + alpha), OUT/rgba.webm (VP9 + "
              "alpha) or OUT/com.mp4 (composite with the subject's sound). Repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs in a non-empty folder.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in OUT.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Writer threads; 0 runs every stage in one thread (default: CPU count - 1, "
                   "at least 1).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for the network on CPU (default: CPU count).")
@click.option("--scheduler", default=None, help="Matte frame ranges on a Dask cluster: a "
              "scheduler address (tcp://host:8786) or local:N for N worker processes here "
              "(needs pip install 'howard[cluster]'; paths must be visible to every worker).")
@click.option("--chunk-frames", type=click.IntRange(min=1), default=None,
              help="Frames per cluster task (default: chosen from the clip and workers).")
@click.option("--strict", is_flag=True, help="Exit non-zero (5) when the plate does not seem "
              "to show the same place as the subject (the matte is still written).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@_friendly
def matte(subject, plate, out, quiet, strict, outputs, bit_depth, backbone_scale, **options):
    """Matte SUBJECT against the clean PLATE into the folder OUT.

    SUBJECT and PLATE are each a video file, a folder of images, a printf pattern
    (shot.%04d.png) or a single image (a still plate). OUT gets rgba/00000.png ... (straight
    alpha; RGB is the predicted foreground), howard.json and alignment.jsonl.
    """
    from .api import matte as run_matte

    summary = run_matte(
        subject, plate, out, outputs=[o.strip() for o in outputs.split(",") if o.strip()],
        bit_depth=int(bit_depth), backbone_scale=_scale(backbone_scale), progress=not quiet,
        command=shlex.join(["howard"] + sys.argv[1:]), **options)
    if not quiet:
        fps = f" ({summary['fps']:.2f} frames/s)" if summary["fps"] else ""
        resumed = f", resumed at frame {summary['resumed_at']}" if summary["resumed_at"] else ""
        click.echo(f"howard: {summary['processed']} of {summary['frames']} frames in "
                   f"{summary['seconds']:.1f} s{fps}{resumed}; {summary['fallback_frames']} "
                   f"alignment fallbacks{_uncovered(summary)}; wrote {summary['output']}",
                   err=True)
    for text in summary.get("warnings") or ():
        click.echo(f"howard: warning: {text}", err=True)
    if strict and summary.get("warnings"):
        raise AlignmentError("--strict: the plate did not match the subject (see the warning "
                             "above and howard.json); the matte was written all the same")


def _uncovered(summary) -> str:
    """The closing line's note on frames the plate does not cover, when there are any."""
    n = summary.get("uncovered_frames")
    if not n:
        return ""
    return (f"; {n} frames partly seen by no plate frame (up to "
            f"{100 * summary['uncovered_max']:.0f} % of the frame, filled from the frame "
            f"off the subject: see bgr/)")


@main.command()
@click.argument("shots", type=click.Path(dir_okay=False))
@click.option("--scheduler", default="local:2", show_default=True,
              help="Dask scheduler address (tcp://host:8786) or local:N worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Network threads per task on CPU (default: all a worker's cores; with "
              "local:N, this machine's cores / N).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def batch(shots, scheduler, threads, quiet):
    """Matte every shot of the CSV file SHOTS on a Dask cluster.

    SHOTS has a header row with subject, plate and out columns and optionally any matte
    option as a column (outputs, backbone_scale, window, device, chunk_frames, overwrite,
    resume, ...). Prints a summary table; exits 1 if any shot failed.
    """
    from .batch import read_shots, run_shots, table
    from .cluster import connect, disconnect

    shot_list = read_shots(shots)
    devices = {s["options"].get("device", "auto") for s in shot_list}
    client, cluster = connect(scheduler, "cuda" if any(str(d).startswith("cuda")
                                                        for d in devices) else None)
    if cluster is not None and threads is None:
        from .batch import _cores
        threads = max(1, _cores() // len(cluster.workers))
    try:
        results = run_shots(client, shot_list, progress=not quiet, threads=threads,
                            command=shlex.join(["howard"] + sys.argv[1:]))
    finally:
        disconnect(client, cluster)
    click.echo(table(results, shot_list))
    if any(r["status"] != "complete" for r in results):
        sys.exit(1)


@main.command()
@click.argument("out")
@click.option("--background", required=True,
              help="A colour (white, #00b140), an image, or a video / image sequence.")
@click.option("--composite-mode", "mode", type=click.Choice(["over", "inside"]), default="over",
              show_default=True, help="over: subject over the background; inside: the "
              "background plays inside the subject, over the original frames.")
@click.option("--composite-space", "space", type=click.Choice(["linear", "srgb"]),
              default="linear", show_default=True, help="Where light is mixed.")
@click.option("--video", type=click.Path(dir_okay=False), default=None,
              help="Also write this .mp4 (H.264, with the subject's sound).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@_friendly
def composite(out, background, mode, space, video, quiet):
    """Composite an existing OUT folder of howard matte again, without the network.

    Writes OUT/com/ (one PNG per frame) from OUT/rgba/ (or OUT/pha/ + OUT/fgr/).
    """
    from .io.recomposite import composite_folder

    summary = composite_folder(out, background, mode=mode, space=space, video=video,
                               progress=not quiet)
    if not quiet:
        click.echo(f"howard: composited {summary['frames']} frames into {summary['output']}"
                   + (f" and {summary['video']}" if summary["video"] else ""), err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but 127.0.0.1 lets other machines upload "
              "and run jobs.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--data", default="howard-jobs", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for the jobs (uploads and outputs); jobs found there continue.")
@click.option("--max-upload-mb", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Largest upload, all of a job's files together, in MB.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs matted at once, each in its own process.")
@_friendly
def serve(host, port, data, max_upload_mb, jobs):
    """Serve a web page and a JSON API that matte uploaded clips (needs the web extra).

    Open http://127.0.0.1:8000/ (the page) or see http://127.0.0.1:8000/docs (the API).
    """
    from .serve import INSTALL_HINT, WEB_EXTRA

    try:
        from .serve.app import serve as run_server
    except ImportError as e:
        if (e.name or "").split(".")[0] not in WEB_EXTRA:
            raise
        click.echo(f"howard: error: {INSTALL_HINT}", err=True)
        sys.exit(1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"howard: warning: listening on {host}: anyone who can reach it can upload "
                   f"files and run jobs", err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"howard: serving http://{shown}:{port}/ (jobs in {os.path.abspath(data)}); "
               f"Ctrl-C stops", err=True)
    run_server(host=host, port=port, data=data, max_upload_mb=max_upload_mb, jobs=jobs)


if __name__ == "__main__":
    main()
