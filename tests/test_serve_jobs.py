"""The parts of ``howard serve`` below the API: the job store, the runner's scheduling (with
stand-in worker processes), the worker's progress file and zip."""

import json
import subprocess
import sys
import time
import zipfile

import pytest

from howard.serve.jobs import JobStore, write_json
from howard.serve.runner import Runner
from howard.serve.worker import Reporter, write_zip


def _job(store: JobStore) -> str:
    return store.add(store.stage(), {"names": {"subject": "s.mp4"}, "outputs": ["zip"]})


def _until(condition, timeout=20.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


class TestRunner:
    @pytest.fixture
    def runner(self, tmp_path, monkeypatch):
        """A runner of 2 at a time whose workers sleep until stopped."""
        store = JobStore(tmp_path)
        runner = Runner(store, jobs=2, poll=0.05, grace=5)
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        monkeypatch.setattr(runner, "_launch", lambda job_id: subprocess.Popen(sleeper))
        yield runner
        runner.stop()

    @staticmethod
    def _three_jobs(runner):
        """Start the runner with three jobs submitted; returns their ids once two run."""
        runner.start()
        ids = [_job(runner.store) for _ in range(3)]
        for job_id in ids:
            runner.submit(job_id)
        _until(lambda: len(runner.workers) == 2)
        return ids

    def test_two_at_a_time_oldest_first(self, runner):
        store = runner.store
        ids = self._three_jobs(runner)
        assert sorted(runner.workers) == sorted(ids[:2]) and runner.queue == ids[2:]
        assert [store.get(i)["state"] for i in ids] == ["running", "running", "queued"]
        # the first ends well, the second dies without a word: the third starts
        write_json(store.folder(ids[0]) / "result.json", {"state": "done", "error": None})
        runner.workers[ids[0]].terminate()
        runner.workers[ids[1]].kill()
        _until(lambda: ids[2] in runner.workers)
        assert store.get(ids[0])["state"] == "done" and store.get(ids[0])["error"] is None
        assert store.get(ids[1])["state"] == "failed"
        assert "the worker stopped unexpectedly" in store.get(ids[1])["error"]

    def test_cancel_and_stop(self, runner):
        store = runner.store
        ids = self._three_jobs(runner)
        proc = runner.workers[ids[0]]
        assert runner.cancel(ids[0]) and proc.poll() is not None
        assert runner.cancel(ids[2])  # queued or just started
        assert not runner.cancel(ids[0])  # nothing left to stop
        runner.stop()
        assert runner.workers == {} and store.get(ids[1])["state"] == "running"

    def test_a_restart_queues_unfinished_jobs(self, tmp_path):
        store = JobStore(tmp_path)
        running, done, cancelled = (_job(store) for _ in range(3))
        store.update(running, state="running")
        store.update(done, state="done")
        store.update(cancelled, state="cancelled")
        (store.folder(cancelled) / "out").mkdir()  # a removal cut short
        (tmp_path / "staging" / "half-uploaded").mkdir()
        store = JobStore(tmp_path)
        runner = Runner(store)
        runner._thread.start = lambda: None  # look at the queue, run nothing
        runner.start()
        assert runner.queue == [running] and store.get(running)["state"] == "queued"
        assert [p.name for p in store.folder(cancelled).iterdir()] == ["job.json"]
        assert list((tmp_path / "staging").iterdir()) == []


class TestWorkerFiles:
    def test_reporter_keeps_fallbacks_once(self, tmp_path):
        path = tmp_path / "progress.json"
        report = Reporter(path, every=1000)
        report({"stage": "matte", "done": 1, "frames": 3, "fps": 1.0, "fallbacks": []})
        report({"stage": "matte", "done": 2, "frames": 3, "fps": 1.0,
                "fallbacks": [{"frame": 1, "reason": "no features"}]})
        report({"stage": "matte", "done": 3, "frames": 3, "fps": 1.0, "fallbacks": []})
        saved = json.loads(path.read_text())
        assert saved["done"] == 3 and saved["fallbacks"] == [{"frame": 1, "reason": "no features"}]
        again = Reporter(path)  # a resumed worker: the same frame reported twice counts once
        again({"stage": "matte", "done": 3, "frames": 3, "fallbacks": [{"frame": 1,
                                                                          "reason": "again"}]})
        assert len(json.loads(path.read_text())["fallbacks"]) == 1
        again.stage("zip")
        assert json.loads(path.read_text())["stage"] == "zip"

    def test_zip_in_frame_order_same_bytes(self, tmp_path):
        rgba = tmp_path / "rgba"
        rgba.mkdir()
        for name in ("10.png", "2.png", "1.png"):
            (rgba / name).write_bytes(name.encode())
        (rgba / ".3.png.abc.tmp").write_bytes(b"half")
        write_zip(rgba, tmp_path / "a.zip")
        time.sleep(1.1)  # a later second must not change the bytes
        write_zip(rgba, tmp_path / "b.zip")
        assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
        with zipfile.ZipFile(tmp_path / "a.zip") as z:
            assert z.namelist() == ["rgba/1.png", "rgba/2.png", "rgba/10.png"]
            assert z.read("rgba/10.png") == b"10.png"
