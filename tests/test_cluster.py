"""Cluster runs on a LocalCluster of two worker processes bound to 127.0.0.1.

A tiny handheld-style clip (144x256, 20 frames, a random-init checkpoint) is matted once on
one machine, then in chunks of 6 frames on the cluster: every rgba file and alignment record
must be the same (each chunk warms up over ``cluster.WARMUP`` frames before its range).
"""

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

distributed = pytest.importorskip("distributed", reason="needs pip install 'howard[cluster]'")

import howard  # noqa: E402
from howard import batch, cluster  # noqa: E402
from howard.api import make_settings  # noqa: E402
from howard.net.model import build_model  # noqa: E402
from conftest import write_frames as _write
from howard.net.weights import save_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow
H, W, N = 144, 256, 20


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(subject folder, plate folder, checkpoint, single-machine output folder)."""
    from howard.synth.samples import background, person

    root = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(5)
    scene = background(rng, (H + 40, W + 40))
    fgr, pha = person(rng, (H, W))
    sub = []
    for t in range(N):
        bg = scene[8 + t:8 + t + H, 8 + t // 2:8 + t // 2 + W]
        sub.append(np.uint8((fgr * pha[..., None] + bg * (1 - pha[..., None])) * 255 + 0.5))
    _write(root / "subject", sub)
    _write(root / "plate", [np.uint8(scene[8 + t:8 + t + H, 10:10 + W] * 255 + 0.5)
                            for t in range(N)])
    torch.manual_seed(0)
    weights = save_checkpoint(build_model("mobilenetv2", refine=True), root / "random.pth",
                              metadata={"purpose": "test"}, half=True)
    ref = root / "single"
    howard.matte(str(root / "subject"), str(root / "plate"), str(ref), weights=str(weights),
                 device="cpu", threads=1, workers=1, progress=False)
    return root / "subject", root / "plate", weights, ref


@pytest.fixture(scope="module")
def client():
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(local)
    try:
        yield c
    finally:
        c.close()
        local.close()


def _digest(folder: Path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "rgba").glob("*.png"))}


def _records(folder: Path):
    out = []
    for line in (folder / "alignment.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec.pop("seconds", None)
        out.append(rec)
    return out


def _shot(clip, out, **options):
    subject, plate, weights, _ = clip
    return {"subject": str(subject), "plate": str(plate), "out": str(out),
            "settings": make_settings(weights=str(weights)),
            "options": {"device": "cpu", "chunk_frames": 6, **options}}


def _busy(dask_worker):
    return [k for k, ts in dask_worker.state.tasks.items()
            if ts.state in ("executing", "cancelled", "long-running", "resumed")]


def _wait_idle(client, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while any(client.run(_busy).values()):
        assert time.monotonic() < deadline, "cancelled tasks still running"
        time.sleep(0.2)


def _run(client, shots, **kw):
    return batch.run_shots(client, shots, progress=False, threads=1, workers=1, poll=0.1, **kw)


def test_chunked_run_is_byte_identical(clip, client, tmp_path):
    (result,) = _run(client, [_shot(clip, tmp_path / "out")])
    ref = clip[3]
    assert result["status"] == "complete" and result["frames"] == N
    assert result["chunks"] == 5  # the head [0, 1), then [1, 7) [7, 13) [13, 19) [19, 20)
    assert result["warmup_frames"] > 0
    assert _digest(tmp_path / "out") == _digest(ref)
    records = _records(tmp_path / "out")
    assert [r["frame"] for r in records] == list(range(N))
    assert records == _records(ref)
    meta = json.loads((tmp_path / "out" / "howard.json").read_text())
    assert meta["status"] == "complete" and meta["base_pass"] == json.loads(
        (ref / "howard.json").read_text())["base_pass"]
    assert not list((tmp_path / "out" / ".howard" / "parts").glob("*"))


def test_killed_worker_is_replaced(clip, client, tmp_path, monkeypatch):
    out = tmp_path / "out"
    killed = []
    pids = client.run(os.getpid)
    real = cluster.ShotRun.frames_done

    def frames_done(self):
        done = real(self)
        if done >= 4 and not killed:  # mid-run: kill a worker process (its nanny restarts it)
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return done

    monkeypatch.setattr(cluster.ShotRun, "frames_done", frames_done)
    (result,) = _run(client, [_shot(clip, out)])
    assert killed and result["status"] == "complete"
    assert killed[0] not in client.run(os.getpid).values()
    assert _digest(out) == _digest(clip[3])
    assert _records(out) == _records(clip[3])


def test_resume_redoes_nothing_finished(clip, client, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = cluster.ShotRun.frames_done

    def frames_done(self):
        done = real(self)
        if done >= 6:
            raise KeyboardInterrupt
        return done

    monkeypatch.setattr(cluster.ShotRun, "frames_done", frames_done)
    with pytest.raises(howard.stages.Interrupted):
        _run(client, [_shot(clip, out)])
    monkeypatch.undo()
    _wait_idle(client)  # a cancelled task runs on to the end of its chunk on its worker
    meta = json.loads((out / "howard.json").read_text())
    assert meta["status"] == "interrupted"
    folder = howard.io.outputs.OutputFolder(out, ["rgba"])
    finished = folder.done_frames()
    assert 6 <= len(finished) < N
    stamps = {i: os.stat(folder.path("rgba", i)).st_mtime_ns for i in finished}
    time.sleep(0.05)
    (result,) = _run(client, [_shot(clip, out, resume=True)])
    assert result["status"] == "complete"
    assert result["processed"] == N - len(finished)
    assert {i: os.stat(folder.path("rgba", i)).st_mtime_ns for i in finished} == stamps
    assert _digest(out) == _digest(clip[3])
    assert _records(out) == _records(clip[3])


def test_batch_reports_a_broken_shot(clip, client, tmp_path):
    subject, plate, weights, _ = clip
    csv = tmp_path / "shots.csv"
    csv.write_text("subject,plate,out,weights,device,chunk_frames\n"
                   f"{subject},{tmp_path / 'missing'},{tmp_path / 'a'},{weights},cpu,10\n"
                   f"{subject},{plate},{tmp_path / 'b'},{weights},cpu,10\n")
    shots = batch.read_shots(str(csv))
    results = _run(client, shots)
    assert [r["status"] for r in results] == ["failed", "complete"]
    assert "missing" in results[0]["error"]
    assert results[1]["frames"] == N and _digest(tmp_path / "b") == _digest(clip[3])
    text = batch.table(results, shots)
    assert "failed" in text.splitlines()[1] and "complete" in text.splitlines()[2]
