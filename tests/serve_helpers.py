"""Helpers for the tests of ``howard serve``: small clips, waiting for a job, a real server."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from howard.io import encode, media

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SIZE = (180, 320)  # (h, w) of the small clips


def make_media(root: Path, n_subject: int) -> Path:
    """Small uploads in ``root``: subject.mp4 (``n_subject`` frames) and plate.mp4 (2 more) at
    320x180, a square still, a text file, a text file named .png, an empty file."""
    small_clip(DATA / "subject.mp4", n_subject, root / "subject.mp4")
    small_clip(DATA / "plate.mp4", n_subject + 2, root / "plate.mp4")
    cv2.imwrite(str(root / "square.png"), np.full((SIZE[0], SIZE[0], 3), 90, np.uint8))
    (root / "notes.txt").write_text("not a video\n")
    (root / "fake.png").write_text("not a png either\n")
    (root / "empty.mp4").write_bytes(b"")
    return root


def client_for(data, **options):
    """A TestClient of a new app on the folder ``data``; jobs run only inside ``with``."""
    from fastapi.testclient import TestClient

    from howard.serve.app import create_app

    return TestClient(create_app(data, **options), base_url="http://127.0.0.1")


def post(client, media: Path, subject="subject.mp4", plate="plate.mp4", background=None,
         **fields):
    """POST a job made of files in ``media`` and ``fields``; the response."""
    files = [("subject", (subject, (media / subject).read_bytes())),
             ("plate", (plate, (media / plate).read_bytes()))]
    if background:
        files.append(("background", (background, (media / background).read_bytes())))
    return client.post("/api/jobs", files=files, data=fields)


def small_clip(src: Path, n: int, path: Path) -> Path:
    """The first ``n`` frames of ``src`` at 320x180, as an H.264 .mp4."""
    frames = [cv2.resize(f, SIZE[::-1], interpolation=cv2.INTER_AREA)
              for i, f in media.open_source(src).frames() if i < n]
    return encode.write_mp4(path, iter(frames), 24.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_job(get, job_id: str, until=("done", "failed", "cancelled"), timeout: float = 180,
             test=None) -> dict:
    """Poll ``get(url)`` (a JSON getter) until the job's state is in ``until`` (or ``test(job)``
    holds); the last answer."""
    end = time.monotonic() + timeout
    while True:
        job = get(f"/api/jobs/{job_id}")
        if (test(job) if test else job["state"] in until):
            return job
        if time.monotonic() > end:
            raise AssertionError(f"job {job_id} did not get there in {timeout} s: {job}")
        time.sleep(0.2)


def rgba_frames_of_zip(data: bytes) -> dict:
    """{name: HxWx4 uint8 array} of the PNGs in a zip (raises if one is not RGBA)."""
    import io
    import zipfile

    frames = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            image = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.ndim == 3 and image.shape[2] == 4, name
            frames[name] = image
    return frames


@contextlib.contextmanager
def running_server(data: Path, *args: str, timeout: float = 60):
    """``python -m howard serve`` on a free 127.0.0.1 port, in a process group of its own;
    yields its base URL. On exit the server is stopped (SIGINT, as Ctrl-C) and every process
    of its group (its workers and their ffmpeg) must be gone."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = open(Path(data).parent / f"serve-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "howard", "serve", "--port", str(port),
                             "--data", str(data), *args], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/api/config", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"howard serve did not start: "
                                         f"{Path(log.name).read_text()[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        left = _group_left(proc.pid)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"processes left running after the server stopped: {left}")


def _group_left(pgid: int) -> list:
    """Processes still in group ``pgid`` (from /proc), zombies aside."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                left.append(int(entry.name))
    return left
