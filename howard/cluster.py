"""``howard matte`` on a Dask cluster: the clip cut into frame ranges, one task each.

Every worker reads the inputs and writes the output folder by the same paths (a shared
filesystem, as on a render farm). A shot runs as a head task (frames ``[0, batch)``, which
checks the inputs on a worker, counts the frames and fits the base pass exactly as a
single-machine run does), then one task per chunk (:class:`howard.stages.Chunk`), each
warmed up over :data:`WARMUP` frames before its range so that its frames are byte-identical
to a continuous run. A task lost with its worker is retried by the scheduler and resumes from
the frames already on disk. The chunks' records are merged in frame order at the end (or on
an interruption), so ``--resume`` works across the cluster.

Dask (``pip install 'howard[cluster]'``) is imported only here.
"""

import json
import logging
import math
import os
import time
from typing import Dict, List, Optional, Tuple

from .align.sanity import plate_warning
from .align.alignment import coverage_summary, read_records
from .errors import HowardError
from .io import media, recomposite
from .io.outputs import OutputFolder
from .settings import Settings
from .stages import Chunk

log = logging.getLogger(__name__)

#: warm-up frames before each chunk (measured with scripts/measure_warmup.py; see README)
WARMUP = 12


def connect(scheduler: str, device: Optional[str] = None):
    """A ``distributed.Client`` for ``scheduler`` and the LocalCluster howard started (or None).

    Args:
        scheduler: ``tcp://host:port`` of a running scheduler, or ``local:N`` for N worker
            processes on this machine (bound to 127.0.0.1), stopped by :func:`disconnect`.
        device: the run's device; ``cuda`` gives local workers a ``GPU=1`` resource.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise HowardError("--scheduler needs Dask; install it with "
                          "pip install 'howard[cluster]' (or pip install 'dask[distributed]')"
                          ) from None
    if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask's own chatter only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler[6:])
        except ValueError:
            n = 0
        if n < 1:
            raise HowardError(f"--scheduler {scheduler!r}: expected local:N with N >= 1 "
                              f"worker processes, or an address such as tcp://host:8786")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               resources={"GPU": 1} if _wants_gpu(device) else None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError, ValueError) as e:
        raise HowardError(f"cannot reach the Dask scheduler at {scheduler!r} ({e}); start one "
                          f"with 'dask scheduler' or use --scheduler local:N") from None


def disconnect(client, cluster) -> None:
    """Close the client, and the LocalCluster if howard started it."""
    client.close()
    if cluster is not None:
        cluster.close()


def _wants_gpu(device: Optional[str]) -> bool:
    return bool(device) and str(device).startswith("cuda")


def plan_chunks(n: int, chunk_frames: Optional[int], batch: int, workers: int,
                first: int = 0) -> List[Tuple[int, int]]:
    """Frame ranges ``[a, b)`` covering ``[first, n)``, each a whole number of batches.

    The default length gives each worker about three chunks (so a lost worker costs little
    and fast workers take more), at least ``4 * WARMUP`` frames so the warm-up stays a small
    part of the work.
    """
    if chunk_frames is None:
        chunk_frames = max(4 * WARMUP, math.ceil((n - first) / max(1, 3 * workers)))
    k = max(batch, math.ceil(chunk_frames / batch) * batch)
    return [(a, min(a + k, n)) for a in range(first, n, k)]


def _run_chunk(subject: str, plate: str, out: str, settings: Settings, chunk: Chunk,
               device, workers, threads, command) -> Dict:
    """One task, on a worker: :func:`howard.pipeline.run` on the chunk's frames."""
    from . import pipeline

    return pipeline.run(subject, plate, out, settings, device=device, progress=False,
                        workers=workers, threads=threads, command=command, chunk=chunk)


