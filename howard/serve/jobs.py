"""The server's jobs on disk: one folder per job, found again after a restart.

``DATA/jobs/<id>/`` holds

* ``job.json``: what was asked (the uploads' names, outputs, background, matte options) and the
  job's state; written by the server only;
* ``input/``: the uploads, as ``subject.<ext>``, ``plate.<ext>``, ``background.<ext>``;
* ``out/``: the ``howard matte`` output folder; ``rgba.zip``: the zip output;
* ``progress.json`` and ``result.json``: written by the worker (after every frame; when it stops);
* ``worker.log``: the worker's log.

A job is put together in ``DATA/staging/<id>/`` and moved into ``DATA/jobs/`` once its uploads
are checked, so a half-made job is never listed. Ids are random hex; a name that is not one is
never joined to a path. Every write is atomic (a temporary file renamed).
"""

import json
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from ..io.media import atomic_write_text, natural_key

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
# the outputs a job can be asked for: the file each becomes, relative to the job folder
FILES = {"zip": "rgba.zip", "mov": "out/rgba.mov", "webm": "out/rgba.webm", "mp4": "out/com.mp4"}
_ID = re.compile(r"[0-9a-f]{16}\Z")


def new_id() -> str:
    return secrets.token_hex(8)


def read_json(path: Path) -> Optional[Dict]:
    """The JSON object in ``path``, or None when it is missing or damaged."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: Dict) -> None:
    atomic_write_text(path, json.dumps(value, indent=1))


class JobStore:
    """The jobs under ``root``: create, find, update, list, remove.

    Args:
        root: the server's data folder (made if missing).
    """

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.jobs = self.root / "jobs"
        self.staging = self.root / "staging"
        self.jobs.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)  # jobs never finished uploading
        self.staging.mkdir()
        self._lock = threading.Lock()

    def folder(self, job_id: str) -> Optional[Path]:
        """The folder of job ``job_id``, or None when there is no such job."""
        if not isinstance(job_id, str) or not _ID.match(job_id):
            return None
        folder = self.jobs / job_id
        return folder if (folder / "job.json").is_file() else None

    def stage(self) -> Path:
        """A new, empty folder to put a job together in (see :meth:`add`)."""
        folder = self.staging / new_id()
        (folder / "input").mkdir(parents=True)
        return folder

    def add(self, staged: Path, record: Dict) -> str:
        """Queue the job put together in ``staged``; returns its id."""
        job_id = staged.name
        record = {**record, "id": job_id, "state": "queued", "created": time.time(),
                  "error": None}
        write_json(staged / "job.json", record)
        os.replace(staged, self.jobs / job_id)
        return job_id

    def discard(self, staged: Path) -> None:
        """Remove a staged job that was not added."""
        shutil.rmtree(staged, ignore_errors=True)

    def get(self, job_id: str) -> Optional[Dict]:
        folder = self.folder(job_id)
        return read_json(folder / "job.json") if folder else None

    def update(self, job_id: str, **fields) -> Optional[Dict]:
        """Change fields of the job's record; None when the job is gone."""
        with self._lock:
            record = self.get(job_id)
            if record is None:
                return None
            record.update(fields)
            write_json(self.jobs / job_id / "job.json", record)
            return record

    def all(self) -> List[Dict]:
        """Every job's record, oldest first."""
        records = [read_json(p / "job.json") for p in self.jobs.iterdir()
                   if _ID.match(p.name)]
        return sorted((r for r in records if r), key=lambda r: r.get("created", 0))

    def clear(self, job_id: str, keep_record: bool) -> None:
        """Remove the job's files; with ``keep_record`` its job.json stays (a cancelled
        job is still listed until it is removed)."""
        folder = self.folder(job_id)
        if folder is None:
            return
        if not keep_record:
            trash = self.staging / f"removed-{job_id}"
            os.replace(folder, trash)  # gone from the list at once, then deleted
            shutil.rmtree(trash, ignore_errors=True)
            return
        for entry in folder.iterdir():
            if entry.name != "job.json":
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    # --- what the worker wrote ---------------------------------------------------------------
    def progress(self, job_id: str) -> Dict:
        folder = self.folder(job_id)
        return (read_json(folder / "progress.json") if folder else None) or {}

    def result(self, job_id: str) -> Optional[Dict]:
        folder = self.folder(job_id)
        return read_json(folder / "result.json") if folder else None

    def file(self, job_id: str, name: str) -> Optional[Path]:
        """The finished output file ``name`` (e.g. ``rgba.zip``) of a done job, or None."""
        record = self.get(job_id)
        if record is None or record["state"] != "done":
            return None
        for kind in record.get("outputs", ()):
            if FILES[kind].rsplit("/", 1)[-1] == name:
                path = self.jobs / job_id / FILES[kind]
                return path if path.is_file() else None
        return None

    def preview(self, job_id: str) -> Optional[Path]:
        """The newest finished composite frame (``out/com/``), else the newest RGBA frame."""
        folder = self.folder(job_id)
        if folder is None:
            return None
        for kind in ("com", "rgba"):
            try:
                names = [e.name for e in os.scandir(folder / "out" / kind)
                         if e.name.endswith(".png") and not e.name.startswith(".")]
            except OSError:
                continue
            if names:
                return folder / "out" / kind / max(names, key=natural_key)
        return None

    def view(self, record: Dict) -> Dict:
        """The job as the API shows it."""
        job_id, state = record["id"], record["state"]
        progress = self.progress(job_id) if state != "cancelled" else {}
        files = {}
        if state == "done":
            files = {k: f"/api/jobs/{job_id}/files/{FILES[k].rsplit('/', 1)[-1]}"
                     for k in record["outputs"] if self.file(job_id, FILES[k].rsplit("/", 1)[-1])}
        active = state == "running"
        return {"id": job_id, "state": state, "stage": progress.get("stage") if active else None,
                "frames": progress.get("frames"), "done": progress.get("done", 0),
                "fps": progress.get("fps"),
                "seconds_left": progress.get("seconds_left") if active else None,
                "error": record.get("error"), "files": files,
                "fallbacks": progress.get("fallbacks", []),
                "subject": record["names"]["subject"], "plate": record["names"]["plate"],
                "background": record["background_label"], "outputs": record["outputs"],
                "options": record["options"], "created": record["created"],
                "preview": f"/api/jobs/{job_id}/preview"
                if state != "cancelled" and self.preview(job_id) else None}
