"""Jobs run in worker processes, ``jobs`` at a time, oldest first.

A thread of the server starts a worker process (:mod:`howard.serve.worker`) for each queued
job while fewer than ``jobs`` run, and records how each ends (``done`` or ``failed``, from
the worker's ``result.json``). A process, not a thread: the matte keeps the cores busy in
native code and must be stoppable at any moment. Cancelling stops the worker (SIGTERM, then
SIGKILL after ``grace`` seconds). Stopping the server stops every worker the same way but
leaves their jobs ``running`` on disk; the next server queues them again and the workers
continue them with ``resume``.
"""

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

from .jobs import ACTIVE, JobStore

log = logging.getLogger(__name__)


def _package_root() -> str:
    """The folder holding this ``howard`` package, so that workers import the same code."""
    return str(Path(__file__).resolve().parents[2])


class Runner:
    """Runs the jobs of ``store``, ``jobs`` at a time (see the module's description).

    Args:
        store: the server's jobs.
        jobs: worker processes at once.
        poll: seconds between looks at the queue and the workers.
        grace: seconds a stopped worker has to finish before it is killed.
    """

    def __init__(self, store: JobStore, jobs: int = 1, poll: float = 0.2, grace: float = 10.0):
        self.store, self.jobs, self.poll, self.grace = store, max(1, int(jobs)), poll, grace
        self.queue: List[str] = []
        self.workers: Dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="howard-jobs", daemon=True)

    def start(self) -> None:
        """Queue again the jobs an earlier server left queued or running; start the loop."""
        for record in self.store.all():
            if record["state"] in ACTIVE:
                if record["state"] == "running":
                    log.info("job %s was running: it continues", record["id"])
                    self.store.update(record["id"], state="queued")
                self.queue.append(record["id"])
            elif record["state"] == "cancelled":  # a removal cut short
                self.store.clear(record["id"], keep_record=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        with self._lock:
            self.queue.append(job_id)

    def cancel(self, job_id: str) -> bool:
        """Stop job ``job_id`` if queued or running; True if it was."""
        with self._lock:
            queued = job_id in self.queue
            if queued:
                self.queue.remove(job_id)
            proc = self.workers.pop(job_id, None)
        if proc is not None:
            self._end(proc)
        return queued or proc is not None

    def stop(self) -> None:
        """Stop the loop and every worker; their jobs stay ``running`` to be continued."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            procs, self.workers = list(self.workers.values()), {}
        for proc in procs:
            proc.terminate()
        for proc in procs:
            self._end(proc)

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self._step()
            except Exception:  # noqa: BLE001 - a bad job folder must not stop the server
                log.exception("job runner")

    def _step(self) -> None:
        with self._lock:
            for job_id, proc in list(self.workers.items()):
                if proc.poll() is not None:
                    del self.workers[job_id]
                    self._finished(job_id, proc.returncode)
            while self.queue and len(self.workers) < self.jobs:
                job_id = self.queue.pop(0)
                if self.store.update(job_id, state="running") is not None:
                    proc = self.workers[job_id] = self._launch(job_id)
                    self.store.update(job_id, pid=proc.pid)

    def _launch(self, job_id: str) -> subprocess.Popen:
        folder = self.store.folder(job_id)
        (folder / "result.json").unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [_package_root()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        with open(folder / "worker.log", "ab") as logfile:
            proc = subprocess.Popen([sys.executable, "-m", "howard.serve.worker", str(folder),
                                     str(os.getpid())],
                                    stdin=subprocess.DEVNULL, stdout=logfile,
                                    stderr=subprocess.STDOUT, env=env, cwd=str(folder))
        log.info("job %s: worker %d started", job_id, proc.pid)
        return proc

    def _finished(self, job_id: str, code: int) -> None:
        result = self.store.result(job_id) or {}
        if result.get("state") in ("done", "failed"):
            self.store.update(job_id, state=result["state"], error=result.get("error"))
        else:
            self.store.update(job_id, state="failed",
                              error=f"the worker stopped unexpectedly (exit status {code}); "
                                    f"its log is worker.log in the job's folder")
        log.info("job %s: %s", job_id, self.store.get(job_id)["state"])

    def _end(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(self.grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