class ShotRun:
    """One shot on the cluster: its head task, then its chunks, then the merged records.

    Args:
        client: a ``distributed.Client``.
        subject, plate, out, settings: as for :func:`howard.pipeline.run`.
        chunk_frames: frames per chunk (None: :func:`plan_chunks` chooses).
        device, workers, threads, command: passed to each task.
    """

    def __init__(self, client, subject: str, plate: str, out: str, settings: Settings, *,
                 chunk_frames: Optional[int] = None, device=None, overwrite=False,
                 resume=False, workers=None, threads=None, command: Optional[str] = None):
        self.client, self.settings, self.chunk_frames = client, settings, chunk_frames
        self.args = (os.path.abspath(subject), os.path.abspath(plate), os.path.abspath(out),
                     settings)
        self.options = (device, workers, threads, command)
        self.resources = {"GPU": 1} if _wants_gpu(device) else None
        self.folder = OutputFolder(out, settings.outputs, settings.name_template,
                                   settings.start_number)
        self.folder.prepare(overwrite=overwrite, resume=resume)
        self.meta = {"command": command, "status": "running", "cluster": True}
        if not (self.folder.root / "howard.json").is_file():
            media.atomic_write_text(self.folder.root / "howard.json", json.dumps(self.meta))
        self.resumed_at = self.folder.first_unfinished()
        self.started = time.perf_counter()
        self.frames: Optional[int] = None
        self.summaries: List[Dict] = []
        self.head = self._submit(Chunk(0, settings.batch_size, 0))
        self.futures: List = []
        self.status = "running"
        self.coverage: Optional[Dict] = None  # over the merged records, once finished

    def _submit(self, chunk: Chunk):
        return self.client.submit(_run_chunk, *self.args, chunk, *self.options, pure=False,
                                  resources=self.resources,
                                  key=f"howard-{os.urandom(4).hex()}-{chunk.tag}")

    def step(self) -> bool:
        """Submit the chunks once the head is done; True once every task has finished.
        Raises the first task's error."""
        if self.frames is None:
            if not self.head.done():
                return False
            self.summaries.append(self.head.result())
            self.frames = self.summaries[0]["frames"]
            # fitted by the head on frame 0, now or by the run this one resumes
            base = ((self._part_meta(Chunk(0, 0, 0).tag) or {}).get("base_pass")
                    or (self.folder.read_settings() or {}).get("base_pass"))
            workers = max(1, len(self.client.scheduler_info().get("workers", {})))
            done = self.folder.done_frames()
            for a, b in plan_chunks(self.frames, self.chunk_frames, self.settings.batch_size,
                                    workers, first=self.settings.batch_size):
                if not all(i in done for i in range(a, b)):
                    self.futures.append(self._submit(Chunk(a, b, WARMUP, base)))
        if not all(f.done() for f in self.futures):
            return False
        self.summaries += [f.result() for f in self.futures]
        return True

    def frames_done(self) -> int:
        return len(self.folder.done_frames())

    def cancel(self) -> None:
        self.client.cancel([self.head] + self.futures)

    def _part_meta(self, tag: str) -> Optional[Dict]:
        try:
            return json.loads((self.folder.state / "parts" / f"howard-{tag}.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def finish(self, status: str) -> Dict:
        """Merge the chunks' records into alignment.jsonl, .howard/done and howard.json
        (``status``: complete, interrupted or failed); encode videos when complete."""
        self.status = status
        folder, parts = self.folder, self.folder.state / "parts"
        head = self._part_meta(Chunk(0, 0, 0).tag) or {}
        old = folder.read_settings() or {}
        meta = {**old, **{k: v for k, v in head.items() if k not in ("seconds", "written",
                                                                       "warmup_frames")}}
        done = folder.done_frames()
        records = {}
        for path in [folder.root / "alignment.jsonl"] + sorted(parts.glob("alignment-*")):
            if path.is_file():
                for line in path.read_text().splitlines():
                    try:
                        rec = json.loads(line)
                        records[int(rec["frame"])] = line
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                        continue
        media.atomic_write_text(folder.root / "alignment.jsonl",
                                "".join(records[i] + "\n" for i in sorted(records) if i in done))
        media.atomic_write_text(folder.state / "done", "".join(f"{i}\n" for i in sorted(done)))
        self.coverage = coverage_summary(read_records(folder.root / "alignment.jsonl"))
        chunks = []
        for path in sorted(parts.glob("howard-*.json")) if parts.is_dir() else []:
            part = self._part_meta(path.name[7:13]) or {}
            chunks.append({"first": int(path.name[7:13]), "written": part.get("written"),
                           "warmup_frames": part.get("warmup_frames"),
                           "seconds": part.get("seconds"), "status": part.get("status")})
        # an interrupted run keeps its parts: a cancelled task may still be writing to them
        for path in list(parts.glob("*")) if parts.is_dir() and status == "complete" else []:
            path.unlink()
        summary = self.summary()
        if status == "complete":
            text = plate_warning(read_records(folder.root / "alignment.jsonl"))
            summary["warnings"] = [text] if text else []
            if text:
                meta["warnings"] = summary["warnings"]
        if status == "complete" and self.settings.videos:
            fps = (meta.get("inputs") or {}).get("subject_fps") or 25.0
            meta["videos"] = recomposite.encode_videos(
                folder, self.settings.videos, self.frames, fps,
                self.args[0] if self.settings.composite_mode == "over" else None)
        meta.update(command=self.options[3] or meta.get("command"), status=status,
                    frames_done=folder.first_unfinished(), seconds=summary["seconds"],
                    coverage=self.coverage, cluster={"warmup": WARMUP, "chunks": chunks})
        media.atomic_write_text(folder.root / "howard.json", json.dumps(meta, indent=2))
        return summary

    def summary(self) -> Dict:
        seconds = time.perf_counter() - self.started
        processed = sum(s["processed"] for s in self.summaries)
        return {"output": str(self.folder.root), "frames": self.frames,
                "processed": processed, "resumed_at": self.resumed_at,
                "seconds": round(seconds, 3),
                "fps": round(processed / seconds, 3) if seconds > 0 else None,
                "fallback_frames": sum(s["fallback_frames"] for s in self.summaries),
                **(self.coverage or {}),
                "warmup_frames": sum(s.get("warmup_frames", 0) for s in self.summaries),
                "chunks": len(self.summaries), "device": self.summaries[0]["device"]
                if self.summaries else None, "status": self.status}


def task_error(e: BaseException) -> HowardError:
    """A task's failure as one line: howard's own errors as they are, a worker lost too
    often or anything else named."""
    if isinstance(e, HowardError):
        return e
    name = type(e).__name__
    if name == "KilledWorker":
        return HowardError(f"a chunk's worker died repeatedly ({e}); check the workers' "
                           f"memory and logs")
    return HowardError(f"a chunk failed on a worker: {name}: {e}")
