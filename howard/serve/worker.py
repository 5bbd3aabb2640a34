"""One job in its own process: ``python -m howard.serve.worker JOB_FOLDER``.

Runs :func:`howard.matte` on the job's uploads into ``JOB_FOLDER/out`` (resuming what an
earlier worker left there), writes ``progress.json`` as frames finish and, when asked for, the
zip of the RGBA frames; then ``result.json`` says ``done`` or ``failed`` and why. SIGTERM stops
it the way Ctrl-C stops ``howard matte``: finished frames are kept and no result is written,
so the server can continue the job later (or remove it). SIGINT is ignored: the server stops
its workers itself.
"""

import logging
import os
import signal
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, Optional

from ..errors import HowardError
from ..io.media import natural_key
from .jobs import read_json, write_json

log = logging.getLogger(__name__)

# a fixed date in the zip, so the same frames always make the same zip
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class Reporter:
    """``on_progress`` for :func:`howard.matte`: keeps ``progress.json`` up to date (at most
    every ``every`` seconds, and at every change of stage), fallbacks accumulated."""

    def __init__(self, path: Path, every: float = 0.25):
        self.path, self.every, self.written = path, every, 0.0
        self.state = read_json(path) or {}
        self.state.setdefault("fallbacks", [])

    def __call__(self, event: Dict) -> None:
        event = dict(event)
        new = event.pop("fallbacks", [])
        known = {f["frame"] for f in self.state["fallbacks"]}
        self.state["fallbacks"] += [f for f in new if f["frame"] not in known]
        changed = event.get("stage") != self.state.get("stage") or \
            event.get("done") == event.get("frames")
        self.state.update(event)
        now = time.monotonic()
        if changed or new or now - self.written >= self.every:
            self.written = now
            write_json(self.path, self.state)

    def stage(self, name: str) -> None:
        self.state.update(stage=name, seconds_left=None)
        write_json(self.path, self.state)


def write_zip(folder: Path, path: Path) -> None:
    """The PNGs of ``folder`` into the zip ``path`` (as ``rgba/<name>``, stored, in frame
    order, fixed dates: the same frames give the same bytes); written atomically."""
    names = sorted((p.name for p in folder.iterdir()
                    if p.suffix == ".png" and not p.name.startswith(".")), key=natural_key)
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for name in names:
            info = zipfile.ZipInfo(f"{folder.name}/{name}", _ZIP_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, (folder / name).read_bytes())
    os.replace(tmp, path)


def run(folder: Path) -> int:
    """Matte the job in ``folder``; the process's exit status."""
    import howard
    from ..stages import Interrupted

    job = read_json(folder / "job.json")
    if job is None:
        log.error("no job.json in %s", folder)
        return 2
    out = folder / "out"
    resume = (out / "howard.json").is_file()
    inputs = {role: str(folder / rel) for role, rel in job["inputs"].items() if rel}
    background = inputs.get("background", job["background"])
    videos = [k for k in job["outputs"] if k != "zip"]
    reporter = Reporter(folder / "progress.json")
    reporter.stage("starting")
    try:
        howard.matte(inputs["subject"], inputs["plate"], str(out), outputs=["rgba"],
                     background=background, videos=videos, resume=resume,
                     overwrite=not resume, progress=False, on_progress=reporter,
                     command=f"howard serve (job {job['id']})", **job["options"])
        if "zip" in job["outputs"]:
            reporter.stage("zip")
            write_zip(out / "rgba", folder / "rgba.zip")
        reporter.stage("finished")
    except (KeyboardInterrupt, Interrupted):
        log.info("stopped; finished frames are kept")
        return 130
    except HowardError as e:
        _result(folder, "failed", _named(str(e), inputs, job["names"]))
        return 1
    except Exception as e:  # noqa: BLE001 - reported as the job's error, details in the log
        log.exception("job %s failed", job["id"])
        _result(folder, "failed", f"unexpected error ({type(e).__name__}: "
                f"{_named(str(e), inputs, job['names'])}); the details are in worker.log in "
                f"the job's folder")
        return 1
    _result(folder, "done", None)
    return 0


def _named(text: str, inputs: Dict[str, str], names: Dict[str, Optional[str]]) -> str:
    """``text`` with the uploads' paths replaced by the names they were uploaded as."""
    for role, path in inputs.items():
        text = text.replace(path, names.get(role) or role)
    return text.splitlines()[0] if text else text


def _result(folder: Path, state: str, error: Optional[str]) -> None:
    write_json(folder / "result.json", {"state": state, "error": error})


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _die_with(server_pid: int) -> None:
    """Have Linux send SIGTERM to this process when the server dies, so that a server killed
    outright leaves no worker writing into a job the next server continues."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
    if os.getppid() != server_pid:  # it died before that was set
        raise KeyboardInterrupt


def main(argv=None) -> int:
    """``JOB_FOLDER [SERVER_PID]``: run the job; stop when the server (if given) is gone."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    if len(argv) > 1:
        try:
            _die_with(int(argv[1]))
        except KeyboardInterrupt:
            return 130
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
