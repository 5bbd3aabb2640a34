"""Many shots as one cluster job: ``howard batch SHOTS.csv`` and ``howard matte --scheduler``.

``SHOTS.csv`` has a header row with ``subject``, ``plate`` and ``out`` columns (paths every
worker can see) and, optionally, any of :func:`howard.matte`'s options as further columns
(``outputs``, ``backbone_scale``, ``window``, ``batch_size``, ...); an empty cell keeps the
default. All shots' chunks go to the cluster at once; one progress bar counts the frames of the
whole batch. A shot that fails is reported in the summary and does not stop the others.
"""

import csv
import dataclasses
import logging
import time
from typing import Dict, List, Optional

from .api import make_settings
from .cluster import ShotRun, connect, disconnect, task_error
from .errors import HowardError
from .io.progress import Progress
from .settings import Settings, parse_backbone_scale
from .stages import Interrupted

log = logging.getLogger(__name__)

_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extra"}
_RUN_OPTIONS = ("device", "chunk_frames", "overwrite", "resume")


def read_shots(path: str) -> List[Dict]:
    """The shots of a CSV file: ``[{"subject", "plate", "out", "settings", "options"}]``."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise HowardError(f"cannot read shot list {path!r}: {e.strerror}") from None
    if not rows or not {"subject", "plate", "out"} <= set(rows[0]):
        raise HowardError(f"shot list {path!r} needs a header row with subject, plate and out "
                          f"columns and one row per shot")
    shots = []
    for line, row in enumerate(rows, start=2):
        values = {k.strip(): v.strip() for k, v in row.items()
                  if k and v is not None and v.strip()}
        subject, plate, out = (values.pop(k, "") for k in ("subject", "plate", "out"))
        if not (subject and plate and out):
            raise HowardError(f"{path}:{line}: subject, plate and out are all needed")
        options = {k: values.pop(k) for k in _RUN_OPTIONS if k in values}
        unknown = [k for k in values if k not in _FIELDS and k not in ("outputs", "videos")]
        if unknown:
            raise HowardError(f"{path}:{line}: unknown column {unknown[0]!r}; use matte's "
                              f"option names ({', '.join(sorted(_FIELDS))})")
        try:
            settings = make_settings(**{k: _typed(k, v) for k, v in values.items()})
            options = {k: (v.lower() in ("1", "true", "yes") if k in ("overwrite", "resume")
                           else int(v) if k == "chunk_frames" else v)
                       for k, v in options.items()}
        except ValueError as e:
            raise HowardError(f"{path}:{line}: {e}") from None
        shots.append({"subject": subject, "plate": plate, "out": out, "settings": settings,
                      "options": options, "line": line})
    return shots


def _typed(name: str, text: str):
    """A CSV cell as the type of the Settings field ``name``."""
    if name in ("outputs", "videos"):
        return text.replace(" ", ",")
    if name == "backbone_scale":
        return None if text == "auto" else parse_backbone_scale(text)
    default = _FIELDS[name].default
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    if isinstance(default, int) or name == "sample_pixels":
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def run_shots(client, shots: List[Dict], *, progress: bool = True, workers=None, threads=None,
              command: Optional[str] = None, poll: float = 0.5) -> List[Dict]:
    """Run ``shots`` (from :func:`read_shots`) on ``client`` at once; one summary per shot
    with ``status`` complete or failed (and ``error``). Ctrl-C cancels every task, merges
    what finished and raises :class:`Interrupted`."""
    runs: List[Optional[ShotRun]] = []
    results: List[Optional[Dict]] = [None] * len(shots)
    for i, shot in enumerate(shots):
        opts = dict(shot["options"])
        try:
            runs.append(ShotRun(client, shot["subject"], shot["plate"], shot["out"],
                                shot["settings"], chunk_frames=opts.get("chunk_frames"),
                                device=opts.get("device", "auto"),
                                overwrite=opts.get("overwrite", False),
                                resume=opts.get("resume", False), workers=workers,
                                threads=threads, command=command))
        except HowardError as e:
            runs.append(None)
            results[i] = _failed(shot, e)
    bar = None
    try:
        while any(r is None for r in results):
            for i, run in enumerate(runs):
                if results[i] is not None:
                    continue
                try:
                    if run.step():
                        results[i] = run.finish("complete")
                except Exception as e:  # noqa: BLE001 - reported per shot, the others go on
                    run.cancel()
                    results[i] = {**run.finish("failed"), "error": str(task_error(e))}
            total = sum(r.frames or 0 for r in runs if r is not None)
            if bar is None and all(r is None or r.frames is not None or results[i]
                                   for i, r in enumerate(runs)):
                bar = Progress(progress, total, sum(r.resumed_at for r in runs if r))
            if bar is not None:
                bar.total = total
                bar.update(sum(r.frames_done() for r in runs if r) - bar.done)
            time.sleep(poll)
    except KeyboardInterrupt:
        for i, run in enumerate(runs):
            if results[i] is None:
                run.cancel()
                run.finish("interrupted")
        raise Interrupted("interrupted; the cluster's tasks are cancelled and finished frames "
                          "are kept, continue with the same command and --resume") from None
    finally:
        if bar is not None:
            bar.close()
    return results


def _failed(shot: Dict, error: BaseException) -> Dict:
    return {"output": shot["out"], "frames": None, "processed": 0, "seconds": 0.0,
            "fallback_frames": 0, "status": "failed", "error": str(error)}


def matte_on_cluster(subject: str, plate: str, out: str, settings: Settings, *,
                     scheduler: str, chunk_frames: Optional[int] = None, device=None,
                     overwrite=False, resume=False, progress=True, workers=None, threads=None,
                     command: Optional[str] = None) -> Dict:
    """One shot on the cluster ``scheduler`` (see :func:`howard.matte`); raises its error."""
    client, cluster = connect(scheduler, device)
    if cluster is not None and threads is None:  # the local workers share this machine's cores
        threads = max(1, _cores() // len(cluster.workers))
    try:
        shot = {"subject": subject, "plate": plate, "out": out, "settings": settings,
                "options": {"chunk_frames": chunk_frames, "device": device,
                            "overwrite": overwrite, "resume": resume}}
        result = run_shots(client, [shot], progress=progress, workers=workers,
                           threads=threads, command=command)[0]
    finally:
        disconnect(client, cluster)
    if result["status"] != "complete":
        raise HowardError(result["error"])
    return result


def _cores() -> int:
    import os
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def table(results: List[Dict], shots: List[Dict]) -> str:
    """The batch's summary as a text table: shot, frames, fallbacks, seconds, status."""
    rows = [("shot", "frames", "fallbacks", "seconds", "status")]
    for shot, r in zip(shots, results):
        status = r["status"] if r["status"] == "complete" else f"{r['status']}: {r.get('error')}"
        rows.append((shot["out"], str(r.get("frames") if r.get("frames") is not None else "-"),
                     str(r.get("fallback_frames", 0)), f"{r.get('seconds', 0):.1f}", status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows)
