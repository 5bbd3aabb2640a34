"""The JSON API of ``howard serve`` (FastAPI's TestClient; the jobs run in real worker
processes): every endpoint, a finished job's files, a failed job, a cancel, and a restart in the
middle of a job (the form's errors are in test_serve_errors.py)."""

import json
import os

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
pytest.importorskip("httpx", reason="needs httpx (the test extra)")

from howard.io import encode  # noqa: E402
from serve_helpers import (DATA, SIZE, client_for, make_media, post,  # noqa: E402
                           rgba_frames_of_zip, wait_job)

N_SUB = 6
JOB = {"outputs": "zip,mov,webm,mp4", "background_colour": "#ff0000", "window": "1"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("media"), N_SUB)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with client_for(tmp_path_factory.mktemp("serve")) as c:
        yield c


def _get(client):
    def get(url):
        r = client.get(url)
        assert r.status_code == 200, r.text
        return r.json()
    return get


@pytest.fixture(scope="module")
def finished(client, media):
    """A job with every output over a red background, run to the end."""
    r = post(client, media, **JOB)
    assert r.status_code == 201, r.text
    job = wait_job(_get(client), r.json()["id"])
    assert job["state"] == "done", job
    return job


class TestPage:
    def test_page_and_its_files_are_local(self, client):
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="/static/app.js">' in page.text
        for name in ("app.js", "style.css"):
            r = client.get(f"/static/{name}")
            assert r.status_code == 200 and len(r.text) > 500
            assert "http://" not in r.text and "https://" not in r.text
        assert "http://" not in page.text and "https://" not in page.text

    def test_api_documented(self, client):
        doc = client.get("/openapi.json").json()
        paths = doc["paths"]
        assert set(paths["/api/jobs"]) == {"get", "post"}
        assert set(paths["/api/jobs/{job_id}"]) == {"get", "delete"}
        assert "/api/jobs/{job_id}/preview" in paths and "/api/jobs/{job_id}/files/{name}" in paths
        body = paths["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
        form = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
        assert set(form["properties"]) == {"subject", "plate", "background",
                                           "background_colour", "outputs"}
        assert form["required"] == ["subject", "plate"]
        docs = client.get("/docs").text
        assert "swagger-ui-bundle.js" in docs and "cdn." not in docs
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


class TestFinishedJob:
    def test_state(self, finished):
        assert finished["frames"] == N_SUB and finished["done"] == N_SUB
        assert finished["fps"] > 0 and finished["error"] is None
        assert finished["outputs"] == ["zip", "mov", "webm", "mp4"]
        assert finished["options"] == {"window": 1} and finished["background"] == "#ff0000"
        assert set(finished["files"]) == {"zip", "mov", "webm", "mp4"}

    def test_zip_holds_one_rgba_png_per_frame(self, client, finished):
        r = client.get(finished["files"]["zip"])
        assert r.status_code == 200
        assert 'filename="subject-rgba.zip"' in r.headers["content-disposition"]
        frames = rgba_frames_of_zip(r.content)
        assert sorted(frames) == [f"rgba/{i:05d}.png" for i in range(N_SUB)]
        assert all(f.shape == SIZE + (4,) for f in frames.values())
        alpha = frames["rgba/00000.png"][..., 3]
        assert (alpha == 0).mean() > 0.3 and (alpha == 255).mean() > 0.02  # subject and not

    def test_videos(self, client, finished, tmp_path):
        for kind, name in (("mov", "rgba.mov"), ("webm", "rgba.webm"), ("mp4", "com.mp4")):
            r = client.get(finished["files"][kind])
            assert r.status_code == 200 and finished["files"][kind].endswith(name)
            (tmp_path / name).write_bytes(r.content)
            assert encode.probe(tmp_path / name)["size"] == SIZE
        alphas = list(encode.read_alpha_video(tmp_path / "rgba.mov"))
        assert len(alphas) == N_SUB

    def test_preview_is_the_newest_composite(self, client, finished):
        r = client.get(f"/api/jobs/{finished['id']}/preview")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        com = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        last = rgba_frames_of_zip(client.get(finished["files"]["zip"]).content)
        alpha = last[f"rgba/{N_SUB - 1:05d}.png"][..., 3]
        red = com[alpha == 0]  # where the subject is not, the new background alone
        assert len(red) and np.abs(red.astype(int) - [255, 0, 0]).max() <= 1

    def test_listed(self, client, finished):
        jobs = client.get("/api/jobs").json()["jobs"]
        assert finished["id"] in [j["id"] for j in jobs]
        assert next(j for j in jobs if j["id"] == finished["id"])["state"] == "done"

    def test_unknown_file_names(self, client, finished):
        base = f"/api/jobs/{finished['id']}/files/"
        for name in ("job.json", "..%2Fjob.json", "%2e%2e%2f%2e%2e%2fjob.json", "input",
                     "subject.mp4", "howard.json"):
            r = client.get(base + name)
            assert r.status_code == 404, name
            assert "has no file" in r.json()["detail"] or "Not Found" in r.json()["detail"]


def test_failed_job_reports_its_error_then_is_removed(client, media):
    r = post(client, media, outputs="zip", weights="no-such-weights")
    assert r.status_code == 201
    job_id = r.json()["id"]
    job = wait_job(_get(client), job_id)
    assert job["state"] == "failed" and "no-such-weights" in job["error"]
    assert "\n" not in job["error"] and "Traceback" not in job["error"]
    assert job["files"] == {} and job["preview"] is None
    r = client.get(f"/api/jobs/{job_id}/files/rgba.zip")
    assert r.status_code == 404 and "the job is failed" in r.json()["detail"]
    assert client.get(f"/api/jobs/{job_id}/preview").status_code == 404
    assert client.delete(f"/api/jobs/{job_id}").json() == {"id": job_id, "state": "removed"}
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not (client.app.state.store.jobs / job_id).exists()


def test_cancel_running_and_queued(client):
    """The bundled sample (72 frames) is cancelled after its first frame; a job queued behind
    it is cancelled before it starts."""
    files = [("subject", ("subject.mp4", (DATA / "subject.mp4").read_bytes())),
             ("plate", ("plate.mp4", (DATA / "plate.mp4").read_bytes()))]
    running = client.post("/api/jobs", files=files, data={"outputs": "zip"}).json()["id"]
    queued = client.post("/api/jobs", files=files, data={"outputs": "zip"}).json()["id"]
    job = wait_job(_get(client), running, test=lambda j: j["done"] >= 1)
    assert job["state"] == "running" and job["frames"] == 72
    assert client.get(f"/api/jobs/{queued}").json()["state"] == "queued"
    store = client.app.state.store
    pid = store.get(running)["pid"]
    for job_id in (running, queued):
        assert client.delete(f"/api/jobs/{job_id}").json() == {"id": job_id, "state": "cancelled"}
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "cancelled" and job["files"] == {} and job["preview"] is None
        assert [p.name for p in (store.jobs / job_id).iterdir()] == ["job.json"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker is gone (and reaped)
    assert client.app.state.runner.workers == {}
    assert client.delete(f"/api/jobs/{running}").json()["state"] == "removed"
    assert client.get(f"/api/jobs/{running}").status_code == 404


def test_restart_continues_a_job_to_the_same_files(tmp_path, media, finished, client):
    """The server is stopped in the middle of a job and started again on the same folder:
    the job continues where it stopped and ends with the same bytes as one never stopped."""
    data = tmp_path / "data"
    with client_for(data) as first:
        job_id = post(first, media, **JOB).json()["id"]
        wait_job(_get(first), job_id, test=lambda j: j["done"] >= 2)
    record = json.loads((data / "jobs" / job_id / "job.json").read_text())
    assert record["state"] == "running"  # left for the next server to continue
    done_before = len(list((data / "jobs" / job_id / "out" / "rgba").glob("*.png")))
    assert 2 <= done_before < N_SUB
    with client_for(data) as second:
        job = wait_job(_get(second), job_id)
        assert job["state"] == "done", job
        meta = json.loads((data / "jobs" / job_id / "out" / "howard.json").read_text())
        assert 0 < meta["written"] < N_SUB  # the second worker wrote only the rest
        for kind in ("zip", "mov", "mp4"):
            again = second.get(job["files"][kind]).content
            assert again == client.get(finished["files"][kind]).content, kind
        # WebM (Matroska) files carry a random segment id: the same frames, not the same bytes
        webm = [tmp_path / f"{n}.webm" for n in (1, 2)]
        webm[0].write_bytes(second.get(job["files"]["webm"]).content)
        webm[1].write_bytes(client.get(finished["files"]["webm"]).content)
        a, b = ([f for f in encode.read_alpha_video(p)] for p in webm)
        assert len(a) == len(b) == N_SUB and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_queued_job(tmp_path, media):
    """Without its lifespan (no ``with``) the app runs no jobs: a job stays queued."""
    c = client_for(tmp_path / "d")
    job_id = post(c, media, outputs="zip").json()["id"]
    job = c.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "queued" and job["done"] == 0 and job["frames"] is None
    r = c.get(f"/api/jobs/{job_id}/preview")
    assert r.status_code == 404 and "no finished frame yet" in r.json()["detail"]
    r = c.get(f"/api/jobs/{job_id}/files/rgba.zip")
    assert r.status_code == 404 and "the job is queued" in r.json()["detail"]
    assert c.delete(f"/api/jobs/{job_id}").json()["state"] == "cancelled"
    assert job_id not in c.app.state.runner.queue
